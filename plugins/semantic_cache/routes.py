"""HTTP routes of the semantic_cache plugin: live figures and clearing for
``clawhost semantic-cache stats | clear``."""

from __future__ import annotations

from aiohttp import web

from clawhost.api import plugin_state

from .options import STATE


def _cache(request: web.Request):
    return plugin_state(request, STATE,
                        "the semantic cache is off here (its embedding model is not served)")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(_cache(request).figures())


async def clear(request: web.Request) -> web.Response:
    return web.json_response({"cleared": await _cache(request).clear()})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/semantic-cache/stats", stats)
    router.add_post("/v1/semantic-cache/clear", clear)
