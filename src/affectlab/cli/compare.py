"""``affectlab compare RUN A B``: is one method's accuracy really better than another's?"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["compare_command"]


@click.command("compare")
@click.argument("run", type=click.Path(path_type=Path))
@click.argument("method_a")
@click.argument("method_b")
@click.option("--other-run", type=click.Path(path_type=Path), default=None,
              help="Read METHOD_B from this run folder (same test samples) instead of RUN.")
@click.option("--n-boot", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Bootstrap resamples.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def compare_command(run: Path, method_a: str, method_b: str, other_run: Path | None, n_boot: int,
                    confidence: float, seed: int, as_json: bool) -> None:
    """Compare two methods' test predictions from a run folder's predictions.csv.

    METHOD_A and METHOD_B are a row's `feature` (or `feature/classifier` when a feature has several
    classifiers), as in the run's table. Prints both accuracies and UARs, paired bootstrap confidence
    intervals of the differences (A - B) that resample whole subjects when the run knows them (for
    verification pairs "s1|s7", the people of the pairs), and
    McNemar's exact test on the samples only one of the two got right. McNemar treats samples as
    independent; with several images per subject trust the subject bootstrap first.

    \b
    Examples:
      affectlab compare runs/ck-deep ensemble finetune_resnet
      affectlab compare runs/ck-hand hog_cell4/linear_svm lbp/linear_svm --json
      affectlab compare runs/ck-hand lbp/pls lbp/pls --other-run runs/ck-hand-2
    """
    from affectlab.evaluate.compare import compare_run_rows

    result = compare_run_rows(run, method_a, method_b, run_b=other_run, n_boot=n_boot, confidence=confidence,
                              random_state=seed)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())
