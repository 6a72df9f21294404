"""Input checks shared by the image features (:mod:`affectlab.features.basic`), called through the registry."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab.features import create_feature
from tests.features.faces_with import FACES, faces_with


@pytest.mark.parametrize("name", ["pixels", "lbp", "lpq", "hog", "phog"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_images_are_refused_naming_the_image(name, bad):
    with pytest.raises(ValueError, match=rf"^{name}: image 1 contains NaN or infinite values"):
        create_feature(name, **({"levels": 2} if name in ("lbp", "lpq", "phog") else {})).fit_transform(faces_with(bad))


def test_float_images_in_unit_range_still_work():
    for name in ("pixels", "lbp", "hog", "phog"):
        out = create_feature(name).fit_transform(FACES / 255.0)
        assert np.isfinite(out).all() and out.shape[0] == 3


def test_ragged_image_list_names_the_feature():
    ragged = [FACES[0], FACES[1][:20]]
    with pytest.raises(ValueError, match="^hog: images of different sizes cannot form one batch"):
        create_feature("hog").fit_transform(ragged)
