"""Who may call the service: an API key (``Authorization: Bearer KEY``) and the accepted Host names.

:class:`AccessMiddleware` wraps the application (HTTP and WebSocket). With a key, every route
except the public ones (``/health``, the web page and its static files, the API docs) answers
401 without ``Authorization: Bearer KEY``; a WebSocket may give the key as the ``api_key`` query
parameter or as a ``bearer.KEY`` subprotocol instead (browsers cannot set its headers). With
allowed hosts, a request whose ``Host`` header names another host answers 400 (this stops DNS
rebinding: a web page elsewhere reaching a server on this machine through a name it controls).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

__all__ = ["AccessMiddleware", "PUBLIC_PATHS", "PUBLIC_PREFIXES", "host_allowed", "is_public"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Routes answered without the key: liveness, the web page and the API documentation.
PUBLIC_PATHS = frozenset({"/", "/health", "/docs", "/openapi.json", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/", "/docs-assets/")
#: Subprotocol prefix that carries the key of a WebSocket (``Sec-WebSocket-Protocol: bearer.KEY``).
WS_KEY_PREFIX = "bearer."


def is_public(path: str) -> bool:
    """Whether ``path`` is served without the API key.

    >>> is_public("/health"), is_public("/static/app.js"), is_public("/v1/faces")
    (True, True, False)
    """
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _host_name(host: str) -> str:
    """``Host`` header value without the port (``[::1]:8000`` -> ``::1``), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether a ``Host`` header names one of ``allowed`` (``*.example.org`` matches its subdomains).

    >>> host_allowed("api.example.org:8443", ["*.example.org"]), host_allowed("evil.test", ["localhost"])
    (True, False)
    """
    name = _host_name(host)
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class AccessMiddleware:
    """ASGI middleware: Host check (when ``allowed_hosts``), then the API key (when ``api_key``)."""

    def __init__(self, app: ASGIApp, *, api_key: str | None = None, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self._key = api_key.encode("utf-8") if api_key else None
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.allowed_hosts and not host_allowed(headers.get("host", ""), self.allowed_hosts):
            shown = headers.get("host", "")[:100] or "none"
            await _refuse(scope, send, 400, f"Host {shown!r} is not served here (affectlab serve --allowed-host)")
            return
        if self._key is not None and not is_public(scope.get("path", "")) and not self._authorized(scope, headers):
            await _refuse(scope, send, 401,
                          "this server needs an API key: send the header 'Authorization: Bearer <key>'",
                          {"www-authenticate": 'Bearer realm="affectlab"'})
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self._key is not None
        offered: list[str] = []
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer":
            offered.append(token.strip())
        if scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            offered += query.get("api_key", [])
            protocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
            offered += [p[len(WS_KEY_PREFIX):] for p in protocols if p.startswith(WS_KEY_PREFIX)]
        # compare every offer in constant time (no early exit on the first character that differs)
        return any([hmac.compare_digest(o.encode("utf-8"), self._key) for o in offered])


async def _refuse(scope: Scope, send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    if scope["type"] == "websocket":  # closing before accepting answers the handshake with 403
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    body = json.dumps({"detail": detail}).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
