"""HTTP routes of the cache plugin: live counters and clearing for ``clawhost cache``."""

from __future__ import annotations

from aiohttp import web

from clawhost.api import BadRequest, plugin_state

from .options import STATE


def _cache(request: web.Request):
    return plugin_state(request, STATE, "the cache is not running yet")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(await _cache(request).stats())


async def clear(request: web.Request) -> web.Response:
    ns = request.query.get("namespace")
    if ns is not None and len(ns) > 128:
        raise BadRequest("namespace is longer than 128 characters", param="namespace")
    return web.json_response({"cleared": await _cache(request).clear(ns)})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/cache/stats", stats)
    router.add_post("/v1/cache/clear", clear)
