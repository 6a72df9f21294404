"""Saving and loading weights with their config, so a file says what it is."""

from __future__ import annotations

import dataclasses
import inspect
import os
from pathlib import Path
from typing import Any

import torch

from affectlab.errors import ModelError
from affectlab.models.registry import _REGISTRY, DEFAULT_MODEL, AffectNet, create_model, list_models

__all__ = ["check_weights_network", "load_model", "load_weights", "save_weights"]


def save_weights(model: AffectNet, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``{"state_dict", "config", "extra"}`` to ``path`` (float32 tensors).

    The file is written next to ``path`` and then renamed, so an interruption never leaves half a file;
    a ``path`` that is a folder, or below a file, is a :class:`~affectlab.errors.ModelError`.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; give a file name for the weights (e.g. {path / 'model.pt'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"{path}: cannot create its folder ({exc.strerror or type(exc).__name__})") from None
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": dataclasses.asdict(model.config), "extra": extra or {}}
    partial = path.with_name(path.name + ".partial")
    try:
        torch.save(payload, partial)
        os.replace(partial, path)
    except (OSError, RuntimeError) as exc:
        partial.unlink(missing_ok=True)
        raise ModelError(f"{path}: cannot write the weights ({exc})") from None
    return path


def _misfit(model: AffectNet, payload: Any, state: dict[str, Any]) -> str:
    """Why ``state`` does not load into ``model``: another network, other classes, or the tensors that differ."""
    config = payload.get("config") if isinstance(payload, dict) else None
    if isinstance(config, dict) and config.get("name") and config["name"] != model.config.name:
        return f"the file holds {config['name']} weights, not {model.config.name}"
    names = list(config.get("class_names") or ()) if isinstance(config, dict) else []
    if names and tuple(names) != tuple(model.config.class_names) and len(names) != model.config.num_classes:
        return (f"the file has {len(names)} classes ({', '.join(map(str, names))}), the model "
                f"{model.config.num_classes}; build it with class_names=... or fine-tune (transfer_weights)")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
              if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            parts.append(f"{label}: {', '.join(map(str, items[:3]))}"
                         + (f" (+{len(items) - 3} more)" if len(items) > 3 else ""))
    return "; ".join(parts) or "tensors do not match"


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
    except RuntimeError:
        raise ModelError(f"{path}: weights do not fit {model.config.name} ({_misfit(model, payload, state)})") from None
    return payload.get("extra", {}) if isinstance(payload, dict) else {}


def check_weights_network(weights: str | Path, model_name: str, *, option: str = "--model") -> None:
    """Refuse a weights file that names another network than the one asked for by name.

    ``affectlab analyze --weights FILE`` alone runs the network FILE names; with an explicit ``--model NAME`` as
    well the two must agree (otherwise NAME would be silently ignored). Files that name no network (bare state
    dicts) and unreadable files pass here; loading them reports what is wrong.

    Raises
    ------
    ModelError
        The file holds another registered network than ``model_name``.
    """
    try:
        payload = torch.load(Path(weights).expanduser(), map_location="cpu", weights_only=True)
    except Exception:  # missing or corrupt: the loader's own message says so
        return
    config = payload.get("config") if isinstance(payload, dict) else None
    name = config.get("name") if isinstance(config, dict) else None
    if name in _REGISTRY and name != model_name:
        raise ModelError(f"--weights {weights}: holds a {name} network, not {option} {model_name}; "
                         f"leave out {option} to run the file's own network")


def load_model(spec: str | Path, *, default: str | None = None, fallback: str | None = None,
               option: str = "--model") -> AffectNet:
    """A ready network from a registered name, ``"default"`` or a checkpoint path.

    Parameters
    ----------
    spec
        ``"default"`` (the bundled default model, ``affectlab.models.DEFAULT_MODEL`` unless
        ``default`` is given), a registered model name (its bundled weights), or a file written by
        :func:`save_weights` (the network is rebuilt from the config stored in it).
    fallback
        For a weights file that does not name its network (a bare state dict): build this
        registered model and load the file into it.
    option
        The argument named in error messages (``--init`` for ``affectlab train``).

    Raises
    ------
    ModelError
        Unknown name, missing file, or a file that does not say which network it holds.

    Examples
    --------
    >>> load_model("default").config.name in ("mini_xception", "resnet_fer")
    True
    """
    text = str(spec)
    if text == "default":
        text = DEFAULT_MODEL if default is None else default
    if text in _REGISTRY:
        return create_model(text, pretrained=True)
    path = Path(text).expanduser()
    if not path.is_file():
        raise ModelError(
            f"{option} {text!r}: neither a registered model ({', '.join(list_models())}) nor a weights file"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ModelError(f"{path}: not a readable weights file ({type(exc).__name__})") from None
    config = payload.get("config") if isinstance(payload, dict) else None
    if isinstance(payload, dict) and {"model", "optimizer", "epoch"} <= set(payload):
        raise ModelError(f"{path}: a training state (to resume a run), not weights; use best.pt from the same "
                         "run folder")
    if (not isinstance(config, dict) or config.get("name") not in _REGISTRY) and fallback is not None:
        model = create_model(fallback)
        load_weights(model, path)
        return model
    if not isinstance(config, dict) or config.get("name") not in _REGISTRY:
        raise ModelError(f"{path}: the file does not name a registered network (save it with save_weights)")
    kwargs: dict[str, Any] = {"class_names": tuple(config.get("class_names") or ())}
    if config.get("channels") is not None:
        kwargs["channels"] = int(config["channels"])
    accepted = inspect.signature(_REGISTRY[config["name"]]).parameters
    if "input_size" in accepted and config.get("input_size"):  # e.g. vgg_identity trained on larger faces
        kwargs["input_size"] = tuple(int(v) for v in config["input_size"])
    model = create_model(config["name"], **kwargs)
    load_weights(model, path)
    return model
