"""One model per process, one inference thread, a deadline per request."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from affectlab.service.uploads import UploadRejected

__all__ = ["InferenceEngine", "current_deadline"]

T = TypeVar("T")

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("affectlab_inference_deadline",
                                                                         default=None)


def current_deadline() -> float | None:
    """The :func:`time.monotonic` time by which the call running on the inference thread must end.

    Long work (video frames) checks it between steps and stops once it has passed, so that a
    request answered 504 does not keep the thread busy. ``None`` outside :meth:`InferenceEngine.run`.
    """
    return _DEADLINE.get()


def _set_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op threads from the inference thread (process-wide in most torch builds)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _timed_out(timeout_s: float) -> UploadRejected:
    return UploadRejected(504, f"inference did not finish within {timeout_s:g} s (server busy?)")


class InferenceEngine:
    """Runs model calls on a single dedicated thread so concurrent requests never share a model call.

    Requests queue in arrival order; each must be done by its deadline (``timeout_s`` after it
    was submitted, queueing included, unless :meth:`run_until` gives one) and is answered 504
    past it. A call still queued at its deadline is dropped; a running one sees the deadline
    through :func:`current_deadline` and is expected to stop (video reading does, between
    frames). ``torch_threads`` sets torch's intra-op threads for these calls (``None``: torch's
    default).

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
        """``fn(*args, **kwargs)`` on the inference thread; 504 when it is not done within ``timeout_s``."""
        return await self.run_until(time.monotonic() + self.timeout_s, fn, *args, **kwargs)

    async def run_until(self, deadline: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the inference thread; 504 when it is not done by ``deadline`` (monotonic)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(self.timeout_s)
        future = self._executor.submit(_call_until, deadline, fn, args, kwargs)
        self.calls += 1
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=remaining)
        except TimeoutError:
            future.cancel()  # drops it if still queued; a running call sees its deadline and stops
            raise _timed_out(self.timeout_s) from None
        except _Expired:
            raise _timed_out(self.timeout_s) from None

    def close(self) -> None:
        """Stop the inference thread (pending calls are cancelled)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Expired(Exception):
    pass


def _call_until(deadline: float, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    if time.monotonic() > deadline:  # queued past its deadline: the request has been answered 504
        raise _Expired()
    token = _DEADLINE.set(deadline)
    try:
        return fn(*args, **kwargs)
    finally:
        _DEADLINE.reset(token)
