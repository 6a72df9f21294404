"""Real data: CK+48 sequences rendered as clips (benchmarks/render_ckplus_clips.py) come back as their faces."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlab.clips import load_clips

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "render_ckplus_clips.py"

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def rendered(dataset_path, tmp_path_factory):
    data = dataset_path("ckplus48")
    out = tmp_path_factory.mktemp("ckclips")
    done = subprocess.run([sys.executable, str(SCRIPT), "--data", str(data), "--out", str(out), "--limit", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["clips"] == 3
    return data, out


def test_rendering_is_deterministic(rendered, tmp_path):
    data, out = rendered
    subprocess.run([sys.executable, str(SCRIPT), "--data", str(data), "--out", str(tmp_path), "--limit", "1"],
                   check=True, capture_output=True, timeout=300)
    row = next(csv.DictReader((out / "manifest.csv").open()))
    assert (tmp_path / row["path"]).read_bytes() == (out / row["path"]).read_bytes()


def test_rendered_clips_give_back_the_ckplus_faces(rendered):
    data, out = rendered
    clips = load_clips(out / "manifest.csv", frames=3, size=48)
    assert clips.refused == [] and clips.volumes.shape == (3, 3, 48, 48)
    positions = json.loads((out / "positions.json").read_text())
    assert set(positions) == set(clips.ids)
    for seq_id, label, volume in zip(clips.ids, clips.labels, clips.volumes):
        files = sorted((data / label).glob(f"{seq_id}_*.png"))[-3:]
        for original, aligned in zip(files, volume):
            face = cv2.imread(str(original), cv2.IMREAD_GRAYSCALE)
            # the same face, framed a little differently: compare the central half
            a, b = face[12:36, 12:36].astype(float), aligned[12:36, 12:36].astype(float)
            r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
            assert r > 0.6, (seq_id, original.name, r)
