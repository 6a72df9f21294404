"""``affectlab data``: inspect datasets (``affectlab data info SOURCE``)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click

from affectlab.data.loader import FORMATS, detect_format, load_dataset
from affectlab.data.sample import Dataset
from affectlab.errors import DataError

__all__ = ["data_group", "info_command", "dataset_info"]


def dataset_info(dataset: Dataset, *, source: str, format: str) -> dict[str, Any]:
    """The ``data info`` report: :meth:`Dataset.summary` plus source, format, problem count and
    per-split class counts (``by_split``, only when the source names splits)."""
    info: dict[str, Any] = {"source": source, "format": format, **dataset.summary()}
    info["problems"] = len(dataset.problems)
    if info["splits"]:
        pairs = Counter((s.split, s.label) for s in dataset.samples if s.split is not None and s.label is not None)
        info["by_split"] = {
            split: {c: pairs[(split, c)] for c in info["classes"] if pairs[(split, c)]} for split in info["splits"]
        }
    return info


def _table(dataset: Dataset, info: dict[str, Any]) -> str:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "class": [s.label if s.label is not None else "(unlabelled)" for s in dataset.samples],
            "split": [s.split if s.split is not None else "(none)" for s in dataset.samples],
        }
    )
    rows = [c for c in [*info["classes"], "(unlabelled)"] if c in set(frame["class"])]
    if info["splits"]:
        columns = [c for c in [*info["splits"], "(none)"] if c in set(frame["split"])]
        table = pd.crosstab(frame["class"], frame["split"], margins=True, margins_name="total")
        table = table.reindex(index=[*rows, "total"], columns=[*columns, "total"])
    else:
        counts = frame["class"].value_counts().reindex(rows)
        table = pd.DataFrame({"count": counts, "%": (100 * counts / counts.sum()).round(1)})
        table.loc["total"] = [counts.sum(), 100.0]
        table["count"] = table["count"].astype(int)
    table.index.name = None
    table.columns.name = "class"
    return table.to_string()


def _plain(dataset: Dataset, info: dict[str, Any]) -> str:
    header = [
        ("dataset", info["name"]),
        ("source", info["source"]),
        ("format", f"{info['format']} ({info['kind']})"),
        ("total", str(info["total"])),
        ("classes", str(len(info["classes"]))),
        ("subjects", str(info["subjects"]) if info["subjects"] else "0 (none given)"),
    ]
    if info["splits"]:
        header.append(("splits", ", ".join(f"{k} {v}" for k, v in info["splits"].items())))
    lines = [f"{key:<9} {value}" for key, value in header]
    return "\n".join([*lines, "", _table(dataset, info)])


def _report_problems(problems: list[str], shown: int) -> None:
    if not problems:
        return
    click.echo(f"affectlab: warning: skipped {len(problems)} bad item(s){':' if shown else ''}", err=True)
    for message in problems[:shown]:
        click.echo(f"  {message}", err=True)
    if 0 < shown < len(problems):
        click.echo(f"  ... and {len(problems) - shown} more (--strict stops at the first)", err=True)


@click.group("data")
def data_group() -> None:
    """Inspect datasets: totals per split, class and subject.

    \b
    Examples:
      affectlab data info ../shared/datasets/ckplus48
      affectlab data info ../shared/datasets/fer2013/fer2013.csv.gz --json
    """


@data_group.command("info")
@click.argument("source", metavar="SOURCE")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(("auto", *FORMATS)),
    default="auto",
    show_default=True,
    help="Dataset layout; auto-detected unless given.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--strict", is_flag=True, help="Stop at the first bad item (exit 1) instead of skipping it.")
@click.option(
    "--show-problems",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    metavar="N",
    help="How many skipped-item messages to print on stderr.",
)
def info_command(source: str, fmt: str, as_json: bool, strict: bool, show_problems: int) -> None:
    """Count the items of a dataset per split, class and subject.

    SOURCE is a CSV file (.csv or .csv.gz) or a dataset folder. Media files are listed, not
    decoded. Bad items (a bad CSV row, a misnamed file) are skipped and reported on stderr; a
    missing, empty or malformed source (wrong CSV columns, corrupt gzip) exits with status 1 and
    one line naming the problem.

    \b
    Formats (--format; auto-detected in this order):
      fer2013   CSV with columns emotion,pixels,Usage (48x48 gray rows)
      manifest  CSV with columns path,label,subject,split[,valence,arousal,
                dominance]; paths relative to the CSV's folder
      emodb     Berlin EmoDB: [emodb/]wav/03a01Fa.wav (speaker 03, emotion F)
      orl       ORL faces: orl_faces/s<N>/<k>.pgm (label = subject = s<N>)
      folders   one folder per class: ROOT/<class>/<file>, or with splits:
                ROOT/<split>/<class>/<file> (e.g. train/happy/x.png); CK+
                names S010_006_00000015.png give subject S010
      filename  flat folder, label before the first "_": happy_001.png

    \b
    Examples:
      affectlab data info ../shared/datasets/ckplus48
      affectlab data info ../shared/datasets/fer2013/fer2013.csv.gz --json
      affectlab data info ../shared/datasets/emodb
      affectlab data info clips/manifest.csv --strict
      affectlab data info faces/ --format filename
    """
    name = detect_format(source) if fmt == "auto" else fmt
    extra = {"progress": True} if name == "fer2013" else {}
    dataset = load_dataset(source, format=name, errors="raise" if strict else "skip", **extra)
    if not dataset.samples:
        first = f"; first: {dataset.problems[0]}" if dataset.problems else ""
        raise DataError(f"{source}: no usable items ({len(dataset.problems)} skipped{first})")
    _report_problems(dataset.problems, show_problems)
    info = dataset_info(dataset, source=source, format=name)
    click.echo(json.dumps(info) if as_json else _plain(dataset, info))
