"""The exact-match response cache: L1 in memory in front of an L2 (SQLite on disk or Redis).

One ``ResponseCache`` per host (``host.state[STATE]``). It decides per request whether
the cache takes part (policy + controls), answers hits, keeps answers, and counts
everything for ``/v1/cache/stats``, ``clawhost cache stats`` and the monitor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from clawhost.api import (CACHE_RESULT, CacheDirectives, ModelRequest, Reply, StashKey, cacheable,
                          directives, exact_key)

from .l1 import L1
from .record import Hit, decode_body, encode_body

# what one request's lookup worked out, kept for its store
_KEY: StashKey[str] = StashKey("cache_key")
_NAMESPACE: StashKey[str] = StashKey("cache_namespace")
_ELIGIBLE: StashKey[bool] = StashKey("cache_eligible")

log = logging.getLogger("clawhost.cache")
TOUCH_EVERY = 300.0  # seconds: how often an L1 hit refreshes the entry's place in L2's LRU


def make_l2(opts: Any, workspace: Path, fleet: Any = None):
    """The configured L2 store (not opened yet), or None. In fleet mode (``fleet`` is the
    host's FleetLink) an L2 whose backend is not set is the fleet's Redis, so an answer
    kept on one host is an exact hit on all of them."""
    l2 = opts.l2
    if fleet is not None and "backend" not in l2.model_fields_set:
        from .redis_store import RedisKeys, RedisStore
        prefix = l2.prefix if "prefix" in l2.model_fields_set else RedisKeys.in_fleet(fleet).prefix
        return RedisStore(None, fleet=fleet, prefix=prefix, timeout_s=l2.timeout_s,
                          retry_s=l2.retry_s, skew=opts.clock_skew_s)
    if l2.backend == "redis":
        from .redis_store import RedisStore
        return RedisStore(l2.url, prefix=l2.prefix, timeout_s=l2.timeout_s, retry_s=l2.retry_s,
                          skew=opts.clock_skew_s)
    if l2.backend == "disk":
        from .disk import DiskStore
        path = Path(l2.path)
        return DiskStore(path if path.is_absolute() else workspace / path, int(l2.max_bytes),
                         skew=opts.clock_skew_s)
    return None


class ResponseCache:
    def __init__(self, opts: Any, workspace: Path, clock: Callable[[], float] = time.time,
                 fleet: Any = None):
        self.opts = opts
        self.clock = clock  # wall-clock seconds; TTLs persist across restarts and hosts
        self.l1 = (L1(int(opts.l1.max_bytes), opts.l1.max_entries, opts.clock_skew_s)
                   if opts.l1.enabled else None)
        self.l2 = make_l2(opts, workspace, fleet)
        self.counts: Counter[str] = Counter()

    async def start(self) -> None:
        if self.l2 is None:
            return
        if not await asyncio.to_thread(self.l2.open):  # the disk store may create its file
            log.warning("cache: L2 (%s) is off; L1 still serves", self.opts.l2.backend)
        elif hasattr(self.l2, "check"):
            await self.l2.check()

    async def close(self) -> None:
        if self.l2 is None:
            return
        if asyncio.iscoroutinefunction(self.l2.close):
            await self.l2.close()
        else:
            await asyncio.to_thread(self.l2.close)

    # -- per request ------------------------------------------------------------------------
    def _prepare(self, request: ModelRequest) -> tuple[CacheDirectives, bool, str]:
        """(controls, whether the policy allows caching, key); remembered in request.notes."""
        notes = request.notes
        if _KEY not in notes:
            d = directives(request)
            ns = d.namespace if d.namespace is not None else self.opts.namespace
            notes[_NAMESPACE] = ns or ""
            ok = cacheable(request, self.opts.policy)
            try:
                key = exact_key(request, ns) if ok else ""
            except (ValueError, TypeError):  # e.g. NaN in a provider extra: no canonical form
                ok, key = False, ""
            notes[_ELIGIBLE], notes[_KEY] = ok, key
        return directives(request), notes[_ELIGIBLE], notes[_KEY]

    @staticmethod
    def mark(request: ModelRequest, state: str) -> None:
        request.notes[CACHE_RESULT] = state
        request.response_headers["x-clawhost-cache"] = state

    def _reply(self, request: ModelRequest, key: str, value: bytes, layer: str) -> Reply | None:
        body = decode_body(value)
        if body is None:
            return None
        state = f"hit-{layer}"
        self.counts[state] += 1
        self.mark(request, state)
        return Reply(body=body, source=layer,
                     headers={"x-clawhost-cache": state, "x-clawhost-cache-key": key})

    async def lookup(self, request: ModelRequest) -> Reply | None:
        d, eligible, key = self._prepare(request)
        if not eligible or d.no_cache:
            return None
        now = self.clock()
        if self.l1 is not None:
            entry = self.l1.get(key, now, d.max_age)
            if entry is not None:
                reply = self._reply(request, key, entry.value, "l1")
                if reply is not None:
                    if self.l2 is not None and now - entry.touched > TOUCH_EVERY:
                        entry.touched = now
                        self.l2.touch(key, now)
                    return reply
        if self.l2 is not None:
            hit = await self.l2.get(key, now, d.max_age, namespace=request.notes[_NAMESPACE])
            if hit is not None:
                reply = self._reply(request, key, hit.value, "l2")
                if reply is not None:
                    if self.l1 is not None:  # promote: the next hit is served from memory
                        self.l1.put(key, hit.value, hit.created, hit.expires, hit.namespace,
                                    touched=now)
                    self.l2.touch(key, now)
                    return reply
        self.counts["miss"] += 1
        self.mark(request, "miss")
        return None

    async def store(self, request: ModelRequest, reply: Reply) -> None:
        if reply.cached:  # a cache's own answer: stored already
            return
        if request.notes.get(CACHE_RESULT) == "bypass":
            self.counts["bypass"] += 1  # counted here: the host may skip our lookup
        d, eligible, key = self._prepare(request)
        if not eligible or d.no_store:
            return
        if reply.status != 200 or reply.body is None:
            return
        value = encode_body(reply.body)
        if len(value) > self.opts.max_entry_bytes:
            self.counts["skipped_oversize"] += 1
            return
        now = self.clock()
        ttl = d.ttl if d.ttl is not None else self.opts.ttl_s
        hit = Hit(value, now, now + ttl, request.notes[_NAMESPACE])
        self.counts["stores"] += 1
        if self.l1 is not None:
            self.l1.put(key, value, hit.created, hit.expires, hit.namespace, touched=now)
        if self.l2 is not None:
            self.l2.put(key, hit, now)

    # -- reports and maintenance --------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """Gauges for the monitor (exported as ``clawhost_cache_<figure>``)."""
        c = self.counts
        out: dict[str, Any] = {
            "requests": {s: c[s] for s in ("hit-l1", "hit-l2", "miss", "bypass")},
            "stores": c["stores"], "skipped_oversize": c["skipped_oversize"]}
        if self.l1 is not None:
            out.update(l1_bytes=self.l1.bytes, l1_entries=len(self.l1),
                       l1_evictions=self.l1.evictions)
        if self.l2 is not None:
            out.update(l2_usable=int(self.l2.usable and not getattr(self.l2, "down", False)),
                       l2_corrupt_rows=self.l2.corrupt_rows)
        return out

    async def stats(self) -> dict[str, Any]:
        c = self.counts
        looked = c["hit-l1"] + c["hit-l2"] + c["miss"]
        out: dict[str, Any] = {
            "lookups": looked, "hits": {"l1": c["hit-l1"], "l2": c["hit-l2"]},
            "misses": c["miss"], "bypass": c["bypass"], "stores": c["stores"],
            "skipped_oversize": c["skipped_oversize"],
            "hit_rate": {"l1": c["hit-l1"] / looked if looked else 0.0,
                         # of the lookups that reached L2 (L1 misses)
                         "l2": c["hit-l2"] / (looked - c["hit-l1"]) if looked - c["hit-l1"] else 0.0,
                         "total": (c["hit-l1"] + c["hit-l2"]) / looked if looked else 0.0}}
        if self.l1 is not None:
            out["l1"] = {"entries": len(self.l1), "bytes": self.l1.bytes,
                         "max_bytes": self.l1.max_bytes, "max_entries": self.l1.max_entries,
                         "evictions": self.l1.evictions}
        if self.l2 is not None:
            s = self.l2.stats()
            out["l2"] = await s if asyncio.iscoroutine(s) else s
        return out

    async def clear(self, namespace: str | None = None) -> dict[str, int]:
        l1 = self.l1.clear(namespace) if self.l1 is not None else 0
        l2 = 0
        if self.l2 is not None and self.l2.usable:
            if asyncio.iscoroutinefunction(self.l2.clear):
                l2 = await self.l2.clear(namespace)
            else:
                l2 = await asyncio.to_thread(self.l2.clear, namespace)
        return {"l1": l1, "l2": l2}
