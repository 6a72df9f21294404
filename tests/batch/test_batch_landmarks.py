"""Batch with the landmark front-end: landmark and pose columns, the front-end among the settings."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from affectlab.batch import BatchOptions, run_batch
from affectlab.batch.runner import result_settings
from affectlab.data.media import sample_photo
from affectlab.errors import ConfigError
from tests.batch.batch_fixtures import _write

pytest.importorskip("dlib", reason="the landmark front-end needs pip install 'affectlab[landmarks]'")


def test_rows_carry_the_largest_faces_landmarks_and_pose(tmp_path):
    _write(tmp_path / "in" / "astronaut.png", sample_photo())
    out = tmp_path / "r.parquet"
    run_batch(tmp_path / "in", out, options=BatchOptions(detector="dlib"), progress=False)
    [row] = pq.read_table(out).to_pylist()
    assert row["status"] == "ok" and row["label"] == "happy"
    assert len(row["landmarks"]) == 5 and all(len(p) == 2 for p in row["landmarks"])
    assert all(isinstance(row[k], float) and abs(row[k]) < 30 for k in ("yaw", "pitch", "roll"))
    haar = tmp_path / "haar.parquet"
    run_batch(tmp_path / "in", haar, options=BatchOptions(detector="haar"), progress=False)
    [row] = pq.read_table(haar).to_pylist()
    assert row["status"] == "ok" and row["landmarks"] is None and row["yaw"] is None


def test_the_front_end_is_a_setting_and_auto_is_recorded_resolved(tmp_path):
    assert result_settings(BatchOptions())[0]["detector"] == "dlib"  # the extra is installed here
    _write(tmp_path / "in" / "astronaut.png", sample_photo())
    out = tmp_path / "r.parquet"
    run_batch(tmp_path / "in", out, options=BatchOptions(detector="haar"), progress=False)
    with pytest.raises(ConfigError, match=r"--detector haar \(now dlib\)"):
        run_batch(tmp_path / "in", out, options=BatchOptions(), progress=False)
