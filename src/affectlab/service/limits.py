"""A cap on the pixels decoded at once: requests hold their image's pixel count while it is in memory.

The count comes from the image header (:func:`affectlab.data.media.image_header`), so a request
waits for room *before* decoding. Waiters are served in arrival order (a large image is not
starved by a stream of small ones); one image larger than the whole budget holds all of it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["PixelBudget"]


@dataclass(eq=False)
class _Waiter:
    pixels: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future = field(repr=False)
    granted: bool = False


class PixelBudget:
    """At most ``capacity`` pixels held at once by the requests in :meth:`hold`.

    Thread-safe, and usable from several event loops (a test client may run one per request).

    Examples
    --------
    >>> budget = PixelBudget(100)
    >>> async def two():
    ...     async with budget.hold(60, timeout=1):
    ...         inside = budget.used
    ...     return inside, budget.used
    >>> asyncio.run(two())
    (60, 0)
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.used = 0
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()

    @asynccontextmanager
    async def hold(self, pixels: int, *, timeout: float) -> AsyncIterator[None]:
        """Wait (at most ``timeout`` seconds, then :class:`TimeoutError`) for ``pixels``, hold them in the block."""
        pixels = max(1, min(int(pixels), self.capacity))
        await self._acquire(pixels, timeout)
        try:
            yield
        finally:
            self._release(pixels)

    async def _acquire(self, pixels: int, timeout: float) -> None:
        with self._lock:
            if not self._waiters and self.used + pixels <= self.capacity:
                self.used += pixels
                return
            loop = asyncio.get_running_loop()
            waiter = _Waiter(pixels, loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await asyncio.shield(waiter.future)
        except BaseException:  # timed out or cancelled: give back what may have been granted meanwhile
            with self._lock:
                if waiter.granted:
                    granted = True
                else:
                    granted = False
                    self._waiters.remove(waiter)
                    self._grant()  # a large waiter leaving may let smaller ones in
            if granted:
                self._release(pixels)
            raise

    def _release(self, pixels: int) -> None:
        with self._lock:
            self.used -= pixels
            self._grant()

    def _grant(self) -> None:
        # under the lock: wake the waiters at the head of the queue while they fit
        while self._waiters and self.used + self._waiters[0].pixels <= self.capacity:
            waiter = self._waiters.popleft()
            waiter.granted = True
            self.used += waiter.pixels
            try:
                waiter.loop.call_soon_threadsafe(_set_done, waiter.future)
            except RuntimeError:  # pragma: no cover - its loop is closed: nobody waits any more
                self.used -= waiter.pixels


def _set_done(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
