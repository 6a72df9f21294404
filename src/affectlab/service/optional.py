"""Optional capabilities of the service: speech, video and heatmaps appear when their modules import.

A capability is available when its module imports as a regular package (not an empty namespace
package left by work in progress) and offers the object the service calls. Otherwise its route
answers 501 and ``/health`` says why.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["Capability", "probe", "REQUIREMENTS"]

#: Capability name -> (module, the attribute the service calls; ``None``: the service has no adapter yet).
REQUIREMENTS: dict[str, tuple[str, str | None]] = {
    "speech": ("affectlab.audio.analyze", "SpeechAnalyzer"),
    "video": ("affectlab.video", "VideoAnalyzer"),
    "heatmap": ("affectlab.explain", "GradCAM"),
}


@dataclass(frozen=True)
class Capability:
    """Whether an optional part is usable here: ``provider`` is what the service calls, ``reason`` why not."""

    name: str
    provider: Any = None
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.provider is not None


def probe(name: str) -> Capability:
    """Find the provider of capability ``name`` (``"speech"``, ``"video"`` or ``"heatmap"``).

    >>> probe("video").name
    'video'
    """
    module_name, attribute = REQUIREMENTS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # not in this build, or a dependency (an extra) is missing
        if getattr(exc, "name", None) == module_name:
            return Capability(name, reason=f"{module_name} is not part of this AffectLab build")
        return Capability(name, reason=f"{module_name} cannot be imported ({exc}); install the matching extra")
    if getattr(module, "__file__", None) is None:
        return Capability(name, reason=f"{module_name} is not part of this AffectLab build yet")
    if attribute is None:
        return Capability(name, reason=f"the service does not use {module_name} yet")
    provider = getattr(module, attribute, None)
    if provider is None:
        return Capability(name, reason=f"{module_name} provides no {attribute}")
    return Capability(name, provider=provider)
