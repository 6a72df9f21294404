"""``affectlab train``: a short run writes weights, card and report, resumes, and fine-tunes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.errors import ConfigError, ModelError
from affectlab.models import create_model, load_model
from affectlab.models.card import write_model_card
from affectlab.models.train import resolve_device
from affectlab.models.training import subject_holdout, transfer_weights

from .conftest import FAST, _one_line_error, _train


def test_train_on_named_splits_writes_card_and_resumes(fer_csv, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--model", "mini_xception", "--data", str(fer_csv), "--out", str(out), "--epochs", "2", *FAST]
    with pytest.warns(UserWarning, match="too few for a one-cycle schedule"):  # 2 steps: a constant rate, said
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["train_split"] == "Training" and report["selection_split"] == "PublicTest"
    assert report["n_train"] == 30 and report["n_val"] == 12 and report["epochs_run"] == 2
    card = (out / "mini_xception_fer2013.md").read_text()
    assert "PublicTest" in card and "wall time" in card and "affectlab train --model mini_xception" in card
    # the report and the card give the constant learning rate the run used, not the asked-for one-cycle
    saved = json.loads((out / "results.json").read_text())
    assert saved["train_config"]["schedule"] == "constant" and "(constant schedule)" in card
    assert load_model(out / "best.pt").config.class_names == create_model("mini_xception").config.class_names
    again = CliRunner().invoke(cli, args)  # resumes after the last finished epoch: nothing left to train
    assert again.exit_code == 0 and json.loads(again.stdout.strip().splitlines()[-1])["epochs_run"] == 2
    other = CliRunner().invoke(cli, [*args[:-len(FAST) - 2], "--epochs", "3", *FAST])
    assert other.exit_code == 1 and "2-epoch run" in other.stderr


def test_train_holds_out_subjects_and_fine_tunes(ck_folders, tmp_path):
    out = tmp_path / "ck-run"  # not tmp_path / "ck", the data folder itself: a run folder never lies in its data
    result = CliRunner().invoke(cli, ["train", "--model", "mini_xception", "--data", str(ck_folders), "--out", str(out),
                                      "--epochs", "1", "--init", "mini_xception", "--val-fraction", "0.25", *FAST])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["class_names"] == ["anger", "happy", "surprise"]
    assert report["n_train"] + report["n_val"] == 48 and report["n_val"] == 12  # 2 of 8 subjects x 6 images
    assert report["init_tensors_copied"] > 50


@pytest.mark.parametrize(("options", "message"), [
    (["--val-split", "PublicTest"], "say which one to train on"),
    (["--train-split", "PublicTest", "--val-split", "PublicTest"], "both 'PublicTest'"),
])
def test_the_selection_split_is_never_trained_on(fer_csv, tmp_path, options, message):
    result = CliRunner().invoke(cli, ["train", "--model", "mini_xception", "--data", str(fer_csv), "--out",
                                      str(tmp_path / "run"), "--epochs", "1", *options, *FAST])
    assert result.exit_code == 1 and message in result.stderr
    assert not (tmp_path / "run" / "best.pt").exists()


def test_tencrop_training_uses_random_crops(fer_csv, tmp_path):
    result = CliRunner().invoke(cli, ["train", "--model", "tencrop_cnn", "--data", str(fer_csv), "--out",
                                      str(tmp_path / "tc"), "--epochs", "1", *FAST])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "tc" / "results.json").read_text())["train_config"]["crop_size"] == 40


def test_unknown_model_fails_before_reading_data(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--model", "nope", "--data", str(tmp_path),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "unknown model 'nope'" in result.stderr


def test_transfer_weights_skips_a_head_for_other_classes():
    source = create_model("mini_xception")
    target = create_model("mini_xception", class_names=("a", "b", "c", "d", "e", "f", "g"))
    copied = transfer_weights(target, source)
    assert not any(name.startswith("classifier") for name in copied)
    assert torch.equal(target.stem[0].weight, source.stem[0].weight)
    assert not torch.equal(target.classifier.weight, source.classifier.weight)
    same = create_model("mini_xception")
    assert any(name.startswith("classifier") for name in transfer_weights(same, source))
    with pytest.raises(ModelError, match="init weights are for resnet_fer, not mini_xception"):
        transfer_weights(create_model("mini_xception"), create_model("resnet_fer"))


def test_subject_holdout_never_splits_a_subject():
    groups = np.repeat(np.array([f"S{i}" for i in range(10)], dtype=object), 5)
    y = np.tile(np.arange(5), 10)
    train, val = subject_holdout(groups, y, 0.2, seed=0)
    assert set(groups[train]).isdisjoint(groups[val]) and len(set(groups[val])) == 2
    assert len(train) + len(val) == 50
    with pytest.raises(Exception, match="between 0 and 1"):
        subject_holdout(groups, y, 1.5)


def test_model_card_states_data_metrics_and_command(tmp_path):
    report = {"model": "m", "parameters": 1234, "dataset": "fer2013", "train_split": "Training", "n_train": 10,
              "selection_split": "PublicTest", "n_val": 4, "accuracy": 0.75, "uar": 0.5, "best_epoch": 2,
              "epochs_run": 3, "last_epoch_accuracy": 0.5, "class_names": ["a", "b"],
              "confusion_matrix": [[2, 0], [1, 1]], "wall_time_s": 120.0, "train_config": {"epochs": 3},
              "machine": {"processor": "x86_64", "torch": "2", "threads": 1, "cuda": None}, "command": "run me"}
    text = write_model_card(report, tmp_path / "card.md").read_text()
    assert "accuracy **0.7500**, UAR **0.5000**" in text
    assert "| a | 2 | 0 |" in text and "`run me`" in text and "2.0 min" in text and "PrivateTest" in text


def test_a_fine_tuning_run_repeats_whatever_random_state_the_process_had(ck_folders, tmp_path):
    def run(out):
        args = ["train", "--model", "mini_xception", "--data", str(ck_folders), "--out", str(out), "--epochs", "1",
                "--init", "mini_xception", "--val-fraction", "0.25", *FAST]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        return load_model(out / "best.pt").state_dict()

    first = run(tmp_path / "a")
    torch.manual_seed(12345)  # before the fix the new class layer was drawn from this state
    again = run(tmp_path / "b")
    assert all(torch.equal(first[name], again[name]) for name in first)


def test_install_copies_weights_and_card_under_one_name(tmp_path):
    from affectlab.errors import ModelError as _ModelError
    from affectlab.models.training import artefact_stem, install_run

    stem = artefact_stem("mini_xception", "My CK+ set, fold 1")
    assert stem == "mini_xception_my_ck_set_fold_1"
    run, weights = tmp_path / "run", tmp_path / "weights"
    run.mkdir()
    weights.mkdir()
    with pytest.raises(_ModelError, match="best.pt: missing"):
        install_run(run, "mini_xception", "My CK+ set, fold 1", weights)
    (run / "best.pt").write_bytes(b"w")
    (run / f"{stem}.md").write_text("card")
    (run / "mini_xception_other.md").write_text("another dataset's card")  # not installed
    pt, md = install_run(run, "mini_xception", "My CK+ set, fold 1", weights)
    assert (pt.name, md.name) == (f"{stem}.pt", f"{stem}.md")  # the old code named them ..._my ck+ set_ fold 1.pt
    assert sorted(p.name for p in weights.iterdir()) == [f"{stem}.md", f"{stem}.pt"]


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
