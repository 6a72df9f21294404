"""Clip sets from manifests and folders: refused clips listed, the others used, volumes cached."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from affectlab.clips import ClipSet, clip_features, list_clips, load_clips
from affectlab.errors import DataError
from affectlab.features.cache import FeatureCache
from affectlab.features.temporal import lbp_top


@pytest.fixture(scope="module")
def manifest(clip_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifest")
    for name in ("face.avi", "mirrored.avi", "blank.avi", "short.avi", "corrupt.mp4"):
        shutil.copy(clip_dir / name, folder / name)
    rows = ["path,label,subject,split,id", "face.avi,happy,s1,,c1", "mirrored.avi,sad,s2,,c2",
            "blank.avi,happy,s3,,c3", "short.avi,sad,s4,,c4", "corrupt.mp4,happy,s5,,c5"]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder / "manifest.csv"


def test_refused_clips_are_listed_one_line_each_and_the_others_used(manifest, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    clips = load_clips(manifest, frames=3, size=32, cache=cache)
    assert isinstance(clips, ClipSet)
    assert clips.ids == ["c1", "c2"] and clips.labels.tolist() == ["happy", "sad"]
    assert clips.subjects.tolist() == ["s1", "s2"] and clips.volumes.shape == (2, 3, 32, 32)
    assert [(r.id, r.reason) for r in clips.refused] == [("c3", "no_face"), ("c4", "too_short"),
                                                         ("c5", "unreadable")]
    for refusal in clips.refused:
        assert "\n" not in refusal.message and refusal.path in refusal.message
    summary = clips.summary()
    assert summary["clips"] == 5 and summary["sequences"] == 2 and summary["refused"] == 3
    assert summary["refused_by_reason"] == {"no_face": 1, "too_short": 1, "unreadable": 1}
    # the second read takes the volumes from the cache
    again = load_clips(manifest, frames=3, size=32, cache=cache)
    assert cache.hits == 2 and np.array_equal(again.volumes, clips.volumes)
    assert [(d["frames"], d["face_frames"], d["filled"]) for d in again.details] == [(8, 8, 0), (8, 8, 0)]
    # other settings, other volumes
    load_clips(manifest, frames=4, size=32, cache=cache)
    assert cache.hits == 2


def test_clip_features_are_the_descriptors_of_the_volumes_and_cached(manifest, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    clips = load_clips(manifest, frames=3, size=32, cache=cache)
    X, same = clip_features(clips, "lbp_top", {"levels": 1}, cache=cache)
    assert same is clips
    assert np.allclose(X, lbp_top(clips.volumes, levels=1))
    hits = cache.hits
    X2, _ = clip_features(clips, "lbp_top", {"levels": 1}, cache=cache)
    assert cache.hits == hits + 1 and np.array_equal(X, X2)
    pooled, _ = clip_features(clips, "pooled", {"feature": "hog", "pooling": "max"})
    assert pooled.shape[0] == 2


def test_folder_layouts(clip_dir, tmp_path):
    (tmp_path / "happy").mkdir()
    shutil.copy(clip_dir / "face.avi", tmp_path / "happy" / "a.avi")
    shutil.copy(clip_dir / "mirrored.avi", tmp_path / "b.avi")
    items = list_clips(tmp_path)
    assert [(i.id, i.label) for i in items] == [("b.avi", None), ("happy/a.avi", "happy")]
    assert [i.id for i in list_clips(tmp_path / "b.avi")] == ["b.avi"]


def test_bad_sources(tmp_path, clip_dir):
    with pytest.raises(DataError, match="not found"):
        list_clips(tmp_path / "nothing")
    with pytest.raises(DataError, match="holds no clip"):
        list_clips(tmp_path)
    (tmp_path / "m.csv").write_text("path,label,id\nx.avi,a,1\ny.avi,b,1\n")
    with pytest.raises(DataError, match="row 3: id '1' already on row 2"):
        list_clips(tmp_path / "m.csv")
    (tmp_path / "all.csv").write_text(f"path,label\n{clip_dir / 'blank.avi'},a\n")
    with pytest.raises(DataError, match="every one of the 1 clip"):
        load_clips(tmp_path / "all.csv", frames=3, size=32)


def test_feature_keys_name_the_network_weights_and_the_fit():
    from affectlab.clips.features import sequence_feature_fingerprint
    from affectlab.features.temporal import create_sequence_feature

    deep = create_sequence_feature("pooled", feature="deep", params={"model": "mini_xception"})
    fingerprint = sequence_feature_fingerprint("pooled", deep)
    assert fingerprint["token"].endswith("|mini_xception@1") and fingerprint["inner_version"] >= 1
    lbp = sequence_feature_fingerprint("lbp_top", create_sequence_feature("lbp_top", levels=2))
    assert lbp["params"]["levels"] == 2 and "token" not in lbp
