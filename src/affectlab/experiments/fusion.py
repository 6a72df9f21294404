"""``kind: fusion`` experiments: members, out-of-fold decision values, fusion network and baselines.

For every outer fold (subject-independent, as in a ``features`` experiment):

1. every member (feature x classifier) is fitted on the fold's training part (its
   hyper-parameters chosen by inner CV there, as usual) and scores the test part;
2. the same member, with the hyper-parameters just chosen, is refitted on ``oof_splits`` inner
   folds of the training part (split by subject) to score each training sample from a model that
   never saw it: these out-of-fold decision values are what every fusion method is fitted on;
3. each fusion method is fitted on the out-of-fold values of the training part and predicts the
   test part from the members' test decision values.

Methods (``fusion.methods``): ``net_svm`` (the fusion network over the SVM members),
``net_all`` (over all members: SVM + PLS, the method's best), ``mean_proba`` (mean of
temperature-calibrated member probabilities), ``stacking`` (multinomial logistic regression on
the concatenated decision values, C by inner CV) and ``early`` (concatenated, standardised
features, each block weighted by 1/sqrt(dim), with one classifier).

Networks (config key ``networks``, see :mod:`affectlab.experiments.fusion_networks`) join as members
with classifier ``cnn``: fine-tuned inside the run on every (inner) training part, or cross-fitted
beforehand for a fixed split; both fusion networks (``net_svm``, ``net_all``) include them.

Features that learn (codebooks) are fitted once per outer fold on its training images; they use
no labels, so the inner folds share them.

Config (besides the keys of a ``features`` experiment)::

    kind: fusion
    fusion:
      oof_splits: 5
      lams: [1.0e-5, 1.0e-4, 1.0e-3, 1.0e-2, 1.0e-1, 1, 10]
      methods: [net_svm, net_all, mean_proba, stacking, early]
      svm_classifier: linear_svm        # the classifier label that counts as "SVM"
      early: {features: [lbp, hog_cell4], classifier: {name: linear_svm, C_grid: auto}}
      test_decisions: refit             # or inner_mean (below)

``test_decisions``: the decision values of a feature member on the test part come from the member
refitted on the whole training part (``refit``), or from the mean of its inner-fold models
(``inner_mean``), which were trained on as many samples as the models behind the out-of-fold values.
A linear SVM's margins grow with the training size at a fixed C, so with few inner folds (2) and
strong regularisation the refitted member's test values are on another scale than the values the
fusion was fitted on; ``inner_mean`` keeps them comparable. The member's own row always reports the
refitted member. Fine-tuned networks follow the setting too (their inner-fold nets score the test part, and
an extra row ``<label> / cnn_inner_mean`` reports that mean on its own); cross-fitted networks always
score the test part with their ``test_model``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.checks import is_number
from affectlab.classify.fusion import DEFAULT_LAMBDAS, FusionNetworkCV, MeanProbabilityFusion, stack_decisions
from affectlab.classify.registry import create_classifier
from affectlab.errors import ConfigError
from affectlab.evaluate.metrics import classification_metrics
from affectlab.evaluate.protocols import Fold, crossfit_folds
from affectlab.experiments import schema
from affectlab.experiments.config import ExperimentConfig, load_config, names_the_file, resolve_source
from affectlab.experiments.features import (
    ImageRun,
    fold_feature_matrix,
    image_members,
    prepare_image_run,
)
from affectlab.experiments.fusion_networks import (
    NETWORK_CLASSIFIER,
    NetworkSpec,
    network_member,
    parse_networks,
)
from affectlab.experiments.runs import ExperimentResult
from affectlab.experiments.schema import (
    Rule,
    integer,
    internal,
    one_of,
    read_section,
    setting,
    text_list,
    written_order,
)
from affectlab.experiments.stages import (
    decision_values,
    fit_with_groups,
)
from affectlab.features.registry import create_feature
from affectlab.parallel import run_tasks
from affectlab.viz.confusion import save_confusion_matrix
from affectlab.viz.figure import save_figure
from affectlab.viz.fusion import plot_fusion_weights

__all__ = ["FUSION_METHODS", "METHOD_TEXT", "FusionConfig", "FusionEarly", "FusionInputs", "FusionSpec",
           "fold_members", "fusion_fold", "fusion_table", "load_fusion_config", "read_fusion_spec",
           "run_fusion_experiment"]

FUSION_METHODS = ("net_svm", "net_all", "mean_proba", "stacking", "early")
_FUSION_KEYS = ("oof_splits", "lams", "methods", "svm_classifier", "early", "test_decisions")
TEST_DECISIONS = ("refit", "inner_mean")


@dataclass(frozen=True)
class FusionEarly:
    """``fusion.early``: the feature labels concatenated (null: every feature of the config) and the one
    classifier fitted on them (a ``{name: ..., param: value}`` mapping)."""

    features: list[str] | None = setting(None, text_list("a non-empty list of feature labels").or_null())
    classifier: dict[str, Any] = setting({"name": "linear_svm", "C_grid": "auto"}, Rule(
        "a mapping {name: ..., param: value}", lambda v: isinstance(v, Mapping) and isinstance(v.get("name"), str)))
    written: tuple[str, ...] = internal()

    def to_dict(self) -> dict[str, Any]:
        return written_order({"features": list(self.features or []), "classifier": dict(self.classifier)},
                             self.written)


@dataclass(frozen=True)
class FusionSpec:
    """A checked ``fusion`` section (``kind: fusion``, and ``kind: clips`` with one): the out-of-fold splits, the
    fusion network's lambda grid, the methods, which classifier label counts as the SVM, early fusion's settings
    (when it runs or is given) and where the members' test decision values come from."""

    oof_splits: int = setting(5, integer(2, noun="an integer"))
    lams: list[float] = setting(list(DEFAULT_LAMBDAS), Rule(
        "a non-empty list of numbers >= 0", lambda v: isinstance(v, list) and bool(v) and all(
            is_number(x) and x >= 0 for x in v)))
    methods: list[str] = setting(list(FUSION_METHODS), Rule(
        f"a list of {', '.join(FUSION_METHODS)}",
        lambda v: isinstance(v, list) and all(m in FUSION_METHODS for m in v)))
    svm_classifier: str = setting("linear_svm", schema.text("a classifier label"))
    early: FusionEarly | None = None
    test_decisions: str = setting("refit", one_of(*TEST_DECISIONS, unknown=True))
    written: tuple[str, ...] = internal()

    def to_dict(self) -> dict[str, Any]:
        """The section as ``config.yaml`` and ``metrics.json`` record it: the keys written first, in their order,
        then the defaults."""
        values: dict[str, Any] = {"test_decisions": self.test_decisions, "oof_splits": self.oof_splits,
                                  "lams": list(self.lams), "methods": list(self.methods),
                                  "svm_classifier": self.svm_classifier}
        if self.early is not None:
            values["early"] = self.early.to_dict()
        return written_order(values, self.written)


