"""A batch never mixes models on resume, deletes only its own files, never overwrites an input, and one at a time."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from affectlab.batch import BatchOptions, ResultStore, run_batch
from affectlab.batch.runner import result_settings
from affectlab.cli import cli, main
from affectlab.errors import ConfigError
from affectlab.outputs import MARKER_NAME, exclusive_lock
from tests.batch.batch_fixtures import _write, face_variants, mixed_folder  # noqa: F401  (shared fixtures)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): _digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def two_faces(tmp_path, face_variants) -> Path:
    root = tmp_path / "faces"
    for i, image in enumerate(face_variants(2, seed=7)):
        _write(root / f"f{i}.png", image)
    return root


def test_resume_with_another_model_is_refused_naming_the_difference(two_faces, face_variants, tmp_path):
    out = tmp_path / "r.parquet"
    run_batch(two_faces, out, progress=False)
    _write(two_faces / "f2.png", face_variants(1, seed=8)[0])  # a new item the rerun would add
    before = _digest(out)
    with pytest.raises(ConfigError) as refused:  # before: 2 rows of resnet_fer + 1 of mini_xception, unmarked
        run_batch(two_faces, out, options=BatchOptions(model="mini_xception"), progress=False)
    assert "--model resnet_fer (now mini_xception)" in str(refused.value) and "--restart" in str(refused.value)
    assert _digest(out) == before
    fresh = run_batch(two_faces, out, options=BatchOptions(model="mini_xception"), restart=True, progress=False)
    assert (fresh.skipped, fresh.processed) == (0, 3)
    assert set(pq.read_table(out).column("model").to_pylist()) == {"mini_xception"}


def test_resume_from_parts_with_other_options_is_refused(two_faces, tmp_path):
    out = tmp_path / "r.parquet"
    settings, files = result_settings(BatchOptions())
    store = ResultStore(out, ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"], settings, files)
    store.write_chunk([{"source": str(two_faces / "f0.png"), "media": "image", "status": "no_face", "n_faces": 0,
                        "boxes": "[]"}])  # as a killed run leaves it
    with pytest.raises(ConfigError, match=r"part-000000-.*--whole-frame False \(now True\)"):
        run_batch(two_faces, out, options=BatchOptions(whole_frame=True), progress=False)
    same = run_batch(two_faces, out, options=BatchOptions(device="cpu", torch_threads=2), progress=False)
    assert (same.skipped, same.processed) == (1, 1)  # device and threads do not change results


def test_settings_cover_every_option_added_later_and_the_weights_content(tmp_path):
    extended = dataclasses.make_dataclass("Extended", [("frontend", str, dataclasses.field(default="haar"))],
                                          bases=(BatchOptions,), frozen=True)
    settings, _ = result_settings(extended(frontend="retina"))
    assert settings["frontend"] == "retina" and "device" not in settings and "torch_threads" not in settings
    assert settings["affectlab"]
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"weights one")
    b.write_bytes(b"weights one")
    (sa, fa), (sb, _) = result_settings(BatchOptions(weights=str(a))), result_settings(BatchOptions(weights=str(b)))
    assert sa == sb and sa["weights"].startswith("sha256:") and fa["weights"] == str(a)  # a copy is the same
    b.write_bytes(b"weights two")
    assert result_settings(BatchOptions(weights=str(b)))[0]["weights"] != sa["weights"]


def test_a_users_parts_folder_is_refused_and_left_alone(mixed_folder, tmp_path):
    out = tmp_path / "r.parquet"
    parts = tmp_path / "r.parquet.parts"
    parts.mkdir()
    (parts / "notes.txt").write_text("mine")
    (parts / "part-000000-0123abcd.parquet").write_bytes(b"also mine")
    before = _hashes(parts)
    with pytest.raises(ConfigError, match=f"{MARKER_NAME} marker"):  # before: the folder was deleted at the end
        run_batch(mixed_folder, out, progress=False)
    with pytest.raises(ConfigError, match=f"{MARKER_NAME} marker"):
        run_batch(mixed_folder, out, restart=True, progress=False)
    assert _hashes(parts) == before and not out.exists()


def test_only_the_journals_own_files_are_removed(two_faces, tmp_path):
    out = tmp_path / "r.parquet"
    store = ResultStore(out, ["a"], *result_settings(BatchOptions()))
    store.write_chunk([{"source": "x", "media": "image", "status": "no_face", "n_faces": 0, "boxes": "[]"}])
    assert (store.parts_dir / MARKER_NAME).is_file()
    (store.parts_dir / "later.txt").write_text("put there meanwhile")
    store.finalize()
    assert sorted(p.name for p in store.parts_dir.iterdir()) == ["later.txt"]


def test_restart_refuses_a_parquet_file_affectlab_did_not_write(mixed_folder, tmp_path):
    import pyarrow as pa

    out = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), out)
    before = _digest(out)
    with pytest.raises(ConfigError, match="not batch results written by affectlab"):  # before: deleted
        run_batch(mixed_folder, out, restart=True, progress=False)
    assert _digest(out) == before


def test_out_that_is_an_input_is_refused(two_faces, tmp_path):
    out = tmp_path / "r.parquet"
    out.symlink_to(two_faces / "f0.png")
    before = _hashes(two_faces)
    with pytest.raises(ConfigError, match="that is an input file"):
        run_batch(two_faces, out, restart=True, progress=False)
    assert _hashes(two_faces) == before and out.is_symlink()


def test_a_second_batch_on_the_same_out_refuses(two_faces, tmp_path):
    out = tmp_path / "r.parquet"
    with exclusive_lock(out, option="--out", what="batch"):  # as a first batch holds it
        result = CliRunner().invoke(cli, ["batch", str(two_faces), "--out", str(out), "--no-progress"])
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines() == [
            f"affectlab: error: --out {out}: another affectlab batch is writing it (process "
            f"{__import__('os').getpid()}); wait until it ends or choose another --out"]
        assert not out.exists() and not out.with_name("r.parquet.parts").exists()
    assert run_batch(two_faces, out, progress=False).rows == 2
    assert not out.with_name(".r.parquet.lock").exists()


def test_batch_over_a_folder_skips_what_analyze_saved_there(two_faces, tmp_path):
    saved = CliRunner().invoke(cli, ["analyze", str(two_faces), "--save", str(two_faces), "--no-progress",
                                     "-o", str(tmp_path / "a.jsonl")])
    assert saved.exit_code == 0, saved.output
    assert (two_faces / "f0_annotated.png").is_file()
    summary = run_batch(two_faces, tmp_path / "r.parquet", progress=False)
    assert summary.total == 2


def test_out_must_be_a_parquet_file_so_an_input_is_never_overwritten(mixed_folder, tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path\n{mixed_folder / 'happy' / 'face0.png'}\n")
    before = manifest.read_bytes()
    # before the fix: "cannot read earlier batch results ...; use --restart", and --restart deleted list.csv
    with pytest.raises(ConfigError, match=r"--out .*list\.csv: expected a file name ending in \.parquet"):
        run_batch(manifest, manifest, restart=True, progress=False)
    assert manifest.read_bytes() == before
    assert main(["batch", str(manifest), "--out", str(tmp_path / "r.csv")]) == 1
    assert not (tmp_path / "r.csv").exists()
    summary = run_batch(manifest, tmp_path / "R.PARQUET", progress=False)  # any case of the suffix
    assert summary.rows == 1 and np.isfinite(summary.seconds)
