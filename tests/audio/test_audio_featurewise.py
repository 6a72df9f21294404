from __future__ import annotations

import numpy as np
import pytest

from affectlab.audio.featurewise import (
    analyse_featurewise,
    featurewise_ccc,
    minmax_columns,
    top_k_table,
)
from affectlab.evaluate.metrics import ccc
from affectlab.viz.ccc import plot_ccc_scatter, save_ccc_scatter


def test_hand_computed_ccc():
    # x = [0, 1, 2] -> [0, .5, 1]; y = [0, 0, 3] -> [0, 0, 1]
    # means 1/2 and 1/3; vars 1/6 and 2/9; cov = ((-1/2)(-1/3) + 0 + (1/2)(2/3)) / 3 = 1/6
    # CCC = (1/3) / (1/6 + 2/9 + 1/36) = (1/3) / (15/36) = 4/5
    value = featurewise_ccc(np.array([[0.0], [1.0], [2.0]]), np.array([0.0, 0.0, 3.0]))
    assert value.shape == (1, 1)
    assert value[0, 0] == pytest.approx(0.8)


def test_matches_metrics_ccc_after_minmax():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 5)), rng.normal(size=(40, 2))
    table = featurewise_ccc(X, Y)
    A, B = minmax_columns(X), minmax_columns(Y)
    expected = [[ccc(B[:, j], A[:, i]) for j in range(2)] for i in range(5)]
    assert np.allclose(table, expected)


def test_constant_feature_gets_zero_and_bad_input():
    X = np.c_[np.ones(4), np.arange(4.0)]
    assert featurewise_ccc(X, np.arange(4.0))[:, 0].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="finite"):
        featurewise_ccc(np.array([[np.nan], [1.0]]), np.array([0.0, 1.0]))


def test_top_k_and_table_and_plot(tmp_path):
    X = np.c_[np.arange(6.0), -np.array([0, 1, 2, 3, 5, 4.0]), np.array([0, 1, 0, 1, 0, 1.0])]
    Y = np.c_[np.arange(6.0), np.array([1, 0, 1, 0, 1, 0.0])]
    result = analyse_featurewise(X, Y, ["up", "down", "zigzag"], ["valence", "arousal"])
    assert [name for _, name, _ in result.top("valence", 2)] == ["up", "down"]
    assert result.top("arousal", 1)[0][1] == "zigzag" and result.top("arousal", 1)[0][2] == pytest.approx(-1.0)
    table = top_k_table(result, 2)
    assert table.splitlines()[2].startswith("| 1 | `up` | 1.000 | `zigzag` | -1.000 |")
    png = save_ccc_scatter(result.ccc[:, 1], result.ccc[:, 0], tmp_path / "s.png", names=result.names, top_k=2)
    assert png.stat().st_size > 1000
    with pytest.raises(ValueError):
        plot_ccc_scatter(np.zeros(2), np.zeros(3))
    csv = result.to_csv(tmp_path / "f.csv").read_text().splitlines()
    assert csv[0] == "feature,valence,arousal" and csv[1].startswith("up,1.000000")
