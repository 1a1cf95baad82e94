"""Limits a fleet shares: one provider's (or model's) RPM, TPM and concurrency, counted in
the fleet's Redis, so two hosts each configured for 60 RPM send 60 together, not 120.

Used only in fleet mode (``fleet:`` in config.yaml, ``shared_limits: true``); nothing here
imports redis until then. Every decision is one Lua script, atomic in Redis, timed by Redis's
own clock (so hosts with skewed clocks agree). A call costs two: ``TAKE`` on the way in
(rates and slot together), ``SETTLE`` on the way out (not awaited).

- **RPM/TPM**: a GCRA per limit, the same rule as the local ``Bucket``
  (continuous refill, burst = one minute's budget). The key holds the theoretical arrival
  time (TAT). A call reserves 1 request and its estimated tokens on every limit at once, or
  is told how long to wait (``wait`` mode: it reserves now and sleeps, so callers keep their
  order); the real usage settles the estimate afterwards, and a cancelled call gives back
  what it reserved.
- **Concurrency**: a sorted set of ``holder|call`` members and, beside it,
  each holder's lease (a sorted set holder -> expiry). A holder is one run of one host; its
  renewal task rewrites its members and extends its lease every ``lease_s / 3``. A host
  killed with ``kill -9`` stops renewing: the next call anywhere drops its members, so its
  slots come back within ``lease_s``. Because each renewal writes the holder's whole set,
  a release lost while Redis was away, or a Redis restarted empty, is put right within one
  renewal (the first comes within a quarter second of the link's return), and only ever by
  counting too many (never too few).

When Redis is away (``link.available`` False, or a call fails: ``link.report_failure``), a
host falls back at once to its **share**: ``limit / hosts_seen`` per minute and
``max_concurrency // hosts_seen`` calls (counting everything it still has in flight). Its
share buckets start empty, as if the fleet had just spent the whole minute, so whatever the
others did before the outage the fleet never sends more than the limit. Back on Redis it
adds what it spent on its share to the shared counters, registers the calls it started
meanwhile, and keeps to its share as well for one more minute, while the other hosts find
Redis again.

Here: ``SharedLimits``, the host's side (its holder name, the lease renewal, the Redis
calls). One limit's counting (``SharedLimiter``, its holds, the share) is in
``shared_limiter``; the Lua scripts are in ``shared_scripts``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from clawhost.api import FleetLink

from .shared_limiter import SharedLimiter, Unshared
from .shared_scripts import RENEW

log = logging.getLogger("clawhost.remote")

MAX_CALLS = 32  # Redis calls in flight from this host's limits at once (see SharedLimits)


class SharedLimits:
    """One host's side of the fleet's limits: its holder name, the lease renewal, and the
    Redis calls every ``SharedLimiter`` of the pool makes."""

    def __init__(self, link: FleetLink, lease_s: float):
        self.link, self.lease_s = link, lease_s
        self.holder = f"{link.name}#{uuid.uuid4().hex[:10]}"  # one run of this host
        self.limiters: list[SharedLimiter] = []
        self._scripts: dict[str, Any] = {}
        self._client: Any = None
        self._task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._errors: tuple[type[BaseException], ...] | None = None
        # the link's client has a bounded connection pool (redis-py: 100), and running out is
        # a connection error that takes the link down for every plugin: a burst of calls
        # queues here instead
        self._calls = asyncio.Semaphore(MAX_CALLS)

    def limiter(self, scope: tuple[str, ...], label: str, *, max_concurrency: int | None,
                rpm: int | None, tpm: int | None, mode: str, max_wait: float) -> SharedLimiter:
        lim = SharedLimiter(self, scope, label, max_concurrency=max_concurrency, rpm=rpm,
                            tpm=tpm, mode=mode, max_wait=max_wait)
        self.limiters.append(lim)
        return lim

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._renew_loop(),
                                                            name="shared-limits-lease")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for task in list(self._background):
            task.cancel()
        if self.link.available:  # a graceful stop gives its slots back at once
            for lim in self.limiters:
                if lim.slot_key:
                    try:
                        await self.run(RENEW, [lim.slot_key, lim.lease_key],
                                       [self.holder, 0.001])
                    except Unshared:
                        break

    # -- Redis calls -----------------------------------------------------------------------
    def _connection_errors(self) -> tuple[type[BaseException], ...]:
        if self._errors is None:
            import redis.exceptions as rexc
            self._errors = (rexc.ConnectionError, rexc.TimeoutError, OSError,
                            asyncio.TimeoutError)
        return self._errors

    async def run(self, lua: str, keys: list[str], args: list) -> Any:
        """One script, or ``Unshared`` when Redis is away (the link hears of it)."""
        client = self.link.redis
        if client is None or not self.link.available:
            raise Unshared()
        if client is not self._client:
            self._client, self._scripts = client, {}
        script = self._scripts.get(lua)
        if script is None:
            script = self._scripts[lua] = client.register_script(lua)
        try:
            async with self._calls:
                return await script(keys=keys, args=args)
        except self._connection_errors() as exc:
            self.link.report_failure(exc)
            raise Unshared() from None
        except Exception as exc:  # noqa: BLE001 - a refused script (OOM, READONLY): count locally
            log.warning("shared limits: redis refused a call (%s); counting on this host's share",
                        type(exc).__name__)
            raise Unshared() from None

    def later(self, lua: str, keys: list[str], args: list) -> None:
        """A script whose answer nobody waits for (a settlement, a release)."""
        async def go():
            try:
                await self.run(lua, keys, args)
            except Unshared:
                pass  # the lease renewal puts slots right; a lost settlement only errs by a call
        task = asyncio.get_running_loop().create_task(go())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def renew(self) -> None:
        for lim in self.limiters:
            if lim.slot_key:
                await self.run(RENEW, [lim.slot_key, lim.lease_key],
                               [self.holder, self.lease_s, *lim.members()])

    async def _renew_loop(self) -> None:
        """Every ``lease_s / 3``, and as soon as Redis comes back (it may have
        restarted empty: the slots this host holds are written again at once)."""
        loop = asyncio.get_running_loop()
        last, was_up = loop.time(), self.link.available
        while True:
            await asyncio.sleep(min(0.25, self.lease_s / 3))  # a bool read: cheap
            up = self.link.available
            if up and (not was_up or loop.time() - last >= self.lease_s / 3):
                try:
                    await self.renew()
                    last = loop.time()
                except Unshared:
                    pass
            was_up = up
