"""Fuzz: 2,500+ corrupted and truncated images, WAVs and videos through the readers (issue 25).

Runs ``tests/data/fuzz_media.py`` in a subprocess so that a crash of a native decoder is a
failure naming its case, not the end of the test run. About 5 s on one core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_fuzz(target: str, tmp_path: Path, *, images: int, audio: int, videos: int, seed: int = 25) -> dict:
    """The fuzz report of one subprocess run; fails with the last case started when it crashed."""
    progress = tmp_path / "progress.txt"
    cmd = [sys.executable, "-m", "tests.data.fuzz_media", "--target", target, "--images", str(images),
           "--audio", str(audio), "--videos", str(videos), "--seed", str(seed), "--progress", str(progress)]
    env = dict(os.environ, OMP_NUM_THREADS="1", AFFECTLAB_QUIET_DECODERS="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, errors="replace", timeout=600)
    last = progress.read_text().splitlines()[-1] if progress.exists() else "(none)"
    assert proc.returncode in (0, 1) and proc.stdout.strip(), (
        f"the fuzz process died (status {proc.returncode}) in case {last}\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["failures"], json.dumps(report["failures"][:5], indent=1)
    assert report["memory_ok"], f"peak memory grew by {report['memory_mb']['growth']} MB: {report['memory_mb']}"
    assert report["cases"] >= images + audio + videos
    return report


def test_corrupted_media_never_crash_nor_escape_as_tracebacks_from_the_readers(tmp_path):
    report = run_fuzz("readers", tmp_path, images=1500, audio=600, videos=500)
    outcomes = report["outcomes"]
    for kind in ("image", "audio", "video"):  # the mutations leave some files readable: both paths are run
        assert outcomes.get(f"{kind}:ok", 0) > 0 and outcomes.get(f"{kind}:refused", 0) > 0, outcomes
