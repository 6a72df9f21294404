"""The main job: find faces in images and classify their expressions.

>>> from affectlab import ExpressionAnalyzer, sample_photo
>>> analyzer = ExpressionAnalyzer()       # bundled model, landmark front-end if installed, offline
>>> result = analyzer.analyze(sample_photo(), source="astronaut")
>>> result.status, len(result.faces)
('ok', 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from affectlab.data.media import read_image, to_gray, to_rgb
from affectlab.errors import AffectLabError
from affectlab.face import FaceBox, FaceDetector, FacePreprocessor, as_uint8_image
from affectlab.models import DEFAULT_MODEL, AffectNet, create_model, face_size, load_model, predict_probabilities
from affectlab.models.device import resolve_device
from affectlab.models.inference import resolve_tta

__all__ = ["DEFAULT_MODEL", "FaceResult", "AnalysisResult", "ExpressionAnalyzer", "analyze_image", "landmarks_list"]

Status = Literal["ok", "no_face", "error"]


@dataclass
class FaceResult:
    """One face: its box in the input image, the predicted label and all class probabilities.

    ``landmarks`` (``(N, 2)`` image pixels) and ``pose`` (``yaw``, ``pitch``, ``roll`` in degrees)
    are set when the front-end gives landmarks (the ``"dlib"`` detector).
    """

    box: FaceBox
    label: str
    probabilities: dict[str, float]
    aligned: bool = False
    landmarks: np.ndarray | None = field(default=None, repr=False)
    pose: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "box": self.box.as_list(),
            "label": self.label,
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "aligned": self.aligned,
        }
        if self.landmarks is not None:
            out["landmarks"] = landmarks_list(self.landmarks)
        if self.pose is not None:
            out["pose"] = {k: round(float(v), 2) for k, v in self.pose.items()}
        return out


def landmarks_list(landmarks: np.ndarray) -> list[list[float]]:
    """``[[x, y], ...]`` rounded to 0.1 px, as the JSON outputs write landmarks.

    >>> landmarks_list(np.array([[1.234, 5.0]]))
    [[1.2, 5.0]]
    """
    return [[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(landmarks).reshape(-1, 2)]


@dataclass
class AnalysisResult:
    """The outcome for one input; ``status`` is ``"ok"``, ``"no_face"`` or ``"error"``."""

    source: str
    status: Status
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None
    image_size: tuple[int, int] | None = None  # (width, height)
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON Lines record printed by ``affectlab analyze``."""
        out: dict[str, Any] = {"source": self.source, "faces": [f.to_dict() for f in self.faces], "status": self.status}
        if self.error is not None:
            out["error"] = self.error
        if self.image_size is not None:
            out["image_size"] = list(self.image_size)
        if self.model is not None:
            out["model"] = self.model
        return out


class ExpressionAnalyzer:
    """Detect, align and crop faces, then classify the 7 basic expressions.

    Parameters
    ----------
    model
        A registered model name (its bundled weights are loaded) or a ready :class:`AffectNet`.
    weights
        A checkpoint to load instead of the bundled weights.
    detector
        Face detector name or an object with ``detect(image) -> list[FaceBox]``: ``"auto"`` (the
        landmark front-end ``"dlib"`` when ``affectlab[landmarks]`` is installed, else ``"haar"``),
        ``"dlib"`` (HOG detection, 5-point landmarks, head pose, eye-framed crops) or ``"haar"``
        (OpenCV's cascades, no landmarks).
    max_faces
        Keep at most this many faces per image (largest first); all when ``None``.
    whole_frame
        When no face is found, classify the whole image as one face instead of
        reporting ``"no_face"`` (useful for pre-cropped faces such as FER2013 or CK+48).
    margin
        Extra border around each detected box, as a fraction of its size.
    device
        ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.
    tta
        Test-time augmentation: ``"auto"`` (the model's own setting, e.g. mirror averaging for the
        bundled ``resnet_fer``), ``"none"`` or ``"mirror"``.
    """

    def __init__(
        self,
        model: str | AffectNet = DEFAULT_MODEL,
        *,
        weights: str | Path | None = None,
        detector: str | FaceDetector = "auto",
        max_faces: int | None = None,
        whole_frame: bool = False,
        margin: float = 0.0,
        device: str = "auto",
        tta: str = "auto",
    ) -> None:
        if isinstance(model, str):
            if weights is not None and model == DEFAULT_MODEL:  # the checkpoint names its own network
                model = load_model(weights, fallback=model)
            else:
                model = create_model(model, pretrained=weights if weights is not None else True)
        self.model = model.eval()
        self.device = resolve_device(device)
        self.model.to(self.device)
        self.tta = resolve_tta(model, tta)
        cfg = model.config
        self.class_names = list(cfg.class_names)
        self.preprocess = FacePreprocessor(
            detector,
            size=face_size(model)[0],
            margin=margin,
            align=True,
            color="gray" if cfg.channels == 1 else "rgb",
            max_faces=max_faces,
            whole_frame_fallback=whole_frame,
        )

    def classify_crops(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, n_classes)`` for uint8 face crops ``(N, H, W)`` or ``(N, H, W, C)``,
        with the analyser's test-time augmentation (:func:`~affectlab.models.predict_probabilities`)."""
        return predict_probabilities(self.model, np.ascontiguousarray(crops), tta=self.tta, device=self.device)

    def analyze(self, image: np.ndarray, *, source: str = "<array>") -> AnalysisResult:
        """Analyse one RGB (or gray) uint8 image already in memory.

        Raises ``ValueError`` naming the problem for an array that is not an image
        (wrong shape or dtype, empty, float outside ``[0, 1]``).
        """
        image = as_uint8_image(image, name=source)
        if image.ndim == 2 or image.shape[2] != 3:
            image = to_rgb(image)
        faces = self.preprocess(image)
        height, width = image.shape[:2]
        name = self.model.config.name
        if not faces:
            return AnalysisResult(source, "no_face", image_size=(width, height), model=name)
        crops = np.stack([f.image for f in faces])
        if self.model.config.channels == 1 and crops.ndim == 4:
            crops = np.stack([to_gray(c) for c in crops])
        probs = self.classify_crops(crops)
        results = [
            FaceResult(
                box=face.box,
                label=self.class_names[int(p.argmax())],
                probabilities={c: float(v) for c, v in zip(self.class_names, p)},
                aligned=face.aligned,
                landmarks=face.landmarks,
                pose=face.pose,
            )
            for face, p in zip(faces, probs)
        ]
        return AnalysisResult(source, "ok", results, image_size=(width, height), model=name)

    def analyze_path(self, path: str | Path) -> tuple[AnalysisResult, np.ndarray | None]:
        """Analyse one image file; a bad file gives ``status="error"`` rather than raising."""
        try:
            image = read_image(path, mode="rgb")
        except AffectLabError as exc:
            return AnalysisResult(str(path), "error", error=str(exc)), None
        return self.analyze(image, source=str(path)), image

    def analyze_many(self, paths: Iterable[str | Path]) -> Iterator[tuple[AnalysisResult, np.ndarray | None]]:
        """Analyse files one by one; a bad file never stops the batch."""
        for path in paths:
            yield self.analyze_path(path)


def analyze_image(image: np.ndarray | str | Path, **kwargs: Any) -> AnalysisResult:
    """One-call analysis of an image array or file with a fresh :class:`ExpressionAnalyzer`."""
    analyzer = ExpressionAnalyzer(**kwargs)
    if isinstance(image, np.ndarray):
        return analyzer.analyze(image)
    return analyzer.analyze_path(image)[0]
