"""AffectLab: recognise human affect from faces and speech.

Quick start::

    >>> import affectlab
    >>> result = affectlab.analyze_image(affectlab.sample_photo())  # doctest: +SKIP
    >>> result.faces[0].label  # doctest: +SKIP
    'happy'
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
