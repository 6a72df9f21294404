"""Experiment kinds: one YAML format, several runners.

An experiment file may name its ``kind`` (default ``features``: descriptors x classifiers,
:func:`affectlab.evaluate.experiment.run_experiment`). Other kinds are implemented next to the
capability they evaluate and are imported only when named, so a missing optional extra (say
openSMILE) only matters to the experiments that use it.

Every runner has the signature of :func:`~affectlab.evaluate.experiment.run_experiment`::

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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from affectlab.errors import ConfigError

__all__ = ["EXPERIMENT_KINDS", "experiment_kind", "experiment_runner", "read_experiment_file"]

#: kind -> "module:function" of its runner (imported lazily).
EXPERIMENT_KINDS: dict[str, str] = {
    "features": "affectlab.evaluate.experiment:run_experiment",
    "deep": "affectlab.models.experiment:run_deep_experiment",
    "fusion": "affectlab.classify.fusion_experiment:run_fusion_experiment",
    "sequences": "affectlab.video.experiment:run_sequence_experiment",
    "speech": "affectlab.audio.experiment:run_speech_experiment",
    "siamese": "affectlab.identity.experiment:run_siamese_experiment",
    "identity": "affectlab.identity.classify:run_identity_experiment",
    "fooling": "affectlab.explain.experiment:run_fooling_experiment",
    "pairs": "affectlab.pairs.experiment:run_pairs_experiment",
}


def experiment_kind(raw: Mapping[str, Any]) -> str:
    """The ``kind`` named by an experiment mapping (``features`` when absent)."""
    kind = raw.get("kind", "features")
    if not isinstance(kind, str) or kind not in EXPERIMENT_KINDS:
        raise ConfigError(f"kind {kind!r} is unknown (known: {', '.join(sorted(EXPERIMENT_KINDS))})")
    return kind


def experiment_runner(kind: str) -> Callable[..., Any]:
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
    from affectlab.evaluate.config import read_raw_config

    return read_raw_config(config)
