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

from affectlab.analysis import ExpressionAnalyzer
from affectlab.data.media import IMAGE_SUFFIXES
from affectlab.errors import AffectLabError, ConfigError
from affectlab.models import DEFAULT_MODEL
from affectlab.outputs import check_not_input
from affectlab.video.analyze import VideoAnalyzer, annotate_codec
from affectlab.video.reader import is_video_path

__all__ = ["analyze_videos", "check_output_options", "output_path", "plan_outputs", "plan_video_outputs",
           "split_video_inputs", "video_name"]


def split_video_inputs(inputs: Sequence[str],
                       frame_folders: Sequence[str | Path] = ()) -> tuple[tuple[str, ...], list[Path]]:
    """``(other inputs, videos)``: video files by suffix plus the ``--frames`` folders.

    >>> split_video_inputs(["a.png", "b.MP4", "dir"], ["frames"])
    (('a.png', 'dir'), [PosixPath('b.MP4'), PosixPath('frames')])
    """
    others = tuple(i for i in inputs if not is_video_path(i))
    videos = [Path(i) for i in inputs if is_video_path(i)] + [Path(f) for f in frame_folders]
    return others, videos


def output_path(option: Path | None, source: Path, suffix: str, *, several: bool, default_dir: Path | None,
                name: str, used: set[Path] | None = None) -> Path | None:
    """Where one video's extra output goes.

    ``option`` is a file (one video) or a folder (``<stem><suffix>`` inside); without it the
    file goes to ``default_dir`` when given (``None``: not written). ``used`` collects the
    paths already given out in this run: a second video with the same stem (``clip.mp4`` and
    ``clip.avi``, or ``a/clip.mp4`` and ``b/clip.mp4``) gets ``<stem>_<ext>[_<k>]<suffix>``
    instead of overwriting the first one's file.

    >>> str(output_path(Path("out"), Path("clip.mp4"), "_timeline.png", several=True, default_dir=None, name="t"))
    'out/clip_timeline.png'
    >>> str(output_path(Path("t.png"), Path("clip.mp4"), "_timeline.png", several=False, default_dir=None, name="t"))
    't.png'
    >>> taken: set[Path] = set()
    >>> [str(output_path(Path("out"), Path(v), "_frames.csv", several=True, default_dir=None, name="csv", used=taken))
    ...  for v in ("clip.mp4", "clip.avi", "b/clip.avi")]
    ['out/clip_frames.csv', 'out/clip_avi_frames.csv', 'out/clip_avi_2_frames.csv']
    """
    stem = video_name(source)
    if option is None:
        if default_dir is None:
            return None
        folder = default_dir
    elif _looks_like_file(option):
        if several:
            raise ConfigError(f"--{name} {option}: give a folder when analysing several videos")
        return option
    else:
        folder = option
    path = folder / f"{stem}{suffix}"
    if used is not None:
        ext = "frames" if source.is_dir() else (source.suffix.lower().lstrip(".") or "video")
        k = 1
        while path.resolve() in used:
            k += 1
            path = folder / (f"{stem}_{ext}{suffix}" if k == 2 else f"{stem}_{ext}_{k - 1}{suffix}")
        used.add(path.resolve())
    return path


def video_name(source: Path) -> str:
    """The name a video's outputs are called after: a file's stem, a frame folder's own name.

    >>> video_name(Path("clips/a.mp4")), video_name(Path("."))  == Path.cwd().name
    ('a', True)
    """
    if source.is_dir():
        return source.resolve().name or "frames"
    return source.stem if source.suffix else source.name


def _looks_like_file(option: Path) -> bool:
    return option.suffix != "" and not option.is_dir()


