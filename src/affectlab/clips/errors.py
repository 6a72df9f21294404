"""Why a clip gives no face volume: one exception type per reason, each a one-line message naming the file.

Every refusal is a :class:`ClipRefused` with a short ``reason`` code, so a caller that reads many
clips can list them (``"S010_004.mp4: no face found in 24 frames"``) and go on with the others.
The classes also derive from the package's general types (:class:`~affectlab.errors.NoFaceError`,
:class:`~affectlab.errors.MediaReadError`, :class:`~affectlab.errors.DataError`), so code that
catches those keeps working.

Examples
--------
>>> err = ClipTooShort("clip.mp4: 2 frames, fewer than the 3 requested")
>>> err.reason, isinstance(err, ClipRefused)
('too_short', True)
"""

from __future__ import annotations

from affectlab.errors import AffectLabError, DataError, MediaReadError, NoFaceError

__all__ = ["REASONS", "ClipMissingFrames", "ClipNoFace", "ClipRefused", "ClipTooShort", "ClipUnreadable"]

#: Every ``reason`` code, in the order a report lists them.
REASONS = ("unreadable", "too_short", "no_face", "missing_frames")


class ClipRefused(AffectLabError):
    """A clip that yields no face volume; ``reason`` is one of :data:`REASONS`."""

    reason = "refused"


class ClipUnreadable(ClipRefused, MediaReadError):
    """The clip is missing, empty, corrupt or in a format OpenCV cannot decode."""

    reason = "unreadable"


class ClipTooShort(ClipRefused, DataError):
    """The clip has fewer frames than the volume asks for (and ``short="refuse"``)."""

    reason = "too_short"


class ClipNoFace(ClipRefused, NoFaceError):
    """No face was found in any frame of the clip."""

    reason = "no_face"


class ClipMissingFrames(ClipRefused, DataError):
    """The main face is lost in more of the clip's frames than the settings allow."""

    reason = "missing_frames"
