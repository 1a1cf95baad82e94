"""The connection guard: per-server limits aiohttp lacks, in the runner ``serve`` uses.

A deadline for a request's headers and a cap on open connections (idle ones included), and
malformed HTTP answered with one quiet line instead of aiohttp's traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .errors import BadRequest, Unavailable
from .routing import error_response

log = logging.getLogger("clawhost.server")  # the server's log, as before the split


@dataclass
class ConnectionGuard:
    """Per-server limits aiohttp lacks: a deadline for request headers and a cap on open
    connections (idle ones included: max_inflight only sees requests being answered)."""

    header_timeout_s: float
    max_connections: int
    redact: Callable[[str], str] = lambda text: text
    open: int = 0
    refused: int = 0
    too_slow: int = 0
    _last_said: dict[str, float] = field(default_factory=dict)

    def _due(self, what: str) -> bool:
        """At most one line per kind per 10 s: a flood must not become a flood of logs."""
        now = time.monotonic()
        if now - self._last_said.get(what, -10.0) < 10:
            return False
        self._last_said[what] = now
        return True

    def note_refused(self) -> None:
        self.refused += 1
        if self._due("refused"):
            log.warning("refusing connections: %d open (server.max_connections); %d refused "
                        "so far", self.open, self.refused)

    def note_too_slow(self, peer: str) -> None:
        self.too_slow += 1
        if self._due("too_slow"):
            log.info("closed a connection from %s: no complete request headers within %gs "
                     "(server.header_timeout_s); %d so far", peer, self.header_timeout_s,
                     self.too_slow)


_REFUSED = json.dumps(Unavailable("too many open connections (server.max_connections); "
                                  "try again shortly").to_dict()).encode()
REFUSED_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                    + str(len(_REFUSED)).encode() + b"\r\n\r\n" + _REFUSED)


class GuardedHandler(RequestHandler):
    """aiohttp's per-connection protocol, with the guard's limits and quiet bad requests."""

    def __init__(self, manager: "GuardedServer", **kw: Any):
        super().__init__(manager, **kw)
        self._guard = manager.guard
        self._counted = False
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self._guard
        if guard.open >= guard.max_connections:
            guard.note_refused()
            transport.write(REFUSED_RESPONSE)  # type: ignore[attr-defined]
            transport.close()
            return
        guard.open += 1
        self._counted = True
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._counted:
            return  # refused in connection_made: aiohttp never saw it
        self._counted = False
        self._guard.open -= 1
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:  # a request's headers are complete
            self._cancel_header_timer()
        elif (data and self._header_timer is None and self._waiter is not None
              and not self._waiter.done()):
            self._arm_header_timer()  # the next request on a kept-alive connection began

    def _arm_header_timer(self) -> None:
        self._header_timer = self._loop.call_later(self._guard.header_timeout_s,
                                                   self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        peer = self.transport.get_extra_info("peername") if self.transport else None
        self._guard.note_too_slow(peer[0] if peer else "?")
        self.force_close()

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        # Malformed HTTP (bad chunk sizes, huge headers, garbage) is the client's problem:
        # one line at INFO, not aiohttp's ERROR with a traceback, and a JSON error back.
        reason = " ".join(str(getattr(exc, "message", None) or message or exc or "").split())
        reason = self._guard.redact(reason)[:200]
        log.info("bad HTTP request from %s: %s", request.remote, reason)
        err = BadRequest(f"malformed HTTP request: {reason}")
        err.status = status
        return error_response(err, close=True)


class GuardedServer(web.Server):
    """web.Server whose connections are GuardedHandlers sharing one ConnectionGuard."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kw: Any):
        super().__init__(*args, **kw)
        self.guard = guard

    def __call__(self) -> RequestHandler:
        return GuardedHandler(self, loop=self._loop, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """AppRunner serving through a GuardedServer."""

    def __init__(self, app: web.Application, *, guard: ConnectionGuard, **kw: Any):
        super().__init__(app, **kw)
        self.guard = guard

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # aiohttp's own, with the app frozen and started
        # the same handler, factory and keyword arguments (access log, timeouts...)
        return GuardedServer(plain.request_handler, request_factory=plain.request_factory,
                             handler_cancellation=plain.handler_cancellation, guard=self.guard,
                             **plain._kwargs)
