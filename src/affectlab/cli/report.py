"""``affectlab report RUN...``: one results table from many run folders."""

from __future__ import annotations

import json
from pathlib import Path

import click

from affectlab.errors import ConfigError, DataError
from affectlab.outputs import check_outputs

__all__ = ["report_command"]


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sort", "sort_by", default=None, metavar="METRIC",
              help="Order rows by a metric, best first (accuracy, uar, macro_f1, auc, error_rate, ccc, rmse, ...).")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Keep the first N rows (after --sort).")
@click.option("--contains", default=None, metavar="TEXT", help="Keep rows whose method name contains TEXT.")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the table to this file instead of stdout.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE.png",
              help="Also draw a bar chart of the --sort metric (default accuracy) per row.")
def report_command(runs: tuple[Path, ...], sort_by: str | None, top: int | None, contains: str | None, fmt: str,
                   out: Path | None, plot: Path | None) -> None:
    """Line up the results of several run folders in one table.

    Reads each RUN folder's metrics.json (any experiment kind) and prints one row per result:
    the run, the method (task / feature / classifier / model ... joined), then accuracy, UAR,
    macro-F1, AUC, error rate, CCC, RMSE, fold mean and sd and n_test where the run has them.

    \b
    Examples:
      affectlab report runs/ck-hand runs/ck-deep runs/ck-fusion --sort uar
      affectlab report runs/* --contains svm --top 10
      affectlab report runs/emodb --format csv -o emodb.csv
      affectlab report runs/ck-* --sort uar --top 12 --plot ck-uar.png
    """
    from affectlab.evaluate.report import (
        collect_results,
        results_csv,
        results_markdown,
        sort_results,
    )

    check_outputs([("--out", out), ("--plot", plot)], [r / "metrics.json" if r.is_dir() else r for r in runs])
    table = collect_results(runs, contains=contains)
    if sort_by is not None:
        try:
            table = sort_results(table, sort_by)
        except DataError as exc:  # it names the metrics there are
            raise ConfigError(f"--sort: {exc}") from None
    if top is not None:
        table = table[:top]
    text = {"md": results_markdown, "csv": results_csv}.get(fmt, lambda t: json.dumps(t, indent=1))(table)
    if plot is not None:
        from affectlab.viz.figure import save_figure
        from affectlab.viz.results import plot_results

        metric = sort_by or "accuracy"
        try:
            save_figure(plot_results(table, metric), plot)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"--plot {plot}: {exc}") from None
        click.echo(f"bar chart of {metric} written to {plot}", err=True)
    if out is None:
        click.echo(text.rstrip("\n"))
    else:
        try:
            out.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
        click.echo(f"{len(table)} rows written to {out}", err=True)
