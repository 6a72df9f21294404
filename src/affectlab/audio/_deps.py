"""Optional dependencies of the speech front-end, imported on first use with one clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

from affectlab.errors import ConfigError

__all__ = ["SPEECH_EXTRA_HINT", "SSL_EXTRA_HINT", "require"]

SPEECH_EXTRA_HINT = "pip install 'affectlab[speech]'"
SSL_EXTRA_HINT = "pip install 'affectlab[ssl]'"

_HINTS = {
    "opensmile": SPEECH_EXTRA_HINT,
    "soundfile": SPEECH_EXTRA_HINT,
    "soxr": SPEECH_EXTRA_HINT,
    "transformers": SSL_EXTRA_HINT,
}


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`ConfigError` naming ``what`` needs it and how to install it.

    Examples
    --------
    >>> require("math", "arithmetic").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = _HINTS.get(module.split(".")[0], f"pip install {module}")
        raise ConfigError(f"{what} needs the optional package {module!r} ({exc.msg}): {hint}") from None
