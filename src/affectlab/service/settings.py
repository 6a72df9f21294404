"""Settings of the HTTP service: model, limits and timeouts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from affectlab.errors import ConfigError
from affectlab.models import DEFAULT_MODEL

__all__ = ["ServiceSettings", "ENV_PREFIX"]

#: Environment variables ``AFFECTLAB_<FIELD>`` (upper case) override the defaults in :meth:`ServiceSettings.from_env`.
ENV_PREFIX = "AFFECTLAB_"


@dataclass(frozen=True)
class ServiceSettings:
    """What :func:`affectlab.service.create_app` serves and how it guards itself.

    Parameters
    ----------
    model
        Registered expression model (its bundled weights are used unless ``weights`` is given).
    weights
        Checkpoint to load instead of the bundled weights.
    device
        ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.
    max_faces
        Keep at most this many faces per image (largest first); all when ``None``.
    max_upload_bytes
        Largest accepted request body; a larger upload gets ``413``.
    max_pixels
        Largest accepted image (width x height) after reading its header; a larger one gets ``413``.
        Also the largest video frame.
    max_pixels_in_flight
        Most pixels of uploaded images decoded and held at once, all requests together (counted
        from the headers before decoding); a request waits for room, within ``timeout_s``.
        ``None``: ``max_pixels`` (one image of the largest size at a time).
    timeout_s
        Longest an upload may take to arrive (then ``408``) and, separately, the longest a
        request may wait for and run inference (then ``504``).
    torch_threads
        Intra-op threads for torch on the inference thread (``None``: torch's default). One is
        right for the bundled models: a few 48x48 crops gain nothing from more, and on a busy
        machine extra threads spin and can make a call 100x slower.
    speech_weights
        Speech model for ``/v1/speech`` instead of the bundled one (``affectlab.audio``).
    api_key
        When set, every request but ``/health``, the web page and the API docs needs the header
        ``Authorization: Bearer <api_key>`` (else ``401``). Not shown in ``repr``.
    allowed_hosts
        When not empty, requests whose ``Host`` header names another host get ``400``
        (``*.example.org`` allows its subdomains).

    Examples
    --------
    >>> ServiceSettings(max_upload_bytes=1_000_000).timeout_s
    30.0
    """

    model: str = DEFAULT_MODEL
    weights: Path | None = None
    device: str = "auto"
    max_faces: int | None = None
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_pixels_in_flight: int | None = None
    timeout_s: float = 30.0
    torch_threads: int | None = 1
    speech_weights: Path | None = None
    api_key: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1:
            raise ConfigError(f"max_upload_bytes must be >= 1, got {self.max_upload_bytes}")
        if self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be >= 1, got {self.max_pixels}")
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.max_faces is not None and self.max_faces < 1:
            raise ConfigError(f"max_faces must be >= 1, got {self.max_faces}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ConfigError(f"torch_threads must be >= 1, got {self.torch_threads}")
        if self.max_pixels_in_flight is not None and self.max_pixels_in_flight < 1:
            raise ConfigError(f"max_pixels_in_flight must be >= 1, got {self.max_pixels_in_flight}")
        if self.api_key is not None and (not self.api_key or self.api_key != self.api_key.strip()
                                         or any(c.isspace() for c in self.api_key)):
            raise ConfigError("api_key must be a non-empty string without spaces")
        object.__setattr__(self, "allowed_hosts", tuple(h.strip() for h in self.allowed_hosts if h.strip()))

    @property
    def pixel_budget(self) -> int:
        """Pixels decoded at once, all requests together (``max_pixels_in_flight`` or ``max_pixels``)."""
        return self.max_pixels_in_flight if self.max_pixels_in_flight is not None else self.max_pixels

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServiceSettings:
        """Defaults overridden by ``AFFECTLAB_MODEL``, ``AFFECTLAB_MAX_UPLOAD_BYTES``, ... when set.

        ``AFFECTLAB_ALLOWED_HOSTS`` is a comma-separated list; ``AFFECTLAB_API_KEY`` the key.

        >>> ServiceSettings.from_env({"AFFECTLAB_TIMEOUT_S": "5"}).timeout_s
        5.0
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            key = ENV_PREFIX + f.name.upper()
            raw = env.get(key)
            if raw is None or raw == "":
                continue
            try:
                if f.name in ("max_upload_bytes", "max_pixels", "max_pixels_in_flight", "max_faces", "torch_threads"):
                    values[f.name] = int(raw)
                elif f.name == "allowed_hosts":
                    values[f.name] = tuple(raw.split(","))
                elif f.name == "timeout_s":
                    values[f.name] = float(raw)
                elif f.name in ("weights", "speech_weights"):
                    values[f.name] = Path(raw)
                else:
                    values[f.name] = raw
            except ValueError:
                raise ConfigError(f"{key}={raw!r}: not a number") from None
        return replace(cls(), **values)
