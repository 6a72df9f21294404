"""`affectlab report`: one table from the metrics.json of several run folders."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from affectlab.cli import main
from affectlab.errors import DataError
from affectlab.evaluate.report import collect_results, results_markdown, sort_results


def _run(tmp_path, name, rows):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"name": name, "rows": rows}))
    return folder


@pytest.fixture
def runs(tmp_path):
    hand = _run(tmp_path, "ck-hand", [
        {"feature": "hog", "classifier": "linear_svm", "accuracy": 0.90, "uar": 0.85, "n_test": 981,
         "confusion": [[1]]},
        {"feature": "lbp", "classifier": "pls", "accuracy": 0.89, "uar": 0.82, "n_test": 981},
    ])
    fusion = _run(tmp_path, "ck-fusion", [
        {"method": "member", "members": "hog / linear_svm", "feature": "hog", "classifier": "linear_svm",
         "accuracy": 0.90, "uar": 0.85, "n_test": 981},
        {"method": "fusion network", "members": "SVM + PLS members (4)", "accuracy": 0.95, "uar": 0.93, "n_test": 981},
    ])
    speech = _run(tmp_path, "emodb", [
        {"task": "arousal", "feature": "ComParE", "classifier": "rbf_svr", "normalisation": "per_speaker",
         "ccc": 0.91, "rmse": 0.60, "n_test": 535},
        {"task": "pairs", "model": "CompCNN", "kind": "sub", "error_rate": 0.2, "accuracy": 0.8, "n_test": 10},
    ])
    return [hand, fusion, speech]


def test_rows_of_every_kind_line_up_with_blank_cells_for_missing_metrics(runs):
    table = collect_results(runs)
    assert [r["method"] for r in table] == [
        "hog / linear_svm", "lbp / pls", "member / hog / linear_svm", "fusion network / SVM + PLS members (4)",
        "arousal / ComParE / rbf_svr / per_speaker", "pairs / CompCNN / sub"]
    assert "confusion" not in table[0] and table[4] == {"run": "emodb", "method": table[4]["method"],
                                                       "ccc": 0.91, "rmse": 0.60, "n_test": 535}
    text = results_markdown(table)
    assert text.splitlines()[0] == "| run | method | accuracy | UAR | error rate | CCC | RMSE | n_test |"
    assert "| emodb | arousal / ComParE / rbf_svr / per_speaker |  |  |  | 0.910 | 0.600 | 535 |" in text


def test_sorting_puts_the_best_first_and_rows_without_the_metric_last(runs):
    table = sort_results(collect_results(runs), "uar")
    assert [r.get("uar") for r in table][:4] == [0.93, 0.85, 0.85, 0.82] and "uar" not in table[-1]
    assert sort_results(collect_results(runs), "rmse")[0]["rmse"] == 0.60  # lower is better
    assert [r["run"] for r in collect_results(runs, contains="PLS")] == ["ck-hand", "ck-fusion"]
    with pytest.raises(DataError, match="cannot sort by 'speed'"):
        sort_results(collect_results(runs), "speed")


def test_folders_without_metrics_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no metrics.json"):
        collect_results([tmp_path / "empty"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.json").write_text("{not json")
    with pytest.raises(DataError, match="not readable JSON"):
        collect_results([tmp_path / "bad"])


def test_cli_formats_and_errors(runs, tmp_path, capsys):
    assert main(["report", *map(str, runs), "--sort", "accuracy", "--top", "2", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["method"] for r in rows] == ["fusion network / SVM + PLS members (4)", "hog / linear_svm"]
    out = tmp_path / "table.md"
    assert main(["report", str(runs[0]), "--out", str(out)]) == 0
    assert out.read_text().startswith("| run | method |") and "2 rows written" in capsys.readouterr().err
    assert main(["report", str(runs[0]), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["accuracy"] == 0.90
    assert main(["report", str(runs[0]), "--sort", "speed"]) == 1
    assert "--sort" in capsys.readouterr().err


def test_cli_draws_a_bar_chart_of_the_sorted_metric(runs, tmp_path, capsys):
    png = tmp_path / "bars.png"
    assert main(["report", *map(str, runs), "--sort", "uar", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "bar chart of uar" in capsys.readouterr().err
    assert main(["report", str(runs[2]), "--contains", "pairs", "--sort", "ccc", "--plot", str(png)]) == 1
    assert "no row has 'ccc'" in capsys.readouterr().err


def _metrics_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"rows": [
        {"feature": "hog", "classifier": "svm", "accuracy": 0.9, "uar": 0.8, "n_test": 10}]}))
    return folder


def test_report_of_the_current_folder_names_it(tmp_path, monkeypatch):
    run = _metrics_run(tmp_path / "ck-hog")
    monkeypatch.chdir(run)
    assert collect_results(["."])[0]["run"] == "ck-hog"
    assert collect_results([run / "metrics.json"])[0]["run"] == "ck-hog"


def test_report_out_in_a_missing_folder_is_one_line(tmp_path, capsys):
    run = _metrics_run(tmp_path / "ck-hog")
    target = tmp_path / "no" / "such" / "table.md"
    assert main(["report", str(run), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"affectlab: error: --out {target}: cannot write") and "Traceback" not in err