def check_output_options(*, several: bool, timeline: Path | None, write_timeline: bool, annotate: Path | None,
                         csv: Path | None) -> None:
    """Refuse bad ``--timeline`` / ``--annotate`` / ``--csv`` values before any video is analysed.

    A file name (not a folder) with several videos, a timeline not ending in ``.png`` or an
    annotated video of a container OpenCV cannot write raise :class:`ConfigError` naming the option.

    >>> check_output_options(several=False, timeline=Path("t.txt"), write_timeline=True, annotate=None, csv=None)
    Traceback (most recent call last):
    ...
    affectlab.errors.ConfigError: --timeline t.txt: the file name must end in .png
    """
    options = {"timeline": timeline if write_timeline else None, "annotate": annotate, "csv": csv}
    for name, option in options.items():
        if option is None or not _looks_like_file(option):
            continue
        if several:
            raise ConfigError(f"--{name} {option}: give a folder when analysing several videos")
        if name == "timeline" and option.suffix.lower() != ".png":
            raise ConfigError(f"--timeline {option}: the file name must end in .png")
        if name == "annotate":
            annotate_codec(option)


def plan_outputs(
    source: Path,
    *,
    inputs: Sequence[Path],
    several: bool,
    timeline: Path | None,
    write_timeline: bool,
    annotate: Path | None,
    csv: Path | None,
    default_dir: Path,
    used: dict[str, set[Path]],
) -> dict[str, Path]:
    """The files one video will write (``annotated``, ``timeline``, ``csv``), decided before analysing it.

    Raises :class:`ConfigError` when one of them is an input (``inputs``: videos, frame folders and
    any other input file of the command; it would be overwritten) or an image inside a frame folder
    of this run (a later run would read it as a frame).
    """
    planned: dict[str, Path | None] = {
        "annotated": output_path(annotate, source, "_annotated.mp4", several=several, default_dir=None,
                                 name="annotate", used=used["annotate"]),
        "timeline": output_path(timeline, source, "_timeline.png", several=several, default_dir=default_dir,
                                name="timeline", used=used["timeline"]) if write_timeline else None,
        "csv": output_path(csv, source, "_frames.csv", several=several, default_dir=None, name="csv",
                           used=used["csv"]),
    }
    files = [p for p in inputs if not p.is_dir()]
    folders = {p.resolve() for p in inputs if p.is_dir()}
    out: dict[str, Path] = {}
    for what, path in planned.items():
        if path is None:
            continue
        option = "--annotate" if what == "annotated" else f"--{what}"
        where = path.resolve()
        check_not_input(path, files, option=option)
        if where.parent in folders and where.suffix.lower() in IMAGE_SUFFIXES:
            raise ConfigError(f"{what} {path}: would be written inside the frame folder {where.parent}, where a "
                              f"later run would read it as a frame; give {option} elsewhere"
                              + (" or --no-timeline" if what == "timeline" else ""))
        out[what] = path
    return out


def plan_video_outputs(videos: Sequence[Path], *, other_inputs: Sequence[Path] = (), timeline: Path | None = None,
                       write_timeline: bool = True, annotate: Path | None = None, csv: Path | None = None,
                       default_dir: Path | None = None) -> list[dict[str, Path]]:
    """The files each video will write (:func:`plan_outputs`), all decided and checked before any is analysed:
    bad options (:func:`check_output_options`) and outputs that are inputs (a video, or one of
    ``other_inputs``) raise :class:`ConfigError`."""
    several = len(videos) > 1
    check_output_options(several=several, timeline=timeline, write_timeline=write_timeline, annotate=annotate, csv=csv)
    used: dict[str, set[Path]] = {"annotate": set(), "timeline": set(), "csv": set()}
    inputs = [*videos, *other_inputs]
    return [plan_outputs(source, inputs=inputs, several=several, timeline=timeline, write_timeline=write_timeline,
                         annotate=annotate, csv=csv, default_dir=default_dir or Path.cwd(), used=used)
            for source in videos]


