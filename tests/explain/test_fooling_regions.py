"""The ranked difference map, band shares, face regions and ``kind: fooling`` runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from affectlab.errors import ConfigError
from affectlab.explain import band_shares, difference_bands, difference_gray, fool
from affectlab.explain.regions import (
    FACE_REGIONS,
    REGION_LAYOUTS,
    region_masks,
    region_shares,
    region_table,
)
from tests.config_files import written_config


def test_rank_scale_by_hand_ties_share_the_higher_rank():
    diff = np.array([[0.0, 0.3, 0.01, 0.01, 0.2]])
    # changed: 0.01, 0.01, 0.2, 0.3 -> at-most counts 2, 2, 3, 4 of 4
    assert difference_gray(np.zeros((1, 5)), diff).tolist() == [[0, 255, 128, 128, 191]]
    assert difference_gray(np.zeros((1, 5)), diff, scale="max").tolist() == [[0, 255, 8, 8, 170]]
    with pytest.raises(ConfigError, match="scale"):
        difference_gray(np.zeros((1, 5)), diff, scale="median")
    with pytest.raises(ConfigError, match="scale"):
        difference_gray(np.zeros((1, 5)), diff, scale=-1.0)


def test_rank_bands_hold_fixed_shares_whatever_the_sizes_of_the_changes():
    rng = np.random.default_rng(0)
    diff = rng.pareto(3.0, (60, 60)) * 1e-3   # heavy-tailed, like a scaled attack's change
    bands = difference_bands(np.zeros_like(diff), diff, neighbours=False)
    shares = np.bincount(bands.ravel(), minlength=5) / bands.size
    # gray levels <= 150 / 180 / 200 / 225 of 255 -> 59 %, 12 %, 8 %, 10 %, 12 %
    np.testing.assert_allclose(shares, [150 / 255, 30 / 255, 20 / 255, 25 / 255, 30 / 255], atol=0.01)
    as_max = np.bincount(difference_bands(np.zeros_like(diff), diff, scale="max", neighbours=False).ravel(),
                         minlength=5) / bands.size
    assert as_max[0] > 0.99   # the old scale: nearly everything black


def test_band_shares_count_changed_pixels_only_and_neighbours_as_drawn():
    diff = np.zeros((5, 5))
    diff[2, 2] = 0.1          # alone: rank 1 of 1 -> red, spreads to its 8 neighbours when drawn
    alone = band_shares(np.zeros((5, 5)), diff, neighbours=False)
    assert alone == {"black": 0.0, "gray": 0.0, "yellow": 0.0, "orange": 0.0, "red": 1.0}
    assert band_shares(np.zeros((5, 5)), np.zeros((5, 5)))["red"] == 0.0
    diff[0, 0] = 0.05         # rank 1/2 -> 128: black; a changed pixel outside the red neighbourhood
    drawn = band_shares(np.zeros((5, 5)), diff)
    assert drawn["black"] == 0.5 and drawn["red"] == 0.5


def test_default_attack_is_scaled_and_its_map_on_the_sample_photograph_has_three_bands():
    """The issue's check: the default difference map of ``affectlab fool`` on the sample photograph has at least
    three non-black bands, each at least 5 % of the changed pixels."""
    from affectlab.analysis import ExpressionAnalyzer
    from affectlab.data.media import sample_photo, to_gray

    analyzer = ExpressionAnalyzer()
    face = analyzer.preprocess(sample_photo())[0].image
    result = fool(analyzer.model, to_gray(face)[None])
    assert result.success.all()
    shares = band_shares(result.original[0, 0], result.adversarial[0, 0])
    assert sum(shares[b] >= 0.05 for b in ("gray", "yellow", "orange", "red")) >= 3, shares
    sign = fool(analyzer.model, to_gray(face)[None], method="sign")
    old = band_shares(sign.original[0, 0], sign.adversarial[0, 0], scale="max")
    assert old["red"] > 0.8   # the old default: nearly all red


@pytest.mark.parametrize("layout", sorted(REGION_LAYOUTS))
@pytest.mark.parametrize("size", [(48, 48), (128, 128), (28, 24)])
def test_region_masks_partition_the_face(layout, size):
    masks = region_masks(layout, size)
    assert list(masks) == [*FACE_REGIONS, "other"]
    stacked = np.stack(list(masks.values()))
    assert np.array_equal(stacked.sum(axis=0), np.ones(size, int))
    assert all(masks[r].any() for r in FACE_REGIONS)
    # the eyes lie above the nose, the nose above the mouth, the mouth above the chin
    rows = {r: np.nonzero(masks[r])[0].mean() for r in ("forehead", "eyes", "nose", "mouth", "chin")}
    assert rows["forehead"] < rows["eyes"] < rows["nose"] < rows["mouth"] < rows["chin"]
    cheeks = np.nonzero(masks["cheeks"])[1]
    assert cheeks.min() < size[1] / 2 < cheeks.max() and not masks["cheeks"][:, size[1] // 2].any()


def test_region_shares_and_table_by_hand():
    masks = region_masks({"top": [(0, 0.5, 0, 1)], "left": [(0.5, 1, 0, 0.5)]}, (4, 4))
    heat = np.zeros((2, 4, 4))
    heat[0, 0, 0] = 3.0
    heat[0, 3, 0] = 1.0       # 3/4 top, 1/4 left
    heat[1] = 1.0             # the areas: 8, 4, 4 of 16
    np.testing.assert_allclose(region_shares(heat, masks), [[0.75, 0.25, 0.0], [0.5, 0.25, 0.25]])
    table = region_table(masks, {"heat": np.concatenate([heat, np.zeros((1, 4, 4))])})
    np.testing.assert_allclose(table.shares["heat"], [0.625, 0.25, 0.125])
    assert table.n_faces["heat"] == 2          # the all-zero map is left out
    np.testing.assert_allclose(table.area, [0.5, 0.25, 0.25])
    rows = table.rows()
    assert rows[0] == {"region": "top", "area": 0.5, "heat": 0.625, "heat / area": 1.25}
    assert "| top | 50.0 | 62.5 | 1.25 |" in table.markdown()
    with pytest.raises(ConfigError, match="non-negative"):
        region_shares(-heat, masks)
    with pytest.raises(ConfigError, match="shape"):
        region_shares(np.ones((1, 5, 5)), masks)
    with pytest.raises(ConfigError, match="unknown"):
        region_masks("face64", (4, 4))
    with pytest.raises(ConfigError, match="fractions"):
        region_masks({"bad": [(0.5, 0.2, 0, 1)]}, (4, 4))


def test_fooling_experiment_on_tiny_identity_faces(tiny_identity_run, tmp_path):
    from affectlab.experiments.kinds import experiment_runner

    orl, run = tiny_identity_run
    cfg = {"kind": "fooling", "name": "tiny-fooling", "data": {"source": str(orl)}, "faces": {"images": [4]},
           "images": {"square": "edge"}, "model": {"weights": str(run / "model.pt")},
           "attack": {"max_steps": 60, "step_size": 0.01}, "regions": {"layout": "orl128"}, "figures": 2}
    result = experiment_runner("fooling")(cfg, tmp_path / "fool", progress=False)
    row = result.rows[0]
    out = tmp_path / "fool"
    lines = [json.loads(x) for x in (out / "fooling.jsonl").read_text().splitlines()]
    assert len(lines) == row["n_faces"] == round(row["classified_accuracy"] * row["n_classified"])
    assert row["n_classified"] == 8 and all(x["id"].endswith("/4.pgm") for x in lines)
    assert row["success_rate"] == pytest.approx(np.mean([x["success"] for x in lines]))
    assert row["max_abs_delta_over_bound"] <= 1 + 1e-4
    assert sum(row[f"band_{b}"] for b in ("black", "gray", "yellow", "orange", "red")) == pytest.approx(1.0, abs=1e-3)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["region"] for r in metrics["regions"]] == [*FACE_REGIONS, "other"]
    assert sum(r["Grad-CAM"] for r in metrics["regions"]) == pytest.approx(1.0, abs=1e-3)
    both = {"layout": "orl128", "cam": ["gradcam", "layercam"]}
    layer = experiment_runner("fooling")({**cfg, "regions": both, "figures": 0}, tmp_path / "layer", progress=False)
    assert layer.rows[0]["empty_maps_LayerCAM"] == 0 and "empty_maps_Grad-CAM" in layer.rows[0]
    regions = json.loads((tmp_path / "layer" / "metrics.json").read_text())["regions"]
    assert {"Grad-CAM", "LayerCAM", "fooling top bands"} <= set(regions[0])
    with pytest.raises(ConfigError, match="regions.cam"):
        experiment_runner("fooling")({**cfg, "regions": {"cam": ["gradcam", "gradcam"]}}, tmp_path / "b4",
                                     progress=False)
    for name in ("fooling_panel.png", "regions.png", "region_layout.png", "regions.csv", "report.md", "config.yaml"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "| forehead |" in report and "image numbers [4]" in report
    with pytest.raises(ConfigError, match="attack.method"):
        experiment_runner("fooling")({**cfg, "attack": {"method": "fgsm"}}, tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="not classes"):  # the expression model cannot name ORL subjects
        experiment_runner("fooling")({**cfg, "model": {"name": "mini_xception"}}, tmp_path / "bad2", progress=False)
    with pytest.raises(ConfigError, match="no sample"):
        experiment_runner("fooling")({**cfg, "faces": {"images": [99]}}, tmp_path / "bad3", progress=False)


def test_fool_command_runs_a_weights_file_with_its_own_classes(tiny_identity_run, tmp_path):
    from click.testing import CliRunner

    from affectlab.cli import cli

    orl, run = tiny_identity_run
    out = tmp_path / "fooled"
    result = CliRunner().invoke(cli, ["fool", str(orl / "s1" / "4.pgm"), "--whole-frame", "--weights",
                                      str(run / "model.pt"), "--max-steps", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "fooling.jsonl").read_text().splitlines()[0])
    assert record["original_class"].startswith("s") and record["target"].startswith("s")
    assert set(record["bands"]) == {"black", "gray", "yellow", "orange", "red"}
    wrong = CliRunner().invoke(cli, ["fool", str(orl / "s1" / "4.pgm"), "--whole-frame", "--model", "mini_xception",
                                     "--weights", str(run / "model.pt"), "--out", str(tmp_path / "f2")])
    assert wrong.exit_code == 1 and "holds a vgg_identity network" in wrong.output


def test_layercam_keeps_what_grad_cam_averages_away():
    import torch

    from affectlab.explain import LayerCAM, gradcam_maps, layercam_maps
    from affectlab.models import create_model

    A = torch.tensor([[[[4.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]]]])
    G = torch.tensor([[[[1.0, 0.0, 0.0]], [[-1.0, -1.0, -1.0]]]])   # channel means 1/3 and -1
    np.testing.assert_allclose(gradcam_maps(A, G).numpy(), [[[1.0 / 3.0, 0.0, 0.0]]], atol=1e-6)
    G[0, 0, 0, 0] = 0.5                                               # mean 1/6: 4/6 - 1 < 0 everywhere
    assert gradcam_maps(A, G).max() == 0
    assert layercam_maps(A, G).tolist() == [[[2.0, 0.0, 0.0]]]
    model = create_model("mini_xception")
    with LayerCAM(model) as layercam:
        out = layercam(np.full((2, 48, 48), 100, np.uint8), target=[1, 2])
    assert out.maps.shape == (2, 48, 48) and out.targets.tolist() == [1, 2] and out.layer == "blocks"
    assert not any(m._forward_hooks for m in model.modules())


def _fooling_file(tmp_path, **changes):
    """A ``kind: fooling`` YAML file, read as ``run_experiment`` reads it (the mapping with its ``_path``)."""
    (tmp_path / "faces").mkdir(exist_ok=True)
    config = {"kind": "fooling", "name": "typed", "data": {"source": "faces", "split": "test"},
              "faces": {"images": [8, 9], "n": 5}, "images": {"square": "edge"}, "model": {"name": "resnet_fer"},
              "attack": {"bound": 0.1, "max_steps": 20, "method": "sign"}, "map": {"scale": 2.0, "top_bands": ["red"]},
              "regions": {"layout": "orl128", "cam": "layercam"}, "figures": 2, **changes}
    return written_config(tmp_path, config)


def test_fooling_schema_round_trips_through_its_resolved_form(tmp_path):
    import dataclasses

    from affectlab.experiments.fooling import FoolingAttack, FoolingConfig, load_fooling_config

    cfg = load_fooling_config(_fooling_file(tmp_path))
    assert isinstance(cfg, FoolingConfig) and cfg.source == (tmp_path / "faces").resolve()
    assert cfg.attack == FoolingAttack(bound=0.1, max_steps=20, method="sign")  # the rest are the defaults
    assert cfg.regions.cam == ["layercam"] and cfg.faces.batch_size == 32 and cfg.base == tmp_path.resolve()
    resolved = cfg.to_dict()
    assert resolved["regions"] == {"layout": "orl128", "cam": ["layercam"], "cam_layer": None}
    again = load_fooling_config(resolved)
    assert again.to_dict() == resolved and again.source == cfg.source
    assert dataclasses.replace(again, path=cfg.path, data=cfg.data) == cfg  # data.source: as written
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.attack.bound = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(("changes", "message"), [
    ({"faces": {"n": "5"}}, "faces.n must be null or an int >= 1, got '5'"),                          # type
    ({"faces": {"batch_size": 0}}, "faces.batch_size must be an int >= 1, got 0"),                   # range
    ({"attack": {"bound": 1.5}}, r"attack.bound must be a number in \(0, 1\], got 1.5"),
    ({"attack": {"bound": True}}, r"attack.bound must be a number in \(0, 1\], got True"),
    ({"attack": {"steps": 3}}, r"attack: unknown key\(s\) steps \(known: bound, threshold, max_steps"),  # unknown
    ({"colour": True}, r"unknown key\(s\) colour \(known: kind, name"),
    ({"attack": {"method": "fgsm"}}, "attack.method must be sign or scaled, got 'fgsm'"),             # choice
    ({"regions": {"cam": ["gradcam", "gradcam"]}}, "regions.cam must be one or a list of gradcam, layercam"),
    ({"regions": {"layout": "face64"}}, "regions.layout must be one of .*, got 'face64'"),
    ({"map": {"top_bands": ["black"]}}, "map.top_bands must be a non-empty list of gray, yellow, orange, red"),
    ({"images": {"square": "crop"}}, "images.square must be one of edge, none, got 'crop'"),
    ({"figures": -1}, "figures must be an int >= 0, got -1"),
    ({"model": {"weights": 3}}, "model.weights must be null or a weights file, got 3"),
])
def test_fooling_schema_errors_name_the_file_the_key_and_the_value(tmp_path, changes, message):
    from affectlab.experiments.fooling import load_fooling_config

    with pytest.raises(ConfigError, match=message) as caught:
        load_fooling_config(_fooling_file(tmp_path, **changes))
    assert str(caught.value).startswith(f"{tmp_path / 'typed.yaml'}: ")
