"""Golden outputs that guard declared versions (docs/experiments.md, "The feature cache").

A cache key holds the declared ``version`` of a feature extractor or network, not its code. The guard
tests compute each one on a fixed input and compare a short signature of the output with the one stored
in a JSON file together with the version it was stored under: an output that changed while the version
did not fails, asking for a bump (else caches written by the old code would be read as the new code's).

Each guard test module updates its own file when run as a script::

    .venv/bin/python -m tests.features.test_feature_versions            # new or bumped entries only
    .venv/bin/python -m tests.features.test_feature_versions --force    # all (a library upgrade)
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

Signature = list[float]
Outputs = Mapping[str, tuple[int | str, Signature]]  # name -> (declared version, signature)


def signature(output: Any) -> Signature:
    """Size, sum, sum of squares and three fixed random projections of an output (float64)."""
    flat = np.asarray(output, dtype=np.float64).ravel()
    weights = np.random.default_rng(0).standard_normal((3, flat.size))
    return [float(flat.size), float(flat.sum()), float(flat @ flat), *(float(v) for v in weights @ flat)]


def same_signature(a: Signature, b: Signature, rtol: float = 1e-5) -> bool:
    """Equal sizes, and every other value within ``rtol`` of the output's norm (float noise of other CPUs and
    thread counts passes; a changed output does not)."""
    if len(a) != len(b) or a[0] != b[0]:
        return False
    norm = math.sqrt(max(b[2], 0.0))
    return all(abs(x - y) <= rtol * (abs(y) + norm) + 1e-12 for x, y in zip(a[1:], b[1:]))


def read_golden(path: Path) -> dict[str, dict[str, Any]]:
    """``{name: {"version": ..., "signature": [...]}}``; empty when the file does not exist yet."""
    return json.loads(path.read_text()) if path.is_file() else {}


def problems(golden: Mapping[str, Mapping[str, Any]], outputs: Outputs, *, what: str, bump: str,
             update: str) -> list[str]:
    """One line per output that disagrees with ``golden``; ``bump`` says where its version is declared and
    ``update`` is the command that rewrites the file."""
    found = []
    for name, (version, sig) in sorted(outputs.items()):
        stored = golden.get(name)
        if stored is None:
            found.append(f"{what} {name!r} has no golden output: run {update}")
        elif stored["version"] != version:
            found.append(f"{what} {name!r}: version {stored['version']!r} -> {version!r}; record the new output: "
                         f"run {update}")
        elif not same_signature(sig, stored["signature"]):
            found.append(f"{what} {name!r}: its output changed but its version is still {version!r}. Bump the "
                         f"version ({bump}) so that caches written by the old code are not read, then run {update}. "
                         f"Only where a library upgrade or new bundled weights changed it (the key covers both) "
                         f"rewrite the file without a bump: {update} --force")
    return found


def updated(golden: Mapping[str, Mapping[str, Any]], outputs: Outputs, *, force: bool) -> dict[str, Any]:
    """``golden`` with new and re-versioned outputs recorded (every output with ``force``)."""
    out = {name: dict(entry) for name, entry in golden.items() if name in outputs}
    for name, (version, sig) in outputs.items():
        if force or name not in out or out[name]["version"] != version:
            out[name] = {"version": version, "signature": sig}
    return dict(sorted(out.items()))


def main(path: Path, compute: Callable[[], Outputs]) -> None:
    """Script entry of a guard module: rewrite ``path`` (``--force``: every entry) and say what changed."""
    golden = read_golden(path)
    new = updated(golden, compute(), force="--force" in sys.argv[1:])
    path.write_text(json.dumps(new, indent=1) + "\n")
    changed = sorted(name for name in new if golden.get(name) != new[name])
    print(f"{path}: {', '.join(changed) if changed else 'nothing'} updated")
