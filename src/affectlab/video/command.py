"""The VIDEO branch of ``affectlab analyze``: videos and frame folders -> JSON, CSV, timeline, video.

``affectlab analyze`` sends inputs with a video suffix (and folders given with ``--frames``) here;
each gives one JSON object (one line), and optionally a per-frame CSV, a timeline PNG and an
annotated video. A bad video never stops the others: its line says ``"status": "error"``,
the problem goes to stderr, and the exit status is 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from affectlab.errors import AffectLabError, ConfigError
from affectlab.video.reader import is_video_path

__all__ = ["analyze_videos", "output_path", "split_video_inputs"]


def split_video_inputs(inputs: Sequence[str], frame_folders: Sequence[str | Path] = ()) -> tuple[tuple[str, ...], list[Path]]:
    """``(other inputs, videos)``: video files by suffix plus the ``--frames`` folders.

    >>> split_video_inputs(["a.png", "b.MP4", "dir"], ["frames"])
    (('a.png', 'dir'), [PosixPath('b.MP4'), PosixPath('frames')])
    """
    others = tuple(i for i in inputs if not is_video_path(i))
    videos = [Path(i) for i in inputs if is_video_path(i)] + [Path(f) for f in frame_folders]
    return others, videos


def output_path(option: Path | None, source: Path, suffix: str, *, several: bool, default_dir: Path | None,
                name: str) -> Path | None:
    """Where one video's extra output goes.

    ``option`` is a file (one video) or a folder (``<stem><suffix>`` inside); without it the
    file goes to ``default_dir`` when given (``None``: not written).

    >>> str(output_path(Path("out"), Path("clip.mp4"), "_timeline.png", several=True, default_dir=None, name="t"))
    'out/clip_timeline.png'
    >>> str(output_path(Path("t.png"), Path("clip.mp4"), "_timeline.png", several=False, default_dir=None, name="t"))
    't.png'
    """
    stem = source.stem if source.suffix else source.name
    if option is None:
        return None if default_dir is None else default_dir / f"{stem}{suffix}"
    looks_like_file = option.suffix != "" and not option.is_dir()
    if looks_like_file:
        if several:
            raise ConfigError(f"--{name} {option}: give a folder when analysing several videos")
        return option
    return option / f"{stem}{suffix}"


def analyze_videos(
    videos: Sequence[Path],
    *,
    sink: IO[str],
    model_name: str | None = None,
    weights: Path | None = None,
    device: str = "auto",
    max_faces: int | None = None,
    every: int = 1,
    fps: float | None = None,
    scan_every: int = 10,
    timeline: Path | None = None,
    write_timeline: bool = True,
    annotate: Path | None = None,
    csv: Path | None = None,
    default_dir: Path | None = None,
    progress: bool | None = None,
) -> int:
    """Analyse each video, write one JSON line per video to ``sink``; returns the number of errors.

    Timelines go to ``timeline`` (file or folder), else to ``default_dir`` (the CWD by default)
    as ``<name>_timeline.png``; the paths written are reported on stderr.
    """
    from tqdm.auto import tqdm

    from affectlab.analysis import DEFAULT_MODEL, ExpressionAnalyzer
    from affectlab.video.analyze import VideoAnalyzer

    if fps is not None and every != 1:
        raise ConfigError("give either --every or --fps, not both")
    several = len(videos) > 1
    analyzer = ExpressionAnalyzer(model_name or DEFAULT_MODEL, weights=weights, max_faces=max_faces, device=device)
    video_analyzer = VideoAnalyzer(analyzer, scan_every=scan_every, max_faces=max_faces)
    show = progress if progress is not None else sys.stderr.isatty()
    errors = 0
    for source in videos:
        record: dict[str, Any]
        try:
            annotated = output_path(annotate, source, "_annotated.mp4", several=several, default_dir=None,
                                    name="annotate")
            result = video_analyzer.analyze(source, every=every, fps=fps, annotate=annotated, progress=show)
            record = result.to_dict()
            written = {}
            if write_timeline:
                path = output_path(timeline, source, "_timeline.png", several=several,
                                   default_dir=default_dir or Path.cwd(), name="timeline")
                if path is not None:
                    written["timeline"] = str(result.save_timeline(path))
            if csv is not None:
                path = output_path(csv, source, "_frames.csv", several=several, default_dir=None, name="csv")
                assert path is not None
                written["csv"] = str(result.write_csv(path))
            if annotated is not None:
                written["annotated"] = str(annotated)
            if written:
                record["outputs"] = written
            for problem in result.problems:
                tqdm.write(f"affectlab: warning: {problem}", file=sys.stderr)
            for what, where in written.items():
                tqdm.write(f"affectlab: {source.name}: {what} written to {where}", file=sys.stderr)
        except AffectLabError as exc:
            errors += 1
            record = {"source": str(source), "status": "error", "media": "video", "error": str(exc)}
            tqdm.write(f"affectlab: error: {exc}", file=sys.stderr)
        sink.write(json.dumps(record) + "\n")
        sink.flush()
    return errors
