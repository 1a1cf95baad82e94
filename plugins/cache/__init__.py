"""cache: exact-match response cache. L1 in memory, L2 in SQLite under workspace/.cache/
(or Redis for a fleet), keyed by a canonical hash of everything that changes the answer.

Responses carry ``x-clawhost-cache: hit-l1 | hit-l2 | miss | bypass`` (and
``x-clawhost-cache-key`` on hits). ``GET /v1/cache/stats`` and ``POST /v1/cache/clear``
serve the CLI (``clawhost cache stats | clear | get``). The machinery is in
this package's modules, imported inside the hooks so this module stays cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clawhost.api import CACHE_RESULT, fleet_of, hookimpl

from .options import NAME, STATE, L1Options, L2Options, Options, RequestFields

if TYPE_CHECKING:
    from .manager import ResponseCache

__all__ = ["L1Options", "L2Options", "NAME", "Options", "RequestFields", "STATE"]


def cache_of(host) -> "ResponseCache | None":
    return host.state.get(STATE)


@hookimpl
async def clawhost_startup(host):
    from .manager import ResponseCache
    cache = ResponseCache(host.options(NAME) or Options(), host.workspace, fleet=fleet_of(host))
    await cache.start()
    host.state[STATE] = cache


@hookimpl
async def clawhost_shutdown(host):
    cache = host.state.pop(STATE, None)
    if cache is not None:
        await cache.close()


@hookimpl
def clawhost_request_started(request):
    # "bypass" until a lookup says otherwise: lookups step aside on no-cache, and the
    # label must be set before the response headers go out (streams included)
    request.notes[CACHE_RESULT] = request.response_headers["x-clawhost-cache"] = "bypass"


@hookimpl
async def clawhost_lookup(request):
    cache = cache_of(request.host)
    return None if cache is None else await cache.lookup(request)


@hookimpl
async def clawhost_store(request, reply):
    cache = cache_of(request.host)
    if cache is not None:
        await cache.store(request, reply)


@hookimpl
def clawhost_readiness(host):
    """A fact only while something is wrong: L2 writes failing (disk full, read-only)."""
    cache = cache_of(host)
    fault = cache.l2.write_fault if cache is not None and cache.l2 is not None else None
    return {"cache": {"l2_write_fault": fault}} if fault else None


@hookimpl
def clawhost_routes(router, host):
    from .routes import add_routes
    add_routes(router)


@hookimpl
def clawhost_commands(cli):
    from .commands import cache_group
    cli.add_command(cache_group)
