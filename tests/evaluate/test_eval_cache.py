"""Feature cache (hits, misses), parallel extraction, decision values and chosen hyper-parameters."""

from __future__ import annotations

import csv
import json
import typing

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from affectlab.cli import main
from affectlab.data import Dataset, Sample
from affectlab.experiments import run_experiment
from affectlab.experiments.runs import load_decisions
from affectlab.features import create_feature, registry
from affectlab.features.basic import PixelFeatures
from affectlab.features.cache import FeatureCache, default_cache_dir, images_fingerprint, parallel_transform

CLASSES = ["anger", "happy", "surprise"]


def _dataset(seed=0, n_subjects=6, per_class=2) -> Dataset:
    rng = np.random.default_rng(seed)
    samples = []
    for s in range(n_subjects):
        for k, label in enumerate(CLASSES):
            for j in range(per_class):
                image = rng.integers(0, 60, size=(16, 16)).astype(np.uint8)
                image[k * 5 : k * 5 + 5, :] += 150
                samples.append(Sample(id=f"S{s}_{k}_{j}", label=label, subject=f"S{s}", pixels=image))
    return Dataset("toy", samples, list(CLASSES), "image")


def _config(**overrides):
    config = {
        "name": "toy",
        "data": {"source": "unused"},
        "protocol": {"kind": "group_kfold", "n_splits": 3},
        "features": ["pixels"],
        "classifiers": [{"name": "linear_svm", "C": 0.1}],
    }
    config.update(overrides)
    return config


@pytest.fixture
def count_pixel_transforms(monkeypatch):
    calls = []
    original = PixelFeatures.transform

    def counting(self, X):
        calls.append(len(X))
        return original(self, X)

    monkeypatch.setattr(PixelFeatures, "transform", counting)
    return calls


def test_second_run_hits_the_cache(tmp_path, count_pixel_transforms):
    ds = _dataset()
    first = run_experiment(_config(), tmp_path / "a", dataset=ds, progress=False, cache=tmp_path / "cache")
    assert sum(count_pixel_transforms) == len(ds)
    second = run_experiment(_config(), tmp_path / "b", dataset=ds, progress=False, cache=tmp_path / "cache")
    assert sum(count_pixel_transforms) == len(ds)  # nothing recomputed
    assert first.rows[0]["accuracy"] == second.rows[0]["accuracy"]
    features = json.loads((tmp_path / "b" / "metrics.json").read_text())["features"]
    assert features["pixels"]["cache"] == "hit"
    assert list((tmp_path / "cache").rglob("*.npy"))


def test_changed_parameter_or_data_misses(tmp_path, count_pixel_transforms):
    cache = FeatureCache(tmp_path / "cache")
    images = np.random.default_rng(0).integers(0, 255, (4, 16, 16), dtype=np.uint8)
    h = images_fingerprint(images)
    assert cache.key("hog", create_feature("hog", pixels_per_cell=4), h) != cache.key(
        "hog", create_feature("hog", pixels_per_cell=8), h)
    assert cache.key("hog", create_feature("hog"), h) == cache.key("hog", create_feature("hog", pixels_per_cell=8), h)
    changed = images.copy()
    changed[0, 0, 0] ^= 1
    assert images_fingerprint(changed) != h
    assert images_fingerprint(images[:, :8]) != images_fingerprint(images.reshape(4, 8, 32)[:, :, :16])

    run_experiment(_config(), tmp_path / "a", dataset=_dataset(0), progress=False, cache=cache)
    run_experiment(_config(), tmp_path / "b", dataset=_dataset(1), progress=False, cache=cache)  # other data
    assert (cache.hits, cache.misses) == (0, 2) and sum(count_pixel_transforms) == 2 * len(_dataset())
    run_experiment(_config(images={"size": 12}), tmp_path / "c", dataset=_dataset(0), progress=False, cache=cache)
    assert (cache.hits, cache.misses) == (0, 3)  # another image size is other data
    run_experiment(_config(), tmp_path / "d", dataset=_dataset(0), progress=False, cache=cache)
    assert (cache.hits, cache.misses) == (1, 3)


def test_no_cache_computes_every_time(tmp_path, count_pixel_transforms):
    ds = _dataset()
    run_experiment(_config(), tmp_path / "a", dataset=ds, progress=False)
    run_experiment(_config(), tmp_path / "b", dataset=ds, progress=False)
    assert sum(count_pixel_transforms) == 2 * len(ds)


