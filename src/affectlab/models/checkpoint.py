"""Saving and loading weights with their config, so a file says what it is."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from affectlab.errors import ModelError
from affectlab.models.registry import AffectNet

__all__ = ["save_weights", "load_weights"]


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
