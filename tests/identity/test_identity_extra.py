from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from affectlab.errors import ConfigError, DataError
from affectlab.experiments.siamese import run_siamese_experiment
from affectlab.identity.extra import FaceLayout, fit_face_layout, load_extra_identities
from tests.identity.fakes import write_tiny_ck


@pytest.fixture
def tiny_ck(tmp_path):
    """CK+-like folder: <emotion>/S<subj>_<seq>_<frame>.png, 48x48, 4 subjects x 3 images."""
    return write_tiny_ck(tmp_path / "ck")


def test_fit_face_layout_by_hand():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    # same size, moved one row down and one column right: border pixels repeated, the rest cut off
    out = fit_face_layout(img, (4, 4), FaceLayout(height=4, top=1, left=1))
    assert out.tolist() == [[0, 0, 1, 2], [0, 0, 1, 2], [4, 4, 5, 6], [8, 8, 9, 10]]
    # negative offsets crop the top-left
    out = fit_face_layout(img, (3, 3), FaceLayout(height=4, top=-1, left=-1))
    assert out.tolist() == [[5, 6, 7], [9, 10, 11], [13, 14, 15]]
    # halved (area average of 2x2 blocks), then padded to a 4 x 3 frame
    out = fit_face_layout(img, (4, 3), FaceLayout(height=2, top=1, left=0))
    assert out.shape == (4, 3)
    assert out[1:3, :2].tolist() == [[2, 4], [10, 12]] or out[1:3, :2].tolist() == [[3, 5], [11, 13]]
    assert out[0].tolist() == out[1].tolist() and out[3].tolist() == out[2].tolist()
    assert out[:, 2].tolist() == out[:, 1].tolist()
    # no height: the frame's height, aspect ratio kept
    assert fit_face_layout(np.zeros((48, 48), np.uint8), (28, 24), FaceLayout()).shape == (28, 24)


def test_load_extra_identities_prefixes_subjects_and_fits_the_frame(tiny_ck, tmp_path):
    extra = load_extra_identities(tiny_ck, (28, 24), layout={"height": 21, "top": 4, "left": 1})
    assert extra.images.shape == (12, 28, 24) and extra.images.dtype == np.uint8
    assert extra.n_subjects == 4 and sorted(set(extra.subjects)) == [f"extra:S00{s}" for s in range(1, 5)]
    assert extra.layout == FaceLayout(21, 4, 1)
    with pytest.raises(ConfigError, match="layout: unknown key"):
        load_extra_identities(tiny_ck, (28, 24), layout={"scale": 2})
    nosubject = tmp_path / "nosubject" / "happy"
    nosubject.mkdir(parents=True)
    cv2.imwrite(str(nosubject / "face1.png"), np.zeros((48, 48), np.uint8))
    with pytest.raises(DataError, match="need a subject"):
        load_extra_identities(nosubject.parent, (28, 24))
    single = tmp_path / "single" / "happy"
    single.mkdir(parents=True)
    for f in range(2):
        cv2.imwrite(str(single / f"S001_001_0000000{f}.png"), np.zeros((48, 48), np.uint8))
    with pytest.raises(DataError, match="at least two subjects"):
        load_extra_identities(single.parent, (28, 24))


def test_siamese_experiment_pretrains_once_per_seed_on_extra_identities(tiny_orl, tiny_ck, tmp_path):
    cfg = {"kind": "siamese", "name": "tiny", "data": {"source": str(tiny_orl)},
           "protocol": {"n_folds": 2, "val_subjects": 2, "seed": 0}, "model": {"hidden": 8},
           "train": {"epochs": 1, "batches_per_epoch": 2, "subjects_per_batch": 3, "images_per_subject": 2,
                     "num_threads": 1, "ensemble": 2, "extra_subjects_per_batch": 2},
           "heatmaps": {"n_pairs": 0},
           "extra_identities": {"source": str(tiny_ck), "layout": {"height": 21, "top": 4, "left": 1},
                                "epochs": 1, "batch_size": 8}}
    result = run_siamese_experiment(cfg, tmp_path / "run", progress=False)
    assert result.config["extra_identities"]["n_subjects"] == 4
    assert result.config["extra_identities"]["layout"] == {"height": 21, "top": 4, "left": 1}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "extra identities" in report and "12 images, 4 subjects" in report
    assert "each pair batch also holds 2 extra-identity subjects" in report
    with pytest.raises(ConfigError, match="needs an extra_identities section"):
        run_siamese_experiment({k: v for k, v in cfg.items() if k != "extra_identities"}, tmp_path / "bad",
                               progress=False)
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["histories"]) == 4
    for value, match in [({"source": str(tmp_path / "absent")}, "extra_identities.source"),
                         ({"source": str(tiny_ck), "epochs": 0}, "extra_identities.epochs"),
                         ({"source": str(tiny_ck), "layout": {"top": 1.5}}, "layout.top"),
                         ({"source": str(tiny_ck), "colour": True}, "extra_identities: unknown key")]:
        with pytest.raises(ConfigError, match=match):
            run_siamese_experiment({**cfg, "extra_identities": value}, tmp_path / "bad", progress=False)


def test_ckplus48_as_extra_identities(dataset_path):
    extra = load_extra_identities(dataset_path("ckplus48"), (28, 24), layout={"height": 21, "top": 4, "left": 1})
    assert extra.images.shape == (981, 28, 24)
    assert extra.n_subjects == 118 and all(s.startswith("extra:S") for s in extra.subjects)
    # the face sits where ORL faces sit: the mean image is darker at the eyes (rows ~10-13) than at the nose
    mean = extra.images.astype(float).mean(axis=(0, 2))
    assert mean[10:14].min() < mean[14:18].max()


def test_validation_rotation_gives_each_net_its_own_validation_group(tiny_orl, tmp_path):
    cfg = {"kind": "siamese", "name": "tiny", "data": {"source": str(tiny_orl)},
           "protocol": {"n_folds": 4, "val_subjects": 2, "seed": 0, "val_rotation": True}, "model": {"hidden": 8},
           "train": {"epochs": 1, "batches_per_epoch": 1, "subjects_per_batch": 2, "images_per_subject": 2,
                     "num_threads": 1, "ensemble": 2},
           "heatmaps": {"n_pairs": 0}}
    result = run_siamese_experiment(cfg, tmp_path / "run", progress=False)
    for fold in result.rows[0]["folds"]:
        groups = fold["val_subjects"]
        assert len(groups) == 2 and all(len(g) == 2 for g in groups) and not set(groups[0]) & set(groups[1])
        assert not (set(groups[0]) | set(groups[1])) & set(fold["test_subjects"])
        assert len(fold["member_thresholds"]) == 2 and fold["threshold"] == 0.5
    assert "validation rotation" in (tmp_path / "run" / "report.md").read_text()
    with pytest.raises(ConfigError, match="val_rotation: 3 nets x 2"):
        run_siamese_experiment({**cfg, "train": {**cfg["train"], "ensemble": 3}}, tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="val_rotation must be"):
        run_siamese_experiment({**cfg, "protocol": {**cfg["protocol"], "val_rotation": "yes"}}, tmp_path / "bad",
                               progress=False)