def test_parallel_extraction_equals_serial():
    images = np.random.default_rng(0).integers(0, 255, (70, 24, 24), dtype=np.uint8)
    extractor = create_feature("hog", pixels_per_cell=6)
    serial = parallel_transform(extractor, images, n_jobs=1, fit_chunks=True)
    parallel = parallel_transform(extractor, images, n_jobs=2, chunk_size=16, fit_chunks=True)
    assert serial.dtype == np.float32 and serial.shape[0] == 70
    np.testing.assert_array_equal(serial, parallel)


def test_parallel_folds_equal_serial(tmp_path):
    config = _config(classifiers=[{"name": "linear_svm", "C_grid": [0.01, 1.0], "inner_splits": 2}])
    serial = run_experiment(config, tmp_path / "a", dataset=_dataset(), progress=False, n_jobs=1)
    parallel = run_experiment(config, tmp_path / "b", dataset=_dataset(), progress=False, n_jobs=2)
    assert serial.rows[0]["accuracy"] == parallel.rows[0]["accuracy"]
    assert serial.rows[0]["chosen"] == parallel.rows[0]["chosen"]
    a, b = load_decisions(tmp_path / "a"), load_decisions(tmp_path / "b")
    np.testing.assert_allclose(a["pixels", "linear_svm"].values, b["pixels", "linear_svm"].values, rtol=1e-6)


class _MeanTemplate(TransformerMixin, BaseEstimator):
    """A feature that learns: distance of each image to the mean training image (counts its fits)."""

    fits: typing.ClassVar[list[int]] = []

    def fit(self, X, y=None):
        _MeanTemplate.fits.append(len(X))
        self.template_ = X.reshape(len(X), -1).mean(axis=0)
        return self

    def transform(self, X):
        return (X.reshape(len(X), -1) - self.template_) / 255.0


def test_learning_features_are_fitted_per_fold_and_cached(tmp_path, monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "mean_template",
                        registry.FeatureEntry("mean_template", _MeanTemplate, stateless=False))
    monkeypatch.setattr(_MeanTemplate, "fits", [])
    ds = _dataset()
    config = _config(features=["mean_template"], classifiers=[{"name": "pls", "n_components": 2}])
    run_experiment(config, tmp_path / "a", dataset=ds, progress=False, cache=tmp_path / "cache")
    assert len(_MeanTemplate.fits) == 3 and all(n < len(ds) for n in _MeanTemplate.fits)  # training parts only
    run_experiment(config, tmp_path / "b", dataset=ds, progress=False, cache=tmp_path / "cache")
    assert len(_MeanTemplate.fits) == 3  # second run: every fold from the cache
    info = json.loads((tmp_path / "b" / "metrics.json").read_text())["features"]["mean_template"]
    assert info["cache"] == {"hits": 3, "misses": 0} and info["stateless"] is False


def test_decision_values_and_chosen_parameters_written(tmp_path):
    ds = _dataset()
    config = _config(features=["pixels", {"name": "hog", "pixels_per_cell": 4}],
                     classifiers=[{"name": "linear_svm", "C_grid": [0.01, 0.1, 1.0]},
                                  {"name": "pls", "n_components_grid": [1, 2, 4]}])
    result = run_experiment(config, tmp_path / "run", dataset=ds, progress=False)
    decisions = load_decisions(result.out_dir)
    assert set(decisions) == {(f, c) for f in ("pixels", "hog") for c in ("linear_svm", "pls")}
    with open(result.out_dir / "predictions.csv", newline="") as handle:
        predictions = {(r["feature"], r["classifier"], r["id"]): r["pred"] for r in csv.DictReader(handle)}
    for (feature, classifier), d in decisions.items():
        assert d.values.shape == (len(ds), 3) and d.classes == CLASSES
        assert np.all(np.isfinite(d.values)) and set(d.fold.tolist()) == {0, 1, 2}
        predicted = np.array(d.classes)[d.values.argmax(axis=1)]
        assert [predictions[feature, classifier, i] for i in d.ids] == predicted.tolist()
    for row in result.rows:
        (name,) = row["chosen"]
        assert len(row["chosen"][name]["per_fold"]) == 3
        assert row["chosen"][name]["median"] in row["chosen"][name]["per_fold"]
        assert row["inner_cv"].endswith("by subject")
    assert "chosen (median)" in (result.out_dir / "report.md").read_text()


