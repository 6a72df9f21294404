"""Fuzz: 1,000 corrupted and truncated uploads to /v1/faces, /v1/speech and /v1/video (issue 25).

Never a 500 or a traceback, never a crash, memory bounded; see ``tests/data/fuzz_media.py``.
About 30 s on one core (the in-process service analyses what is still readable).
"""

from __future__ import annotations

from tests.data.test_fuzz_readers import run_fuzz


def test_corrupted_uploads_get_clear_answers_from_the_service(tmp_path):
    report = run_fuzz("service", tmp_path, images=500, audio=250, videos=250, seed=26)
    statuses = {k.split(":")[1] for k in report["outcomes"]}
    assert "ok" in statuses and "422" in statuses and "415" in statuses, report["outcomes"]
