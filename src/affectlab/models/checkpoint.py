"""A ready network from a name or a file: :func:`load_model`, and :func:`check_weights_network`.

The files themselves are written and read by :mod:`affectlab.models.saving` (re-exported here).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from affectlab.errors import ModelError
from affectlab.models.registry import _REGISTRY, DEFAULT_MODEL, AffectNet, create_model, list_models
from affectlab.models.saving import load_weights, save_weights

__all__ = ["check_weights_network", "load_model", "load_weights", "save_weights"]


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