def test_cli_cache_options(tmp_path, monkeypatch, capsys):
    import cv2
    import yaml

    monkeypatch.setenv("AFFECTLAB_CACHE_DIR", str(tmp_path / "home-cache"))
    assert default_cache_dir() == tmp_path / "home-cache" / "features"
    data = tmp_path / "data"
    for s in range(4):
        for k, label in enumerate(CLASSES):
            (data / label).mkdir(parents=True, exist_ok=True)
            image = np.full((16, 16), 40, np.uint8)
            image[k * 5 : k * 5 + 5] = 200
            cv2.imwrite(str(data / label / f"S{s + 10:03d}_001_{1:08d}.png"), image)
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(_config(data={"source": "data"}, images={"size": 16},
                                             protocol={"kind": "group_kfold", "n_splits": 2})))
    assert main(["experiment", str(config), "--out", str(tmp_path / "r1"), "--no-progress", "-j", "1"]) == 0
    assert list((tmp_path / "home-cache" / "features").rglob("*.npy"))  # the default folder
    assert main(["experiment", str(config), "--out", str(tmp_path / "r2"), "--no-progress",
                 "--cache", str(tmp_path / "mine")]) == 0
    assert list((tmp_path / "mine").rglob("*.npy"))
    assert main(["experiment", str(config), "--out", str(tmp_path / "r3"), "--no-progress", "--no-cache"]) == 0
    r3 = json.loads((tmp_path / "r3" / "metrics.json").read_text())
    assert r3["features"]["pixels"]["cache"] is None
    assert len(r3["rows"]) == 1 and "affectlab compare" not in capsys.readouterr().err  # nothing to compare
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump(_config(data={"source": "data"}, images={"size": 16}, features=["pixels", "hog"],
                                          protocol={"kind": "group_kfold", "n_splits": 2})))
    assert main(["experiment", str(two), "--out", str(tmp_path / "r5"), "--no-progress", "--no-cache"]) == 0
    assert f"affectlab compare {tmp_path / 'r5'} A B" in capsys.readouterr().err
    assert main(["experiment", str(config), "--out", str(tmp_path / "r4"), "--no-cache", "--cache", "x"]) == 1
    assert "contradict" in capsys.readouterr().err


def test_test_folds_never_reach_the_search(tmp_path, monkeypatch):
    from affectlab.classify import LinearSVMCV, PLSClassifier

    seen: list[tuple[str, np.ndarray]] = []
    for cls in (LinearSVMCV, PLSClassifier):
        original = cls.fit

        def spy(self, X, y, groups=None, *, _original=original, **kwargs):
            seen.append((type(self).__name__, np.asarray(X).copy()))
            return _original(self, X, y, groups, **kwargs)

        monkeypatch.setattr(cls, "fit", spy)
    ds = _dataset(n_subjects=8)
    config = _config(protocol={"kind": "group_kfold", "n_splits": 4},
                     classifiers=[{"name": "linear_svm", "C_grid": [0.01, 1.0]},
                                  {"name": "pls", "n_components_grid": [1, 2]}])
    result = run_experiment(config, tmp_path / "run", dataset=ds, progress=False)
    pixels = np.stack([s.pixels for s in ds.samples]).reshape(len(ds), -1).astype(np.float32) / 255.0
    folds = [r["fold"] for r in result.rows[0]["folds"]]
    assert len(seen) == 2 * len(folds)
    with open(result.out_dir / "predictions.csv", newline="") as handle:
        tested = {r["id"]: r["fold"] for r in csv.DictReader(handle)}
    index = {s.id: i for i, s in enumerate(ds.samples)}
    for k, (_, X) in enumerate(seen):
        test_rows = pixels[[index[i] for i, f in tested.items() if f == folds[k // 2]]]
        fitted = {row.tobytes() for row in np.asarray(X, dtype=np.float32)}
        assert not fitted & {row.tobytes() for row in test_rows}  # no test sample was fitted or searched on
        assert len(fitted) == len(ds) - len(test_rows)


def test_a_killed_worker_is_one_clear_error(tmp_path, monkeypatch):
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    from affectlab.errors import ConfigError
    from affectlab.experiments import features as experiment

    def killed(*args, **kwargs):
        raise TerminatedWorkerError("A worker process ... was unexpectedly terminated.\n"
                                    "The exit codes of the workers are {SIGKILL(-9)}")

    monkeypatch.setattr(experiment, "stateless_feature_matrices", killed)
    with pytest.raises(ConfigError, match=r"worker process died \(The exit codes .*SIGKILL.*--jobs 1"):
        run_experiment(_config(), tmp_path / "run", dataset=_dataset(), progress=False)

