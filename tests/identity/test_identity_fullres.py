"""Full-resolution identity: square framing, the 21-layer vgg_face128, ``kind: identity`` and the Siamese options
for 128 x 128 runs (square frames, bf16 training, fold subsets, fewer training subjects)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from affectlab.errors import ConfigError
from affectlab.experiments.identity import run_identity_experiment
from affectlab.experiments.kinds import experiment_runner
from affectlab.experiments.siamese import run_siamese_experiment
from affectlab.identity.images import parse_images, prepare_faces, square_frame
from tests.config_files import written_config


def test_square_frame_pads_with_edge_values_centred():
    img = np.arange(112 * 92, dtype=np.int64).reshape(112, 92) % 251
    framed = square_frame(img.astype(np.uint8))
    assert framed.shape == (112, 112)
    assert np.array_equal(framed[:, 10:102], img)              # 10 columns each side
    assert np.array_equal(framed[:, :10], np.repeat(img[:, :1], 10, axis=1))
    assert np.array_equal(framed[:, 102:], np.repeat(img[:, -1:], 10, axis=1))
    assert square_frame(np.zeros((3, 4, 3), np.uint8)).shape == (4, 4, 3)
    out = prepare_faces([img.astype(np.uint8)], (128, 128), "edge")
    assert out.shape == (1, 128, 128) and out.dtype == np.uint8
    stretched = prepare_faces([img.astype(np.uint8)], (128, 128), "none")
    assert not np.array_equal(out, stretched)
    with pytest.raises(ConfigError, match="images.square"):
        prepare_faces([img], (8, 8), "crop")
    assert parse_images(None) == ((128, 128), "edge")
    assert parse_images({"size": [28, 24]}, (1, 1), "none") == ((28, 24), "none")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_images({"pad": 1})


def test_vgg_face128_has_the_seeds_21_layers():
    from affectlab.models import create_model

    model = create_model("vgg_face128", class_names=tuple(f"s{i}" for i in range(1, 41)))
    kinds = [type(m) for m in model.modules()]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert (len(convs), kinds.count(torch.nn.MaxPool2d), kinds.count(torch.nn.Linear)) == (13, 5, 3)
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert all(m.kernel_size == 2 for m in model.modules() if isinstance(m, torch.nn.MaxPool2d))
    assert kinds.count(torch.nn.BatchNorm1d) == 2 and torch.nn.BatchNorm2d not in kinds  # BN on the dense layers
    assert [len([m for m in b.modules() if isinstance(m, torch.nn.Conv2d)]) for b in model.blocks
            if isinstance(b, torch.nn.Sequential)] == [2, 2, 3, 3, 3]
    assert model.eval()(torch.rand(2, 1, 128, 128)).shape == (2, 40)
    assert model.forward_features(torch.rand(1, 1, 128, 128)).shape == (1, 256, 8, 8)


def _identity_config(root, **changes):
    cfg = {"kind": "identity", "name": "tiny", "data": {"source": str(root)},
           "images": {"size": [28, 28], "square": "edge"}, "split": {"train_images": [1, 2], "val_images": [3]},
           "model": {"name": "vgg_identity"},
           "train": {"epochs": 3, "batch_size": 8, "lr": 0.01, "precision": "fp32", "num_threads": 1,
                     "schedule": "constant"},
           "explain": {"n_faces": 2}}
    cfg.update(changes)
    return cfg


def test_identity_experiment_writes_weights_that_name_the_subjects(tiny_orl, tmp_path):
    from affectlab.models.checkpoint import load_model
    from affectlab.models.train import predict_proba

    assert experiment_runner("identity") is run_identity_experiment
    out = tmp_path / "run"
    result = run_identity_experiment(_identity_config(tiny_orl), out, progress=False)
    row = result.rows[0]
    assert (row["n_train"], row["n_val"], row["n_test"]) == (16, 8, 8)     # images 1-2, 3 and 4 of 8 subjects
    metrics = json.loads((out / "metrics.json").read_text())
    chosen = max(h["val_accuracy"] for h in metrics["history"])
    assert row["val_accuracy"] == chosen
    assert row["best_epoch"] == max(h["epoch"] for h in metrics["history"] if h["val_accuracy"] == chosen)
    model = load_model(out / "model.pt")
    assert model.config.class_names == tuple(f"s{i}" for i in range(1, 9))
    from affectlab.data.orl import load_orl
    from affectlab.identity.classify import read_identity_images

    dataset = load_orl(tiny_orl)
    images = read_identity_images(dataset, (28, 28), "edge")
    test = [i for i, s in enumerate(dataset.samples) if s.extras["image"] == "4"]
    pred = predict_proba(model, images[test]).argmax(1)
    assert row["accuracy"] == pytest.approx(np.mean(pred == dataset.targets[test]))  # the saved weights are tested
    with open(out / "predictions.csv") as handle:
        assert len(handle.read().splitlines()) == 9
    report = (out / "report.md").read_text()
    assert "padded to a square with their own edge values" in report and "images [1, 2] train" in report
    assert (out / "explanations.png").is_file()


def test_identity_experiment_config_errors(tiny_orl, tmp_path):
    for changes, match in [({"model": {"name": "vgg_face128"}}, r"set images.size to \[128, 128\]"),
                           ({"split": {"train_images": [1, 2], "val_images": [2]}}, "overlap"),
                           ({"split": {"train_images": []}}, "split.train_images"),
                           ({"train": {"epochs": 0}}, "epochs"), ({"train": {"optimiser": "sgd"}}, "unknown key"),
                           ({"train": {"precision": "fp8"}}, "precision"), ({"explain": {"n_faces": -1}}, "n_faces"),
                           ({"model": {"name": "nope"}}, "unknown model"), ({"epochs": 3}, "unknown key")]:
        with pytest.raises(ConfigError, match=match):
            run_identity_experiment(_identity_config(tiny_orl, **changes), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def _siamese_config(root):
    return {"kind": "siamese", "name": "tiny", "data": {"source": str(root)},
            "images": {"size": [32, 32], "square": "edge"},
            "protocol": {"n_folds": 2, "val_subjects": 2, "seed": 0},
            "model": {"hidden": 8, "pool_after": [1, 2, 4]},
            "train": {"epochs": 1, "batches_per_epoch": 2, "subjects_per_batch": 3, "images_per_subject": 2,
                      "num_threads": 1, "precision": "bf16", "pretrain_epochs": 1},
            "heatmaps": {"n_pairs": 2}}


def test_siamese_square_frames_bf16_one_fold_and_fewer_training_subjects(tiny_orl, tmp_path):
    cfg = _siamese_config(tiny_orl)
    cfg["protocol"].update(folds=[1], train_subjects=2)
    result = run_siamese_experiment(cfg, tmp_path / "run", progress=False)
    folds = result.rows[0]["folds"]
    assert [f["fold"] for f in folds] == [1] and result.n_folds == 1
    full = run_siamese_experiment(_siamese_config(tiny_orl) | {"heatmaps": {"n_pairs": 0}}, tmp_path / "full",
                                  progress=False)
    assert full.rows[0]["folds"][1]["test_subjects"] == folds[0]["test_subjects"]   # the same fold 1
    validation = json.loads((tmp_path / "run" / "validation_scores.json").read_text())
    assert len(validation[0]["train_subjects"]) == 2 and validation[0]["fold"] == 1
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "square: edge" in config and "precision: bf16" in config
    report = (tmp_path / "run" / "report.md").read_text()
    assert "only folds [1] of the 2" in report and "first 2 of its fold's training subjects" in report
    assert "padded to a square" in report
    assert np.isfinite(json.loads((tmp_path / "run" / "metrics.json").read_text())["histories"][0][0]["train_loss"])
    for protocol, match in [({"folds": [2]}, "protocol.folds"), ({"folds": [0, 0]}, "protocol.folds"),
                            ({"train_subjects": 1}, "train_subjects"), ({"train_subjects": 9}, "only 2 training")]:
        bad = _siamese_config(tiny_orl)
        bad["protocol"].update(protocol)
        with pytest.raises(ConfigError, match=match):
            run_siamese_experiment(bad, tmp_path / "bad", progress=False)
    bad = _siamese_config(tiny_orl)
    bad["train"]["precision"] = "half"
    with pytest.raises(ConfigError, match="precision"):
        run_siamese_experiment(bad, tmp_path / "bad2", progress=False)


def _identity_file(tmp_path, **changes):
    """A ``kind: identity`` YAML file, read as ``run_experiment`` reads it (the mapping with its ``_path``)."""
    (tmp_path / "orl").mkdir(exist_ok=True)
    config = {**_identity_config("orl"), **changes}
    return written_config(tmp_path, config)


def test_identity_schema_round_trips_through_its_resolved_form(tmp_path):
    import dataclasses

    from affectlab.experiments.identity import IdentityAugment, IdentityConfig, IdentityTrain, load_identity_config

    cfg = load_identity_config(_identity_file(tmp_path))
    assert isinstance(cfg, IdentityConfig) and cfg.source == (tmp_path / "orl").resolve()
    assert cfg.size == (28, 28) and cfg.square == "edge" and cfg.split.val_images == [3]
    assert cfg.train == IdentityTrain(epochs=3, batch_size=8, lr=0.01, precision="fp32", num_threads=1,
                                      schedule="constant")  # the rest are this kind's defaults
    assert cfg.train.augment == IdentityAugment() and cfg.training.augment.max_rotation_deg == 8.0
    assert (cfg.training.epochs, cfg.training.optimizer, cfg.training.device) == (3, "adamw", "cpu")
    resolved = cfg.to_dict()
    assert list(resolved["train"])[-1] == "augment" and resolved["train"]["augment"]["erase_prob"] == 0.0
    again = load_identity_config(resolved)
    assert again.to_dict() == resolved and dataclasses.replace(again, path=cfg.path) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.epochs = 9  # type: ignore[misc]


@pytest.mark.parametrize(("changes", "message"), [
    ({"train": {"epochs": "3"}}, "train.epochs must be an int >= 1, got '3'"),                        # type
    ({"train": {"augment": {"flip": 1}}}, "train.augment.flip must be true or false, got 1"),
    ({"explain": {"n_faces": -1}}, "explain.n_faces must be an int >= 0, got -1"),                    # range
    ({"model": {"dropout": 1.5}}, r"model.dropout must be null or a number in \[0, 1\), got 1.5"),
    ({"train": {"lr": 0}}, "train.lr must be a number > 0, got 0"),
    ({"train": {"optimiser": "sgd"}}, r"train: unknown key\(s\) optimiser \(known: epochs, batch_size"),  # unknown
    ({"train": {"augment": {"shear": 3}}}, r"train.augment: unknown key\(s\) shear"),
    ({"data": {"source": "orl", "split": "x"}}, r"data: unknown key\(s\) split \(known: source\)"),
    ({"train": {"precision": "fp8"}}, "train.precision must be one of auto, fp32, bf16, got 'fp8'"),  # choice
    ({"train": {"schedule": "step"}}, "train.schedule must be one of onecycle, cosine, constant, got 'step'"),
    ({"split": {"train_images": []}}, r"split.train_images must be a non-empty list of image numbers, got \[\]"),
])
def test_identity_schema_errors_name_the_file_the_key_and_the_value(tmp_path, changes, message):
    from affectlab.experiments.identity import load_identity_config

    with pytest.raises(ConfigError, match=message) as caught:
        load_identity_config(_identity_file(tmp_path, **changes))
    assert str(caught.value).startswith(f"{tmp_path / 'typed.yaml'}: ")