def read_fusion_spec(raw: Any, feature_labels: list[str], classifier_labels: list[str]) -> FusionSpec:
    """The ``fusion`` mapping (null: every default) checked against the config's feature and classifier labels."""
    value = raw or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"fusion must be a mapping, got {value!r}")
    unknown = [k for k in value if k not in _FUSION_KEYS]
    if unknown:
        raise ConfigError(f"unknown key fusion.{unknown[0]} (known: {', '.join(_FUSION_KEYS)})")
    spec = read_section({"fusion": {k: v for k, v in value.items() if k != "early"}}, "fusion", FusionSpec)
    if spec.svm_classifier not in classifier_labels:
        raise ConfigError(f"fusion.svm_classifier {spec.svm_classifier!r} is not a classifier label of this config "
                          f"(labels: {', '.join(classifier_labels)})")
    early = None
    if "early" in spec.methods or value.get("early") is not None:
        early = read_section(value, "early", FusionEarly, where="fusion.early")
        features = list(feature_labels) if early.features is None else early.features
        missing = [f for f in features if f not in feature_labels]
        if missing:
            raise ConfigError(f"fusion.early.features: {missing[0]!r} is not a feature label of this config "
                              f"(labels: {', '.join(feature_labels)})")
        params = dict(early.classifier)
        try:
            create_classifier(params.pop("name"), **params)
        except (ConfigError, TypeError, ValueError) as exc:
            raise ConfigError(f"fusion.early.classifier: {exc}") from None
        early = replace(early, features=features, written=tuple(value.get("early") or ()))
    return replace(spec, early=early, written=tuple(value))


