"""The ``report.md`` of a ``kind: siamese`` run: data and protocol, folds, pooled results, extra rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from affectlab.experiments import runs

__all__ = ["options_lines", "write_siamese_report"]


def options_lines(train: Mapping[str, Any], extra: Mapping[str, Any] | None = None, rotate: bool = False,
                  distill: Mapping[str, Any] | None = None) -> list[str]:
    """Report lines for the optional training steps that are switched on."""
    lines = []
    if distill is not None:
        layout = distill["layout"]
        lines.append(f"- distillation: `{distill['source']}` ({distill.get('n_faces', '?')} faces of people not in the"
                     " verification set), each described by dlib's face-recognition ResNet (128-d, the teacher) and"
                     f" placed, {layout['height'] or 'frame'} rows high, at row {layout['top']}, column"
                     f" {layout['left']} of the frame; each net's branch plus a linear layer (discarded) first"
                     f" learns to point where the teacher points (cosine loss; {distill['epochs']} epochs, lr"
                     f" {distill['lr']}, once per seed, shared by all folds).")
        if distill.get("adapt_epochs"):
            lines.append(f"- adaptation: each net's distilled branch then learns the teacher's descriptors of its"
                         f" fold's training photographs ({distill['adapt_epochs']} epochs, lr {distill['adapt_lr']})"
                         " before the pair stage.")
    if extra is not None:
        layout = extra["layout"]
        lines.append(f"- extra identities: `{extra['source']}` ({extra.get('n_images', '?')} images,"
                     f" {extra.get('n_subjects', '?')} subjects; people not in the verification set, never in"
                     f" validation or test pairs), each image resized to {layout['height'] or 'the frame'} rows and"
                     f" placed at row {layout['top']}, column {layout['left']} of the frame; each net's branch is"
                     f" first trained to classify them ({extra['epochs']} epochs, lr {extra['lr']}, once per seed,"
                     " shared by all folds).")
    if train.get("threshold_rule") == "fixed":
        lines.append("- threshold: fixed at P(same) = 0.5, where the balanced pair loss (same and different pairs"
                     " weighted equally) puts the decision; "
                     + ("no epoch is chosen either (the last one)." if train.get("select_on") == "none" else
                        "validation pairs choose only the epoch."))
    if train.get("extra_subjects_per_batch"):
        lines.append(f"- each pair batch also holds {train['extra_subjects_per_batch']} extra-identity subjects"
                     " (their pairs enter the same loss; never in validation or test pairs).")
    if train["hard_negatives"] < 1:
        lines.append(f"- hard negatives: only the hardest {100 * train['hard_negatives']:.0f} %"
                     " of the different pairs of each batch enter their mean.")
    if train["pretrain_epochs"]:
        lines.append(f"- pretraining: each net's branch is first trained as a classifier of the fold's training"
                     f" subjects ({train['pretrain_epochs']} epochs, softmax on the embedding, head discarded), then"
                     " the whole pair network is trained with the pair loss.")
    if train["ensemble"] > 1:
        lines.append(f"- ensemble: {train['ensemble']} nets per fold (seeds {train['seed']}.."
                     f"{train['seed'] + train['ensemble'] - 1}); their pair scores are averaged"
                     + (" as described under validation rotation." if rotate else
                        " in logit space (mean logit) and 'same' is decided above 0.5."
                        if train.get("select_on") == "none"
                        else " and the threshold is set on the averaged validation scores."))
    return lines


def _number(value: Any) -> str:
    """Three decimals, or '-' where there is no value (no validation subjects)."""
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def write_siamese_report(out: Path, cfg: Mapping[str, Any], rows: list[dict[str, Any]], folds: list[dict[str, Any]],
            heat_files: list[str], curve_files: list[str] | None = None) -> None:
    """Write ``out/report.md`` from the resolved config, the results rows and the per-fold rows."""
    protocol = cfg["protocol"]
    row = rows[0]
    lines = [
        f"- source: `{cfg['data']['source']}` ({cfg['run']['n_images']} images, {cfg['run']['n_subjects']} subjects),"
        " gray, " + ("padded to a square with their own edge values, then " if cfg["images"].get("square") == "edge"
                     else "") + f"resized to {cfg['images']['size'][0]}x{cfg['images']['size'][1]} (height x width),"
        " pixels in [0, 1], normalised inside the net (mean 0.5, sd 0.25).",
        f"- protocol: {protocol['n_folds']} folds by subject (each subject tested once); "
        + (f"per fold {protocol['val_subjects']} of the training subjects are held out for validation (epoch and"
           " threshold selection on their balanced pairs)" if protocol["val_subjects"] else
           "every non-test subject trains; no validation subjects: each net keeps its last epoch"
           f" ({cfg['train']['epochs']}, fixed in advance) and 'same' is P(same) >= 0.5")
        + "; test pairs: every same-subject pair of the test subjects and as many"
        " random different-subject pairs. No test pair is used for any choice.",
        *([f"- only folds {protocol['folds']} of the {protocol['n_folds']} were run."] if protocol.get("folds")
          is not None else []),
        *([f"- each net trains on only the first {protocol['train_subjects']} of its fold's training subjects (a"
           " learning curve against the number of identities)."] if protocol.get("train_subjects") is not None
          else []),
        *([f"- validation rotation: ensemble net m validates on the m-th group of {protocol['val_subjects']} of the"
           " fold's non-test subjects (group 0 as above) and trains on the others, so the ensemble together trains on"
           " every non-test subject; each net's test scores are shifted by its own threshold (threshold_rule on its"
           " group; 0.5 for 'fixed') as logit(p) - logit(t) and averaged, and the ensemble decides 'same' above 0.5."
           " The fold table's val acc and AUC are the nets' means on their own groups."]
          if protocol.get("val_rotation") else []),
        f"- model: Siamese VGG (10 3x3 conv layers per shared branch, 2 x 64 + 8 x 128, 2x2 max pooling after layers"
        f" {', '.join(map(str, cfg['model']['pool_after']))};"
        f" {cfg['model']['embedding']} embeddings (l2-normalised: {cfg['model']['l2_normalize']})"
        " joined as [|a-b|, a*b]"
        f" -> dropout {cfg['model']['dropout']} -> fc({cfg['model']['hidden']}) -> ReLU -> fc(1)); loss = mean BCE of"
        " same pairs + mean BCE of different pairs over all pairs of each subject-balanced batch.",
        *options_lines(cfg["train"], cfg.get("extra_identities"), bool(protocol.get("val_rotation")),
                       cfg.get("distill")),
        f"- training: {cfg['train']}",
    ]
    table = ["| fold | test subjects | best epoch | val acc | threshold | test accuracy | UAR | AUC | pairs |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for f in folds:
        table.append(f"| {f['fold']} | {', '.join(f['test_subjects'])} | {f['best_epoch']} |"
                     f" {_number(f['val_accuracy'])} | {f['threshold']:.3f} | {f['accuracy']:.3f} | {f['uar']:.3f} |"
                     f" {f['auc']:.3f} | {f['n_pairs']} |")
    sections = [("Data and protocol", "\n".join(lines)), ("Folds", "\n".join(table)),
                ("Pooled test pairs", f"accuracy {row['accuracy']:.4f}, UAR {row['uar']:.4f}, AUC {row['auc']:.4f}, "
                                      f"true-accept rate {row['true_accept_rate']:.4f}, true-reject rate "
                                      f"{row['true_reject_rate']:.4f}; fold accuracy {row['fold_accuracy_mean']:.4f}"
                                      f" ± {row['fold_accuracy_std']:.4f} (sd over folds)")]
    hand = [r for r in rows if r["feature"] in ("fisherfaces", "siamese_vgg+fisherfaces")]
    if hand:
        h = cfg["handcrafted"]
        sections.append(("Handcrafted verifier and fusion", "\n".join([
            f"- fisherfaces: each image standardised (pixel mean 0, sd 1), PCA ({h['n_components']} components) then"
            " LDA fitted to separate the fold's non-test subjects (training and validation subjects; no choice is"
            " made on them); pair similarity = cosine of the unit LDA embeddings, turned into a same-subject logit"
            f" by a logistic regression fitted on pairs of subjects held out in turn ({h['calibration_folds']} groups"
            " of the same non-test subjects, each scored by an embedding fitted without it). 'same' at logit > 0.",
            "- siamese_vgg+fisherfaces: the Siamese ensemble's logit (0 at its threshold) plus the Fisherface logit"
            " (a naive-Bayes sum of log-odds; no weight fitted), 'same' at a sum > 0.",
            *[f"- {r['feature']}: accuracy {r['accuracy']:.4f}, UAR {r['uar']:.4f}, AUC {r['auc']:.4f}, true-accept"
              f" {r['true_accept_rate']:.4f}, true-reject {r['true_reject_rate']:.4f}; fold accuracy"
              f" {r['fold_accuracy_mean']:.4f} ± {r['fold_accuracy_std']:.4f}" for r in hand]])))
    ident = next((r for r in rows if r["feature"] == "vgg_identity"), None)
    if ident is not None:
        sections.append(("Identity classifier (vgg_identity)",
                         f"40-way classification of known subjects, split by image number: train images "
                         f"{ident['split']['train_images']}, validation (epoch choice) {ident['split']['val_images']},"
                         f" test the rest ({ident['n_test']} images): accuracy {ident['accuracy']:.4f}, UAR "
                         f"{ident['uar']:.4f} (best epoch {ident['best_epoch']}, validation accuracy "
                         f"{ident['val_accuracy']:.4f}). Not subject-independent by nature; shown for reference."))
    if curve_files:
        sections.append(("Scores and ROC", "Every verifier's score of every test pair (higher = more alike) and the"
                         " ROC curves of the pooled test pairs, each with a dot at the verifier's own decisions:\n\n"
                         + "\n".join(f"- [{f}]({f})" for f in curve_files)))
    if heat_files:
        sections.append(("Same / different heatmaps (test pairs of the first fold run)",
                         "Grad-CAM of the 'same' logit (and of its negative, 'different')"
                         " on each branch's last map.\n\n"
                         + "\n".join(f"- [{f}]({f})" for f in heat_files)))
    runs.write_report(out, title=f"Siamese verification: {cfg['name']}", sections=sections, rows=rows)
