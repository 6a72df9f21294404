"""One entry for any media file: faces in an image, tracked faces in a video, emotion in speech.

:func:`media_kind` decides what a file is (its suffix, else its first bytes) and
:class:`MediaAnalyzer` sends it to the analyser of that kind; ``affectlab analyze``, ``affectlab
batch`` and the HTTP service all go through them.

>>> import affectlab
>>> affectlab.media_kind("clip.MP4"), affectlab.media_kind("talk.wav"), affectlab.media_kind("face.png")
('video', 'audio', 'image')
>>> result = affectlab.analyze(affectlab.sample_photo(), source="astronaut")  # an array is an image
>>> type(result).__name__, result.status
('AnalysisResult', 'ok')
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.analysis import AnalysisResult, ExpressionAnalyzer
from affectlab.data.sample import MediaKind
from affectlab.data.scan import media_kind as suffix_kind
from affectlab.data.scan import sniff_media_kind
from affectlab.errors import ConfigError
from affectlab.face.detect import FaceDetector
from affectlab.models import DEFAULT_MODEL

if TYPE_CHECKING:
    from affectlab.audio.analyze import SpeechAnalyzer, SpeechResult
    from affectlab.video.analyze import VideoAnalyzer, VideoResult

__all__ = ["MEDIA_KINDS", "MediaAnalyzer", "MediaKind", "analyze", "media_kind"]

#: What :class:`MediaAnalyzer` analyses: faces in images and videos, emotion in speech recordings.
MEDIA_KINDS: tuple[MediaKind, ...] = ("image", "video", "audio")


def media_kind(path: str | Path) -> MediaKind | None:
    """``"image"``, ``"video"`` or ``"audio"``: from the suffix when it is a known one, else from the
    file's first bytes (a PNG saved without a suffix, a WAV named ``.dat``); ``None`` for a folder,
    a file that cannot be read, or content of no known kind.
    """
    kind = suffix_kind(path)
    if kind is not None:
        return kind
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except OSError:  # missing, a folder, unreadable
        return None
    return sniff_media_kind(head)


class MediaAnalyzer:
    """The analysers of every media kind behind one :meth:`analyze`, each built once, when first needed.

    Parameters
    ----------
    faces
        An :class:`~affectlab.analysis.ExpressionAnalyzer` for faces in images and videos, or a
        registered model name to build one (when first needed) with ``weights``, ``detector``,
        ``max_faces``, ``whole_frame`` and ``device``.
    speech
        A ready :class:`~affectlab.audio.analyze.SpeechAnalyzer`, or ``None`` to load one with
        ``speech_weights`` (``None``: the bundled speech model) the first time a recording comes.
    video_fps, video_max_frames
        Videos: analyse about this many frames per second (``None``: every frame), at most this many.
    video_options
        Keyword arguments of :class:`~affectlab.video.analyze.VideoAnalyzer` (``threads``,
        ``scan_every``, ``batch_size``...).

    Examples
    --------
    >>> media = MediaAnalyzer("resnet_fer", device="cpu", video_fps=5)  # doctest: +SKIP
    >>> [media.analyze(p).status for p in ("face.jpg", "clip.mp4", "talk.wav")]  # doctest: +SKIP
    ['ok', 'ok', 'ok']
    """

    def __init__(
        self,
        faces: ExpressionAnalyzer | str = DEFAULT_MODEL,
        *,
        weights: str | Path | None = None,
        detector: str | FaceDetector = "auto",
        max_faces: int | None = None,
        whole_frame: bool = False,
        device: str = "auto",
        speech: SpeechAnalyzer | None = None,
        speech_weights: str | Path | None = None,
        video_fps: float | None = None,
        video_max_frames: int | None = None,
        video_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._faces = None if isinstance(faces, str) else faces  # (or any object with its methods)
        self._face_settings = {"model": faces, "weights": weights, "detector": detector, "max_faces": max_faces,
                               "whole_frame": whole_frame, "device": device}
        self.speech_weights = speech_weights
        self.video_fps = video_fps
        self.video_max_frames = video_max_frames
        self.video_options = dict(video_options or {})
        self._speech = speech

    @property
    def faces(self) -> ExpressionAnalyzer:
        """The face analyser (images, video frames), built on first use: a run over recordings alone
        never loads the face model."""
        if self._faces is None:
            self._faces = ExpressionAnalyzer(**self._face_settings)
        return self._faces

    @property
    def class_names(self) -> list[str]:
        """The classes of the face model."""
        return list(self.faces.class_names)

    def speech(self) -> SpeechAnalyzer:
        """The speech analyser, loaded on first use.

        Raises
        ------
        ConfigError
            ``affectlab.audio`` is not part of this build.
        AffectLabError
            The speech model cannot be loaded (missing weights, openSMILE not installed...).
        """
        if self._speech is None:
            try:
                from affectlab.audio.analyze import SpeechAnalyzer
            except ImportError:
                raise ConfigError("speech analysis needs affectlab.audio, which is not part of this build") from None
            self._speech = SpeechAnalyzer(self.speech_weights)
        return self._speech

    def video(self, **options: Any) -> VideoAnalyzer:
        """A video analyser over :attr:`faces` with :attr:`video_options` (``options`` override them)."""
        try:
            from affectlab.video.analyze import VideoAnalyzer
        except ImportError:
            raise ConfigError("video analysis needs affectlab.video, which is not part of this build") from None
        return VideoAnalyzer(self.faces, **{**self.video_options, **options})

    def analyze(self, path: str | Path | np.ndarray, *, kind: MediaKind | None = None,
                source: str | None = None) -> AnalysisResult | VideoResult | SpeechResult:
        """Analyse one image (a file or an RGB/gray array), video file or frame folder, or recording.

        ``kind`` skips :func:`media_kind` (a folder is a video's frames only when ``kind="video"``;
        a file of no known kind is tried as an image, whose reader names the problem). ``source``
        is the name recorded in the result (default: the path as given, ``"<array>"``).

        Returns an :class:`~affectlab.analysis.AnalysisResult` (image),
        :class:`~affectlab.video.analyze.VideoResult` or :class:`~affectlab.audio.analyze.SpeechResult`;
        an unreadable image or recording gives ``status="error"``, a bad video raises
        :class:`~affectlab.errors.MediaReadError`.
        """
        if isinstance(path, np.ndarray):
            if kind not in (None, "image"):
                raise ConfigError(f"an array is analysed as an image, not as {kind}")
            return self.faces.analyze(path, source=source or "<array>")
        kind = kind or media_kind(path) or "image"
        if kind == "video":
            result = self.video().analyze(path, fps=self.video_fps, max_frames=self.video_max_frames)
        elif kind == "audio":
            result = self.speech().analyze_path(path)
        elif kind == "image":
            result, _ = self.faces.analyze_path(path)
        else:
            raise ConfigError(f"{kind!r}: not a media kind (expected one of {', '.join(MEDIA_KINDS)})")
        if source is not None:
            result.source = source
        return result


_SHARED: dict[tuple[Any, ...], MediaAnalyzer] = {}


def analyze(path: str | Path | np.ndarray, *, kind: MediaKind | None = None, model: str = DEFAULT_MODEL,
            device: str = "auto", source: str | None = None,
            **options: Any) -> AnalysisResult | VideoResult | SpeechResult:
    """Analyse one image, video or recording with the bundled models (or ``model``).

    The kind comes from :func:`media_kind` unless given; ``options`` are those of
    :class:`MediaAnalyzer` (``weights``, ``detector``, ``max_faces``, ``whole_frame``,
    ``speech_weights``, ``video_fps``, ``video_max_frames``). The analyser is kept for the next
    call with the same settings. ``source`` is the name recorded in the result.

    >>> analyze("photo.jpg").faces[0].label  # doctest: +SKIP
    'happy'
    """
    key = (model, device, tuple(sorted((k, repr(v)) for k, v in options.items())))
    media = _SHARED.get(key)
    if media is None:
        media = _SHARED[key] = MediaAnalyzer(model, device=device, **options)
    return media.analyze(path, kind=kind, source=source)
