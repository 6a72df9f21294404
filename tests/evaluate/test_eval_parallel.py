"""affectlab.parallel.run_tasks: results in task order, serial or in worker processes; worker deaths explained."""

from __future__ import annotations

import os
import time

import pytest
from joblib import delayed

from affectlab.errors import ConfigError
from affectlab.parallel import run_tasks


def _slow_square(x: int) -> int:
    time.sleep(0.05 * (3 - x))  # later tasks finish first in a pool
    return x * x


def _die() -> None:
    os._exit(9)


_KEPT: list[bytes] = []  # lives in the worker (this module is imported there): memory that grows like a loaded model


def _grow(mb: int) -> int:
    _KEPT.append(b"\x01" * (mb << 20))  # written, so resident
    time.sleep(1.1)  # joblib checks a worker's memory at most once a second
    return mb


def test_serial_results_come_back_in_task_order() -> None:
    assert run_tasks([delayed(_slow_square)(k) for k in range(4)], n_jobs=1, progress=False) == [0, 1, 4, 9]


def test_pool_results_come_back_in_task_order_even_when_finished_out_of_order() -> None:
    assert run_tasks([delayed(_slow_square)(k) for k in range(4)], n_jobs=2, progress=False) == [0, 1, 4, 9]


def test_advance_counts_items_not_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    import tqdm.auto

    steps: list[int] = []

    class Recorder:
        def __init__(self, total: int, **_: object) -> None:
            steps.append(total)

        def update(self, n: int) -> None:
            steps.append(n)

        def close(self) -> None:
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    blocks = run_tasks([delayed(list)(range(k)) for k in (2, 3)], n_jobs=1, total=5, advance=len)
    assert blocks == [[0, 1], [0, 1, 2]]
    assert steps == [5, 2, 3]  # the bar's total, then one step per item of each block


def test_a_killed_worker_becomes_one_config_error() -> None:
    with pytest.raises(ConfigError, match="--jobs 1"):
        run_tasks([delayed(_die)(), delayed(_die)()], n_jobs=2, progress=False)


def test_workers_retired_for_growing_memory_lose_no_task_and_print_no_warning() -> None:
    pytest.importorskip("psutil", reason="joblib checks workers' memory only with psutil")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run_tasks([delayed(_grow)(320) for _ in range(6)], n_jobs=2, progress=False)
    assert out == [320] * 6
    assert not [w for w in caught if "worker stopped" in str(w.message)], [str(w.message) for w in caught]
