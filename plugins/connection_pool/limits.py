"""Per-provider (and per-model) limits: concurrent calls, requests per minute, tokens per minute.

Two modes: ``wait`` queues a call until a slot frees up, within the request's deadline and
``max_wait``; ``reject`` answers 429 at once. RPM/TPM are token buckets that refill
continuously (capacity = one minute's budget) and may go into debt: a call reserves its
estimate up front, and the real token count settles the difference afterwards.

These count in this process. In fleet mode the same limits are counted in the fleet's Redis
instead (shared_limits.py, shared_limiter.py), with the same interface: ``acquire`` -> a hold with
``release(used)`` and ``cancel()``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from clawhost.api import Overloaded

log = logging.getLogger("clawhost.remote")


class Bucket:
    """A continuously refilling budget of ``per_minute`` units (GCRA-style, FIFO by time)."""

    def __init__(self, per_minute: int, clock=time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` would be available (0 if now)."""
        self._refill()
        need = min(amount, self.capacity) - self.level
        return 0.0 if need <= 0 else need / self.rate

    def take(self, amount: float) -> float:
        """Reserve ``amount`` now (the level may go negative); return the seconds to wait."""
        wait = self.wait_for(amount)
        self.level -= amount
        return wait

    def give(self, amount: float) -> None:
        """Return units (a cancelled call, or an estimate that was too high)."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class Slot:
    """One call's hold on a concurrency slot. Several paths may end a call (the attempt's
    cleanup, the stream's end, the garbage collector), so releasing is idempotent: a second
    release would free a slot someone else holds and let more calls through than allowed."""

    __slots__ = ("limiter", "estimate", "held")

    def __init__(self, limiter: "Limiter", estimate: int):
        self.limiter, self.estimate, self.held = limiter, estimate, True

    def release(self, used: int | None = None) -> None:
        if self.held:
            self.held = False
            self.limiter.release(self.estimate, used)

    def cancel(self) -> None:
        """The call never went out: free the slot and give its RPM/TPM back."""
        if self.held:
            self.release(self.estimate)
            self.limiter.refund(self.estimate)


class Holds:
    """One call's holds on several limiters (its provider's, then its model's)."""

    __slots__ = ("holds",)

    def __init__(self, holds: list):
        self.holds = holds

    def release(self, used: int | None = None) -> None:
        for hold in self.holds:
            hold.release(used)

    def cancel(self) -> None:
        for hold in self.holds:
            hold.cancel()


async def acquire_all(limiters: tuple, tokens: int, deadline: float):
    """A hold on every limiter in order, or none (what was taken is given back)."""
    if len(limiters) == 1:
        return await limiters[0].acquire(tokens, deadline)
    holds: list = []
    try:
        for limiter in limiters:
            holds.append(await limiter.acquire(tokens, deadline))
    except BaseException:
        for hold in holds:
            hold.cancel()
        raise
    return Holds(holds)


class Limiter:
    """One provider's (or model's) concurrency slots and RPM/TPM buckets, in this process."""

    def __init__(self, name: str, *, max_concurrency: int | None, rpm: int | None,
                 tpm: int | None, mode: str, max_wait: float, label: str | None = None):
        self.name, self.mode, self.max_wait = name, mode, max_wait
        self.label = label or f"provider {name!r}"
        # a model's own limits may leave concurrency to its provider's
        self.slots = asyncio.Semaphore(max_concurrency or 1 << 30)
        self.max_concurrency = max_concurrency
        self.inflight = 0
        self.rpm = Bucket(rpm) if rpm else None
        self.tpm = Bucket(tpm) if tpm else None

    def _reject(self, what: str, retry_after: float) -> Overloaded:
        return Overloaded(f"{self.label}: {what} limit reached", retry_after=retry_after)

    async def acquire(self, tokens: int, deadline: float) -> Slot:
        """Take a concurrency slot and this call's share of RPM/TPM, or raise Overloaded."""
        loop = asyncio.get_running_loop()
        limit_at = min(deadline, loop.time() + self.max_wait)
        if self.mode == "reject" or limit_at <= loop.time():
            if self.slots.locked():
                raise self._reject("concurrency", 1.0)
        wait = 0.0
        for bucket, need, what in ((self.rpm, 1, "requests-per-minute"),
                                   (self.tpm, tokens, "tokens-per-minute")):
            if bucket is None:
                continue
            w = bucket.wait_for(need)
            if w > 0 and (self.mode == "reject" or loop.time() + w > limit_at):
                raise self._reject(what, w)
            wait = max(wait, w)
        # reserve now, so queued callers are served in order of arrival
        if self.rpm:
            self.rpm.take(1)
        if self.tpm:
            self.tpm.take(tokens)
        try:
            if wait > 0:
                await asyncio.sleep(wait)
            if self.slots.locked():
                try:
                    async with asyncio.timeout_at(limit_at):
                        await self.slots.acquire()
                except TimeoutError:
                    raise self._reject("concurrency", 1.0) from None
            else:
                await self.slots.acquire()
        except BaseException:
            self.refund(tokens)
            raise
        self.inflight += 1
        return Slot(self, tokens)

    def refund(self, tokens: int) -> None:
        if self.rpm:
            self.rpm.give(1)
        if self.tpm:
            self.tpm.give(tokens)

    def release(self, estimated: int, used: int | None) -> None:
        """Free the slot; settle the TPM estimate against what the call really used."""
        if self.inflight <= 0:
            # a release without an acquire is a bug; freeing the semaphore anyway would
            # raise the concurrency cap for good, so refuse it and say so
            log.warning("%s: a concurrency slot was released twice; ignored", self.label)
            return
        self.inflight -= 1
        self.slots.release()
        if self.tpm and used is not None and used != estimated:
            if used > estimated:
                self.tpm.take(used - estimated)
            else:
                self.tpm.give(estimated - used)
