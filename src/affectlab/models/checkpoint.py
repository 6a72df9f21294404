"""Saving and loading weights with their config, so a file says what it is."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from affectlab.errors import ModelError
from affectlab.models.registry import AffectNet

__all__ = ["load_model", "load_weights", "save_weights"]


def save_weights(model: AffectNet, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``{"state_dict", "config", "extra"}`` to ``path`` (float32 tensors)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": dataclasses.asdict(model.config), "extra": extra or {}}
    torch.save(payload, path)
    return path


def load_weights(model: AffectNet, path: str | Path) -> dict[str, Any]:
    """Load weights saved by :func:`save_weights` (or a bare state dict) into ``model``."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path}: weights file not found") from None
    except Exception as exc:  # torch raises many types for corrupt files
        raise ModelError(f"{path}: not a readable weights file ({type(exc).__name__})") from None
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise ModelError(f"{path}: no state dict inside")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"{path}: weights do not fit {model.config.name} ({first})") from None
    return payload.get("extra", {}) if isinstance(payload, dict) else {}


def load_model(spec: str | Path, *, default: str | None = None, fallback: str | None = None) -> AffectNet:
    """A ready network from a registered name, ``"default"`` or a checkpoint path.

    Parameters
    ----------
    spec
        ``"default"`` (the bundled default model, ``affectlab.analysis.DEFAULT_MODEL`` unless
        ``default`` is given), a registered model name (its bundled weights), or a file written by
        :func:`save_weights` (the network is rebuilt from the config stored in it).
    fallback
        For a weights file that does not name its network (a bare state dict): build this
        registered model and load the file into it.

    Raises
    ------
    ModelError
        Unknown name, missing file, or a file that does not say which network it holds.

    Examples
    --------
    >>> load_model("default").config.name in ("mini_xception", "resnet_fer")
    True
    """
    from affectlab.models.registry import _REGISTRY, create_model, list_models

    text = str(spec)
    if text == "default":
        if default is None:
            from affectlab.analysis import DEFAULT_MODEL

            default = DEFAULT_MODEL
        text = default
    if text in _REGISTRY:
        return create_model(text, pretrained=True)
    path = Path(text).expanduser()
    if not path.is_file():
        raise ModelError(
            f"--model {text!r}: neither a registered model ({', '.join(list_models())}) nor a weights file"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ModelError(f"{path}: not a readable weights file ({type(exc).__name__})") from None
    config = payload.get("config") if isinstance(payload, dict) else None
    if (not isinstance(config, dict) or config.get("name") not in _REGISTRY) and fallback is not None:
        model = create_model(fallback)
        load_weights(model, path)
        return model
    if not isinstance(config, dict) or config.get("name") not in _REGISTRY:
        raise ModelError(f"{path}: the file does not name a registered network (save it with save_weights)")
    kwargs: dict[str, Any] = {"class_names": tuple(config.get("class_names") or ())}
    if config.get("channels") is not None:
        kwargs["channels"] = int(config["channels"])
    model = create_model(config["name"], **kwargs)
    load_weights(model, path)
    return model
