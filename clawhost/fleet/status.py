"""The fleet view: ``GET /v1/fleet`` on a running host, and ``clawhost fleet status``
(through the running host, else straight from Redis with the config's ``fleet.url``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import heartbeat


def view(host: Any, hosts: list[dict[str, Any]]) -> dict[str, Any]:
    link = host.fleet
    facts = host.readiness().get("fleet") if link is not None else None
    return {"object": "clawhost.fleet", "enabled": link is not None, "self": facts,
            "stale_after_s": host.config.host.fleet.stale_after_s if link is not None else None,
            "hosts": hosts}


async def handler(request: Any) -> Any:
    """``GET /v1/fleet``: this host's link and every host's last heartbeat."""
    from aiohttp import web

    from ..routing import host_of
    host = host_of(request)
    hosts = await host.fleet.hosts() if host.fleet is not None else []
    return web.json_response(view(host, hosts))


def from_redis(options: Any) -> dict[str, Any]:
    """The fleet read straight from Redis (no host running here)."""
    import redis.asyncio as aioredis
    import redis.exceptions as rexc

    async def read() -> list[dict[str, Any]]:
        client = aioredis.Redis.from_url(options.url.get_secret_value(),
                                         socket_timeout=options.timeout_s * 4,
                                         socket_connect_timeout=options.timeout_s * 4)
        try:
            return await heartbeat.read_hosts(client, options.namespace, options.stale_after_s)
        finally:
            await client.aclose()

    where = options.url.get_secret_value().split("@")[-1].split("://")[-1]
    try:
        hosts = asyncio.run(read())
    except (rexc.RedisError, OSError) as exc:
        return {"object": "clawhost.fleet", "enabled": True, "self": None, "hosts": [],
                "error": f"redis at {where} is unreachable ({type(exc).__name__})"}
    return {"object": "clawhost.fleet", "enabled": True, "self": None,
            "stale_after_s": options.stale_after_s, "hosts": hosts}


def lines(view: dict[str, Any], where: str) -> list[str]:
    """``clawhost fleet status`` as text: one line per host, stale ones flagged."""
    hosts = view.get("hosts") or []
    me = (view.get("self") or {}).get("name")
    out = []
    if view.get("error"):
        out.append(view["error"])
    live = sum(not h.get("stale") for h in hosts)
    out.append(f"{len(hosts)} host(s), {live} live, {len(hosts) - live} stale ({where})")
    for h in hosts:
        started = h.get("started")
        up = f"up {_age(time.time() - started)}" if started else "up ?"
        flag = "STALE" if h.get("stale") else "live "
        mark = " (this host)" if h.get("name") == me else ""
        out.append(f"  {flag} {h.get('name', '?'):<28} v{h.get('version', '?'):<8} "
                   f"beat {h.get('age_s', 0):.1f}s ago  {up}  pid {h.get('pid', '?')}  "
                   f"{h.get('address') or '-'}{mark}")
    return out


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
