"""HTTP handlers: ``/metrics`` (Prometheus), ``/v1/stats`` (JSON history), the status page."""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from aiohttp import web

from clawhost.api import INFLIGHT_KEY, BadRequest, NotFound, host_of

from .options import STATE

STATIC_FILES = {"status.html": "text/html", "status.js": "text/javascript",
                "status.css": "text/css"}
STATIC_PREFIX = "/monitor/static/"


def _monitor(request: web.Request) -> Any:
    monitor = host_of(request).state.get(STATE)
    if monitor is None:
        raise NotFound("the monitor is not running on this host")
    monitor.inflight = request.app.get(INFLIGHT_KEY)  # read at scrape time, never on the hot path
    return monitor


async def metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST
    from .collector import render
    monitor = _monitor(request)
    return web.Response(body=render(monitor.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def window_of(raw: str | None, default: float, limit: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        window = float(raw)
    except ValueError:
        raise BadRequest(f"window must be a number of seconds, got {raw[:40]!r}",
                         param="window") from None
    if not window > 0:  # also refuses nan
        raise BadRequest(f"window must be a positive number of seconds, got {raw[:40]!r}",
                         param="window")
    return min(window, limit)  # the history holds no more than that


def stats_body(host: Any, monitor: Any, window: float) -> dict[str, Any]:
    """The ``/v1/stats`` answer: summary and series over ``window``, the chain and the models."""
    view = monitor.history.view(window)
    totals = monitor.totals()
    totals.pop("latency")
    st = host.chain.stats
    plugins = []
    for name in host.chain.names():
        keys = sorted(k for k in set(st.calls) | set(st.errors) if k[0] == name)
        hooks = {k[1]: {"calls": st.calls.get(k, 0), "seconds": round(st.seconds.get(k, 0.0), 6),
                        "errors": st.errors.get(k, 0)} for k in keys}
        plugins.append({"name": name, "calls": sum(h["calls"] for h in hooks.values()),
                        "seconds": round(sum(h["seconds"] for h in hooks.values()), 6),
                        "errors": sum(h["errors"] for h in hooks.values()), "hooks": hooks})
    models = [{"id": m.id, "owner": m.owner, "kind": m.kind, "status": m.status}
              for m in host.models.values()]
    uptime = time.time() - host.started_at if host.started_at else 0.0
    return {"object": "clawhost.stats", "window_s": window, "uptime_s": round(max(uptime, 0), 1),
            **view, "totals": totals, "plugins": plugins, "models": models}


async def stats(request: web.Request) -> web.Response:
    monitor = _monitor(request)
    if monitor.history is None:
        raise NotFound("the monitor has not started yet")
    limit = monitor.history.history_s
    window = window_of(request.query.get("window"), min(300.0, limit), limit)
    monitor.stats_served += 1
    return web.json_response(stats_body(host_of(request), monitor, window))


BENCH_PATH = "/v1/bench/last"
BENCH_FILE = ("bench", "last.json")  # written by `clawhost bench` under the workspace


async def bench_last(request: web.Request) -> web.Response:
    """The last ``clawhost bench`` result saved in this host's workspace (``result: null``
    before the first run: the status page asks every minute, and a 404 would be logged in the
    browser's console as an error each time)."""
    import json
    path = host_of(request).config.workspace.joinpath(*BENCH_FILE)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        result = None
    except (OSError, ValueError) as exc:  # a torn or unreadable file: say so, once per ask
        return web.json_response({"object": "clawhost.bench.last", "result": None,
                                  "error": f"{path.name}: {type(exc).__name__}"})
    return web.json_response({"object": "clawhost.bench.last", "result": result})


def read_static(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


async def page(request: web.Request) -> web.Response:
    opts = _monitor(request).options
    html = (read_static("status.html").replace(b"__STATS_PATH__", opts.stats_path.encode())
            .replace(b"__METRICS_PATH__", opts.metrics_path.encode()))
    return web.Response(body=html, content_type="text/html",
                        charset="utf-8", headers={"Cache-Control": "no-cache"})


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_FILES:  # a fixed list: nothing else on disk is reachable
        raise NotFound(f"no such file: {name[:60]}")
    return web.Response(body=read_static(name), content_type=STATIC_FILES[name],
                        charset="utf-8", headers={"Cache-Control": "no-cache"})


def add_routes(router: web.UrlDispatcher, options: Any) -> None:
    router.add_get(options.metrics_path, metrics)
    router.add_get(options.stats_path, stats)
    router.add_get(BENCH_PATH, bench_last)
    if options.status_page:
        router.add_get(options.page_path, page)
        router.add_get(STATIC_PREFIX + "{name}", static)
