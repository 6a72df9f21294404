"""Class probabilities of a network with its test-time augmentation: the one call the analyser, ``evaluate``,
the service and batch processing share.

A model's test-time augmentation (TTA) is a setting of the model, ``config.extras["tta"]`` (``"none"`` when
absent), that a caller may override:

- ``"none"``: one view per face;
- ``"mirror"``: the mean of the softmax on the face and on its left-right mirror image (both views go through
  the network as one batch, so at batch size 1 it costs less than two calls).

Independently of TTA, a face of another size than the network's input is brought to it as the model was trained:
10-crop averaging for ``extras["ten_crop"]`` models, the centre crop of the ``extras["eval_size"]`` face for
``extras["crop"] == "center"`` models (trained on random crops), else a resize. :func:`face_size` is the face
side a front-end should crop for a model.

>>> import numpy as np
>>> from affectlab.models import create_model, predict_probabilities
>>> net = create_model("resnet_fer")
>>> faces = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
>>> p = predict_probabilities(net, faces, tta="mirror", device="cpu")
>>> p.shape, bool(np.allclose(p.sum(1), 1.0, atol=1e-5))
((2, 7), True)
"""

from __future__ import annotations

import numpy as np
import torch

from affectlab.errors import ConfigError
from affectlab.models.device import resolve_device
from affectlab.models.registry import AffectNet
from affectlab.models.train import _as_tensor, _proba, check_batch_size

__all__ = ["TTA_MODES", "face_size", "model_tta", "predict_probabilities", "resolve_tta"]

#: Test-time augmentations :func:`predict_probabilities` knows.
TTA_MODES = ("none", "mirror")


def model_tta(model: AffectNet) -> str:
    """The model's own test-time augmentation: ``config.extras["tta"]``, ``"none"`` when it declares none."""
    return str(model.config.extras.get("tta", "none"))


def resolve_tta(model: AffectNet, tta: str | None = None) -> str:
    """``tta`` itself, or the model's own (:func:`model_tta`) for ``None`` / ``"auto"``.

    Raises
    ------
    ConfigError
        ``tta`` is not one of :data:`TTA_MODES` (nor ``"auto"``).
    """
    mode = model_tta(model) if tta in (None, "auto") else tta
    if mode not in TTA_MODES:
        raise ConfigError(f"tta {tta!r}: expected auto, {', '.join(TTA_MODES)}")
    return str(mode)


def face_size(model: AffectNet) -> tuple[int, int]:
    """The face size ``(height, width)`` to crop for ``model``: ``extras["eval_size"]`` when it has one (models
    trained on crops of a larger face), else its input size.

    >>> from affectlab.models import create_model
    >>> face_size(create_model("resnet18_fer")), face_size(create_model("resnet_fer"))
    ((48, 48), (48, 48))
    """
    size = model.config.extras.get("eval_size") or model.config.input_size
    return int(size[0]), int(size[1])


@torch.no_grad()
def predict_probabilities(model: AffectNet, images: np.ndarray | torch.Tensor, *, tta: str | None = None,
                          batch_size: int = 256, device: str | torch.device | None = None) -> np.ndarray:
    """Softmax probabilities ``(N, num_classes)`` of ``model`` for faces ``images``, with test-time augmentation.

    Parameters
    ----------
    model
        A registered network (left in the mode and on the device it had).
    images
        uint8 (or uint16) faces ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``, or a float tensor in
        ``[0, 1]`` ``(N, C, H, W)``; a size other than the model's input is handled as the module says.
    tta
        ``"none"``, ``"mirror"``, or ``None`` / ``"auto"`` for the model's own setting (:func:`model_tta`).
    batch_size
        Faces per forward pass (a mirrored batch holds twice as many views).
    device
        ``None``: where the model's weights are; else ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    """
    mode = resolve_tta(model, tta)
    batch_size = check_batch_size(batch_size)
    if device is None:
        dev = next(model.parameters()).device
    else:
        dev = resolve_device(device) if isinstance(device, str) else device
    x = images if isinstance(images, torch.Tensor) else _as_tensor(images)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    layout = torch.channels_last if _is_channels_last(model) else torch.contiguous_format
    was_training = model.training
    if was_training:  # eval(), train() and to() walk every module: ~2 ms a call for resnet_fer, so only when needed
        model.eval()
    if next(model.parameters()).device != dev:
        model.to(dev)
    out = []
    try:
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size].to(dev)
            if mode == "mirror":
                views = torch.cat([batch, torch.flip(batch, dims=[3])])
                p = _proba(model, views.contiguous(memory_format=layout))
                p = 0.5 * (p[: len(batch)] + p[len(batch) :])
            else:
                p = _proba(model, batch.contiguous(memory_format=layout))
            out.append(p.float().cpu())
    finally:
        if was_training:
            model.train()
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.num_classes), np.float32)


def _is_channels_last(model: AffectNet) -> bool:
    """Whether the first 4-D weight is stored channels-last (then the input is given the same layout)."""
    for p in model.parameters():
        if p.ndim == 4:
            return p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
    return False
