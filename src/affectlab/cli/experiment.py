"""``affectlab experiment CONFIG.yaml --out DIR [--data PATH]``."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["experiment_command"]


@click.command("experiment")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder to create (must be new or empty unless --overwrite).")
@click.option("--data", "data", type=click.Path(path_type=Path), default=None,
              help="Dataset file or folder; overrides data.source of the config.")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty run folder.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars on stderr.")
def experiment_command(config: Path, out_dir: Path, data: Path | None, overwrite: bool, progress: bool) -> None:
    """Run a subject-independent experiment described by a YAML CONFIG.

    Images are loaded once (gray), each feature is computed once, then every
    feature x classifier pair is fitted on each fold's training part and tested on
    its test part; the pooled predictions give accuracy, UAR and macro-F1. The run
    folder gets config.yaml, metrics.json, predictions.csv, one confusion PNG per
    pair and report.md; the results table is printed at the end.

    Example config (relative paths resolve against the config's folder, then the
    current folder):

    \b
      name: ckplus48-baseline
      data: {source: ../../shared/datasets/ckplus48}
      images: {size: 48}
      protocol: {kind: group_kfold, n_splits: 10}   # or {kind: logo},
                                                    # {kind: fixed, train: Training, test: PublicTest}
      normalisation: global                         # or per_subject
      features: [{name: pixels}, {name: hog, pixels_per_cell: 8}]
      classifiers: [{name: linear_svm, C: 0.01}]    # C_grid: [0.001, 0.01, 0.1] picks C
                                                    # on the training folds only

    \b
    Example:
      affectlab experiment configs/ckplus48-baseline.yaml --out runs/ck48
    """
    from affectlab.evaluate.experiment import run_experiment

    result = run_experiment(config, out_dir, data=data, progress=progress, overwrite=overwrite)
    click.echo(result.table())
    click.echo(f"run folder: {result.out_dir} (report.md, metrics.json, predictions.csv)", err=True)
