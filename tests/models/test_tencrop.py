"""Ten-crop evaluation and random crops, checked on hand-made images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab.models import create_model
from affectlab.models.tencrop_cnn import random_crop, ten_crop_predict, ten_crops
from affectlab.models.train import predict_proba


def test_ten_crops_of_a_3x3_image_by_hand():
    x = torch.arange(9.0).view(1, 1, 3, 3)  # [[0,1,2],[3,4,5],[6,7,8]]
    crops = ten_crops(x, 2)[0, :, 0]
    expected = [
        [[0, 1], [3, 4]],  # top-left
        [[1, 2], [4, 5]],  # top-right
        [[3, 4], [6, 7]],  # bottom-left
        [[4, 5], [7, 8]],  # bottom-right
        [[0, 1], [3, 4]],  # centre of 3x3 with side 2: offset (0, 0)
    ]
    assert crops[:5].tolist() == expected
    assert crops[5:].tolist() == [[row[::-1] for row in crop] for crop in expected]


def test_ten_crops_rejects_large_crops():
    with pytest.raises(ValueError, match="larger than"):
        ten_crops(torch.zeros(1, 1, 4, 4), 5)


def test_ten_crop_predict_is_the_mean_of_the_crop_softmaxes():
    torch.manual_seed(0)
    model = create_model("tencrop_cnn", num_classes=3).eval()
    x = torch.rand(2, 1, 48, 48)
    crops = ten_crops(x, 40)
    with torch.no_grad():
        manual = torch.stack([torch.softmax(model(crops[:, k]), 1) for k in range(10)]).mean(0)
    assert torch.allclose(ten_crop_predict(model, x), manual, atol=1e-6)
    # predict_proba switches to ten-crop averaging for 48x48 input to a 40x40 ten-crop model
    proba = predict_proba(model, (x * 255).round().to(torch.uint8).numpy()[:, 0], device="cpu")
    assert proba.shape == (2, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_random_crop_takes_real_windows():
    x = torch.arange(2 * 2 * 6 * 6, dtype=torch.float32).view(2, 2, 6, 6)
    out = random_crop(x, 4, torch.Generator().manual_seed(0))
    assert out.shape == (2, 2, 4, 4)
    for i in range(2):
        found = [(r, c) for r in range(3) for c in range(3) if torch.equal(x[i, :, r : r + 4, c : c + 4], out[i])]
        assert len(found) == 1
