"""L2 in Redis, so a fleet of hosts shares one cache (``l2: {backend: redis, url: ...}``).

Values are ``record.pack`` blobs (JSON + checksum, never pickle) under
``<prefix><namespace>:<key>``, with Redis's own expiry (so TTLs follow the Redis server's
clock, not each host's). The byte bound is Redis's ``maxmemory`` with an LRU policy.

While Redis is unreachable every lookup is a miss and every store is dropped: one warning
when it goes away, one info line when it is back. Calls are not even attempted for
``retry_s`` after a failure, so a dead Redis costs no latency per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .record import Hit, fresh, pack, unpack

if TYPE_CHECKING:  # annotations only
    from clawhost.api import FleetLink

log = logging.getLogger("clawhost.cache")


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The exact cache's key names in Redis, ``<prefix><namespace>:<key>`` (built only here)."""

    prefix: str

    @classmethod
    def in_fleet(cls, link: FleetLink) -> RedisKeys:
        """The fleet's L2 when no ``l2.prefix`` is set: ``<fleet namespace>:cache:``."""
        return cls(link.key("cache", ""))

    def entry(self, namespace: str, key: str) -> str:
        return f"{self.prefix}{namespace}:{key}"

    def in_namespace(self, namespace: str | None) -> str:
        """A SCAN pattern: every entry of ``namespace`` (of every namespace for None)."""
        return f"{self.prefix}{'*' if namespace is None else namespace + ':'}*"

    def any_namespace(self, key: str) -> str:
        """A SCAN pattern: ``key``'s entry in whichever namespace holds it."""
        return f"{self.prefix}*:{key}"


class RedisStore:
    name = "redis"
    write_fault: str | None = None  # an outage shows as misses and its own warning, not here

    def __init__(self, url: str | None, prefix: str = "clawhost:cache:", timeout_s: float = 0.5,
                 retry_s: float = 2.0, skew: float = 60.0, fleet: Any = None):
        self.url, self.timeout_s, self.retry_s, self.skew = url, timeout_s, retry_s, skew
        self.keys = RedisKeys(prefix)
        # fleet mode: the fleet's client, shared (never closed here), and its link says
        # when Redis goes away and comes back, once for the whole host
        self.fleet = fleet
        self._client: Any = fleet.redis if fleet is not None else None
        self._owns_client = fleet is None
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._tasks: set[asyncio.Task] = set()
        self.usable = True
        self.corrupt_rows = self.errors = self.dropped = 0

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    def open(self) -> bool:
        if not self._owns_client:
            return True
        import redis.asyncio as aioredis  # only when Redis is configured
        self._client = aioredis.Redis.from_url(
            self.url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s,
            health_check_interval=30)
        return True

    # -- being down ------------------------------------------------------------------------
    def _available(self) -> bool:
        if self.fleet is not None:  # the fleet's link retries with backoff for everyone
            return self.fleet.available
        return self._down_since is None or time.monotonic() >= self._retry_at

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self._retry_at = time.monotonic() + self.retry_s
        if self.fleet is not None:
            self.fleet.report_failure(exc)
        if self._down_since is None:
            self._down_since = time.monotonic()
            if self.fleet is None:
                log.warning("redis cache at %s is unreachable (%s: %s); serving without L2 "
                            "until it is back", self._where(), type(exc).__name__, exc)

    def _ok(self) -> None:
        if self._down_since is not None:
            if self.fleet is None:
                log.warning("redis cache at %s is back after %.1fs", self._where(),
                            time.monotonic() - self._down_since)
            self._down_since = None

    def _where(self) -> str:
        if self.url is None:
            return "the fleet's redis"
        return self.url.split("@")[-1]  # never log a password from the URL

    @property
    def down(self) -> bool:
        return self._down_since is not None

    async def _call(self, fn, *args):
        import redis.exceptions as rexc
        if self._client is None or not self._available():
            return None, False
        try:
            result = await fn(*args)
        except (rexc.ConnectionError, rexc.TimeoutError, OSError, asyncio.TimeoutError) as exc:
            self._failed(exc)
            return None, False
        except rexc.RedisError as exc:  # a refused command (OOM, READONLY replica ...)
            self.errors += 1
            log.debug("redis cache error: %s", exc)
            return None, False
        self._ok()
        return result, True

    async def check(self) -> bool:
        """Ping once at startup, so a wrong URL shows up in the log at boot."""
        if self._client is None:
            return False
        _, ok = await self._call(self._client.ping)
        return ok

    # -- the request path ------------------------------------------------------------------
    async def get(self, key: str, now: float, max_age: float | None = None,
                  namespace: str = "") -> Hit | None:
        blob, ok = await self._call(self._client.get if self._client else None,
                                    self.keys.entry(namespace, key))
        if not ok or blob is None:
            return None
        hit = unpack(key, blob)
        if hit is None:
            self.corrupt_rows += 1
            self._spawn(self._call(self._client.delete, self.keys.entry(namespace, key)))
            return None
        return hit if fresh(hit, now, self.skew, max_age) else None

    def put(self, key: str, hit: Hit, now: float) -> None:
        if not self._available():
            self.dropped += 1
            return
        ms = max(1, int((hit.expires - now) * 1000))
        self._spawn(self._call(self._client.set, self.keys.entry(hit.namespace, key),
                               pack(key, hit), None, ms))

    def touch(self, key: str, now: float) -> None:
        pass  # Redis keeps its own LRU clock

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # writes run after the reply went out; keep them referenced
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- maintenance -----------------------------------------------------------------------
    async def _keys(self, namespace: str | None):
        async for name in self._client.scan_iter(match=self.keys.in_namespace(namespace),
                                                 count=1000):
            yield name

    async def clear(self, namespace: str | None = None) -> int:
        gone = 0
        batch: list = []
        async for name in self._keys(namespace):
            batch.append(name)
            if len(batch) >= 500:
                gone += await self._client.unlink(*batch)
                batch = []
        if batch:
            gone += await self._client.unlink(*batch)
        return gone

    async def get_entry(self, key: str) -> dict[str, Any] | None:
        async for name in self._client.scan_iter(match=self.keys.any_namespace(key), count=1000):
            blob = await self._client.get(name)
            hit = unpack(key, blob) if blob is not None else None
            return {"key": key, "redis_key": name.decode(), "checksum_ok": hit is not None,
                    "namespace": hit.namespace if hit else None,
                    "created": hit.created if hit else None,
                    "expires": hit.expires if hit else None,
                    "bytes": len(hit.value) if hit else None,
                    "value": hit.value if hit else None}
        return None

    async def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": "redis", "url": self._where(), "down": self.down,
                               "errors": self.errors, "corrupt_rows": self.corrupt_rows}
        try:
            n = nbytes = 0
            async for name in self._keys(None):
                n += 1
                nbytes += await self._client.memory_usage(name) or 0
            out.update(entries=n, bytes=nbytes)
        except Exception as exc:  # noqa: BLE001 - stats are best effort
            out["error"] = f"{type(exc).__name__}: {exc}"
        return out

    async def close(self) -> None:
        await self.flush()
        if self._client is not None and self._owns_client:
            try:
                await self._client.aclose()
            except Exception:  # noqa: BLE001
                pass
            self._client = None
