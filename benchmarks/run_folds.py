"""Run an experiment config on some of its outer folds only: ``affectlab experiment`` with fewer folds.

    python benchmarks/run_folds.py CONFIG --out RUN --folds fold01 fold02 [--jobs 1] [--cache DIR] [--no-progress]

``affectlab experiment`` runs every fold of a config's protocol, and kinds ``deep`` and ``fusion`` (and the
feature-pair kind) have no key that runs only some folds of a ``group_kfold`` protocol (``kind: pairs`` has
``protocol.run_folds``, ``kind: siamese`` ``protocol.folds``). This script runs ``affectlab experiment CONFIG``
with :meth:`affectlab.evaluate.protocols.Protocol.folds` narrowed to the folds named by ``--folds``: the folds are
built as in a full run (same splitter, names and order) and the others dropped, so a kept fold has the training
and test samples it has in a full run. Nothing else is touched: inner folds (the classifiers' and the fusion's
inner CV, a fine-tuned net's validation subjects) come from scikit-learn splitters, not from the protocol.

A runner that seeds by the fold's position (``kind: fusion`` seeds its networks with ``seed + 1000 * k``) gives a
kept fold the position it has among the kept ones: name the first folds (``fold01 fold02``) for runs whose folds
match a full run's; a later fold alone runs as position 0. Pooled numbers mean little in such a run: ``kind: deep``
pools over every sample and counts the ones of folds not run as predicted in its last class; read the fold rows
and predictions.csv (the same for both codes, so two such runs still compare).

It reads nothing but ``Protocol.folds`` and ``affectlab.cli.main``, so it runs the code of commit 51c3558 (before
issue 26's moves) as well as today's: put a copy of that ``src/`` first on ``PYTHONPATH``. The affectlab package
it imported is printed first. Used for the refactor checks of the long configs in docs/results.md ("Refactor
checks"); compare two such runs with ``python benchmarks/compare_runs.py RUN_A RUN_B``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def narrow_folds(names: list[str]) -> None:
    """Make every protocol's ``folds(dataset)`` return only the folds called ``names`` (in protocol order)."""
    from affectlab.evaluate import protocols

    every_fold = protocols.Protocol.folds

    def folds(self: Any, dataset: Any) -> list[Any]:
        built = every_fold(self, dataset)
        missing = [n for n in names if n not in {f.name for f in built}]
        if missing:
            print(f"run_folds: no fold {', '.join(missing)} in this protocol (its folds:"
                  f" {', '.join(f.name for f in built)})", file=sys.stderr)
            raise SystemExit(2)
        return [f for f in built if f.name in names]

    protocols.Protocol.folds = folds  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="run folder to create (new or empty)")
    parser.add_argument("--folds", nargs="+", required=True, help="names of the folds to run (fold01 fold02)")
    parser.add_argument("--jobs", type=int, default=1, help="processes, as affectlab experiment --jobs")
    parser.add_argument("--cache", type=Path, default=None, help="feature cache folder, as affectlab experiment")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    import affectlab
    from affectlab.cli import main as affectlab_main

    print(f"run_folds: affectlab from {Path(affectlab.__file__).parent}, folds {' '.join(args.folds)}", flush=True)
    narrow_folds(list(args.folds))
    command = ["experiment", str(args.config), "--out", str(args.out), "--jobs", str(args.jobs)]
    if args.cache is not None:
        command += ["--cache", str(args.cache)]
    if args.no_progress:
        command.append("--no-progress")
    return affectlab_main(command)


if __name__ == "__main__":
    sys.exit(main())
