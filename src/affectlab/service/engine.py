"""One model per process, one inference thread, a deadline per request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from affectlab.service.uploads import UploadRejected

__all__ = ["InferenceEngine"]

T = TypeVar("T")


def _set_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op threads from the inference thread (process-wide in most torch builds)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


class InferenceEngine:
    """Runs model calls on a single dedicated thread so concurrent requests never share a model call.

    Requests queue in arrival order; each waits at most ``timeout_s`` (queueing included) and is
    answered 504 past it. ``torch_threads`` sets torch's intra-op threads for these calls
    (``None``: torch's default).

    Examples
    --------
    >>> engine = InferenceEngine(timeout_s=5)
    >>> asyncio.run(engine.run(sum, [1, 2, 3]))
    6
    >>> engine.close()
    """

    def __init__(self, *, timeout_s: float = 30.0, torch_threads: int | None = None) -> None:
        self.timeout_s = float(timeout_s)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="affectlab-inference", initializer=_set_torch_threads,
            initargs=(torch_threads,),
        )
        self.calls = 0

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the inference thread; 504 when it is not done in time."""
        future = self._executor.submit(fn, *args, **kwargs)
        self.calls += 1
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=self.timeout_s)
        except TimeoutError:
            future.cancel()  # drops it if still queued; a running call finishes and is discarded
            raise UploadRejected(504, f"inference did not finish within {self.timeout_s:g} s (server busy?)") from None

    def close(self) -> None:
        """Stop the inference thread (pending calls are cancelled)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
