"""``affectlab batch``: analyse a large collection into a parquet file, resumable, local or on Dask."""

from __future__ import annotations

import json
from pathlib import Path

import click

from affectlab.errors import ConfigError

__all__ = ["batch_command"]


@click.command("batch")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Parquet file to write (resumed when it or its .parts journal exists).")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local worker processes (1: this process); with --cluster local, the Dask workers.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster, e.g. tcp://10.0.0.5:8786 (workers must see the same files).")
@click.option("--cluster", type=click.Choice(["local"]), default=None,
              help="Start a Dask LocalCluster with --workers single-threaded worker processes.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Items per task and per journal part (a kill loses at most the chunks in flight).")
@click.option("--model", "model_name", default=None, help="Registered model name (default: the bundled model).")
@click.option("--weights", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Checkpoint to load instead of the bundled weights.")
@click.option("--whole-frame", is_flag=True,
              help="If no face is found, classify the whole image (for pre-cropped faces such as CK+48).")
@click.option("--max-faces", type=click.IntRange(min=1), default=None, help="Keep at most N faces per image.")
@click.option("--detector", type=click.Choice(["auto", "dlib", "haar"]), default="auto", show_default=True,
              help="Face front-end (see affectlab analyze --help); recorded with the results, so a resume "
                   "with another one is refused.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto.")
@click.option("--torch-threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Torch threads per worker (one worker per core is the intended layout).")
@click.option("--video-fps", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Videos: analyse about this many frames per second.")
@click.option("--video-max-frames", type=click.IntRange(min=1), default=None,
              help="Videos: analyse at most this many frames each.")
@click.option("--speech-weights", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Recordings: speech model (.npz) instead of the bundled one.")
@click.option("--retry-errors", is_flag=True, help="Process again the items recorded with status error.")
@click.option("--restart", is_flag=True,
              help="Discard earlier results in --out instead of resuming (needed to change the model or settings).")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
def batch_command(
    sources: tuple[str, ...],
    out: Path,
    workers: int,
    scheduler: str | None,
    cluster: str | None,
    chunk_size: int,
    model_name: str | None,
    weights: str | None,
    whole_frame: bool,
    max_faces: int | None,
    detector: str,
    device: str,
    torch_threads: int,
    video_fps: float,
    video_max_frames: int | None,
    speech_weights: str | None,
    retry_errors: bool,
    restart: bool,
    progress: bool,
) -> None:
    """Analyse every image, video and recording of SOURCE into one parquet file, one row per item.

    SOURCE is a folder (every image, video and audio file below it; class folders give
    a dataset_label), a CSV with a 'path' column (paths relative to the CSV; optional
    'label'), a FER2013-style CSV with 'pixels', or a media file.

    \b
    Columns: source, media (image / video / audio), status (ok / no_face / error),
    error, n_faces, n_frames (videos), label and prob_<class> of the largest face
    (videos: pooled over every tracked face-frame), probabilities (JSON, every class;
    also the speech classes of recordings), valence / arousal / dominance (recordings),
    boxes (JSON list of [x, y, w, h]), dataset_label, model, and with the dlib
    front-end the largest face's landmarks ([[x, y], ...]) and yaw / pitch / roll.

    Interrupted? Run the same command again: items already recorded (in --out or its
    .parts journal, written after every chunk) are skipped. The results record the model,
    the weights' hash, every option that changes them and the affectlab version; a rerun
    with others is refused, naming the difference (--restart starts over). While one batch
    writes --out, a second one on the same --out is refused. A bad file becomes a row with
    status error (also printed on stderr) and never stops the batch; the exit status
    stays 0. A JSON summary is printed at the end.

    \b
    Examples:
      affectlab batch photos/ --out results.parquet
      affectlab batch ../shared/datasets/ckplus48 --out ck.parquet --workers 2 --whole-frame
      affectlab batch list.csv --out r.parquet --cluster local --workers 4
      affectlab batch photos/ --out r.parquet --scheduler tcp://scheduler:8786
    """
    import sys

    from tqdm.auto import tqdm

    from affectlab.batch import BatchOptions, run_batch
    from affectlab.models import DEFAULT_MODEL, check_weights_network

    if scheduler is not None and cluster is not None:
        raise ConfigError("--scheduler and --cluster: give one of them, not both")
    if model_name is not None and weights is not None:  # an explicit --model must be the file's network
        check_weights_network(weights, model_name)
    options = BatchOptions(
        model=model_name or DEFAULT_MODEL,
        weights=weights,
        whole_frame=whole_frame,
        max_faces=max_faces,
        device=device,
        torch_threads=torch_threads,
        video_fps=video_fps,
        video_max_frames=video_max_frames,
        speech_weights=speech_weights,
        detector=detector,
    )
    summary = run_batch(
        list(sources),
        out,
        options=options,
        workers=workers,
        scheduler=scheduler,
        cluster=cluster,
        chunk_size=chunk_size,
        retry_errors=retry_errors,
        restart=restart,
        progress=progress,
        on_error=lambda message: tqdm.write(f"affectlab: error: {message}", file=sys.stderr),
    )
    click.echo(json.dumps(summary.to_dict()))
