"""The shared setting predicates (affectlab.checks) and a sample of the sites that use them."""
from fractions import Fraction

import numpy as np
import pytest

from affectlab.checks import is_integer, is_number
from affectlab.errors import ConfigError


@pytest.mark.parametrize("value, integer, number", [
    (3, True, True), (np.int64(3), True, True), (np.uint8(3), True, True),
    (True, False, False), (np.True_, False, False), (3.0, False, True), (np.float32(0.5), False, True),
    (Fraction(1, 2), False, True), ("3", False, False), (None, False, False), (np.complex128(1), False, False),
    (np.array(3), False, False), ([3], False, False),
])
def test_predicates(value, integer, number):
    assert is_integer(value) is integer
    assert is_number(value) is number


def test_sites_refuse_bools_and_whole_floats_but_take_numpy_integers():
    from affectlab.classify.registry import create_classifier
    from affectlab.evaluate.protocols import make_protocol
    from affectlab.experiments.config import parse_image_size
    from affectlab.features.pyramid import pyramid_grids

    for bad in (True, 2.0):
        with pytest.raises(ValueError, match="levels must be a positive integer"):
            pyramid_grids(bad)
        with pytest.raises(ConfigError, match="random_state must be an integer"):
            make_protocol({"kind": "group_kfold", "random_state": bad})
        with pytest.raises(ConfigError, match="n_components must be a positive integer"):
            create_classifier("pls", n_components=bad)
    assert pyramid_grids(np.int64(2)) == (1, 2)
    assert make_protocol({"kind": "group_kfold", "n_splits": np.int64(3)}).n_splits == 3
    size = parse_image_size({"size": np.int64(48)})
    assert size == (48, 48) and type(size[0]) is int
    create_classifier("linear_svm", C_grid=np.array([1, 10]))  # numpy ints in a grid (refused before)


def test_number_sites_refuse_true_that_they_used_to_take():
    from affectlab.face.detect import create_detector
    from affectlab.face.preprocess import FacePreprocessor

    with pytest.raises(ConfigError, match="margin must be a number"):
        FacePreprocessor(detector="haar", margin=True)
    with pytest.raises(ConfigError, match="upscale_to must be a non-negative int"):
        create_detector("haar", upscale_to=True)
