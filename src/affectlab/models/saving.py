"""Saving and loading weights with their config, so a file says what it is.

:func:`save_weights` writes ``{"state_dict", "config", "extra"}``; :func:`load_weights` reads it (or a bare
state dict) into a network and says what does not fit. Building a network from a file or a name is
:func:`affectlab.models.load_model`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from affectlab.errors import ModelError

if TYPE_CHECKING:
    from affectlab.models.registry import AffectNet

__all__ = ["load_weights", "save_weights"]


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