def _clip_label(clip_model: Any, source: Path) -> dict[str, Any]:
    """``"clip"`` of a video's record: the clip model's label and probabilities, or why the clip was refused."""
    from tqdm.auto import tqdm

    if source.is_dir():
        return {"model": clip_model.name, "status": "error", "error": "--clip-model reads video files, not frame "
                                                                        "folders"}
    try:
        return {"model": clip_model.name, "status": "ok", **clip_model.predict(source).to_dict()}
    except AffectLabError as exc:  # a refused clip (no face, too short, lost too often): said, not fatal
        tqdm.write(f"affectlab: warning: --clip-model: {exc}", file=sys.stderr)
        return {"model": clip_model.name, "status": "refused", "reason": getattr(exc, "reason", "error"),
                "error": str(exc)}


def analyze_videos(
    videos: Sequence[Path],
    *,
    sink: IO[str],
    model_name: str | None = None,
    weights: Path | None = None,
    device: str = "auto",
    max_faces: int | None = None,
    whole_frame: bool = False,
    every: int = 1,
    fps: float | None = None,
    scan_every: int = 10,
    timeline: Path | None = None,
    write_timeline: bool = True,
    annotate: Path | None = None,
    csv: Path | None = None,
    default_dir: Path | None = None,
    progress: bool | None = None,
    other_inputs: Sequence[Path] = (),
    detector: Any = "auto",
    media: Any = None,
    clip_model: Any = None,
) -> int:
    """Analyse each video, write one JSON line per video to ``sink``; returns the number of errors.

    Timelines go to ``timeline`` (file or folder), else to ``default_dir`` (the CWD by default)
    as ``<name>_timeline.png``; the paths written are reported on stderr. Bad output options
    (:func:`check_output_options`) and outputs that are inputs (the videos, or ``other_inputs``: the
    command's other input files) raise :class:`ConfigError` before any video is analysed.
    ``whole_frame``: frames without a detected face are classified whole (``--whole-frame``).
    ``detector``: the face front-end (a name or a detector object, ``--detector``).
    ``media``: a :class:`~affectlab.media.MediaAnalyzer` whose face analyser to use (the command's
    images share it) instead of building one from the model settings.
    ``clip_model``: a fitted :class:`~affectlab.clips.ClipModel` (``--clip-model``); each video file's
    record gets ``"clip"``: its clip-level label and probabilities, or why the clip was refused.
    """
    from tqdm.auto import tqdm

    if fps is not None and every != 1:
        raise ConfigError("give either --every or --fps, not both")
    plans = plan_video_outputs(videos, other_inputs=other_inputs, timeline=timeline, write_timeline=write_timeline,
                               annotate=annotate, csv=csv, default_dir=default_dir)
    if media is not None:
        analyzer = media.faces
    else:
        analyzer = ExpressionAnalyzer(model_name or DEFAULT_MODEL, weights=weights, max_faces=max_faces,
                                      device=device, whole_frame=whole_frame, detector=detector)
    video_analyzer = VideoAnalyzer(analyzer, scan_every=scan_every, max_faces=max_faces)
    show = progress if progress is not None else sys.stderr.isatty()
    errors = 0
    for source, targets in zip(videos, plans):
        record: dict[str, Any]
        try:
            result = video_analyzer.analyze(source, every=every, fps=fps, annotate=targets.get("annotated"),
                                            progress=show)
            record = result.to_dict()
            written = {}
            if "timeline" in targets:
                written["timeline"] = str(result.save_timeline(targets["timeline"]))
            if "csv" in targets:
                written["csv"] = str(result.write_csv(targets["csv"]))
            if "annotated" in targets:
                written["annotated"] = str(targets["annotated"])
            if clip_model is not None:
                record["clip"] = _clip_label(clip_model, source)
            if written:
                record["outputs"] = written
            for problem in result.problems:
                tqdm.write(f"affectlab: warning: {problem}", file=sys.stderr)
            for what, where in written.items():
                tqdm.write(f"affectlab: {source.name or video_name(source)}: {what} written to {where}",
                           file=sys.stderr)
        except AffectLabError as exc:
            errors += 1
            record = {"source": str(source), "status": "error", "media": "video", "error": str(exc)}
            tqdm.write(f"affectlab: error: {exc}", file=sys.stderr)
        sink.write(json.dumps(record) + "\n")
        sink.flush()
    return errors
