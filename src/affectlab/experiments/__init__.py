"""Experiments: one YAML file -> one run folder, for every kind of experiment AffectLab runs.

- :func:`run_experiment` reads the file once and hands it to the runner of its ``kind``
  (:data:`~affectlab.experiments.kinds.EXPERIMENT_KINDS`: ``features``, ``deep``, ``fusion``,
  ``sequences``, ``clips``, ``speech``, ``siamese``, ``identity``, ``fooling``, ``pairs``);
- every runner follows :class:`~affectlab.experiments.kinds.Runner` and is a composition of the
  shared stages (:mod:`affectlab.experiments.stages`): read config -> dataset -> protocol ->
  members (features, networks) -> classifiers -> fusion -> metrics -> :class:`RunFolder`;
- :class:`RunFolder` (:mod:`affectlab.experiments.runs`) writes config.yaml (with provenance),
  metrics.json, predictions.csv, decisions.npz, the plots and report.md, and returns the
  :class:`ExperimentResult`.

Modules: ``features`` (descriptors x classifiers), ``deep`` (networks fine-tuned or as features),
``fusion`` and ``fusion_networks`` (decision-level fusion), ``sequences`` (temporal descriptors),
``clips`` (video clips as face volumes),
``speech`` and ``speech_config`` (openSMILE / SSL speech), ``pairs`` (posed vs spontaneous pairs),
``fooling`` (bounded attacks and their regions), ``siamese`` and ``siamese_report`` (face verification),
``identity`` (closed-set identity classification). ``config`` holds the readers every kind shares.

Adding a kind
-------------
1. Write ``affectlab/experiments/<kind>.py`` with ``run_<kind>_experiment(config, out_dir, *,
   data=None, progress=True, overwrite=False, n_jobs=None, cache=None)`` (the
   :class:`~affectlab.experiments.kinds.Runner` signature). ``config`` is the mapping read from
   the YAML; ``config["_path"]`` is the file (resolve relative paths against its folder with
   :func:`~affectlab.experiments.config.resolve_source`). Validate every key before any work,
   with errors that name the key (:class:`~affectlab.errors.ConfigError`).
2. Compose the stages: ``run = RunFolder(out_dir, overwrite=overwrite)`` before any work (it
   refuses a non-empty folder); load data, make the folds (:mod:`affectlab.evaluate.protocols`);
   ``run.create()`` once the inputs are read; ``run.write_config({... , "run":
   run.provenance(config_path=..., dataset=..., protocol=..., folds=...)})``; fit and test per fold
   (:func:`~affectlab.experiments.stages.test_classifier`), pool rows
   (:func:`~affectlab.experiments.stages.pool_fold_results`); ``run.write_predictions``,
   ``run.write_metrics``, ``run.write_report``; ``return run.result(rows, resolved, n_folds=...)``.
3. Register it: one line ``"<kind>": "affectlab.experiments.<kind>:run_<kind>_experiment"`` in
   :data:`~affectlab.experiments.kinds.EXPERIMENT_KINDS` (or
   :func:`~affectlab.experiments.kinds.register_kind` from a plug-in), a config in ``configs/``,
   and a section in docs/experiments.md.

>>> from affectlab.experiments import EXPERIMENT_KINDS
>>> {"features", "fusion", "speech", "pairs"} <= set(EXPERIMENT_KINDS)
True
"""

from affectlab.experiments.config import ExperimentConfig, load_config
from affectlab.experiments.kinds import EXPERIMENT_KINDS, Runner, register_kind, run_experiment
from affectlab.experiments.runs import ExperimentResult, RunFolder, load_decisions

__all__ = [
    "EXPERIMENT_KINDS",
    "ExperimentConfig",
    "ExperimentResult",
    "RunFolder",
    "Runner",
    "load_config",
    "load_decisions",
    "register_kind",
    "run_experiment",
]
