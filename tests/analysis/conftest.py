"""Shared fixtures of the analysis tests."""

from __future__ import annotations

import cv2
import pytest

from affectlab.data import sample_photo


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "astro.png"
    cv2.imwrite(str(path), cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    return path
