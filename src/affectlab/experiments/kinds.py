"""Experiment kinds: one YAML format, an explicit registry of runners, one entry point.

An experiment file may name its ``kind`` (default ``features``: descriptors x classifiers,
:func:`affectlab.experiments.features.run_features_experiment`). :data:`EXPERIMENT_KINDS` maps
every kind to the ``"module:function"`` of its runner; the module is imported only when the kind
is run, so a missing optional extra (say openSMILE) only matters to the experiments that use it.

:func:`run_experiment` reads the file once (:func:`~affectlab.experiments.config.read_raw_config`)
and hands the mapping to the runner of its kind. Every runner follows :class:`Runner`::

    runner(config, out_dir, *, data=None, progress=True, overwrite=False, n_jobs=None, cache=None)
        -> ExperimentResult

where ``config`` is the mapping read from the file, with ``_path`` holding the file's path (or
``None``) so relative paths resolve against the file's folder, and the result's ``rows`` are
what ``metrics.json`` holds.

>>> [kind in EXPERIMENT_KINDS for kind in ("features", "fusion", "pairs")]
[True, True, True]
>>> experiment_kind({"kind": "speech"})
'speech'
>>> experiment_kind({})
'features'
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from affectlab.errors import ConfigError
from affectlab.experiments.config import names_the_file, read_raw_config

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset
    from affectlab.experiments.runs import ExperimentResult

__all__ = ["EXPERIMENT_KINDS", "Runner", "experiment_kind", "experiment_runner", "read_experiment_file",
           "register_kind", "run_experiment"]

#: kind -> "module:function" of its runner (imported when the kind is run).
EXPERIMENT_KINDS: dict[str, str] = {
    "features": "affectlab.experiments.features:run_features_experiment",
    "deep": "affectlab.experiments.deep:run_deep_experiment",
    "fusion": "affectlab.experiments.fusion:run_fusion_experiment",
    "sequences": "affectlab.experiments.sequences:run_sequence_experiment",
    "speech": "affectlab.experiments.speech:run_speech_experiment",
    "siamese": "affectlab.experiments.siamese:run_siamese_experiment",
    "identity": "affectlab.experiments.identity:run_identity_experiment",
    "fooling": "affectlab.experiments.fooling:run_fooling_experiment",
    "pairs": "affectlab.experiments.pairs:run_pairs_experiment",
    "clips": "affectlab.experiments.clips:run_clips_experiment",
}


class Runner(Protocol):
    """What every experiment kind's runner is: the file's mapping in, a written run folder out."""

    def __call__(self, config: Mapping[str, Any], out_dir: str | Path, *, data: str | Path | None = None,
                 progress: bool = True, overwrite: bool = False, n_jobs: int | None = None,
                 cache: Any = None) -> ExperimentResult: ...


def register_kind(kind: str, target: str, *, replace: bool = False) -> None:
    """Add ``kind`` to :data:`EXPERIMENT_KINDS`, its runner given as ``"module:function"``.

    >>> register_kind("features", "x:y")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    affectlab.errors.ConfigError: experiment kind 'features' is already registered (...)
    """
    module, sep, attr = target.partition(":")
    if not (module and sep and attr):
        raise ConfigError(f"experiment kind {kind!r}: runner {target!r} is not 'module:function'")
    if kind in EXPERIMENT_KINDS and not replace:
        raise ConfigError(f"experiment kind {kind!r} is already registered ({EXPERIMENT_KINDS[kind]})")
    EXPERIMENT_KINDS[kind] = target


def experiment_kind(raw: Mapping[str, Any]) -> str:
    """The ``kind`` named by an experiment mapping (``features`` when absent)."""
    kind = raw.get("kind", "features")
    if not isinstance(kind, str) or kind not in EXPERIMENT_KINDS:
        raise ConfigError(f"kind {kind!r} is unknown (known: {', '.join(sorted(EXPERIMENT_KINDS))})")
    return kind


def experiment_runner(kind: str) -> Runner:
    """Import and return the runner of ``kind``."""
    module_name, _, attr = EXPERIMENT_KINDS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"experiment kind {kind!r} is not available in this installation") from exc
        raise ConfigError(
            f"experiment kind {kind!r} needs the package {exc.name!r}; install it "
            f"(e.g. pip install 'affectlab[all]')"
        ) from exc
    return getattr(module, attr)


def read_experiment_file(config: Mapping[str, Any] | str | Path) -> tuple[dict[str, Any], Path | None]:
    """The raw mapping of an experiment (a YAML path or a mapping) and the file's path."""
    return read_raw_config(config)


def run_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    dataset: Dataset | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: Any = None,
) -> ExperimentResult:
    """Run the experiment described by ``config`` and write its run folder to ``out_dir``.

    Parameters
    ----------
    config
        A YAML file or a mapping; its ``kind`` picks the runner (see :data:`EXPERIMENT_KINDS` and
        docs/experiments.md for each kind's keys).
    out_dir
        Run folder to create (must be absent or empty unless ``overwrite``).
    data
        Overrides ``data.source`` (relative to the CWD).
    dataset
        An already loaded :class:`~affectlab.data.Dataset` to use instead of ``data.source``
        (kind ``features`` only).
    progress
        Show progress bars on stderr.
    overwrite
        Allow writing into a non-empty ``out_dir``.
    n_jobs
        Processes for feature extraction and for the folds (``None``: 1, ``-1``: all cores).
        Worker processes use one BLAS thread each.
    cache
        Feature cache folder (or a :class:`~affectlab.features.cache.FeatureCache`); ``None``
        computes every feature afresh. The CLI uses
        :func:`~affectlab.features.cache.default_cache_dir` unless ``--no-cache``.

    Raises
    ------
    ConfigError, ProtocolError, DataError, MediaReadError
        Bad config key, leaking or impossible split, unreadable data; the message names it.

    Examples
    --------
    >>> from affectlab.experiments import run_experiment
    >>> result = run_experiment("configs/ckplus48-baseline.yaml", "runs/ck")  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP
    """
    raw, path = read_raw_config(config)  # the one read of the file
    raw["_path"] = path
    kind = names_the_file(experiment_kind)(raw)
    options: dict[str, Any] = {}
    if dataset is not None:
        if kind != "features":
            raise ConfigError(f"dataset= is read by kind 'features' only, not {kind!r}: give data.source in the config")
        options["dataset"] = dataset
    return experiment_runner(kind)(raw, out_dir, data=data, progress=progress, overwrite=overwrite, n_jobs=n_jobs,
                                   cache=cache, **options)
