from __future__ import annotations

import numpy as np
import pytest

from affectlab.audio.io import read_audio
from affectlab.audio.opensmile import (
    OPENSMILE_FEATURE_SETS,
    canonical_feature_set,
    extract_opensmile,
    opensmile_feature_names,
    opensmile_functionals,
)
from affectlab.errors import ConfigError, MediaReadError

pytest.importorskip("opensmile")


def test_egemaps_shape_names_and_finite(make_tone):
    values = opensmile_functionals(make_tone(1.0), feature_set="eGeMAPSv02")
    names = opensmile_feature_names("egemaps")
    assert values.shape == (88,) == (len(names),)
    assert np.all(np.isfinite(values))
    assert "F0semitoneFrom27.5Hz_sma3nz_amean" in names


def test_compare_dimension(make_tone):
    assert opensmile_functionals(make_tone(0.5), feature_set="compare").shape == (6373,)
    assert OPENSMILE_FEATURE_SETS["compare_2016"].dim == 6373


def test_short_input_nan_policy(make_tone):
    short = make_tone(0.05)
    with pytest.raises(MediaReadError, match="clip.wav: 88 of 88 eGeMAPSv02 functionals are NaN"):
        opensmile_functionals(short, feature_set="egemaps", source="clip.wav")
    filled = opensmile_functionals(short, feature_set="egemaps", nan_policy="zero")
    assert np.all(filled == 0.0)
    kept = opensmile_functionals(short, feature_set="egemaps", nan_policy="keep")
    assert np.isnan(kept).all()


def test_unknown_set_and_policy(make_tone):
    with pytest.raises(ConfigError, match="unknown openSMILE feature set"):
        canonical_feature_set("mfcc")
    with pytest.raises(ConfigError, match="nan_policy"):
        opensmile_functionals(make_tone(0.5), feature_set="egemaps", nan_policy="drop")


def test_extract_files_in_order_and_bad_file_named(write_wav, make_tone):
    paths = [write_wav(f"f{i}.wav", make_tone(0.5, freq=150 + 100 * i, seed=i)) for i in range(3)]
    X = extract_opensmile(paths, feature_set="egemaps")
    assert X.shape == (3, 88)
    one = opensmile_functionals(read_audio(paths[1]), feature_set="egemaps")
    assert np.allclose(X[1], one)
    bad = write_wav("silent.wav", np.zeros(8000, np.float32))
    with pytest.raises(MediaReadError, match="silent.wav"):
        extract_opensmile([paths[0], bad], feature_set="egemaps")


@pytest.mark.shared_data
def test_real_emodb_files(dataset_path):
    wav = dataset_path("emodb/wav")
    files = sorted(wav.glob("03a01*.wav"))[:3]
    X = extract_opensmile(files, feature_set="egemaps")
    assert X.shape == (len(files), 88) and np.all(np.isfinite(X))
