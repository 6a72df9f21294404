"""``affectlab analyze``: faces and expressions in images, one JSON line per input."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
from tqdm.auto import tqdm

from affectlab.data.media import IMAGE_SUFFIXES, sample_photo
from affectlab.data.scan import find_media
from affectlab.data.scan import media_kind as suffix_kind
from affectlab.errors import ConfigError
from affectlab.outputs import check_outputs, record_outputs

__all__ = ["analyze_command", "empty_folder_message", "expand_inputs", "open_output", "route_inputs", "unique_stem"]

SAMPLE_SOURCE = "skimage.data.astronaut"


def empty_folder_message(path: Path) -> str:
    """The error for a folder given as input that holds no images."""
    return (f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); videos and recordings are "
            "analysed when named one by one (a whole folder of them: affectlab batch FOLDER --out FILE.parquet)")


def expand_inputs(inputs: tuple[str, ...], *, keep_empty_folders: bool = False) -> list[Path]:
    """Files as given; folders expand to the images inside them (recursively, sorted), but not the
    files affectlab wrote there (``analyze --save``, ``fool --out``: :func:`affectlab.outputs.skip_tool_outputs`).

    A folder without images raises :class:`ConfigError`, or, with ``keep_empty_folders``, stays in
    the list as itself so the caller reports it as one bad item and keeps the others.
    """
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = find_media(path, ("image",))
            if not found and not keep_empty_folders:
                raise ConfigError(empty_folder_message(path))
            paths.extend(found or [path])
        else:
            paths.append(path)  # missing/corrupt files become per-item errors, not a crash
    return paths


def open_output(path: Path, mode: str = "w", *, option: str = "--output"):
    """Open a results file for writing, creating its folder; a failure is one :class:`ConfigError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, mode, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None


def unique_stem(source: str, used: dict[str, str]) -> str:
    """A file-name stem for ``source`` that no other source of this run has: ``x``, then ``x_2``, ...

    ``used`` maps the sources seen so far to their stems (the same source keeps its stem).

    >>> used = {}
    >>> [unique_stem(s, used) for s in ("a/x.png", "b/x.png", "a/x.png", "y.jpg")]
    ['x', 'x_2', 'x', 'y']
    """
    if source not in used:
        stem = "astronaut" if source == SAMPLE_SOURCE else Path(source).stem
        taken, candidate, k = set(used.values()), stem, 1
        while candidate in taken:
            k += 1
            candidate = f"{stem}_{k}"
        used[source] = candidate
    return used[source]


@dataclass
class _Inputs:
    """The command's inputs sorted by media kind (:func:`affectlab.media.media_kind`)."""

    images: list[str] = field(default_factory=list)  # image files and folders of images, as given
    videos: list[Path] = field(default_factory=list)  # video files and ``--frames`` folders
    recordings: list[str] = field(default_factory=list)  # speech
    paths: list[Path] = field(default_factory=list)  # ``images`` with folders expanded (an empty one stays)

    @property
    def any(self) -> bool:
        return bool(self.images or self.videos or self.recordings)

    def files(self) -> list[Path]:
        """Every input file (a frame folder's files included): what no output may be."""
        return [*(p for p in self.paths if not p.is_dir()), *map(Path, self.recordings),
                *(v for v in self.videos if not v.is_dir()),
                *(f for v in self.videos if v.is_dir() for f in v.iterdir() if f.is_file())]


def route_inputs(inputs: tuple[str, ...], frame_folders: tuple[Path, ...] = ()) -> _Inputs:
    """Sort ``inputs`` into images, videos and recordings by :func:`affectlab.media.media_kind` (the
    suffix, else the first bytes); a folder is a folder of images, or of video frames when it has a video
    suffix or comes with ``--frames``. A file of no known kind goes with the images (its reader names it).
    """
    from affectlab.media import media_kind

    routed = _Inputs()
    for item in inputs:
        path = Path(item)
        kind = ("video" if suffix_kind(path) == "video" else "image") if path.is_dir() else media_kind(path)
        if kind == "video":
            routed.videos.append(path)
        elif kind == "audio":
            routed.recordings.append(item)
        else:
            routed.images.append(item)
    routed.videos.extend(Path(f) for f in frame_folders)
    routed.paths = expand_inputs(tuple(routed.images), keep_empty_folders=True) if routed.images else []
    return routed


def _plan_saves(routed: _Inputs, save_dir: Path | None, used_stems: dict[str, str]) -> list[Path]:
    """The annotated copies ``--save`` will write (their stems decided now, for the output check)."""
    if save_dir is None:
        return []
    sources = [str(p) for p in routed.paths if not p.is_dir()] if routed.any else [SAMPLE_SOURCE]
    return [save_dir / f"{unique_stem(s, used_stems)}_annotated.png" for s in sources]


def _check_outputs(routed: _Inputs, *, output: Path | None, save_dir: Path | None, used_stems: dict[str, str],
                   timeline: Path | None, write_timeline: bool, annotate: Path | None, csv: Path | None) -> None:
    """Refuse, before any work, an output (``--output``, the ``--save`` copies, the video outputs) that is
    one of the inputs (:func:`affectlab.outputs.check_outputs`)."""
    from affectlab.video.command import plan_video_outputs

    input_files = routed.files()
    saves = _plan_saves(routed, save_dir, used_stems)
    video_outputs = plan_video_outputs(routed.videos, other_inputs=input_files, timeline=timeline,
                                       write_timeline=write_timeline, annotate=annotate, csv=csv)
    check_outputs([("--output", output), *(("--save", target) for target in saves),
                   *((f"--{'annotate' if what == 'annotated' else what}", target)
                     for plan in video_outputs for what, target in plan.items())], input_files)


def _load_clip_model(path: Path | None, routed: _Inputs):
    """The ``--clip-model`` file's classifier, read before any work (a bad file is one error line)."""
    if path is None:
        return None
    if not any(not video.is_dir() for video in routed.videos):
        raise ConfigError(f"--clip-model {path}: no video file among the inputs (it labels video clips)")
    from affectlab.clips import load_clip_model

    return load_clip_model(path)


def _sink(output: Path | None, mode: str):
    return open_output(output, mode) if output else contextlib.nullcontext(sys.stdout)


def _analyze_recordings(media, recordings: list[str], *, output: Path | None, mode: str,
                        progress: bool | None) -> int:
    """SPEECH: one JSON line per recording (affectlab.audio.analyze); returns the number of errors."""
    errors = 0
    show = progress if progress is not None else len(recordings) > 1
    media.speech()  # a missing model or extra fails here, before --output is opened
    with _sink(output, mode) as sink:
        for path in tqdm(recordings, disable=not show, unit="file"):
            result = media.analyze(path, kind="audio")
            sink.write(json.dumps(result.to_dict()) + "\n")
            sink.flush()
            if result.status == "error":
                errors += 1
                tqdm.write(f"affectlab: error: {result.error}", file=sys.stderr)
    return errors


def _image_results(analyzer, routed: _Inputs):
    """``(result, image)`` per image input, or for the sample photograph when there is no input at all;
    a folder left in ``paths`` (it holds no images) is one error record."""
    from affectlab.analysis import AnalysisResult

    if not routed.any:
        image = sample_photo()
        yield analyzer.analyze(image, source=SAMPLE_SOURCE), image
        return
    for path in routed.paths:
        if path.is_dir():
            yield AnalysisResult(str(path), "error", error=empty_folder_message(path)), None
        else:
            yield analyzer.analyze_path(path)


def _save_annotated(result, image, save_dir: Path, used_stems: dict[str, str]) -> None:
    """``--save``: the image with each face's box, label, probability and landmarks."""
    from affectlab.viz.overlay import draw_faces, save_rgb

    annotated = draw_faces(
        image,
        [f.box.as_list() for f in result.faces],
        [f.label for f in result.faces],
        [f.probabilities[f.label] for f in result.faces],
        [f.landmarks for f in result.faces],
    )
    target = save_dir / f"{unique_stem(result.source, used_stems)}_annotated.png"
    save_rgb(annotated, target)
    record_outputs(save_dir, [target.name])  # a folder given as input skips it next time


def _analyze_images(media, routed: _Inputs, *, output: Path | None, mode: str, progress: bool | None,
                    save_dir: Path | None, used_stems: dict[str, str]) -> int:
    """IMAGES: one JSON line per image (the sample photograph without inputs); returns the number of errors."""
    analyzer = media.faces
    if save_dir is not None:
        try:
            save_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--save {save_dir}: cannot create the folder ({exc.strerror or exc})") from None
    total = len(routed.paths) if routed.any else 1
    show = progress if progress is not None else total > 1
    errors = 0
    with _sink(output, mode) as sink:
        for result, image in tqdm(_image_results(analyzer, routed), total=total, disable=not show, unit="image"):
            sink.write(json.dumps(result.to_dict()) + "\n")
            sink.flush()
            if result.status == "error":
                errors += 1
                tqdm.write(f"affectlab: error: {result.error}", file=sys.stderr)
            if save_dir is not None and image is not None:
                _save_annotated(result, image, save_dir, used_stems)
    return errors


@click.command("analyze")
@click.argument("inputs", nargs=-1, metavar="[INPUT]...")
@click.option("--model", "model_name", default=None, help="Registered model name (default: the bundled model).")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint to load instead of the bundled weights.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write an annotated copy of each image into this folder.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON lines to this file instead of standard output.")
@click.option("--max-faces", type=click.IntRange(min=1), default=None,
              help="Keep at most N faces per image (largest first).")
@click.option("--whole-frame", is_flag=True,
              help="If no face is found, classify the whole image as one face (for pre-cropped faces).")
@click.option("--detector", type=click.Choice(["auto", "dlib", "haar"]), default="auto", show_default=True,
              help="Face front-end: dlib (HOG detection, 5-point landmarks, head pose, eye-framed crops; "
                   "pip install 'affectlab[landmarks]'), haar (OpenCV cascades, no landmarks), auto (dlib when "
                   "installed, else haar).")
@click.option("--min-face", type=click.FloatRange(0.01, 1.0), default=None,
              help="Smallest face looked for in an image, as a fraction of its shorter side (default: haar 0.1; "
                   "dlib a 56 px face within 640x480 pixels of work); lower it for group photos (slower).")
@click.option("--device", default="auto", show_default=True, help="auto (GPU when present), cpu or cuda.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when several inputs).")
# ---- VIDEO options (affectlab.video.command) ----
@click.option("--frames", "frame_folders", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Video: a folder of frame images (natural file-name order) analysed as one video; repeatable.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Video: analyse every N-th frame.")
@click.option("--fps", "target_fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Video: analyse about F frames per second instead of --every.")
@click.option("--scan-every", type=click.IntRange(min=1), default=10, show_default=True,
              help="Video: scan the whole frame for faces every N analysed frames; in between each tracked "
                   "face is re-detected near its last box (1: whole-frame scan in every frame).")
@click.option("--timeline", type=click.Path(path_type=Path), default=None,
              help="Video: timeline PNG path, or a folder for NAME_timeline.png (default: ./NAME_timeline.png).")
@click.option("--no-timeline", is_flag=True, help="Video: do not write the timeline PNG.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              help="Video: also write per-frame results as CSV (a file, or a folder for NAME_frames.csv).")
@click.option("--clip-model", "clip_model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Video: a clip classifier (affectlab clips fit) whose clip-level label goes next to the timeline.")
@click.option("--annotate", type=click.Path(path_type=Path), default=None,
              help="Video: also write the analysed frames with boxes, track ids and labels (.mp4/.avi, or a folder).")
# ---- end VIDEO options ----
def analyze_command(
    inputs: tuple[str, ...],
    model_name: str | None,
    weights: Path | None,
    save_dir: Path | None,
    output: Path | None,
    max_faces: int | None,
    whole_frame: bool,
    device: str,
    progress: bool | None,
    detector: str = "auto",
    min_face: float | None = None,
    frame_folders: tuple[Path, ...] = (),
    every: int = 1,
    target_fps: float | None = None,
    scan_every: int = 10,
    timeline: Path | None = None,
    no_timeline: bool = False,
    csv_path: Path | None = None,
    annotate: Path | None = None,
    clip_model_path: Path | None = None,
) -> None:
    """Detect faces, align and crop them, and classify 7 expressions.

    Prints one JSON object per input (JSON Lines):

    \b
      {"source": "photo.jpg", "status": "ok",
       "faces": [{"box": [x, y, w, h], "label": "happy",
                  "probabilities": {"angry": p, ..., "neutral": p}}], ...}

    status is "ok", "no_face" (no face found) or "error" (unreadable file, with
    "error" naming it). A bad file never stops the batch: its line says error,
    the problem is also printed on stderr, and the exit status is 1.

    INPUT is an image file or a folder of images. With no INPUT the built-in sample
    photograph (scikit-image's astronaut) is analysed.

    \b
    Examples:
      affectlab analyze
      affectlab analyze photo.jpg group.png --save annotated/
      affectlab analyze faces/ --whole-frame -o results.jsonl
      affectlab analyze group.jpg --min-face 0.05

    VIDEO: an INPUT ending in .mp4 .avi .mov .mkv .webm (or a frame folder given
    with --frames) gives one JSON object for the whole video: every tracked face
    ("tracks", one id per person) with its per-frame boxes and probabilities, its
    pooled label, and a video-level "label" (mean over all face-frames). A timeline
    PNG is written (./NAME_timeline.png unless --timeline/--no-timeline); --csv
    writes one row per frame and face, --annotate an annotated video. A missing,
    empty or corrupt video gives one error line and exit status 1. --clip-model adds
    "clip": the clip-level label and probabilities of a clip classifier (from
    affectlab clips fit) on the main face's aligned volume, or why it was refused.

    \b
    Video examples:
      affectlab analyze clip.mp4
      affectlab analyze clip.mp4 --fps 5 --csv clip.csv --timeline clip.png
      affectlab analyze clip.avi --annotate clip_annotated.mp4 --scan-every 1
      affectlab analyze --frames frames/ --every 2 --timeline plots/
      affectlab analyze clip.mp4 --clip-model ck-clips.joblib

    SPEECH: an INPUT ending in .wav .flac .mp3 .ogg gives one JSON object per file
    with "probabilities" of 7 categories, "label" and "valence"/"arousal"/"dominance"
    (1-9) from the bundled speech model (German acted speech, EmoDB; needs
    pip install 'affectlab[speech]'). An unreadable, silent or too short file gives
    status "error" naming it, and exit status 1.

    \b
    Speech example:
      affectlab analyze speech.wav other.flac
    """
    from affectlab.face.dlib_detector import make_frontend
    from affectlab.media import MediaAnalyzer
    from affectlab.models import DEFAULT_MODEL, check_weights_network
    from affectlab.video.command import analyze_videos

    if model_name is not None and weights is not None:  # an explicit --model must be the file's network
        check_weights_network(weights, model_name)
    routed = route_inputs(inputs, frame_folders)
    used_stems: dict[str, str] = {}  # the stems of the annotated copies, decided now for the check
    _check_outputs(routed, output=output, save_dir=save_dir, used_stems=used_stems, timeline=timeline,
                   write_timeline=not no_timeline, annotate=annotate, csv=csv_path)
    clip_model = _load_clip_model(clip_model_path, routed)
    frontend = make_frontend(detector, min_face_fraction=min_face)  # a missing extra fails here, before any work
    media = MediaAnalyzer(model_name or DEFAULT_MODEL, weights=weights, max_faces=max_faces, whole_frame=whole_frame,
                          device=device, detector=frontend)  # the face model loads when first needed
    mode, errors = "w", 0  # the first kind written starts --output, the others append
    if routed.videos:  # ---- VIDEO: video files and --frames folders (affectlab.video.command) ----
        with _sink(output, mode) as sink:
            errors += analyze_videos(  # with the face analyser of ``media``, shared with the images
                routed.videos, sink=sink, media=media, max_faces=max_faces, every=every, fps=target_fps,
                scan_every=scan_every, timeline=timeline, write_timeline=not no_timeline, annotate=annotate,
                csv=csv_path, progress=progress, other_inputs=routed.files(), clip_model=clip_model)
        mode = "a"
    if routed.recordings:  # ---- SPEECH: recordings (affectlab.audio.analyze) ----
        errors += _analyze_recordings(media, routed.recordings, output=output, mode=mode, progress=progress)
        mode = "a"
    if routed.images or not routed.any:  # ---- IMAGES, or the sample photograph ----
        errors += _analyze_images(media, routed, output=output, mode=mode, progress=progress, save_dir=save_dir,
                                  used_stems=used_stems)
    if errors:
        click.get_current_context().exit(1)
