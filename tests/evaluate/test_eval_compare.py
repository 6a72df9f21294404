"""Paired comparison of two methods: McNemar's exact test, subject bootstrap, run-folder reading, CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import re

import numpy as np
import pytest
from scipy.stats import binom

from affectlab.cli import main
from affectlab.errors import DataError
from affectlab.evaluate.compare import compare_predictions, compare_run_rows, read_predictions


def test_mcnemar_p_is_the_two_sided_exact_binomial_of_the_discordant_pairs():
    true = np.array(["x"] * 30)
    a, b = true.copy(), true.copy()
    b[:9] = "y"      # only A right on 9
    a[9:11] = "y"    # only B right on 2
    a[11:13] = "y"
    b[11:13] = "y"   # both wrong on 2 (concordant: ignored)
    result = compare_predictions(true, a, b, n_boot=100)
    assert (result.a_only_right, result.b_only_right) == (9, 2)
    assert result.mcnemar_p == pytest.approx(2 * binom.cdf(2, 11, 0.5))  # 2 * 67/2048
    assert result.accuracy_a == pytest.approx(26 / 30) and result.accuracy_b == pytest.approx(19 / 30)


def test_identical_predictions_give_p_one_and_a_zero_interval():
    rng = np.random.default_rng(0)
    true = rng.choice(list("abc"), 50)
    pred = rng.choice(list("abc"), 50)
    result = compare_predictions(true, pred, pred, n_boot=300)
    assert result.mcnemar_p == 1.0
    assert result.accuracy_diff_ci == (0.0, 0.0) and result.uar_diff_ci == (0.0, 0.0)


def test_uar_weights_each_class_equally():
    true = np.array(["a"] * 8 + ["b"] * 2)
    a = np.array(["a"] * 8 + ["a", "a"])   # recall a 1, b 0
    b = np.array(["a"] * 4 + ["b"] * 4 + ["b", "b"])  # recall a 0.5, b 1
    result = compare_predictions(true, a, b, n_boot=100)
    assert result.uar_a == pytest.approx(0.5) and result.uar_b == pytest.approx(0.75)
    assert result.accuracy_a == pytest.approx(0.8) and result.accuracy_b == pytest.approx(0.6)


def test_subject_bootstrap_is_wider_when_errors_cluster_in_one_subject():
    # 10 subjects x 20 samples; B fails on every sample of subject 0 only, A is always right
    true = np.array(["a", "b"] * 100)
    groups = np.repeat(np.arange(10), 20)
    a, b = true.copy(), true.copy()
    b[groups == 0] = np.where(true[groups == 0] == "a", "b", "a")
    by_subject = compare_predictions(true, a, b, groups=groups, n_boot=2000)
    by_sample = compare_predictions(true, a, b, n_boot=2000)
    assert by_subject.resampled == "subjects (10)" and by_sample.resampled == "samples"
    def width(r):
        return r.accuracy_diff_ci[1] - r.accuracy_diff_ci[0]

    assert width(by_subject) > 2 * width(by_sample)
    assert by_subject.accuracy_diff_ci[0] == 0.0  # resamples without subject 0 show no difference at all
    assert by_sample.accuracy_diff_ci[0] > 0.0


def _write_run(folder, rows, columns=("id", "fold", "feature", "classifier", "true", "pred", "subject")):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return folder


def _toy_run(tmp_path):
    rows = []
    for i in range(12):
        true = "happy" if i % 2 else "sad"
        rows.append([f"img{i}", "f1", "hog", "svm", true, true, f"S{i // 3}"])
        rows.append([f"img{i}", "f1", "hog", "pls", true, "sad", f"S{i // 3}"])
        rows.append([f"img{i}", "f1", "lbp", "svm", true, true if i < 10 else "sad", f"S{i // 3}"])
    return _write_run(tmp_path / "run", rows)


def test_compare_run_rows_reads_methods_by_their_columns(tmp_path):
    run = _toy_run(tmp_path)
    result = compare_run_rows(run, "hog/svm", "lbp")  # "lbp" alone is unambiguous
    assert result.n == 12 and result.accuracy_a == 1.0 and result.accuracy_b == pytest.approx(11 / 12)
    assert result.resampled == "subjects (4)"
    spaced = compare_run_rows(run, "hog / svm", " lbp ")  # as tables print the names
    assert dataclasses.replace(spaced, a=result.a, b=result.b) == result
    with pytest.raises(DataError, match="'hog' is ambiguous; name one of hog/pls, hog/svm"):
        compare_run_rows(run, "hog", "lbp")
    with pytest.raises(DataError, match="no predictions of 'vgg'.*hog/pls, hog/svm, lbp/svm"):
        compare_run_rows(run, "vgg", "lbp")


def test_runs_over_different_samples_or_labels_are_refused(tmp_path):
    run = _toy_run(tmp_path)
    other = _write_run(tmp_path / "other", [["img0", "f1", "hog", "svm", "sad", "sad", "S0"]])
    with pytest.raises(DataError, match="predicted different samples"):
        compare_run_rows(run, "hog/svm", "hog/svm", run_b=other)
    rows = [[f"img{i}", "f1", "hog", "svm", "happy", "happy", "S0"] for i in range(12)]
    relabelled = _write_run(tmp_path / "relabelled", rows)
    with pytest.raises(DataError, match="true label"):
        compare_run_rows(run, "hog/svm", "hog/svm", run_b=relabelled)
    with pytest.raises(DataError, match="no predictions file"):
        compare_run_rows(tmp_path / "missing", "a", "b")


def test_regression_predictions_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    rows = [[f"w{i}", "1", "arousal", f"{v:.3f}", f"{v + e:.3f}", "03"]
            for i, (v, e) in enumerate(zip(rng.normal(size=40), rng.normal(size=40)))]
    run = _write_run(tmp_path / "speech", rows, ("id", "fold", "task", "true", "pred", "subject"))
    with pytest.raises(DataError, match="regression"):
        compare_run_rows(run, "arousal", "arousal")


def test_cli_prints_text_or_json_and_fails_cleanly(tmp_path, capsys):
    run = _toy_run(tmp_path)
    assert main(["compare", str(run), "hog/svm", "hog/pls", "--n-boot", "200"]) == 0
    text = capsys.readouterr().out
    assert "McNemar (exact): only A right 6, only B right 0, p = 0.03125" in text
    assert main(["compare", str(run), "hog/svm", "hog/pls", "--json", "--n-boot", "200"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["a_only_right"] == 6 and record["n_boot"] == 200
    assert main(["compare", str(run), "hog", "lbp"]) == 1
    assert "ambiguous" in capsys.readouterr().err


def test_pairs_of_people_resample_the_people():
    people = [f"p{i}" for i in range(8)]
    pairs = [f"{a}|{b}" for i, a in enumerate(people) for b in people[i:]]  # 36 pairs, same and different
    true = np.array(["same" if p.split("|")[0] == p.split("|")[1] else "different" for p in pairs])
    a = true.copy()
    b = true.copy()
    involves_p0 = np.array(["p0" in p.split("|") for p in pairs])
    b[involves_p0] = np.where(true[involves_p0] == "same", "different", "same")  # B fails every pair of p0
    by_people = compare_predictions(np.repeat(true, 5), np.repeat(a, 5), np.repeat(b, 5),
                                    groups=np.repeat(pairs, 5), n_boot=2000)
    by_sample = compare_predictions(np.repeat(true, 5), np.repeat(a, 5), np.repeat(b, 5), n_boot=2000)
    assert by_people.resampled == "subjects of the pairs (8)"
    assert by_people.accuracy_diff_ci[0] == 0.0 < by_sample.accuracy_diff_ci[0]  # draws without p0: no gap


def test_compare_unreadable_or_ragged_predictions_are_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    file = run / "predictions.csv"
    cases = [
        (b"\xff\xfe\x00garbage", "not a UTF-8 text CSV file"),
        (b"id,true,pred,feature\n1,a,b\n", "line 2 has fewer fields than the header (4)"),
        (b"id,true,pred,feature\n1,a,b,x,y\n", "line 2 has more fields than the header (4)"),
    ]
    for content, message in cases:
        file.write_bytes(content)
        with pytest.raises(DataError, match=re.escape(message)):
            read_predictions(run)
        assert main(["compare", str(run), "x", "y"]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
