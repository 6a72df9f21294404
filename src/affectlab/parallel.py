"""Run a list of joblib tasks in this process or in worker processes, with one progress bar.

Every experiment runner and the chunked feature extractors share this loop: ``n_jobs == 1`` calls the
tasks in order here (no pickling, easy to debug); more jobs hand them to joblib's process pool and
collect results as they finish. Results always come back in task order, and a worker killed by the
operating system (usually out of memory) becomes one :class:`~affectlab.errors.ConfigError` that
says what to do. joblib's worker pool replaces a worker whose memory grew by 300 MB (a deep model
loaded, say) and warns that "a worker stopped"; the work is not lost, so that warning is not shown.

>>> from joblib import delayed
>>> run_tasks([delayed(pow)(2, k) for k in range(4)], n_jobs=1, progress=False)
[1, 2, 4, 8]
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from affectlab.errors import ConfigError

__all__ = ["run_tasks", "worker_deaths_explained"]

#: joblib (loky) after replacing a worker it retired for growing memory: routine, the job is resubmitted.
_WORKER_REPLACED = "A worker stopped while some jobs were given to the executor"

Task = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


@contextlib.contextmanager
def worker_deaths_explained() -> Iterator[None]:
    """Turn a killed worker process (usually out of memory) into one clear :class:`ConfigError`."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    try:
        yield
    except TerminatedWorkerError as exc:
        codes = next((line.strip() for line in str(exc).splitlines() if "exit code" in line), "")
        raise ConfigError(
            f"a worker process died ({codes or 'killed'}), usually for lack of memory: run with fewer"
            " processes (--jobs 1) or smaller descriptors"
        ) from None


def _indexed(index: int, function: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> tuple[int, Any]:
    return index, function(*args, **kwargs)


def run_tasks(
    tasks: Sequence[Task],
    n_jobs: int = 1,
    *,
    progress: bool = True,
    desc: str = "folds",
    unit: str = "fold",
    total: int | None = None,
    advance: Callable[[Any], int] | None = None,
) -> list[Any]:
    """Run ``joblib.delayed`` tasks and return their results in task order.

    Parameters
    ----------
    tasks
        ``(function, args, kwargs)`` triples, as ``joblib.delayed(function)(*args, **kwargs)`` makes them.
    n_jobs
        Worker processes; 1 runs every task here, in order.
    progress, desc, unit
        The tqdm bar (on stderr; ``progress=False`` hides it).
    total, advance
        Bar length and how far one result moves it (default: one step per task; for chunked work pass
        e.g. ``total=n_images, advance=lambda block: len(block)``).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    tasks = list(tasks)
    step = advance or (lambda _result: 1)
    results: list[Any] = [None] * len(tasks)
    bar = tqdm(total=len(tasks) if total is None else total, desc=desc, unit=unit, disable=not progress,
               leave=False)
    with worker_deaths_explained():
        try:
            if n_jobs == 1 or len(tasks) <= 1:
                for index, (function, args, kwargs) in enumerate(tasks):
                    results[index] = function(*args, **kwargs)
                    bar.update(step(results[index]))
            else:
                indexed = [delayed(_indexed)(i, f, a, kw) for i, (f, a, kw) in enumerate(tasks)]
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=_WORKER_REPLACED, category=UserWarning)
                    for index, result in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(indexed):
                        results[index] = result
                        bar.update(step(result))
        finally:
            bar.close()
    return results
