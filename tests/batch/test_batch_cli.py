"""``affectlab batch`` as a user runs it: killed halfway (kill -9), rerun, nothing redone."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pyarrow.parquet as pq
import pytest

from affectlab.cli import main
from tests.batch.batch_fixtures import face_variants, mixed_folder  # noqa: F401  (shared fixtures)

CLI = [sys.executable, "-c", "import sys; from affectlab.cli import main; sys.exit(main())"]


@pytest.fixture()
def big_folder(tmp_path, face_variants) -> Path:
    root = tmp_path / "many"
    root.mkdir()
    for i, image in enumerate(face_variants(40, seed=3)):
        cv2.imwrite(str(root / f"f{i:03d}.png"), image[..., ::-1])
    return root


def _journal_rows(parts: Path) -> int:
    files = sorted(parts.glob("part-*.parquet")) if parts.is_dir() else []
    return sum(pq.read_metadata(f).num_rows for f in files)


@pytest.mark.slow
def test_batch_killed_halfway_resumes_without_redoing_done_items(big_folder, tmp_path):
    out = tmp_path / "r.parquet"
    parts = tmp_path / "r.parquet.parts"
    cmd = [*CLI, "batch", str(big_folder), "--out", str(out), "--chunk-size", "4", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _journal_rows(parts) < 12 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be killed"
    done_before = _journal_rows(parts)
    assert 12 <= done_before < 40 and not out.exists()

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == done_before
    assert summary["processed"] == 40 - done_before
    assert summary["rows"] == 40
    table = pq.read_table(out)
    sources = table.column("source").to_pylist()
    assert len(set(sources)) == 40 and sources == sorted(sources)
    assert set(table.column("status").to_pylist()) == {"ok"}
    assert not parts.exists()


def test_cli_errors_are_one_line_and_exit_1(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "absent"), "--out", str(tmp_path / "r.parquet")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"affectlab: error: {tmp_path / 'absent'}: not found"]
    assert main(["batch", str(tmp_path), "--out", "r.parquet", "--cluster", "local",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 1
    assert "give one of them, not both" in capsys.readouterr().err


def test_cli_prints_every_bad_item_on_stderr_and_exits_0(mixed_folder, tmp_path, capsys):
    # docs/cli.md: a bad file's record says error and "the problem is also printed on stderr"
    out = tmp_path / "r.parquet"
    assert main(["batch", str(mixed_folder), "--out", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    corrupt = mixed_folder / "other" / "corrupt.png"
    assert f"affectlab: error: {corrupt.absolute()}: not a readable image" in captured.err
    assert captured.out.count("\n") == 1 and '"error": 1' in captured.out  # stdout: the JSON summary only
