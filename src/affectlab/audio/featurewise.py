"""Feature-wise CCC analysis: how well does each single feature follow each affect dimension?

Every feature column and every label column is min-max normalised to [0, 1] over the samples,
then Lin's concordance correlation coefficient (CCC) is computed between each feature and each
dimension. Unlike Pearson's r, CCC also penalises a shift of mean and a difference of spread, so
after the common [0, 1] scaling it rewards features whose distribution matches the label's. A
constant feature (or label) becomes all zeros and gets CCC 0 against anything that varies.

Examples
--------
>>> import numpy as np
>>> X = np.array([[0.0, 5.0], [1.0, 4.0], [2.0, 3.0]]); Y = np.array([[1.0], [2.0], [3.0]])
>>> featurewise_ccc(X, Y).round(3).tolist()
[[1.0], [-1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FeaturewiseCCC", "analyse_featurewise", "featurewise_ccc", "minmax_columns", "top_k_table"]


def minmax_columns(X: np.ndarray) -> np.ndarray:
    """Scale every column to [0, 1] (``(x - min) / (max - min)``; constant columns become 0).

    >>> minmax_columns(np.array([[1.0, 7.0], [3.0, 7.0]])).tolist()
    [[0.0, 0.0], [1.0, 0.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    low, high = X.min(axis=0), X.max(axis=0)
    span = high - low
    return np.divide(X - low, span, out=np.zeros_like(X), where=span > 0)


def featurewise_ccc(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """CCC of every min-max-normalised feature with every min-max-normalised label column.

    Parameters
    ----------
    X
        ``(n, d)`` features (finite).
    Y
        ``(n,)`` or ``(n, k)`` continuous labels.

    Returns
    -------
    numpy.ndarray
        ``(d, k)``; entry ``[i, j]`` is ``2 cov(x_i, y_j) / (var x_i + var y_j + (mean x_i - mean y_j)^2)``
        with population moments, 0 where that denominator is 0.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if X.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X must be (n, d) and Y (n,) or (n, k) with the same n, got {X.shape} and {Y.shape}")
    if X.shape[0] < 2:
        raise ValueError("featurewise CCC needs at least 2 samples")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise ValueError("X and Y must be finite (found NaN or inf)")
    A, B = minmax_columns(X), minmax_columns(Y)
    n = A.shape[0]
    ma, mb = A.mean(axis=0), B.mean(axis=0)
    va, vb = A.var(axis=0), B.var(axis=0)
    cov = (A - ma).T @ (B - mb) / n
    denominator = va[:, None] + vb[None, :] + (ma[:, None] - mb[None, :]) ** 2
    return np.divide(2.0 * cov, denominator, out=np.zeros_like(cov), where=denominator > 0)


@dataclass
class FeaturewiseCCC:
    """Result of :func:`analyse_featurewise`: ``ccc[i, j]`` for feature ``names[i]``, dimension ``dimensions[j]``."""

    ccc: np.ndarray
    names: list[str]
    dimensions: list[str]
    feature_set: str = ""
    notes: list[str] = field(default_factory=list)

    def top(self, dimension: str, k: int = 20) -> list[tuple[int, str, float]]:
        """The ``k`` features with the largest |CCC| on ``dimension``: ``(index, name, ccc)``."""
        j = self.dimensions.index(dimension)
        order = np.argsort(-np.abs(self.ccc[:, j]), kind="stable")[:k]
        return [(int(i), self.names[int(i)], float(self.ccc[int(i), j])) for i in order]

    def to_csv(self, path: str | Path) -> Path:
        """Write ``feature,<dim>...`` rows."""
        import csv

        path = Path(path)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["feature", *self.dimensions])
            for name, row in zip(self.names, self.ccc):
                writer.writerow([name, *(f"{v:.6f}" for v in row)])
        return path


def analyse_featurewise(X: np.ndarray, Y: np.ndarray, names: Sequence[str], dimensions: Sequence[str],
                        *, feature_set: str = "") -> FeaturewiseCCC:
    """:func:`featurewise_ccc` with feature and dimension names attached."""
    names = [str(n) for n in names]
    if len(names) != np.asarray(X).shape[1]:
        raise ValueError(f"{len(names)} feature names for {np.asarray(X).shape[1]} columns")
    ccc = featurewise_ccc(X, Y)
    if ccc.shape[1] != len(dimensions):
        raise ValueError(f"{len(dimensions)} dimension names for {ccc.shape[1]} label columns")
    return FeaturewiseCCC(ccc=ccc, names=names, dimensions=list(dimensions), feature_set=feature_set)


def top_k_table(result: FeaturewiseCCC, k: int = 20) -> str:
    """A Markdown table: rank, then per dimension the feature name and its CCC (largest |CCC| first).

    >>> r = FeaturewiseCCC(np.array([[0.5, -0.1], [0.2, 0.9]]), ["f0", "f1"], ["valence", "arousal"])
    >>> print(top_k_table(r, k=1))
    | rank | valence feature | CCC | arousal feature | CCC |
    | ---: | --- | ---: | --- | ---: |
    | 1 | `f0` | 0.500 | `f1` | 0.900 |
    """
    k = min(k, len(result.names))
    head = "| rank |" + "".join(f" {d} feature | CCC |" for d in result.dimensions)
    rule = "| ---: |" + " --- | ---: |" * len(result.dimensions)
    columns = [result.top(d, k) for d in result.dimensions]
    lines = [head, rule]
    for r in range(k):
        cells = "".join(f" `{columns[j][r][1]}` | {columns[j][r][2]:.3f} |" for j in range(len(columns)))
        lines.append(f"| {r + 1} |{cells}")
    return "\n".join(lines)
