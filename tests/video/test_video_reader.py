"""Reading videos and frame folders: sampling, natural order, one clear error per bad source."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from affectlab.analysis import ExpressionAnalyzer
from affectlab.errors import ConfigError, MediaReadError
from affectlab.video import VideoAnalyzer, VideoReader, prefetch
from affectlab.video.reader import frame_files


@pytest.fixture(scope="module")
def levels_video(tmp_path_factory, make_video):
    """10 frames at 25 fps whose gray level is 20 * index (MJPG keeps flat frames nearly exact)."""
    frames = [np.full((24, 32, 3), 20 * i, np.uint8) for i in range(10)]
    return make_video(tmp_path_factory.mktemp("v") / "levels.avi", frames, fps=25.0)


def _levels(frames):
    return [round(f.image.mean() / 20) for f in frames]


def test_reads_every_frame_with_times_and_info(levels_video):
    reader = VideoReader(levels_video)
    assert (reader.info.kind, reader.info.fps, reader.info.width, reader.info.height) == ("video", 25.0, 32, 24)
    frames = list(reader)
    assert [f.index for f in frames] == list(range(10))
    assert _levels(frames) == list(range(10))
    assert frames[3].time == pytest.approx(0.12)
    assert frames[0].image.shape == (24, 32, 3) and frames[0].image.dtype == np.uint8


def test_sampling_every_n_target_fps_and_max_frames(levels_video):
    assert [f.index for f in VideoReader(levels_video, every=3)] == [0, 3, 6, 9]
    assert _levels(VideoReader(levels_video, every=3)) == [0, 3, 6, 9]
    assert [f.index for f in VideoReader(levels_video, fps=10)] == [0, 3, 5, 8]
    assert [f.index for f in VideoReader(levels_video, fps=100)] == list(range(10))
    assert [f.index for f in VideoReader(levels_video, every=2, max_frames=2)] == [0, 2]
    assert VideoReader(levels_video, every=3).expected_frames == 4
    with pytest.raises(ConfigError, match="either every"):
        VideoReader(levels_video, every=2, fps=5)
    with pytest.raises(ConfigError, match="every"):
        VideoReader(levels_video, every=0)


def test_frame_folder_natural_order_and_bad_frame_skipped(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (1, 2, 10):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((8, 10, 3), 10 * i, np.uint8))
    (folder / "f3.png").write_bytes(b"broken")
    assert [p.name for p in frame_files(folder)] == ["f1.png", "f2.png", "f3.png", "f10.png"]
    reader = VideoReader(folder, frames_fps=10)
    frames = list(reader)
    assert [f.index for f in frames] == [0, 1, 3]
    assert [int(f.image.mean()) for f in frames] == [10, 20, 100]
    assert frames[2].time == pytest.approx(0.3)
    assert any("f3.png" in p for p in reader.problems)


@pytest.mark.parametrize("content, message", [
    (None, "file not found"),
    (b"", "empty file"),
    (b"this is not a video" * 50, "not a readable video|no frame could be decoded"),
])
def test_missing_empty_and_corrupt_videos_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaReadError, match=message) as info:
        VideoReader(path)
    assert "clip.mp4" in str(info.value)


def test_empty_frame_folder_is_an_error(tmp_path):
    with pytest.raises(MediaReadError, match="no image frames"):
        VideoReader(tmp_path)


def test_prefetch_keeps_order_and_reraises():
    assert list(prefetch(iter(range(20)), size=3)) == list(range(20))

    def failing():
        yield 1
        raise MediaReadError("boom.avi: broken")

    got = []
    with pytest.raises(MediaReadError, match="boom"):
        for item in prefetch(failing(), size=2):
            got.append(item)  # noqa: PERF402 - the loop must stop at the error
    assert got == [1]


@pytest.fixture(scope="module")
def unfinished_avi(tmp_path_factory, make_face_frames):
    """An AVI copied before its writer was released: the header states no frame count."""
    import shutil

    import cv2

    folder = tmp_path_factory.mktemp("unfinished")
    writer = cv2.VideoWriter(str(folder / "writing.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for frame in make_face_frames(30, step=2):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    shutil.copy(folder / "writing.avi", folder / "unfinished.avi")
    writer.release()
    return folder / "unfinished.avi"


def test_video_without_a_frame_count_gets_its_real_duration(unfinished_avi, tmp_path):
    reader = VideoReader(unfinished_avi)
    assert reader.expected_frames is None  # before: 1, so the bar and the duration said 1 frame (0.1 s)
    result = VideoAnalyzer(ExpressionAnalyzer(device="cpu")).analyze(unfinished_avi, every=3)
    decoded = result.info.frame_count
    assert decoded == len(list(VideoReader(unfinished_avi))) > 10 and result.frame_indices[-1] < decoded
    assert result.info.duration == pytest.approx(decoded / 10.0)
    assert result.to_dict()["video"]["duration"] >= result.frame_times[-1]  # the timeline's x axis covers every frame
    assert any("states no frame count" in p for p in result.problems)
    assert result.save_timeline(tmp_path / "t.png").stat().st_size > 0
