"""The OpenAI-compatible HTTP server on aiohttp: ``make_app`` assembles the app (the
middleware, the core routes, a route per protocol endpoint, the plugins' routes) and
``serve`` runs it until a signal drains it. The middleware is in ``middleware.py``, the
routes' handlers in ``handlers.py`` (a streamed reply's SSE in ``sse_response.py``), the
guards a request passes first in ``guards.py``, the connection limits of the runner in
``connection_guard.py``."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
from pathlib import Path

from aiohttp import web

from . import access_log
from .connection_guard import ConnectionGuard, GuardedRunner
from .errors import ConfigError
from .handlers import add_core_routes, protocol_endpoint
from .host import Host
from .middleware import PROTOCOLS_KEY, errors_and_auth
from .protocols import endpoints
from .routing import HOST_KEY, INFLIGHT_KEY

log = logging.getLogger("clawhost.server")


def is_loopback(address: str) -> bool:
    if address in ("localhost", ""):
        return address == "localhost"
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_bind(host: Host) -> None:
    srv = host.config.host.server
    if not is_loopback(srv.host) and not srv.token:
        raise ConfigError(f"server.token is required to bind the non-loopback address {srv.host!r}"
                          " (set it, e.g. token: ${CLAWHOST_TOKEN})")


def make_app(host: Host) -> web.Application:
    config = host.config
    base = config.path.parent if config.path else Path.cwd()
    logged = access_log.setup(config.host.server.access_log, base, config.secrets)
    # the access log outermost: it sees the status errors_and_auth answered with
    app = web.Application(middlewares=[access_log.middleware] * logged + [errors_and_auth],
                          client_max_size=config.host.server.max_body_bytes)
    app[HOST_KEY] = host
    app[INFLIGHT_KEY] = [0]
    r = app.router
    add_core_routes(r)
    app[PROTOCOLS_KEY] = endpoints()
    for path, endpoint in app[PROTOCOLS_KEY].items():
        r.add_post(path, protocol_endpoint(endpoint))

    async def close_endpoints(app: web.Application) -> None:
        for endpoint in app[PROTOCOLS_KEY].values():
            endpoint.close(host)
    app.on_cleanup.append(close_endpoints)
    host.chain.walk_sync("clawhost_routes", router=r, host=host)
    return app


def make_runner(host: Host) -> GuardedRunner:
    """The runner ``serve`` uses: the app behind the connection guard."""
    srv = host.config.host.server
    guard = ConnectionGuard(srv.header_timeout_s, srv.max_connections, host.config.redact)
    # handler_cancellation: a client that hangs up cancels its handler, so its queued or
    # running work is dropped instead of finishing for nobody.
    return GuardedRunner(make_app(host), guard=guard, access_log=None,
                         shutdown_timeout=srv.drain_timeout_s, handle_signals=False,
                         handler_cancellation=True)


async def serve(host: Host, *, on_listening=None, stop: asyncio.Event | None = None) -> None:
    """Listen, start the plugins, and serve until SIGTERM/SIGINT (or ``stop``), then drain."""
    check_bind(host)
    host.prepare_workspace()
    srv = host.config.host.server
    runner = make_runner(host)
    await runner.setup()
    site = web.TCPSite(runner, srv.host, srv.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:  # port taken, address not on this machine, no permission
        await runner.cleanup()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {srv.host}:{srv.port}: {reason}; stop what uses "
                          "it or set server.port / server.host") from None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    port = site._server.sockets[0].getsockname()[1] if site._server else srv.port
    log.info("listening on http://%s:%s", srv.host, port)
    if on_listening:
        on_listening(port)
    host.port, host.address = port, bound_url(host, port)  # the fleet's heartbeats name them
    try:
        await host.start()
        log.info("ready: plugins %s; models %s", ", ".join(host.chain.names()) or "none",
                 ", ".join(host.models) or "none")
        await stop.wait()
        log.info("stopping: draining in-flight requests (up to %ss)", srv.drain_timeout_s)
    finally:
        host.ready = False
        await runner.cleanup()  # stops listening, then waits for in-flight handlers
        await host.stop()
        log.info("stopped")


def bound_url(host: Host, port: int | None = None) -> str:
    srv = host.config.host.server
    addr = "127.0.0.1" if srv.host in ("0.0.0.0", "") else srv.host
    return f"http://{addr}:{port or srv.port}"
