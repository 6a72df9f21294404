"""Running batches: statuses per item, resume, retry, local worker processes, a Dask cluster."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from affectlab.batch import BatchOptions, discover_items, run_batch
from affectlab.errors import ConfigError
from tests.batch.batch_fixtures import face_folder, face_variants, mixed_folder  # noqa: F401  (shared fixtures)

PROBS = ["prob_angry", "prob_disgust", "prob_fear", "prob_happy", "prob_sad", "prob_surprise", "prob_neutral"]


def read_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def assert_same_rows(a: list[dict], b: list[dict]) -> None:
    """Item for item: the same sources in the same order with the same outcome."""
    assert [r["source"] for r in a] == [r["source"] for r in b]
    for x, y in zip(a, b):
        for key in ("media", "status", "error", "n_faces", "n_frames", "label", "boxes", "dataset_label",
                "valence", "arousal", "dominance"):
            assert x[key] == y[key], (x["source"], key)
        for key in PROBS:
            assert (x[key] is None) == (y[key] is None)
            if x[key] is not None:
                assert x[key] == pytest.approx(y[key], abs=1e-5), (x["source"], key)


def test_every_item_gets_a_row_and_bad_items_do_not_stop_the_batch(mixed_folder, tmp_path):
    out = tmp_path / "r.parquet"
    summary = run_batch(mixed_folder, out, chunk_size=2, progress=False)
    assert (summary.total, summary.processed, summary.rows) == (5, 5, 5)
    assert (summary.ok, summary.no_face, summary.error) == (3, 1, 1)
    rows = {Path(r["source"]).name: r for r in read_rows(out)}
    for name in ("face0.png", "face1.png", "face2.png"):
        row = rows[name]
        assert row["status"] == "ok" and row["n_faces"] >= 1 and row["label"] == "happy"
        assert sum(row[c] for c in PROBS) == pytest.approx(1.0, abs=1e-6)
        assert json.loads(row["probabilities"]) == pytest.approx({c[5:]: row[c] for c in PROBS}, abs=1e-6)
        assert row["dataset_label"] == "happy"
        boxes = json.loads(row["boxes"])
        assert len(boxes) == row["n_faces"] and all(len(b) == 4 for b in boxes)
    assert rows["blank.png"]["status"] == "no_face" and rows["blank.png"]["label"] is None
    assert rows["blank.png"]["boxes"] == "[]"
    bad = rows["corrupt.png"]
    assert bad["status"] == "error" and "corrupt.png: not a readable image" in bad["error"]
    assert not out.with_name("r.parquet.parts").exists()


def test_rerun_skips_done_items_and_can_retry_errors_or_restart(mixed_folder, tmp_path):
    out = tmp_path / "r.parquet"
    run_batch(mixed_folder, out, progress=False)
    before = read_rows(out)
    again = run_batch(mixed_folder, out, progress=False)
    assert (again.skipped, again.processed, again.rows) == (5, 0, 5)
    assert read_rows(out) == before
    retry = run_batch(mixed_folder, out, retry_errors=True, progress=False)
    assert (retry.skipped, retry.processed, retry.error, retry.rows) == (4, 1, 1, 5)
    fresh = run_batch(mixed_folder, out, restart=True, progress=False)
    assert (fresh.skipped, fresh.processed, fresh.rows) == (0, 5, 5)
    assert_same_rows(read_rows(out), before)


def test_new_items_in_a_grown_folder_are_added(mixed_folder, tmp_path, face_variants):
    import cv2

    out = tmp_path / "r.parquet"
    run_batch(mixed_folder, out, progress=False)
    cv2.imwrite(str(mixed_folder / "happy" / "face9.png"), face_variants(1, seed=5)[0][..., ::-1])
    summary = run_batch(mixed_folder, out, progress=False)
    assert (summary.skipped, summary.processed, summary.rows) == (5, 1, 6)
    assert [Path(r["source"]).name for r in read_rows(out)][3] == "face9.png"  # in item order


@pytest.mark.slow
def test_local_worker_processes_give_the_same_rows(face_folder, tmp_path):
    here = run_batch(face_folder, tmp_path / "here.parquet", chunk_size=4, progress=False)
    pool = run_batch(face_folder, tmp_path / "pool.parquet", workers=2, chunk_size=4, progress=False)
    assert here.rows == pool.rows == 24 and pool.ok == here.ok > 20
    assert_same_rows(read_rows(tmp_path / "here.parquet"), read_rows(tmp_path / "pool.parquet"))


@pytest.mark.slow
def test_dask_local_cluster_with_two_workers_equals_the_local_path(face_folder, mixed_folder, tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed (batch extra)")
    items = discover_items([face_folder, mixed_folder])
    local = run_batch(items, tmp_path / "local.parquet", chunk_size=5, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster:
        remote = run_batch(items, tmp_path / "dask.parquet", scheduler=cluster.scheduler_address,
                           chunk_size=5, progress=False)
        with distributed.Client(cluster) as client:  # the cluster really had two workers
            assert len(client.scheduler_info()["workers"]) == 2
    assert remote.rows == local.rows == 29 and remote.error == local.error == 1
    assert_same_rows(read_rows(tmp_path / "local.parquet"), read_rows(tmp_path / "dask.parquet"))


def test_bad_arguments_raise_config_errors(mixed_folder, tmp_path):
    with pytest.raises(ConfigError, match="only 'local'"):
        run_batch(mixed_folder, tmp_path / "r.parquet", cluster="kubernetes")
    with pytest.raises(ConfigError, match="not both"):
        run_batch(mixed_folder, tmp_path / "r.parquet", cluster="local", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="is a folder"):
        run_batch(mixed_folder, tmp_path, progress=False)
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        run_batch(mixed_folder, tmp_path / "r.parquet", workers=0)


def test_options_reach_the_analyser(tmp_path, mixed_folder):
    summary = run_batch(mixed_folder / "other", tmp_path / "r.parquet", options=BatchOptions(whole_frame=True),
                        progress=False)
    assert (summary.ok, summary.no_face, summary.error) == (1, 0, 1)  # the blank image is classified whole


def test_videos_get_one_row_pooled_over_their_frames(tmp_path, face_variants):
    pytest.importorskip("affectlab.video", reason="affectlab.video is not part of this build")
    import cv2

    folder = tmp_path / "clips"
    folder.mkdir()
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 160))
    for frame in face_variants(1) * 10:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    summary = run_batch(folder, tmp_path / "r.parquet", options=BatchOptions(video_fps=5.0), progress=False)
    assert (summary.ok, summary.error) == (1, 1)
    rows = {Path(r["source"]).name: r for r in read_rows(tmp_path / "r.parquet")}
    clip = rows["clip.avi"]
    assert clip["media"] == "video" and clip["status"] == "ok" and clip["label"] == "happy"
    assert clip["n_frames"] == 5 and clip["n_faces"] == 1 and len(json.loads(clip["boxes"])) == 1
    assert sum(clip[c] for c in PROBS) == pytest.approx(1.0, abs=1e-4)
    broken = rows["broken.mp4"]
    assert broken["media"] == "video" and broken["status"] == "error"
    assert "broken.mp4" in broken["error"] and "not a readable video" in broken["error"]


def test_recordings_get_speech_categories_and_vad(tmp_path):
    analyze = pytest.importorskip("affectlab.audio.analyze", reason="affectlab.audio is not part of this build")
    pytest.importorskip("opensmile", reason="openSMILE is not installed (speech extra)")
    import soundfile as sf

    rng = np.random.default_rng(0)
    model = analyze.SpeechModel(
        name="tiny", feature_set="egemaps_v02", sample_rate=16000, classes=["anger", "neutral"],
        mean=np.zeros(88), scale=np.full(88, 100.0), coef=rng.normal(size=(2, 88)), intercept=np.zeros(2),
        vad=np.array([[2.5, 6.2, 5.0], [5.0, 3.0, 5.0]]),
    )
    weights, _ = analyze.save_speech_model(model, tmp_path / "tiny")
    folder = tmp_path / "speech"
    folder.mkdir()
    t = np.arange(32000) / 16000
    sf.write(folder / "tone.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    sf.write(folder / "silent.wav", np.zeros(32000, np.float32), 16000)
    summary = run_batch(folder, tmp_path / "r.parquet", options=BatchOptions(speech_weights=str(weights)),
                        progress=False)
    assert (summary.ok, summary.error) == (1, 1)
    rows = {Path(r["source"]).name: r for r in read_rows(tmp_path / "r.parquet")}
    tone = rows["tone.wav"]
    direct = analyze.SpeechAnalyzer(weights).analyze_path(folder / "tone.wav")
    assert tone["media"] == "audio" and tone["status"] == "ok" and tone["label"] == direct.label
    assert json.loads(tone["probabilities"]) == pytest.approx(direct.probabilities, abs=1e-6)
    assert (tone["valence"], tone["arousal"], tone["dominance"]) == pytest.approx(
        (direct.valence, direct.arousal, direct.dominance))
    assert all(tone[c] is None for c in PROBS)  # no face classes in a speech model
    silent = rows["silent.wav"]
    assert silent["status"] == "error" and "silent.wav: silent audio" in silent["error"]


def test_recordings_without_a_speech_model_are_error_rows(tmp_path):
    pytest.importorskip("soundfile", reason="soundfile is not installed (speech extra)")
    import soundfile as sf

    sf.write(tmp_path / "a.wav", np.zeros(1600, np.float32), 16000)
    options = BatchOptions(speech_weights=str(tmp_path / "absent.npz"))
    summary = run_batch(tmp_path / "a.wav", tmp_path / "r.parquet", options=options, progress=False)
    assert summary.error == 1
    [row] = read_rows(tmp_path / "r.parquet")
    assert row["media"] == "audio" and "speech analysis is not available" in row["error"]


def test_a_malformed_scheduler_address_is_a_config_error(mixed_folder, tmp_path):
    with pytest.raises(ConfigError, match="--scheduler nonsense: not a scheduler address"):
        run_batch(mixed_folder, tmp_path / "r.parquet", scheduler="nonsense", progress=False)
