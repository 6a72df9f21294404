"""``benchmarks/compare_renderings.py``: clip runs of several renderings against one frame-folder run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from affectlab.evaluate.compare import compare_run_rows
from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def script():
    return load_benchmark("compare_renderings")


def _run(folder: Path, truth: list[str], preds: dict[str, list[str]], subjects: list[str]) -> Path:
    folder.mkdir(parents=True)
    with open(folder / "predictions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "fold", "feature", "classifier", "true", "pred", "subject"])
        for feature, pred in preds.items():
            for i, (t, p, s) in enumerate(zip(truth, pred, subjects)):
                writer.writerow([f"seq{i}", 0, feature, "svm", t, p, s])
    return folder


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    truth = list(rng.choice(list("abc"), 60))
    subjects = [f"S{i // 3}" for i in range(60)]

    def noisy(rate):
        return [t if rng.random() > rate else "abc"[("abc".index(t) + 1) % 3] for t in truth]

    frames = _run(tmp_path / "frames", truth, {"lbp": noisy(0.2), "hog": noisy(0.1)}, subjects)
    clips = [_run(tmp_path / f"clips{k}", truth, {"lbp": noisy(0.3), "hog": noisy(0.1)}, subjects) for k in range(2)]
    return frames, clips


def _accuracy(run: Path, feature: str) -> float:
    with open(run / "predictions.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["feature"] == feature]
    return float(np.mean([r["true"] == r["pred"] for r in rows]))


def test_mean_difference_by_hand_and_one_run_matches_affectlab_compare(script, runs):
    frames, clips = runs
    row = script.compare_renderings(frames, clips, "lbp/svm")
    each = [_accuracy(c, "lbp") - _accuracy(frames, "lbp") for c in clips]
    assert row["accuracy"]["diff_each"] == pytest.approx(each)
    assert row["accuracy"]["diff"] == pytest.approx(np.mean(each))
    assert row["subjects"] == 20 and row["n"] == 60
    low, high = row["accuracy"]["ci"]
    assert low <= row["accuracy"]["diff"] <= high
    single = script.compare_renderings(frames, clips[:1], "lbp/svm")
    reference = compare_run_rows(clips[0], "lbp/svm", "lbp/svm", run_b=frames)
    assert single["accuracy"]["ci"] == pytest.approx(list(reference.accuracy_diff_ci))
    assert single["uar"]["ci"] == pytest.approx(list(reference.uar_diff_ci))
    assert single["passes"] == (reference.accuracy_diff_ci[1] >= 0)


def test_command_line_lists_shared_methods_and_refuses_other_samples(script, runs, tmp_path, capsys):
    frames, clips = runs
    assert script.main(["--frames", str(frames), "--clips", *map(str, clips), "--json", "--resamples", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in out["rows"]] == ["lbp/svm", "hog/svm"]
    other = _run(tmp_path / "other", list("ab"), {"lbp": list("ab")}, ["S0", "S1"])
    assert script.main(["--frames", str(frames), "--clips", str(other), "--methods", "lbp/svm"]) == 2
    assert "predicted other samples" in capsys.readouterr().err
    assert script.main(["--frames", str(tmp_path / "absent"), "--clips", str(other)]) == 2
