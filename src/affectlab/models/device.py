"""Which torch device runs a network: ``"auto"`` (a GPU when present) or a checked name.

>>> resolve_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import torch

from affectlab.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; a name torch does not know, a device type that cannot
    train or classify here (``meta``, ``mps`` without MPS, ...), CUDA where there is none or a CUDA index
    beyond the GPUs present is a :class:`~affectlab.errors.ConfigError` naming the device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {device!r}: expected auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r}: CUDA is not available on this machine (use auto or cpu)")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"device {device!r}: this machine has {count} CUDA device(s)"
                              f" (cuda:0 to cuda:{count - 1})")
        return dev
    if dev.type == "cpu" or (dev.type == "mps" and torch.backends.mps.is_available()):
        return dev
    raise ConfigError(f"device {device!r}: not usable here; expected auto, cpu, cuda or cuda:N")
