"""Running a batch: in this process, on local worker processes, or on a Dask cluster."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from affectlab import __version__
from affectlab.analysis import AnalysisResult, ExpressionAnalyzer, landmarks_list
from affectlab.batch.items import BatchItem, discover_items
from affectlab.batch.store import ResultStore, probability_column
from affectlab.data.media import to_rgb
from affectlab.errors import AffectLabError, ConfigError
from affectlab.face.dlib_detector import make_frontend, resolve_detector_name
from affectlab.media import MediaAnalyzer
from affectlab.models import DEFAULT_MODEL
from affectlab.outputs import check_not_input, exclusive_lock

__all__ = ["BatchOptions", "BatchSummary", "run_batch", "process_chunk", "result_row", "video_row", "speech_row",
           "result_settings", "RESULT_NEUTRAL_OPTIONS"]


@dataclass(frozen=True)
class BatchOptions:
    """How each worker builds its analyser (plain values, so they travel to other processes).

    ``torch_threads``: torch intra-op threads while analysing (``None``: torch's default). One
    suits the small bundled models and one worker per core; in this process the previous
    setting is restored afterwards.
    """

    model: str = DEFAULT_MODEL
    weights: str | None = None
    whole_frame: bool = False
    max_faces: int | None = None
    device: str = "cpu"
    torch_threads: int | None = 1
    #: Videos: analyse about this many frames per second (``None``: every frame) and at most this many.
    video_fps: float | None = 5.0
    video_max_frames: int | None = None
    #: Recordings: a speech model (``.npz``) instead of the bundled one.
    speech_weights: str | None = None
    #: Face front-end: "auto", "dlib" or "haar" (the settings record "auto" resolved, so they name
    #: the front-end that ran).
    detector: str = "auto"


#: :class:`BatchOptions` fields that change where and how fast rows are computed, not the rows. Every other
#: field, one added later included, is recorded with the results, and a resume needs the same values.
RESULT_NEUTRAL_OPTIONS = frozenset({"device", "torch_threads"})


def _file_setting(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's content; ``unreadable:<path>`` for a file that cannot be read (its items
    become error rows)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return f"unreadable:{Path(path).absolute()}"
    return f"sha256:{digest.hexdigest()}"


def result_settings(options: BatchOptions) -> tuple[dict[str, Any], dict[str, str]]:
    """``(settings, files)``: what a batch's rows depend on, and the files behind it.

    ``settings`` holds every :class:`BatchOptions` field but :data:`RESULT_NEUTRAL_OPTIONS` (a file
    option, a field named ``*weights``, by the SHA-256 of its content, so a renamed copy counts as the
    same) and the affectlab version; ``files`` the absolute paths of those files, for the record.

    >>> settings, files = result_settings(BatchOptions(model="mini_xception", device="cuda"))
    >>> settings["model"], "device" in settings, files
    ('mini_xception', False, {})
    """
    settings: dict[str, Any] = {}
    files: dict[str, str] = {}
    for field in fields(options):
        if field.name in RESULT_NEUTRAL_OPTIONS:
            continue
        value = getattr(options, field.name)
        if field.name.endswith("weights") and value is not None:
            files[field.name] = str(Path(value).absolute())
            value = _file_setting(value)
        if field.name == "detector":  # the front-end that runs, not "whatever is installed"
            value = resolve_detector_name(value)
        settings[field.name] = value
    settings["affectlab"] = __version__
    return json.loads(json.dumps(settings, default=str)), files


def _row_model(item: BatchItem, options: BatchOptions) -> str:
    """The ``model`` column: the face model, or the speech model for a recording."""
    if item.media == "audio":
        return "speech" if options.speech_weights is None else f"speech:{Path(options.speech_weights).name}"
    return options.model if options.weights is None else f"{options.model}:{Path(options.weights).name}"


@dataclass
class BatchSummary:
    """What a batch did; ``rows`` is the size of the final file."""

    out: str
    total: int
    skipped: int
    processed: int
    ok: int
    no_face: int
    error: int
    rows: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_MEDIA: dict[BatchOptions, MediaAnalyzer] = {}


def _media(options: BatchOptions) -> MediaAnalyzer:
    """The analysers for ``options`` (faces, videos, speech), built once per process."""
    media = _MEDIA.get(options)
    if media is None:
        faces = ExpressionAnalyzer(
            options.model,
            weights=options.weights,
            whole_frame=options.whole_frame,
            max_faces=options.max_faces,
            device=options.device,
            detector=make_frontend(options.detector),
        )
        media = MediaAnalyzer(faces, speech_weights=options.speech_weights, video_fps=options.video_fps,
                              video_max_frames=options.video_max_frames,
                              video_options={"threads": options.torch_threads})
        _MEDIA[options] = media
    return media


def _analyzer(options: BatchOptions) -> ExpressionAnalyzer:
    """The face analyser for ``options``, built once per process."""
    return _media(options).faces


def _empty_row(item: BatchItem, class_names: Sequence[str]) -> dict[str, Any]:
    return {
        "source": item.source,
        "media": item.media,
        "status": "error",
        "error": None,
        "n_faces": 0,
        "n_frames": None,
        "label": None,
        **{probability_column(c): None for c in class_names},
        "probabilities": None,
        "valence": None,
        "arousal": None,
        "dominance": None,
        "boxes": "[]",
        "dataset_label": item.label,
        "landmarks": None,
        "yaw": None,
        "pitch": None,
        "roll": None,
    }


def result_row(item: BatchItem, result: AnalysisResult, class_names: Sequence[str]) -> dict[str, Any]:
    """One parquet row for an image: status, face count, the largest face's label and probabilities, all boxes."""
    row = _empty_row(item, class_names)
    row.update(status=result.status, error=result.error, n_faces=len(result.faces),
               boxes=json.dumps([f.box.as_list() for f in result.faces]))
    if result.faces:
        largest = max(result.faces, key=lambda f: f.box.area)
        _set_probabilities(row, largest.label, largest.probabilities, class_names)
        if largest.landmarks is not None:
            row["landmarks"] = landmarks_list(largest.landmarks)
        if largest.pose is not None:
            row.update({k: float(v) for k, v in largest.pose.items()})
    return row


def _set_probabilities(row: dict[str, Any], label: str, probabilities: dict[str, float],
                       class_names: Sequence[str] = ()) -> None:
    """Label, the JSON of every class, and the ``prob_<class>`` columns of ``class_names``."""
    row["label"] = label
    row["probabilities"] = json.dumps({c: round(float(p), 6) for c, p in probabilities.items()})
    for c in class_names:
        row[probability_column(c)] = float(probabilities[c])


def video_row(item: BatchItem, result: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """One parquet row for a video: ``n_faces`` = face tracks, the label and probabilities pooled
    over every face-frame, ``boxes`` = each track's first box, ``n_frames`` = frames analysed."""
    row = _empty_row(item, class_names)
    tracks = [t for t in result.tracks if t.frames]
    row.update(status=result.status, n_faces=len(tracks), n_frames=len(result.frame_indices),
               boxes=json.dumps([t.frames[0].box.as_list() for t in tracks]))
    probabilities = result.probabilities
    if probabilities is not None:
        _set_probabilities(row, result.label, dict(zip(result.class_names, probabilities)), class_names)
    return row


def speech_row(item: BatchItem, result: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """One parquet row for a recording: the speech label, its class probabilities (JSON only: the
    ``prob_<class>`` columns belong to the face model) and V/A/D."""
    row = _empty_row(item, class_names)
    if result.status != "ok":
        row["error"] = result.error
        return row
    row.update(status="ok", valence=result.valence, arousal=result.arousal, dominance=result.dominance)
    _set_probabilities(row, result.label, result.probabilities)
    return row


#: Media kind -> the function making its row from the result.
_ROWS: dict[str, Callable[[BatchItem, Any, Sequence[str]], dict[str, Any]]] = {
    "image": result_row, "video": video_row, "audio": speech_row,
}


def _analyze_item(item: BatchItem, media: MediaAnalyzer) -> Any:
    """The result for one item, through the one media entry (:meth:`MediaAnalyzer.analyze`)."""
    if item.media not in _ROWS:
        raise ConfigError(f"{item.media} items are not supported by batch in this build")
    if item.pixels is not None:
        return media.analyze(to_rgb(item.pixels), source=item.source)
    if item.media == "audio":
        try:
            media.speech()
        except AffectLabError as exc:
            raise ConfigError(f"speech analysis is not available: {exc}") from None
    result = media.analyze(item.path or item.source, kind=item.media)  # type: ignore[arg-type]
    if item.media == "image":
        result.source = item.source
    return result


def _process_item(item: BatchItem, media: MediaAnalyzer) -> dict[str, Any]:
    if item.error is not None:  # known bad while listing (e.g. a CSV row with bad pixels)
        row = _empty_row(item, media.class_names)
        row["error"] = item.error
        return row
    try:
        result = _analyze_item(item, media)
    except Exception as exc:  # a bad item never stops the batch; its row says what went wrong
        message = str(exc) if str(item.source) in str(exc) else f"{item.source}: {exc}"
        row = _empty_row(item, media.class_names)
        row["error"] = message if isinstance(exc, AffectLabError) else f"{message} ({type(exc).__name__})"
        return row
    return _ROWS[item.media](item, result, media.class_names)


def process_chunk(items: Sequence[BatchItem], options: BatchOptions) -> list[dict[str, Any]]:
    """Analyse ``items`` with the (cached) analyser for ``options``; one row per item, in order.

    This is the function local worker processes and Dask workers run; it sets torch's threads
    to ``options.torch_threads`` in the process that runs it.
    """
    if options.torch_threads is not None:
        import torch

        torch.set_num_threads(options.torch_threads)
    media = _media(options)
    rows = [_process_item(item, media) for item in items]
    for item, row in zip(items, rows):
        row["model"] = _row_model(item, options)
    return rows


def _chunks(items: Sequence[BatchItem], size: int) -> list[list[BatchItem]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _run_here(chunks: list[list[BatchItem]], options: BatchOptions) -> Iterator[list[dict[str, Any]]]:
    import torch

    previous = torch.get_num_threads()
    try:
        for chunk in chunks:
            yield process_chunk(chunk, options)
    finally:
        torch.set_num_threads(previous)


def _run_pool(chunks: list[list[BatchItem]], options: BatchOptions, workers: int) -> Iterator[list[dict[str, Any]]]:
    context = multiprocessing.get_context("spawn")  # no fork after torch has started threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(process_chunk, chunk, options) for chunk in chunks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _run_dask(
    chunks: list[list[BatchItem]], options: BatchOptions, scheduler: str | None, workers: int
) -> Iterator[list[dict[str, Any]]]:
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ConfigError("Dask is not installed: pip install 'affectlab[batch]'") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
    try:
        try:
            client = Client(cluster if cluster is not None else scheduler, timeout=30)
        except OSError as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        except (ValueError, TypeError) as exc:  # not an address at all, e.g. 'nonsense' (no port)
            raise ConfigError(f"--scheduler {scheduler}: not a scheduler address"
                              f" such as tcp://host:8786 ({exc})") from None
        try:
            futures = client.map(process_chunk, chunks, options=options, pure=False)
            for future in dask_completed(futures):
                yield future.result()
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def run_batch(
    source: str | Path | Iterable[str | Path] | Sequence[BatchItem],
    out: str | Path,
    *,
    options: BatchOptions | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    cluster: str | None = None,
    chunk_size: int = 32,
    retry_errors: bool = False,
    restart: bool = False,
    progress: bool = True,
    on_error: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Analyse every item of ``source`` into the parquet file ``out``, resuming earlier work.

    Parameters
    ----------
    source
        Folder(s), CSV list(s) or media file(s) (see :func:`discover_items`), or ready items.
    out
        The parquet file; one row per item: ``source``, ``media``, ``status``, ``error``,
        ``n_faces``, ``n_frames`` (videos), ``label`` and ``prob_<class>`` of the largest face
        (videos: pooled over all face-frames), ``probabilities`` (JSON of every class, also for
        recordings), ``valence``/``arousal``/``dominance`` (recordings), ``boxes`` (JSON),
        ``dataset_label``, ``model`` (the network that made the row). Its parts record the settings
        the rows were made with (:func:`result_settings`); while a batch writes ``out``, a second
        one refuses it (a lock beside it). ``out`` is never one of the inputs.
    workers
        Local worker processes (1: this process), or the number of workers of ``cluster="local"``.
    scheduler
        Address of a Dask scheduler (``"tcp://host:8786"``) to run the chunks on.
    cluster
        ``"local"``: start a Dask LocalCluster with ``workers`` single-threaded worker processes.
    chunk_size
        Items per task and per journal part: a kill loses at most the chunks in flight.
    retry_errors
        Process items again whose earlier row has ``status == "error"``.
    restart
        Discard earlier results in ``out`` instead of resuming. When resuming, rows of earlier
        items that ``source`` no longer lists are kept (after the others); earlier results made
        with other settings (model, weights, options, affectlab version) are refused, naming the
        difference, unless ``restart``.
    on_error
        Called with the message of each item that fails (the CLI prints it on stderr).

    Examples
    --------
    >>> summary = run_batch("photos/", "results.parquet", workers=2)  # doctest: +SKIP
    >>> summary.rows, summary.error  # doctest: +SKIP
    (120, 0)
    """
    options = options or BatchOptions()
    _check_execution(workers, chunk_size, scheduler, cluster)
    start = time.perf_counter()
    named, items = _list_items(source)
    out = _check_out(Path(out), [*named, *(i.path for i in items if i.path is not None)])
    settings, files = result_settings(options)
    store = ResultStore(out, _class_names(options), settings, files)
    with exclusive_lock(out, option="--out", what="batch"):
        if restart:
            store.clear()
        done = store.done()
        todo = [i for i in items if i.source not in done or (retry_errors and done[i.source] == "error")]
        results = _execute(_chunks(todo, chunk_size), options, scheduler, cluster, workers)
        counts = _write_results(results, store, total=len(todo), progress=progress, on_error=on_error)
        total_rows = store.finalize([i.source for i in items])
    return BatchSummary(out=str(out), total=len(items), skipped=len(items) - len(todo), processed=len(todo),
                        ok=counts["ok"], no_face=counts["no_face"], error=counts["error"], rows=total_rows,
                        seconds=round(time.perf_counter() - start, 2))


def _check_execution(workers: int, chunk_size: int, scheduler: str | None, cluster: str | None) -> None:
    """Refuse bad worker, chunk and cluster settings before anything is listed."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    if cluster is not None and cluster != "local":
        raise ConfigError(f"cluster {cluster!r}: only 'local' is known (or give a scheduler address)")
    if cluster is not None and scheduler is not None:
        raise ConfigError("give either a scheduler address or cluster='local', not both")


def _list_items(
    source: str | Path | Iterable[str | Path] | Sequence[BatchItem],
) -> tuple[list[str | Path], list[BatchItem]]:
    """``(the sources as named, the items)``: ready items pass through; files among the named sources
    are inputs too (CSV lists), so the output may not be one of them."""
    if isinstance(source, Sequence) and not isinstance(source, str) and source and isinstance(source[0], BatchItem):
        return [], list(source)  # type: ignore[arg-type]
    named = [source] if isinstance(source, (str, Path)) else list(source)  # type: ignore[arg-type]
    return named, discover_items(named)


def _check_out(out: Path, inputs: list[str | Path]) -> Path:
    """``out`` when it is a ``.parquet`` file path that is none of the inputs."""
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder, expected a .parquet file path")
    if out.suffix.lower() != ".parquet":  # never overwrite (or --restart: delete) a CSV, image... given by mistake
        raise ConfigError(f"--out {out}: expected a file name ending in .parquet")
    check_not_input(out, inputs, option="--out")
    return out


def _execute(chunks: list[list[BatchItem]], options: BatchOptions, scheduler: str | None, cluster: str | None,
             workers: int) -> Iterator[list[dict[str, Any]]]:
    """The rows of each chunk as they finish: on Dask, local worker processes, or here."""
    if not chunks:
        return iter(())
    if scheduler is not None or cluster is not None:
        return _run_dask(chunks, options, scheduler, workers)
    if workers > 1:
        return _run_pool(chunks, options, min(workers, len(chunks)))
    return _run_here(chunks, options)


def _write_results(results: Iterable[list[dict[str, Any]]], store: ResultStore, *, total: int, progress: bool,
                   on_error: Callable[[str], None] | None) -> dict[str, int]:
    """Journal each chunk's rows as it comes, with a progress bar; the count of rows per status."""
    counts = {"ok": 0, "no_face": 0, "error": 0}
    with tqdm(total=total, disable=not progress, unit="item", file=sys.stderr, desc="batch") as bar:
        for rows in results:
            store.write_chunk(rows)
            for row in rows:
                counts[row["status"]] += 1
            bar.update(len(rows))
            if on_error is not None:
                for row in rows:
                    if row["status"] == "error":
                        on_error(str(row["error"]))
    return counts


def _class_names(options: BatchOptions) -> list[str]:
    """Class names of the model, loading it here first so a bad model or checkpoint fails early."""
    return list(_analyzer(options).class_names)
