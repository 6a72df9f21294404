"""``affectlab live``: a camera, device, stream or video file analysed frame by frame as the frames come."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import click

from affectlab.outputs import check_outputs, record_outputs

__all__ = ["live_command"]

#: Seconds between two progress lines when stderr is not a terminal (a terminal's line is redrawn twice a second).
LOG_EVERY = 5.0


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM set ``stop``, so the run ends after its current frame with complete outputs; a
    second Ctrl-C interrupts at once. Outside the main thread (where handlers cannot be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _progress_printer(enabled: bool) -> tuple[Callable | None, Callable[[], None]]:
    """A progress callback for :class:`~affectlab.live.LiveRun` and a function ending its line."""
    if not enabled:
        return None, lambda: None
    tty = sys.stderr.isatty()
    last = [0.0]
    drawn = [False]

    def show(stats) -> None:
        now = time.monotonic()
        if now - last[0] < (0.5 if tty else LOG_EVERY):
            return
        last[0] = now
        labels = ", ".join(f"#{t} {label}" for t, label in stats.track_labels().items())
        line = f"affectlab live: {stats.progress_line()}" + (f"  {labels}" if labels else "")
        if tty:
            sys.stderr.write("\r" + line[:150].ljust(100))
            drawn[0] = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def end() -> None:
        if drawn[0]:
            sys.stderr.write("\n")

    return show, end


@click.command("live")
@click.argument("source", metavar="SOURCE")
@click.option("--realtime", is_flag=True,
              help="Read a video file at its own frame rate, like a camera: frames the analysis has no time for are "
                   "dropped (without it a file is analysed frame by frame, none dropped).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None, metavar="S",
              help="Stop after S seconds (of the video's clock for a file without --realtime).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON lines (one per analysed frame) to this file instead of standard output.")
@click.option("--smooth", type=click.FloatRange(min=0, min_open=True), default=None, metavar="S",
              help="Average each face's probabilities over its frames of the last S seconds (e.g. 0.5); the label "
                   "follows the average, and raw_probabilities keeps the frame's own.")
@click.option("--annotate", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the analysed frames with boxes, track ids, labels and landmarks to this video "
                   "(.mp4/.avi/.mov/.mkv); each is shown until the next, so the video keeps the source's clock.")
@click.option("--model", "model_name", default=None, help="Registered model name (default: the bundled model).")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint to load instead of the bundled weights.")
@click.option("--detector", type=click.Choice(["auto", "dlib", "haar"]), default="auto", show_default=True,
              help="Face front-end: dlib (landmarks and head pose, faces followed by their landmarks between scans; "
                   "pip install 'affectlab[landmarks]'), haar (OpenCV cascades), auto (dlib when installed).")
@click.option("--min-face", type=click.FloatRange(0.01, 1.0), default=None,
              help="Smallest face looked for, as a fraction of the frame's shorter side (see analyze --min-face).")
@click.option("--max-faces", type=click.IntRange(min=1), default=None,
              help="Keep at most N faces per frame (largest first).")
@click.option("--scan-every", type=click.IntRange(min=1), default=10, show_default=True,
              help="Scan the whole frame for faces every N analysed frames; in between, tracked faces are followed.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="S",
              help="A stream that takes longer than S seconds to open, or a camera or stream that sends no frame "
                   "for S seconds, ends the run with one error line.")
@click.option("--device", default="auto", show_default=True, help="auto (GPU when present), cpu or cuda.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress on stderr (redrawn on a terminal, else a line every 5 s); the summary is always printed.")
def live_command(
    source: str,
    realtime: bool,
    duration: float | None,
    output: Path | None,
    smooth: float | None,
    annotate: Path | None,
    model_name: str | None,
    weights: Path | None,
    detector: str,
    min_face: float | None,
    max_faces: int | None,
    scan_every: int,
    timeout: float,
    device: str,
    progress: bool,
) -> None:
    """Analyse a camera, stream or video as its frames come: tracked faces, labels, landmarks.

    SOURCE is a camera index (0), a capture device (/dev/video0), a stream URL
    (rtsp://..., http://... such as an MJPEG camera; read by OpenCV's FFmpeg
    backend) or a video file. A background thread reads the source and keeps only
    the newest frame: when the analysis falls behind, frames are dropped (and
    counted), never queued, so the output stays live.

    Prints one JSON object per analysed frame (JSON Lines, or -o FILE):

    \b
      {"frame": 12, "time": 0.48, "faces": [{"track": 1, "box": [x, y, w, h],
        "label": "happy", "probabilities": {"angry": p, ...},
        "landmarks": [[x, y], ...], "pose": {"yaw": d, "pitch": d, "roll": d}}]}

    "frame" is the frame's index in the source (frames read so far for a camera or
    stream), "time" its time in seconds (since the first frame for a camera or
    stream), "track" a face's id, kept while it is followed. Landmarks and pose come
    with the dlib front-end. Progress and a final summary (frames read, analysed,
    dropped, frames per second, each track's label) go to stderr.

    Ctrl-C (or SIGTERM) stops after the current frame with the outputs complete
    (exit status 0). A source that cannot be opened, a stream that stalls for
    --timeout seconds, or a failed read gives one error line and exit status 1;
    a frame that fails to decode between good ones is skipped and counted.

    \b
    Examples:
      affectlab live 0                                  the first camera, until Ctrl-C
      affectlab live 0 --smooth 0.5 -o faces.jsonl --annotate faces.mp4
      affectlab live http://192.168.1.20:8080/video --duration 60
      affectlab live rtsp://user:pass@camera/stream --timeout 5
      affectlab live clip.mp4 --realtime -o clip.jsonl  a file paced like a camera
    """
    from affectlab.cli.analyze import open_output
    from affectlab.live import LiveRun, parse_source
    from affectlab.models import check_weights_network
    from affectlab.video.analyze import annotate_codec

    # ---- what SOURCE is, and outputs that are not inputs: refused before any work (affectlab.outputs) ----
    spec = parse_source(source)
    inputs = [Path(spec.target)] if spec.kind in ("file", "device") else []
    if annotate is not None:
        annotate_codec(annotate)
    check_outputs([("--output", output), ("--annotate", annotate)], inputs)
    if model_name is not None and weights is not None:
        check_weights_network(weights, model_name)
    opened, live = _open_live(spec, timeout=timeout, model_name=model_name, weights=weights, detector=detector,
                              min_face=min_face, max_faces=max_faces, device=device, scan_every=scan_every,
                              smooth=smooth)
    click.echo(f"affectlab live: {opened.name}: {opened.width}x{opened.height} at {opened.fps:g} fps"
               f"{' (paced, like a camera)' if realtime and not spec.is_live else ''}; Ctrl-C stops", err=True)
    warned = set(opened.problems)
    for problem in opened.problems:
        click.echo(f"affectlab: warning: {problem}", err=True)
    show, end_line = _progress_printer(progress)
    stop = threading.Event()
    with (open_output(output, "w") if output else contextlib.nullcontext(sys.stdout)) as sink:
        run = LiveRun(opened, live, realtime=realtime, duration=duration, sink=sink, annotate=annotate,
                      stall_timeout=timeout, progress=show)
        with _stop_on_signals(stop):
            stats = run.run(stop)
    end_line()
    _report_end(stats, opened, warned, output=output, annotate=annotate)


def _open_live(spec, *, timeout: float, model_name: str | None, weights: Path | None, detector: str,
               min_face: float | None, max_faces: int | None, device: str, scan_every: int, smooth: float | None):
    """``(opened source, LiveAnalyzer)``: the front-end first (a missing extra fails before the source is
    opened), then the source, then the model (the source is closed again if that fails)."""
    from affectlab.analysis import ExpressionAnalyzer
    from affectlab.face.dlib_detector import make_frontend
    from affectlab.live import LiveAnalyzer, open_source
    from affectlab.models import DEFAULT_MODEL

    frontend = make_frontend(detector, min_face_fraction=min_face)  # a missing extra fails here
    opened = open_source(spec, timeout=timeout)
    try:
        analyzer = ExpressionAnalyzer(model_name or DEFAULT_MODEL, weights=weights, max_faces=max_faces,
                                      device=device, detector=frontend)
        live = LiveAnalyzer(analyzer, scan_every=scan_every, max_faces=max_faces, smooth=smooth)
    except BaseException:
        opened.close()
        raise
    return opened, live


def _report_end(stats, opened, warned: set[str], *, output: Path | None, annotate: Path | None) -> None:
    """On stderr after the run: new warnings, the error if any, the summary and the files written;
    exit status 1 when the run failed."""
    for problem in opened.problems:  # found while reading: a truncated video, frames that failed to decode
        if problem not in warned:
            click.echo(f"affectlab: warning: {problem}", err=True)
    if annotate is not None and annotate.exists():
        record_outputs(annotate.parent, [annotate.name])  # a folder given to batch later skips it
    if stats.error:
        click.echo(f"affectlab: error: {stats.error}", err=True)
    for line in stats.summary():
        click.echo(f"affectlab live: {line}", err=True)
    written = [str(p) for p in (output, annotate) if p is not None]
    if written:
        click.echo(f"affectlab live: written: {', '.join(written)}", err=True)
    if stats.failed:
        raise click.exceptions.Exit(1)
