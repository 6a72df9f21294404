from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab.explain import activation_maps, first_layer_filters
from affectlab.models import create_model
from affectlab.viz.heatmap import colorize, overlay_heatmap, pair_heatmap_figure
from affectlab.viz.panel import (
    PanelRow,
    activation_grid,
    explanation_panel,
    filter_grid,
    side_by_side,
)


def test_colour_scale_is_fixed_and_overlay_keeps_size():
    ends = colorize(np.array([[0.0, 1.0]]))
    assert tuple(ends[0, 0]) == (0, 0, 128) and tuple(ends[0, 1]) == (128, 0, 0)  # JET: dark blue .. dark red
    face = np.full((10, 8), 100, np.uint8)
    out = overlay_heatmap(face, np.zeros((5, 4)), alpha=0.0)
    assert out.shape == (10, 8, 3) and np.all(out == 100)


def test_panel_has_one_row_per_face():
    rows = [PanelRow(np.zeros((48, 48), np.uint8), "sad", 0.5, np.full((48, 48), 0.5), np.zeros((48, 48)),
                     np.full((48, 48), 0.5)) for _ in range(3)]
    assert explanation_panel(rows, cell=64).shape == (28 + 3 * 64, 6 * 64, 3)
    with pytest.raises(ValueError, match="no rows"):
        explanation_panel([])


def test_two_networks_side_by_side():
    x = torch.rand(1, 1, 48, 48)
    a = create_model("mini_xception", pretrained=True)
    b = create_model("mini_xception")  # untrained, same architecture
    grids = [activation_grid(activation_maps(m, x, "stem")[0], cell=24) for m in (a, b)]
    both = side_by_side(grids, ["trained", "untrained"])
    assert both.shape[1] == grids[0].shape[1] + grids[1].shape[1] + 8
    filters = filter_grid(first_layer_filters(a), cell=16)
    assert filters.shape == (2 + 3 * 18, 2 + 3 * 18, 3)  # 8 filters on a 3 x 3 grid


def test_pair_heatmap_figure_layout():
    face = np.zeros((28, 24), np.uint8)
    m = np.zeros((28, 24))
    fig = pair_heatmap_figure(face, face, m, m, m, m, probability=0.7, truth="same", cell=56)
    assert fig.shape == (24 + 22 + 56, 6 * 48, 3)