def _fixed(template: Any, best_params: Mapping[str, Any]) -> Any:
    """``template`` with the searched hyper-parameters fixed to ``best_params`` (no inner search)."""
    from sklearn.base import clone

    estimator = clone(template)
    params = estimator.get_params(deep=False)
    update: dict[str, Any] = {}
    for key, value in best_params.items():
        if f"{key}_grid" in params:
            update[f"{key}_grid"] = None
            update[key] = value
    return estimator.set_params(**update) if update else estimator


def _inner_positions(train: np.ndarray, y: np.ndarray, groups: np.ndarray | None, n_splits: int,
                     seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner folds of one training part, as positions into ``train``."""
    return crossfit_folds(y[train], n_splits, groups=None if groups is None else groups[train], seed=seed)


def _mean_decisions(parts: list[np.ndarray]) -> np.ndarray:
    """Mean of the inner-fold models' decision values (a class missing from every model stays NaN)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        return np.nanmean(np.stack([np.asarray(p, dtype=np.float64) for p in parts]), axis=0)


def _member_scale(oof: np.ndarray) -> float:
    scale = float(np.nanstd(oof))
    return scale if scale > 0 else 1.0


def _classifier_member(label: str, template: Any, X: np.ndarray, y: np.ndarray, fold: Fold,
                       train_groups: np.ndarray | None, inner: list[tuple[np.ndarray, np.ndarray]],
                       position: dict[int, int], labels: list[str], *, feature: str,
                       test_decisions: str) -> dict[str, Any]:
    """One feature x classifier member of one outer fold: fitted on the training part (hyper-parameters by
    inner CV) for its test decision values and predictions, then refitted with those hyper-parameters on each
    inner fold's training part for the out-of-fold decision values the fusion is fitted on."""
    from sklearn.base import clone

    started = time.perf_counter()
    estimator = clone(template)
    fit_with_groups(estimator, X[fold.train], y[fold.train], train_groups, None)
    best = dict(getattr(estimator, "best_params_", {}) or {})
    test_dec = decision_values(estimator, X[fold.test], labels)
    oof = np.full((fold.train.size, len(labels)), np.nan)
    inner_test = []
    for inner_train, inner_val in inner:
        fixed = _fixed(template, best)
        fit_with_groups(fixed, X[inner_train], y[inner_train], None, None)
        rows = [position[int(s)] for s in inner_val]
        oof[rows] = decision_values(fixed, X[inner_val], labels)
        if test_decisions == "inner_mean":
            inner_test.append(decision_values(fixed, X[fold.test], labels))
    if test_dec is None:
        raise ConfigError(f"classifier {label!r} gives no decision values; it cannot join a fusion")
    return {
        "feature": feature, "classifier": label, "best_params": best,
        "test": _mean_decisions(inner_test) if inner_test else np.asarray(test_dec, dtype=np.float64),
        "oof": oof,
        "pred": np.asarray(estimator.predict(X[fold.test])).astype(str),
        "seconds": time.perf_counter() - started,
    }


@dataclass(frozen=True)
class FusionInputs:
    """What every outer fold of a fusion run shares: the members to build (``features`` as ``(label, name,
    extractor)`` triples, their precomputed ``matrices`` by label, ``classifiers`` as ``(label, template)``
    pairs, network ``networks``), the data (``images`` for features without a matrix and for networks, labels
    ``y``, subject ``groups``, the run's label order ``labels``) and the fusion settings ``spec``."""

    features: list[tuple[str, str, Any]]
    matrices: dict[str, np.ndarray]
    classifiers: list[tuple[str, Any]]
    y: np.ndarray
    groups: np.ndarray | None
    labels: list[str]
    spec: FusionSpec
    images: np.ndarray | None = None
    per_subject: bool = False
    cache_dir: str | None = None
    images_hash: str | None = None
    networks: tuple[NetworkSpec, ...] = ()
    seed: int = 0


def fold_members(k: int, fold: Fold, inputs: FusionInputs) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Members stage of one outer fold: every feature x classifier member, then every network member, each with
    test and out-of-fold decision values; also each feature's matrix (for early fusion)."""
    y, groups, labels, spec = inputs.y, inputs.groups, inputs.labels, inputs.spec
    train_groups = None if groups is None else groups[fold.train]
    positions = _inner_positions(fold.train, y, groups, spec.oof_splits, seed=k)
    inner = [(fold.train[a], fold.train[b]) for a, b in positions]
    position = {int(s): i for i, s in enumerate(fold.train)}
    members: list[dict[str, Any]] = []
    feature_rows: dict[str, np.ndarray] = {}
    for feature in inputs.features:
        label = feature[0]
        X = inputs.matrices.get(label)
        if X is None:
            X, _, _ = fold_feature_matrix(feature, inputs.images, y, groups, fold, per_subject=inputs.per_subject,
                                          cache_dir=inputs.cache_dir, images_hash=inputs.images_hash)
        feature_rows[label] = X
        members += [_classifier_member(clf_label, template, X, y, fold, train_groups, inner, position, labels,
                                       feature=label, test_decisions=spec.test_decisions)
                    for clf_label, template in inputs.classifiers]
    for network in inputs.networks:
        members.append(network_member(network, k, fold, positions, inputs.images, y, labels, seed=inputs.seed,
                                      cache_dir=inputs.cache_dir, images_hash=inputs.images_hash,
                                      test_decisions=spec.test_decisions))
    return members, feature_rows


def _fuse(method: str, k: int, fold: Fold, members: list[dict[str, Any]], feature_rows: dict[str, np.ndarray],
          y: np.ndarray, groups: np.ndarray | None, labels: list[str], spec: FusionSpec) -> dict[str, Any]:
    """Fusion stage: one fusion method fitted on the members' out-of-fold decision values of one training part,
    applied to their test decision values; its predictions and what it chose."""

    # The fusion estimators read each member's columns in sorted class order (np.unique(y)); the members'
    # decision values are in the run's label order (e.g. FER2013's angry..surprise, neutral): reorder.
    columns = [labels.index(c) for c in np.unique(y[fold.train])]

    def stacked(chosen: list[dict[str, Any]], part: str) -> np.ndarray:
        blocks = []
        for m in chosen:
            scale = _member_scale(m["oof"])
            blocks.append(np.nan_to_num(m[part][:, columns] / scale, nan=0.0))  # a class absent from an inner fold: 0
        return stack_decisions(blocks)

    started = time.perf_counter()
    train_groups = None if groups is None else groups[fold.train]
    y_train = y[fold.train]
    if method in ("net_svm", "net_all"):
        chosen = members if method == "net_all" else [
            m for m in members if m["classifier"] in (spec.svm_classifier, NETWORK_CLASSIFIER)]
        net = FusionNetworkCV(lams=spec.lams, inner_splits=min(5, spec.oof_splits), random_state=k)
        net.fit(stacked(chosen, "oof"), y_train, groups=train_groups)
        pred = net.predict(stacked(chosen, "test"))
        info = {"lam": net.lam_, "lam_at_grid_edge": net.lam_at_grid_edge_,
                "cv_uar": {f"{lam:g}": score for lam, score in net.cv_scores_.items()},
                "weights": net.weights_.tolist(), "classes": [str(c) for c in net.classes_],
                "members": [f"{m['feature']}/{m['classifier']}" for m in chosen]}
    elif method == "mean_proba":
        model = MeanProbabilityFusion().fit(stacked(members, "oof"), y_train)
        pred = model.predict(stacked(members, "test"))
        info = {"temperatures": model.temperatures_.tolist()}
    elif method == "stacking":
        model = create_classifier("logistic_regression", C_grid=[0.001, 0.01, 0.1, 1, 10, 100], inner_splits=3)
        fit_with_groups(model, stacked(members, "oof"), y_train, train_groups, None)
        pred = model.predict(stacked(members, "test"))
        info = {"C": dict(getattr(model, "best_params_", {}) or {}).get("lr__C")}
    else:  # early fusion
        assert spec.early is not None  # read with the methods that need it
        pred, info = _early_fusion(spec.early, feature_rows, fold, y_train, train_groups)
    return {"pred": np.asarray(pred).astype(str), "info": info, "seconds": time.perf_counter() - started}


def _early_fusion(early: FusionEarly, feature_rows: dict[str, np.ndarray], fold: Fold, y_train: np.ndarray,
                  train_groups: np.ndarray | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Early fusion: the features z-scored on the training part (each block scaled by sqrt of its dimension),
    concatenated, one classifier."""

    blocks_train, blocks_test = [], []
    for label in early.features or []:
        X = feature_rows[label]
        mean = X[fold.train].mean(axis=0)
        std = X[fold.train].std(axis=0)
        std = np.where(std > 0, std, 1.0) * np.sqrt(X.shape[1])
        blocks_train.append((X[fold.train] - mean) / std)
        blocks_test.append((X[fold.test] - mean) / std)
    params = dict(early.classifier)
    model = create_classifier(params.pop("name"), **params)
    fit_with_groups(model, np.hstack(blocks_train), y_train, train_groups, None)
    pred = model.predict(np.hstack(blocks_test))
    return pred, {"features": list(early.features or []), **dict(getattr(model, "best_params_", {}) or {})}


def fusion_fold(k: int, fold: Fold, inputs: FusionInputs) -> dict[str, Any]:
    """One outer fold: members (test + out-of-fold decisions), then every fusion method."""
    members, feature_rows = fold_members(k, fold, inputs)
    fused = {method: _fuse(method, k, fold, members, feature_rows, inputs.y, inputs.groups, inputs.labels,
                           inputs.spec)
             for method in inputs.spec.methods}
    return {"k": k, "members": members, "fused": fused, "y_test": inputs.y[fold.test]}


#: Each fusion method's name and members, as the results table writes them.
METHOD_TEXT = {
    "net_svm": ("fusion network", "SVM members"),
    "net_all": ("fusion network", "SVM + PLS members"),
    "mean_proba": ("mean of member probabilities", "all members"),
    "stacking": ("logistic-regression stacking", "all members"),
    "early": ("early fusion (concatenated features, one classifier)", ""),
}


def fusion_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: one line per member, then one per fusion method (accuracy, UAR, lambda)."""
    lines = ["| method | members | lambda (median) | accuracy | UAR | fold accuracy (mean ± sd) |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lam = r.get("lambda_median")
        spread = f"{r['fold_accuracy_mean']:.3f} ± {r['fold_accuracy_std']:.3f}" if r.get("n_folds", 1) > 1 else "-"
        lines.append(f"| {r['method']} | {r['members']} | {'-' if lam is None else f'{lam:g}'} | "
                     f"{r['accuracy']:.3f} | {r['uar']:.3f} | {spread} |")
    return "\n".join(lines)


def _read_config(raw: Mapping[str, Any], data: str | Path | None) -> tuple[ExperimentConfig, dict[str, Any], Any]:
    raw = copy.deepcopy(dict(raw))
    path = raw.pop("_path", None)
    raw.pop("kind", None)
    fusion_raw = raw.pop("fusion", None)
    raw.pop("networks", None)
    raw.pop("seed", None)
    if data is None and path is not None and isinstance(raw.get("data"), Mapping | str):
        spec = {"source": raw["data"]} if isinstance(raw["data"], str) else dict(raw["data"])
        if "source" in spec:
            spec["source"] = str(resolve_source(spec["source"], Path(path).parent, "data.source"))
        raw["data"] = spec
    cfg = load_config(raw, data=data)
    if path is not None:
        cfg.path = Path(path)
    return cfg, fusion_raw, path


@dataclass(frozen=True)
class FusionConfig:
    """A validated ``kind: fusion`` file: the keys of a ``features`` experiment (:class:`ExperimentConfig`), the
    ``fusion`` section, the network members and the seed of their fine-tuning."""

    experiment: ExperimentConfig
    fusion: FusionSpec
    networks: tuple[NetworkSpec, ...] = ()
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (``config.yaml`` without its ``run`` provenance)."""
        return {"kind": "fusion", **self.experiment.to_dict(), "fusion": self.fusion.to_dict(),
                "networks": [n.to_dict() for n in self.networks]}


@names_the_file
def load_fusion_config(config: Mapping[str, Any], data: str | Path | None = None) -> FusionConfig:
    """Read config stage: the features-kind keys, the fusion section, the network members and the seed, checked
    (``config["_path"]``: the file, for relative paths); ``data`` replaces ``data.source``."""
    cfg, fusion_raw, _ = _read_config(config, data)
    spec = read_fusion_spec(fusion_raw, [f.label for f in cfg.features], [c.label for c in cfg.classifiers])
    base = Path(config["_path"]).parent if config.get("_path") else None
    networks = parse_networks(config.get("networks"), base=base, oof_splits=spec.oof_splits,
                              feature_labels=[f.label for f in cfg.features])
    seed = integer(0).or_null().check(config.get("seed"), "seed")
    return FusionConfig(cfg, spec, tuple(networks), int(seed or 0))


def describe_network(spec: NetworkSpec) -> str:
    """One line for a run's report: how a network member was trained and how it scores."""
    flip = ", flip test-time augmentation" if spec.tta_flip else ""
    if spec.type == "crossfit":
        return (f"{spec.label}: test part scored by `{spec.test_model}`, out-of-fold values by "
                f"{len(spec.oof_models)} cross-fitted files{flip}")
    ensemble = f", a {spec.seeds}-seed ensemble (probabilities averaged)" if spec.seeds > 1 else ""
    epochs = (spec.train or {}).get("epochs")
    return (f"{spec.label}: {spec.model} starting from `{spec.init or 'random weights'}`, fine-tuned "
            f"for {epochs} epoch(s) on every outer and inner training part{ensemble}{flip}")


def run_fusion_experiment(
    config: Mapping[str, Any],
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: Any = None,
) -> ExperimentResult:
    """Run a ``kind: fusion`` experiment (see the module docstring) and write its run folder."""
    from joblib import delayed


    fc = load_fusion_config(config, data)
    cfg, spec, networks = fc.experiment, fc.fusion, fc.networks
    s = prepare_image_run(cfg, out_dir, overwrite=overwrite, n_jobs=n_jobs, cache=cache)
    if len(s.folds) > 1 and any(n.type == "crossfit" for n in networks):
        raise ConfigError("a crossfit network needs a protocol with one fixed split (its models are trained "
                          f"beforehand for that split); this protocol has {len(s.folds)} folds: use type finetune")
    images, images_hash, matrices, _ = image_members(s, progress=progress)
    resolved = {**fc.to_dict(), "run": s.provenance}
    s.run.create()
    s.run.write_config(resolved)

    features = [(f.label, f.name, create_feature(f.name, **f.params)) for f in cfg.features]
    classifiers = [(c.label, create_classifier(c.name, **c.params)) for c in cfg.classifiers]
    cache_dir = None if s.feature_cache is None else str(s.feature_cache.directory)
    inputs = FusionInputs(features, matrices, classifiers, s.y, s.groups, s.labels, spec, images=images,
                          per_subject=s.per_subject, cache_dir=cache_dir, images_hash=images_hash,
                          networks=tuple(networks), seed=fc.seed)
    tasks = [delayed(fusion_fold)(k, fold, inputs) for k, fold in enumerate(s.folds)]
    outcomes = {outcome["k"]: outcome for outcome in run_tasks(tasks, s.jobs, progress=progress)}
    ordered = [outcomes[k] for k in range(len(s.folds))]
    rows, predictions = _pool_fusion(s, ordered, spec, networks)
    s.run.write_predictions(predictions)
    return _write_fusion_outputs(s, resolved, rows, spec, networks)


def _pool_fusion(s: ImageRun, ordered: list[dict[str, Any]], spec: FusionSpec,
                 networks: tuple[NetworkSpec, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Metrics stage: one pooled results row per member and per fusion method, their prediction records, the
    confusion matrices and the fusion-network weight plots."""

    ds, folds, labels = s.ds, s.folds, s.labels
    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []

    def prediction_records(feature: str, classifier: str, preds: list[np.ndarray]) -> list[dict[str, Any]]:
        """One predictions.csv record per test sample of every fold."""
        return [{"id": ds.samples[i].id, "fold": fold.name, "feature": feature, "classifier": classifier,
                 "true": t, "pred": p, "subject": ds.samples[i].subject}
                for fold, fold_pred, outcome in zip(folds, preds, ordered)
                for i, p, t in zip(fold.test, fold_pred, outcome["y_test"])]

    def row(method: str, members_text: str, preds: list[np.ndarray], extra: dict[str, Any]) -> dict[str, Any]:
        """The pooled results row of a member or fusion method (its predictions are recorded separately)."""
        true = np.concatenate([o["y_test"] for o in ordered])
        metrics = classification_metrics(true, np.concatenate(preds), labels)
        fold_acc = np.array([np.mean(p == o["y_test"]) for p, o in zip(preds, ordered)])
        return {"method": method, "members": members_text, "accuracy": metrics["accuracy"], "uar": metrics["uar"],
                "macro_f1": metrics["macro_f1"], "n_test": metrics["n"], "n_folds": len(folds),
                "fold_accuracy_mean": float(fold_acc.mean()), "fold_accuracy_std": float(fold_acc.std()),
                "per_class_recall": metrics["per_class_recall"], "confusion": metrics["confusion"],
                "labels": labels, **extra}

    def add_member_row(j: int, pred_key: str, classifier: str) -> None:
        """Member ``j``'s results row and prediction records, from its per-fold ``pred_key`` predictions."""
        first = ordered[0]["members"][j]
        preds = [o["members"][j][pred_key] for o in ordered]
        chosen = [o["members"][j]["best_params"] for o in ordered]
        rows.append(row("member", f"{first['feature']} / {classifier}", preds,
                        {"feature": first["feature"], "classifier": classifier, "chosen_per_fold": chosen}))
        predictions.extend(prediction_records(first["feature"], classifier, preds))

    first_members = ordered[0]["members"]
    for j, member in enumerate(first_members):
        add_member_row(j, "pred", member["classifier"])
    for j, member in enumerate(first_members):  # fine-tuned nets under inner_mean: the mean the fusion reads
        if "pred_inner_mean" in member:
            add_member_row(j, "pred_inner_mean", f"{member['classifier']}_inner_mean")
    for method in spec.methods:
        name, members_text = METHOD_TEXT[method]
        infos = [o["fused"][method]["info"] for o in ordered]
        extra: dict[str, Any] = {"fusion": method, "per_fold": infos}
        if method.startswith("net_"):
            lams = sorted(i["lam"] for i in infos)
            extra["lambda_median"] = lams[(len(lams) - 1) // 2]
            if len(spec.lams) > 1:  # folds whose inner-CV score still rises at the grid's smallest or largest lambda
                extra["lambda_at_grid_edge"] = sum(bool(i["lam_at_grid_edge"]) for i in infos)
            if networks:
                members_text += " + networks"
            members_text = f"{members_text} ({len(infos[0]['members'])})"
        if method == "early" and spec.early is not None:
            members_text = " + ".join(spec.early.features or [])
        preds = [o["fused"][method]["pred"] for o in ordered]
        rows.append(row(name, members_text, preds, extra))
        predictions.extend(prediction_records(method, "fusion", preds))
        png = f"confusion_fusion_{method}.png"
        save_confusion_matrix(np.asarray(rows[-1]["confusion"]), labels, s.run.path / png, title=f"{name} ({method})")
        rows[-1]["confusion_png"] = png
        if method.startswith("net_") and len({(tuple(i["members"]), tuple(i["classes"])) for i in infos}) == 1:
            png = f"fusion_weights_{method}.png"
            figure = plot_fusion_weights(np.mean([i["weights"] for i in infos], axis=0), infos[0]["members"],
                                         infos[0]["classes"], title=f"{name} ({method}): weights, mean of "
                                                                    f"{len(infos)} fold(s)")
            save_figure(figure, s.run.path / png)
            rows[-1]["weights_png"] = png
    return rows, predictions


def _write_fusion_outputs(s: ImageRun, resolved: dict[str, Any], rows: list[dict[str, Any]], spec: FusionSpec,
                          networks: tuple[NetworkSpec, ...]) -> ExperimentResult:
    """metrics.json, report.md and table.md of a fusion run; the run's result."""
    cfg, ds, folds, out = s.cfg, s.ds, s.folds, s.run.path
    protocol = s.protocol
    table = fusion_table(rows)
    best_member = max((r for r in rows if r["method"] == "member"), key=lambda r: r["accuracy"])
    elapsed = s.run.elapsed
    summary = ds.summary()
    s.run.write_metrics({"name": cfg.name, "kind": "fusion", "labels": s.labels,
                         "protocol": {**cfg.protocol, "description": protocol.describe(), "n_folds": len(folds)},
                         "normalisation": cfg.normalisation, "fusion": spec.to_dict(), "rows": rows,
                         "best_member": {"members": best_member["members"], "accuracy": best_member["accuracy"]},
                         "seconds": round(elapsed, 3)})
    text = (f"# {cfg.name}\n\n{cfg.description or ''}\n\n"
            f"- data: `{cfg.source}` ({len(ds)} samples, {summary['subjects']} subjects)\n"
            f"- protocol: {protocol.describe()}; {len(folds)} fold(s); predictions pooled over test folds\n"
            f"- normalisation: {cfg.normalisation}\n"
            f"- fusion methods are fitted on out-of-fold decision values of each training part "
            f"({spec.oof_splits} inner folds split by subject where known; members refitted with the "
            f"hyper-parameters chosen on that training part); lambda chosen by inner CV on them\n"
            f"- test decision values given to the fusion: "
            + ("the mean of each member's inner-fold models (`test_decisions: inner_mean`)\n"
               if spec.test_decisions == "inner_mean" else
               "each member refitted on the whole training part (`test_decisions: refit`)\n")
            + "".join(f"- network {describe_network(n)}\n" for n in networks)
            + f"- best single member: {best_member['members']} ({best_member['accuracy']:.3f})\n"
            + "".join(f"- {r['fusion']}: lambda at the edge of the grid, with the inner-CV UAR still rising there, in "
                      f"{r['lambda_at_grid_edge']}/{len(folds)} fold(s); consider widening fusion.lams\n"
                      for r in rows if r.get("lambda_at_grid_edge"))
            + "\n"
            f"{table}\n\nConfusion matrices: "
            + ", ".join(f"`{r['confusion_png']}`" for r in rows if "confusion_png" in r)
            + "\n\nFusion-network weights (member x class, mean over folds): "
            + (", ".join(f"`{r['weights_png']}`" for r in rows if "weights_png" in r) or "none")
            + f"\n\n{elapsed:.0f} s, affectlab {resolved['run']['affectlab']}, {resolved['run']['timestamp']}\n")
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "table.md").write_text(table + "\n", encoding="utf-8")
    return s.run.result(rows, resolved, n_folds=len(folds), seconds=elapsed, markdown=table)
