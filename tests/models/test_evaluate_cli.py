"""``affectlab evaluate``: metrics match a hand computation, any Usage value works, errors are one line."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.data import load_dataset
from affectlab.labels import EXPRESSIONS
from affectlab.models import create_model, save_weights
from affectlab.models.train import predict_proba

from .conftest import _one_line_error, _train


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_evaluate_json_matches_a_manual_computation(fer_csv, tmp_path):
    model = create_model("mini_xception")
    weights = save_weights(model, tmp_path / "mx.pt")
    result = _run("evaluate", "--model", str(weights), "--data", str(fer_csv), "--split", "PrivateTest", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    data = load_dataset(fer_csv).filter(split="PrivateTest")
    x = np.stack([s.pixels for s in data.samples])
    pred = predict_proba(model, x, device="cpu").argmax(1)
    y = data.targets
    assert out["n"] == 9 and out["split"] == "PrivateTest"
    assert out["accuracy"] == np.mean(pred == y)
    assert out["labels"] == list(EXPRESSIONS)
    cm = np.zeros((7, 7), int)
    np.add.at(cm, (y, pred), 1)
    assert out["confusion"] == cm.tolist()
    recalls = [np.mean(pred[y == c] == c) for c in np.unique(y)]
    assert np.isclose(out["uar"], np.mean(recalls))
    assert out["per_class_recall"]["angry"] == np.mean(pred[y == 0] == 0)
    assert out["per_class_recall"]["sad"] is None  # no sample of that class: NaN -> null


def test_evaluate_default_model_prints_a_table(fer_csv):
    result = _run("evaluate", "--data", str(fer_csv), "--split", "PublicTest")
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.stdout and "UAR" in result.stdout and "confusion matrix" in result.stdout


def test_missing_split_lists_the_splits_present(fer_csv):
    result = _run("evaluate", "--data", str(fer_csv), "--split", "Validation", "--json")
    assert result.exit_code == 1
    assert "PrivateTest, PublicTest, Training" in result.stderr
    assert "Traceback" not in result.output


def test_bad_model_and_data_are_one_line_errors(fer_csv, tmp_path):
    result = _run("evaluate", "--model", "nope", "--data", str(fer_csv))
    assert result.exit_code == 1 and "neither a registered model" in result.stderr
    result = _run("evaluate", "--data", str(tmp_path / "absent.csv"))
    assert result.exit_code == 1 and "not found" in result.stderr


def test_folder_labels_are_matched_canonically(ck_folders):
    result = _run("evaluate", "--model", "mini_xception", "--data", str(ck_folders), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == 48 and out["unknown_labels"] == {}  # anger -> angry
    assert sum(map(sum, out["confusion"])) == 48


def test_evaluating_a_training_state_points_at_best_pt(ck_folders, tmp_path):
    assert _train(ck_folders, tmp_path / "run").exit_code == 0
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "run" / "last.pt"), "--data",
                                      str(ck_folders)])
    _one_line_error(result, "last.pt", "best.pt")


def test_evaluate_matches_dataset_labels_to_ck_spelled_model_classes(fer_csv, tmp_path):
    # a model fine-tuned on CK+ folders names its classes anger/happy/sadness; FER2013 says angry/disgust/fear
    save_weights(create_model("mini_xception", class_names=("anger", "happy", "sadness")), tmp_path / "ck.pt")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "ck.pt"), "--data", str(fer_csv),
                                      "--split", "PublicTest", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unknown_labels"] == {"disgust": 4, "fear": 4}  # "angry" is the model's "anger"
    assert report["labels"][:3] == ["anger", "happy", "sadness"]
