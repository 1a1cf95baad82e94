"""The link to the fleet's Redis: one client, one up/down state, one heartbeat task.

Every plugin that shares state through Redis goes through the same link, so the fleet has
one warning when Redis goes away, one readiness fact while it is away, and one line when it
is back, however many plugins noticed. While it is down the heartbeat task retries with
exponential backoff (0.1 s doubling up to ``retry_max_s``); plugins keep serving from their
local tiers and may ``await wait_available()`` to resume (catch up) when it returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any

from ..config import FleetOptions
from ..contracts import fleet_key
from . import heartbeat

log = logging.getLogger("clawhost.fleet")

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)


def default_name(port: int | None) -> str:
    """``<hostname>:<port>``: stable across restarts, distinct for two hosts on one box."""
    host = socket.gethostname() or "localhost"
    return f"{host}:{port}" if port else f"{host}-{os.getpid()}"


def connection_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions as rexc
    return (rexc.ConnectionError, rexc.TimeoutError, *CONNECTION_ERRORS)


class Link:
    """``clawhost.contracts.FleetLink`` over a real Redis (``redis.asyncio``)."""

    def __init__(self, options: FleetOptions, *, port: int | None = None,
                 address: str | None = None):
        self.options = options
        self.name = options.name or default_name(port)
        self.namespace = options.namespace
        self.address = address
        self.instance = uuid.uuid4().hex  # tells this run apart from another with the same name
        self.started = time.time()
        self._url = options.url.get_secret_value()
        self._redis: Any = None
        self._up = asyncio.Event()
        self._wake = asyncio.Event()
        self._down_since: float | None = None
        self._task: asyncio.Task | None = None
        self._seen: dict[str, float] = {}
        self._seen_at = 0.0  # Redis time of the last successful beat
        self._duplicate_warned = False
        self._said_down = False  # a "down" warning went out; the next good beat says "back"
        self.failures = 0
        self._stopping = False
        self.beats = 0

    # -- the contract ----------------------------------------------------------------------
    @property
    def redis(self) -> Any:
        return self._redis

    @property
    def available(self) -> bool:
        return self._up.is_set()

    def key(self, *parts: str) -> str:
        return fleet_key(self.namespace, *parts)

    def open_client(self, read_timeout_s: float | None = None) -> Any:
        import redis.asyncio as aioredis
        return aioredis.Redis.from_url(self._url, socket_timeout=read_timeout_s,
                                       socket_connect_timeout=self.options.timeout_s)

    def report_failure(self, exc: BaseException) -> None:
        self.failures += 1
        if self._up.is_set():
            self._up.clear()
            self._down_since = time.monotonic()
            self._say_down(exc)
        self._wake.set()

    def _say_down(self, exc: BaseException) -> None:
        if not self._said_down:
            self._said_down = True
            log.warning("fleet: redis at %s is unreachable (%s); serving from local tiers "
                        "until it is back", self.where, type(exc).__name__)

    async def wait_available(self) -> None:
        await self._up.wait()

    def hosts_seen(self, window_s: float | None = None) -> int:
        window = self.options.stale_after_s if window_s is None else window_s
        live = {n for n, beat in self._seen.items() if beat >= self._seen_at - window}
        return max(1, len(live | {self.name}))

    async def hosts(self) -> list[dict[str, Any]]:
        if not self.available:
            return []
        try:
            return await heartbeat.read_hosts(self._redis, self.namespace,
                                              self.options.stale_after_s)
        except connection_errors() as exc:
            self.report_failure(exc)
            return []

    # -- what the host and its status views read ----------------------------------------
    @property
    def where(self) -> str:
        """host:port/db of the Redis, never its password."""
        return self._url.split("@")[-1].split("://")[-1]

    def facts(self) -> dict[str, Any]:
        down = self._down_since
        return {"name": self.name, "namespace": self.namespace,
                "redis": "up" if self.available else "down",
                "down_s": round(time.monotonic() - down, 1) if down is not None else None,
                "hosts_seen": self.hosts_seen()}

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect and send the first beat (waiting at most ``timeout_s``), then keep beating
        in the background. A Redis that is down now is retried there, not waited for."""
        import redis.asyncio as aioredis
        t = self.options.timeout_s
        self._redis = aioredis.Redis.from_url(self._url, socket_timeout=t,
                                              socket_connect_timeout=t,
                                              health_check_interval=30)
        self._down_since = time.monotonic()  # until the first beat says otherwise
        try:
            await self._beat()
        except connection_errors() as exc:
            self.failures += 1
            self._say_down(exc)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fleet-heartbeat")

    async def stop(self) -> None:
        """Stop beating and leave the list (a host that is killed instead shows as stale)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=3.0)  # a host's stop never hangs here
            self._task = None
        if self._redis is not None:
            if self.available:
                try:
                    await self._redis.eval(heartbeat.LEAVE, 2, *self._beat_keys(),
                                           self.name, self.instance)
                except Exception:  # noqa: BLE001 - leaving is a courtesy
                    pass
            try:
                await self._redis.aclose()
            except Exception:  # noqa: BLE001
                pass
            self._redis = None
        self._up.clear()

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            if self.available:
                self._wake.clear()
                try:  # not wait_for: on 3.11 it can swallow a cancel that meets its timeout
                    async with asyncio.timeout(self.options.heartbeat_s):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(backoff)
            try:
                await self._beat()
                backoff = 0.1
            except connection_errors() as exc:
                self.report_failure(exc)
                backoff = min(backoff * 2, self.options.retry_max_s)
            except Exception as exc:  # noqa: BLE001 - a refused command (OOM, READONLY ...)
                log.debug("fleet: heartbeat refused: %s", exc)
                await asyncio.sleep(min(backoff, self.options.heartbeat_s))

    def _beat_keys(self) -> tuple[str, str]:
        """This host's record and the fleet's list of hosts (the heartbeat scripts' KEYS)."""
        return (heartbeat.host_key(self.namespace, self.name),
                heartbeat.hosts_key(self.namespace))

    async def _beat(self) -> None:
        opts = self.options
        ttl_ms = int(max(opts.stale_after_s * 3, opts.heartbeat_s * 3) * 1000)
        window = max(opts.stale_after_s, opts.heartbeat_s) * 6  # the widest hosts_seen window
        now, seen, prev = await self._redis.eval(
            heartbeat.BEAT, 2, *self._beat_keys(),
            self.name, heartbeat.record(self.name, self.instance, self.started, self.address),
            ttl_ms, heartbeat.FORGET_S, window)
        self._seen_at = float(now)
        self._seen = heartbeat.parse_seen(seen)
        self.beats += 1
        if prev and self.instance.encode() not in prev and not self._duplicate_warned \
                and self.beats > 1:
            self._duplicate_warned = True
            log.warning("fleet: another host also calls itself %r; give each a distinct "
                        "fleet.name", self.name)
        if not self._up.is_set():
            if self._said_down:
                self._said_down = False
                log.warning("fleet: redis at %s is back after %.1fs", self.where,
                            time.monotonic() - (self._down_since or time.monotonic()))
            self._down_since = None
            self._up.set()
