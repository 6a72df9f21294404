"""Running the application with uvicorn: a connection that does not send its request headers in time is closed.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but waits
forever for the headers of a request once any byte has arrived, and for the first byte of a new
connection; 300 such connections stay open indefinitely. :func:`header_timeout_protocol` gives
uvicorn's h11 protocol a deadline for each request's headers (the body has its own, the
service's ``timeout_s``, answered 408).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

__all__ = ["header_timeout_protocol", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol class, closing a connection whose request headers take over ``seconds``.

    The clock starts when the connection opens and again whenever a finished response leaves
    it waiting for the next request; it stops when the headers are complete. Pass the class as
    ``uvicorn.Config(http=...)``.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        header_timeout = float(seconds)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _waiting_for_headers(self) -> bool:
            return self.conn.their_state is h11.IDLE and not self.transport.is_closing()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._waiting_for_headers():
                self._arm()  # a partial request (or the next one): the clock keeps running
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()
            if self._waiting_for_headers():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._waiting_for_headers():
                self.logger.debug("closing a connection whose request headers took over %g s", self.header_timeout)
                self.transport.close()

    return HeaderTimeoutH11Protocol
