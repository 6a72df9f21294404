"""Session-7 audit of the models area: registry, checkpoints, ``affectlab train`` / ``evaluate``, features.

Each test reproduces one finding (a traceback, a misleading message or a silently wrong result).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.errors import AffectLabError, ConfigError, ModelError
from affectlab.models import create_model, load_model, load_weights, save_weights
from affectlab.models.augment import AugmentConfig
from affectlab.models.features import extract_features
from affectlab.models.train import (
    TrainConfig,
    fit_classifier,
    predict_proba,
    resolve_device,
)
from affectlab.models.training import subject_holdout

FAST = ["--batch-size", "16", "--rotation", "0", "--scale", "0", "--translate", "0", "--no-progress"]


def _train(data, out, *options):
    return CliRunner().invoke(cli, ["train", "--model", "mini_xception", "--data", str(data), "--out", str(out),
                                    "--epochs", "1", *FAST, *options])


def _one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    line = result.stderr.strip()
    assert line.startswith("affectlab: error:") and "\n" not in line, line
    for fragment in fragments:
        assert fragment in line, line


# --- affectlab train -------------------------------------------------------------------------------


def test_init_default_is_the_bundled_weights_of_the_trained_network(ck_folders, tmp_path):
    # docs/cli.md: affectlab train --model mini_xception --init default ... (was: "init weights are for resnet_fer")
    result = _train(ck_folders, tmp_path / "run", "--init", "default", "--val-fraction", "0.25")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["init_tensors_copied"] > 50


def test_stdout_is_one_json_object_and_epoch_lines_go_to_stderr(ck_folders, tmp_path):
    args = ["train", "--model", "mini_xception", "--data", str(ck_folders), "--out", str(tmp_path / "run"),
            "--epochs", "2", "--batch-size", "16", "--progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs_run"] == 2  # the whole of stdout is one JSON object
    assert "epoch 1/2: loss" in result.stderr and "epoch 2/2: loss" in result.stderr


def test_resuming_a_run_folder_of_another_network_is_one_line(ck_folders, tmp_path):
    assert _train(ck_folders, tmp_path / "run").exit_code == 0
    other = CliRunner().invoke(cli, ["train", "--model", "resnet_fer", "--data", str(ck_folders), "--out",
                                     str(tmp_path / "run"), "--epochs", "1", *FAST])
    _one_line_error(other, "last.pt", "mini_xception")


def test_resuming_with_other_settings_names_them(ck_folders, tmp_path):
    assert _train(ck_folders, tmp_path / "run").exit_code == 0
    _one_line_error(_train(ck_folders, tmp_path / "run", "--lr", "0.01"), "last.pt", "lr")
    # the same command again still resumes (nothing left to train)
    assert _train(ck_folders, tmp_path / "run").exit_code == 0


@pytest.mark.parametrize("content", [b"not a checkpoint\n", b"PK\x03\x04truncated"])
def test_a_corrupt_last_pt_is_one_line(ck_folders, tmp_path, content):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(content)
    _one_line_error(_train(ck_folders, tmp_path / "run"), "last.pt")


def test_out_below_a_file_is_one_line_before_reading_data(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = _train(tmp_path / "no-such-data", blocker / "run")
    _one_line_error(result, "--out", "file.txt")


def test_split_errors_name_the_train_option_used(ck_folders, tmp_path):
    _one_line_error(_train(ck_folders, tmp_path / "a", "--val-split", "PublicTest"), "--val-split 'PublicTest'")
    _one_line_error(_train(ck_folders, tmp_path / "b", "--train-split", "Training"), "--train-split 'Training'")


def test_a_missing_init_file_names_the_init_option(ck_folders, tmp_path):
    _one_line_error(_train(ck_folders, tmp_path / "a", "--init", str(tmp_path / "nope.pt")), "--init", "nope.pt")


@pytest.mark.parametrize("device", ["meta", "mps", "cuda:99"])
def test_unusable_devices_are_one_line(ck_folders, tmp_path, device):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    _one_line_error(_train(ck_folders, tmp_path / "run", "--device", device), f"device {device!r}")
    assert not (tmp_path / "run").exists()  # refused before any work
    with pytest.raises(ConfigError, match="device"):
        resolve_device(device)
    result = CliRunner().invoke(cli, ["evaluate", "--model", "mini_xception", "--data", str(ck_folders),
                                      "--device", device])
    _one_line_error(result, f"device {device!r}")


def test_a_holdout_that_cannot_be_made_names_the_fraction():
    y = np.array(["a"] * 6 + ["b"])  # class b has one sample: no stratified split exists
    groups = np.array([None] * 7, dtype=object)
    with pytest.raises(ConfigError, match="validation fraction 0.1"):
        subject_holdout(groups, y, 0.1)
    with pytest.raises(ConfigError, match="validation fraction 0.9"):
        subject_holdout(np.array(["S1", "S1", "S2", "S2"], dtype=object), np.array(["a", "b", "a", "b"]), 0.9)


# --- resume ----------------------------------------------------------------------------------------


def _toy(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, 48, 48)).astype(np.uint8), rng.integers(0, 2, n)


def test_a_resumed_run_repeats_the_uninterrupted_run(tmp_path):
    x, y = _toy()
    cfg = TrainConfig(epochs=3, batch_size=8, mixup_alpha=0.2, augment=AugmentConfig(max_rotation_deg=5))

    def run(out, stop_after=None):
        torch.manual_seed(0)
        net = create_model("mini_xception", num_classes=2)
        stop = (lambda row: row["epoch"] >= stop_after) if stop_after else None
        return fit_classifier(net, train=(x, y), val=(x[:10], y[:10]), config=cfg, out_dir=out, progress=False,
                              on_epoch_end=stop), net

    whole, whole_net = run(tmp_path / "whole")
    run(tmp_path / "cut", stop_after=1)  # "interrupted" after epoch 1
    resumed, resumed_net = run(tmp_path / "cut")
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert [h["train_loss"] for h in resumed.history] == pytest.approx([h["train_loss"] for h in whole.history],
                                                                        rel=1e-6)
    for a, b in zip(whole_net.state_dict().values(), resumed_net.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)


# --- registry and checkpoints ----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"num_classes": 0}, {"num_classes": -1}, {"class_names": ()}, {"class_names": ("a", "a")},
    {"class_names": "abc"}, {"num_classes": 3, "class_names": ("a", "b")},
])
def test_create_model_refuses_heads_that_cannot_work(kwargs):
    with pytest.raises(ModelError, match="class"):
        create_model("mini_xception", **kwargs)


def test_load_weights_says_what_does_not_fit(tmp_path):
    four = save_weights(create_model("mini_xception", class_names=("a", "b", "c", "d")), tmp_path / "four.pt")
    with pytest.raises(ModelError, match=r"4 classes \(a, b, c, d\).*7"):
        load_weights(create_model("mini_xception"), four)
    with pytest.raises(ModelError, match=r"4 classes"):
        create_model("mini_xception", pretrained=four)
    other = save_weights(create_model("resnet_fer"), tmp_path / "resnet.pt")
    with pytest.raises(ModelError, match="holds resnet_fer weights, not mini_xception"):
        load_weights(create_model("mini_xception"), other)
    torch.save(create_model("resnet_fer").state_dict(), tmp_path / "bare.pt")  # a bare state dict names nothing
    with pytest.raises(ModelError, match=r"missing|unexpected|shape"):
        load_weights(create_model("mini_xception"), tmp_path / "bare.pt")


def test_save_weights_to_a_folder_or_below_a_file_is_a_model_error(tmp_path):
    net = create_model("mini_xception")
    with pytest.raises(ModelError, match="is a folder"):
        save_weights(net, tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ModelError, match="f"):
        save_weights(net, tmp_path / "f" / "w.pt")
    path = save_weights(net, tmp_path / "sub" / "w.pt")
    assert sorted(p.name for p in path.parent.iterdir()) == ["w.pt"]  # no temporary file left behind


def test_evaluating_a_training_state_points_at_best_pt(ck_folders, tmp_path):
    assert _train(ck_folders, tmp_path / "run").exit_code == 0
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "run" / "last.pt"), "--data",
                                      str(ck_folders)])
    _one_line_error(result, "last.pt", "best.pt")


# --- colour models, input scaling and the feature extractor ----------------------------------------


def test_colour_models_take_channel_last_images(ck_folders, tmp_path):
    torch.manual_seed(0)
    net = create_model("mini_xception", channels=3).eval()
    rgb = np.random.default_rng(0).integers(0, 255, (3, 48, 48, 3)).astype(np.uint8)
    expected = predict_proba(net, rgb.transpose(0, 3, 1, 2), device="cpu")
    assert np.allclose(predict_proba(net, rgb, device="cpu"), expected, atol=1e-6)
    save_weights(net, tmp_path / "rgb.pt")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "rgb.pt"), "--data", str(ck_folders),
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 48


def test_sixteen_bit_images_are_scaled_like_eight_bit_ones():
    net = create_model("mini_xception", pretrained=True)
    x8 = np.random.default_rng(0).integers(0, 256, (2, 48, 48)).astype(np.uint8)
    x16 = x8.astype(np.uint16) * 257
    assert np.allclose(predict_proba(net, x16, device="cpu"), predict_proba(net, x8, device="cpu"), atol=1e-5)
    f8, f16 = extract_features(net, x8, device="cpu"), extract_features(net, x16, device="cpu")
    for name in f8:
        assert np.allclose(f8[name], f16[name], atol=1e-4)


def test_extract_features_refuses_0_255_floats_and_drops_alpha():
    net = create_model("mini_xception", pretrained=True)
    x = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 3)).astype(np.uint8)
    with pytest.raises(ModelError, match=r"\[0, 1\]"):
        extract_features(net, x.astype(np.float32), device="cpu")
    rgba = np.concatenate([x, np.full((2, 48, 48, 1), 255, np.uint8)], axis=-1)
    plain, with_alpha = extract_features(net, x, device="cpu"), extract_features(net, rgba, device="cpu")
    for name in plain:
        assert np.allclose(plain[name], with_alpha[name], atol=1e-5)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_below_one_is_refused(batch_size):
    net = create_model("mini_xception")
    x = np.zeros((3, 48, 48), np.uint8)
    with pytest.raises(AffectLabError, match="batch_size"):
        extract_features(net, x, batch_size=batch_size, device="cpu")
    with pytest.raises(AffectLabError, match="batch_size"):
        predict_proba(net, x, batch_size=batch_size, device="cpu")


def test_no_images_give_arrays_of_the_right_width():
    net = create_model("mini_xception")
    some = extract_features(net, np.zeros((2, 48, 48), np.uint8), ["blocks", "pool"], spatial="avg", device="cpu")
    none = extract_features(net, np.zeros((0, 48, 48), np.uint8), ["blocks", "pool"], spatial="avg", device="cpu")
    assert {k: v.shape for k, v in none.items()} == {k: (0, v.shape[1]) for k, v in some.items()}


def test_a_checkpoint_rebuilds_the_input_size_it_was_trained_on(tmp_path):
    net = create_model("vgg_identity", input_size=(56, 46), class_names=("s1", "s2"))
    path = save_weights(net, tmp_path / "identity.pt")
    assert load_model(path).config.input_size == (56, 46)  # was (28, 24): faces silently resized smaller


def test_evaluate_matches_dataset_labels_to_ck_spelled_model_classes(fer_csv, tmp_path):
    # a model fine-tuned on CK+ folders names its classes anger/happy/sadness; FER2013 says angry/disgust/fear
    save_weights(create_model("mini_xception", class_names=("anger", "happy", "sadness")), tmp_path / "ck.pt")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "ck.pt"), "--data", str(fer_csv),
                                      "--split", "PublicTest", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unknown_labels"] == {"disgust": 4, "fear": 4}  # "angry" is the model's "anger"
    assert report["labels"][:3] == ["anger", "happy", "sadness"]


@pytest.mark.parametrize(("change", "message"), [
    ({"optimizer": "adam"}, "optimizer 'adam'"), ({"schedule": "linear"}, "schedule 'linear'"),
    ({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size"),
])
def test_fit_classifier_refuses_settings_it_would_replace(change, message):
    x, y = _toy(8)
    with pytest.raises(ConfigError, match=message):  # optimizer "adam" silently trained AdamW
        fit_classifier(create_model("mini_xception", num_classes=2), train=(x, y), val=(x, y),
                       config=TrainConfig(**change), progress=False)


def test_deep_experiment_init_default_is_the_methods_own_network(ck_folders, tmp_path):
    # docs/experiments.md: {type: finetune, model: mini_xception, init: default} failed with
    # "init weights are for resnet_fer"; a features method with init: default used resnet_fer's features
    from affectlab.experiments.kinds import experiment_runner

    svm = {"type": "features", "model": "mini_xception", "layer": "pool",
           "classifier": {"name": "linear_svm", "C": 1.0}}
    config = {
        "kind": "deep", "name": "init-default", "data": {"source": str(ck_folders)}, "_path": None,
        "protocol": {"kind": "group_kfold", "n_splits": 2, "stratified": False, "random_state": 0},
        "methods": [
            {"label": "ft", "type": "finetune", "model": "mini_xception", "init": "default",
             "validation_fraction": 0.25, "train": {"epochs": 1, "batch_size": 16},
             "augment": {"max_rotation_deg": 0}},
            {"label": "svm_default", "init": "default", **svm},
            {"label": "svm_bundled", **svm},
        ],
    }
    rows = experiment_runner("deep")(config, tmp_path / "run", progress=False).rows
    assert all(f["init_tensors_copied"] > 50 for f in rows[0]["folds"])
    assert rows[1]["confusion"] == rows[2]["confusion"] and rows[1]["accuracy"] == rows[2]["accuracy"]
