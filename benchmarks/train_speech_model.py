"""Train the bundled speech emotion model on all of Berlin EmoDB and write weights + model card.

Model: openSMILE ComParE 2016 functionals (16 kHz mono) -> the ``k`` functionals with the
largest ANOVA F on the training data, z-scored with the training mean and standard deviation
(global normalisation: a single file at analysis time has no speaker statistics) -> one-vs-rest
linear SVM (:class:`affectlab.classify.svr.KBestLinearSVM`); ``k`` and ``C`` are chosen by
leave-one-speaker-out UAR. Class probabilities are ``softmax(s * decision values)`` with one
scale ``s`` fitted (log-loss) on leave-one-speaker-out decision values of the chosen model.

Before the final fit the whole recipe is evaluated by nested leave-one-speaker-out (outer: 10
speakers; inner: leave-one-speaker-out over the 9 training speakers chooses k and C); those
pooled test predictions give the card's UAR/WA. Prints JSON.

    python benchmarks/train_speech_model.py --data ../shared/datasets/emodb \\
        --out src/affectlab/weights/speech_emodb --jobs 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

K_GRID = [500, 1000, 2000]
C_GRID = [2.0**-12, 2.0**-10, 2.0**-8, 2.0**-6]


def _features(paths: list[str], cache_dir: Path | None, jobs: int) -> np.ndarray:
    import opensmile

    from affectlab.audio.io import file_sha256
    from affectlab.audio.opensmile import extract_opensmile

    key = None
    if cache_dir is not None:
        digest = hashlib.sha256(f"train-speech|compare_2016|16000|{opensmile.__version__}".encode())
        for p in paths:
            digest.update(file_sha256(p).encode())
        key = cache_dir / f"speech-train-{digest.hexdigest()[:24]}.npy"
        if key.is_file():
            return np.load(key)
    X = extract_opensmile(paths, feature_set="compare_2016", n_jobs=jobs, progress=True)
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        np.save(key, X)
    return X


def _search(**fixed):
    from affectlab.classify.svr import KBestLinearSVM

    return KBestLinearSVM(k_grid=fixed.get("k_grid", K_GRID), C_grid=fixed.get("C_grid", C_GRID), inner_splits=9)


def _calibrate(X: np.ndarray, y: np.ndarray, speakers: np.ndarray, k: int, C: float) -> float:
    """Softmax scale minimising the log-loss of leave-one-speaker-out decision values."""
    from scipy.optimize import minimize_scalar

    from affectlab.audio.analyze import softmax

    classes = np.unique(y)
    decision = np.zeros((y.size, classes.size))
    for s in np.unique(speakers):
        tr, te = speakers != s, speakers == s
        model = _search(k_grid=[k], C_grid=[C]).fit(X[tr], y[tr])
        decision[te] = model.decision_function(X[te])
    codes = np.searchsorted(classes, y)

    def loss(log_scale: float) -> float:
        p = softmax(np.exp(log_scale) * decision)
        return float(-np.mean(np.log(p[np.arange(y.size), codes] + 1e-12)))

    return float(np.exp(minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded").x))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/datasets/emodb", help="EmoDB folder (holding wav/)")
    parser.add_argument("--out", default="src/affectlab/weights/speech_emodb", help="output stem (.npz/.json/.md)")
    parser.add_argument("--cache", default=None, help="folder to cache the ComParE matrix in")
    parser.add_argument("--jobs", type=int, default=1, help="processes for openSMILE extraction")
    parser.add_argument("--skip-eval", action="store_true", help="skip the nested LOSO evaluation (card gets none)")
    args = parser.parse_args(argv)

    from affectlab import __version__
    from affectlab.audio.analyze import SpeechModel, save_speech_model
    from affectlab.audio.norms import category_to_vad, get_norm
    from affectlab.audio.opensmile import OPENSMILE_LICENCE
    from affectlab.data.emodb import EMODB_CLASSES, load_emodb
    from affectlab.evaluate.metrics import classification_metrics

    started = time.perf_counter()
    ds = load_emodb(args.data)
    paths = [str(s.path) for s in ds.samples]
    y = np.array([s.label for s in ds.samples])
    speakers = np.array([s.subject for s in ds.samples])
    X = _features(paths, Path(args.cache) if args.cache else None, args.jobs).astype(np.float64)

    evaluation = None
    if not args.skip_eval:
        pred = np.empty_like(y)
        chosen = {}
        for s in np.unique(speakers):
            tr, te = speakers != s, speakers == s
            model = _search().fit(X[tr], y[tr], groups=speakers[tr])
            chosen[str(s)] = model.best_params_
            pred[te] = model.predict(X[te])
            print(f"fold {s}: {model.best_params_}", file=sys.stderr, flush=True)
        metrics = classification_metrics(y, pred, list(EMODB_CLASSES))
        evaluation = {"protocol": ("nested leave-one-speaker-out"
                                   " (10 outer folds; k and C by inner LOSO over 9 speakers)"),
                      "normalisation": "global (training-part z-scores)", "accuracy": metrics["accuracy"],
                      "uar": metrics["uar"], "macro_f1": metrics["macro_f1"], "confusion": metrics["confusion"],
                      "labels": metrics["labels"], "per_class_recall": metrics["per_class_recall"],
                      "chosen": chosen}

    final = _search().fit(X, y, groups=speakers)
    k, C = final.best_params_["k"], final.best_params_["C"]
    scale = _calibrate(X, y, speakers, k, C)
    classes = [str(c) for c in final.classes_]
    coef = np.zeros((len(classes), X.shape[1]))
    coef[:, final.selected_] = scale * final.coef_
    mean, std = np.zeros(X.shape[1]), np.ones(X.shape[1])
    mean[final.selected_], std[final.selected_] = final.mean_, final.scale_
    model = SpeechModel(
        name="speech_emodb", feature_set="compare_2016", sample_rate=16000, classes=classes, mean=mean, scale=std,
        coef=coef, intercept=scale * final.intercept_, vad=category_to_vad(classes, "warriner2013"),
        meta={"trained_on": "Berlin EmoDB (Burkhardt et al. 2005), all 535 utterances, 10 speakers; German, acted",
              "features": "openSMILE ComParE 2016 functionals (6,373), 16 kHz mono; the k with the largest ANOVA F",
              "normalisation": "global z-scores (training mean / std)",
              "classifier": "one-vs-rest linear SVM (squared hinge) on the k best functionals; softmax of scaled "
                            "decision values",
              "k": int(k), "C": float(C), "softmax_scale": scale,
              "selection": {"k_grid": K_GRID, "C_grid": C_GRID, "inner": final.inner_cv_,
                            "uar_table": final.cv_scores_.tolist()},
              "vad": "expected Warriner et al. (2013) V/A/D of the category words under the probabilities (proxy)",
              "norm": get_norm("warriner2013").to_dict(), "evaluation": evaluation, "affectlab": __version__})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    npz, meta = save_speech_model(model, out)
    card = _card(model, evaluation, k, C, scale, OPENSMILE_LICENCE, time.perf_counter() - started, args)
    out.with_suffix(".md").write_text(card, encoding="utf-8")
    print(json.dumps({"weights": str(npz), "meta": str(meta), "card": str(out.with_suffix(".md")), "k": k, "C": C,
                      "softmax_scale": scale, "nested_loso": None if evaluation is None else
                      {key: evaluation[key] for key in ("accuracy", "uar", "macro_f1")},
                      "seconds": round(time.perf_counter() - started, 1)}, indent=1))
    return 0


def _card(model, evaluation, k, C, scale, licence, seconds, args) -> str:
    lines = [
        "# Model card: `speech_emodb` (speech emotion, German acted speech)", "",
        "- **Task**: 7 categories (" + ", ".join(model.classes) + ") from one utterance, with probabilities,",
        "  plus valence/arousal/dominance estimates.",
        "- **Trained on German acted speech**: Berlin EmoDB (Burkhardt et al. 2005), all 535 utterances of",
        "  10 actors (5 female, 5 male), 2.0 s per file in this copy. Expect lower accuracy on spontaneous",
        "  speech, other languages, other microphones and noisy audio.",
        "- **Input**: any wav/flac/ogg/mp3, mixed to mono and resampled to 16 kHz (soxr); at least 0.25 s.",
        "- **Features**: openSMILE ComParE 2016 functionals (6,373). " + licence,
        "- **Normalisation**: global z-scores with the training mean and standard deviation (one file has",
        "  no speaker statistics; per-speaker normalisation scores higher in `configs/emodb-loso.yaml`).",
        f"- **Classifier**: the k = {k} ComParE functionals with the largest ANOVA F, one-vs-rest linear SVM",
        f"  (squared hinge) with C = {C:g}; k in {K_GRID} and C in 2^-12..2^-6 chosen by leave-one-speaker-out UAR.",
        f"  Probabilities: softmax of the decision values times {scale:.3f} (fitted on leave-one-speaker-out",
        "  decision values, log-loss).",
        "- **V/A/D**: the expected Warriner et al. (2013) ratings (1-9) of the category words under the",
        "  predicted probabilities; a proxy derived from the categories, not trained on dimensional labels.",
        "",
    ]
    if evaluation is not None:
        lines += ["## Evaluation (nested leave-one-speaker-out, global normalisation)", "",
                  (f"Pooled over the 10 test speakers: **UAR {evaluation['uar']:.4f}**, WA (accuracy)"
                   f" {evaluation['accuracy']:.4f}, macro-F1 {evaluation['macro_f1']:.4f}. k and C were chosen inside"
                   " each outer fold by leave-one-speaker-out over its 9 training speakers."), "",
                  "| true \\ pred | " + " | ".join(evaluation["labels"]) + " |",
                  "|---|" + "---|" * len(evaluation["labels"])]
        for label, row in zip(evaluation["labels"], evaluation["confusion"]):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
    lines += ["## Reproduce", "",
              (f"`python benchmarks/train_speech_model.py --data {args.data} --out {args.out} --jobs {args.jobs}`"
               f" ({seconds / 60:.1f} min on {platform.machine()}, Python {platform.python_version()})."), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
