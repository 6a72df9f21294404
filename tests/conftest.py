"""Shared fixtures. Real-data tests use ``shared_datasets`` and skip when the data are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest worker per core (pytest-xdist): one compute thread each, here and in the
    # processes the tests start, so the workers do not fight over the cores (two threads per worker on two
    # cores made the suite slower than one worker).
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"
    import torch

    torch.set_num_threads(1)


def _datasets_root() -> Path:
    env = os.environ.get("AFFECTLAB_DATASETS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """Root of the shared evaluation datasets (``../shared/datasets`` or $AFFECTLAB_DATASETS)."""
    root = _datasets_root()
    if not root.is_dir():
        pytest.skip(f"shared datasets not found at {root} (set AFFECTLAB_DATASETS to run real-data tests)")
    return root


@pytest.fixture(scope="session")
def dataset_path(shared_datasets: Path):
    """Return a function mapping a relative path under the datasets root to a path, skipping if absent."""

    def _get(relative: str) -> Path:
        path = shared_datasets / relative
        if not path.exists():
            pytest.skip(f"dataset {relative} not found under {shared_datasets}")
        return path

    return _get
