"""A provider's (or model's) limits counted by the fleet (``SharedLimiter``), with a call's
hold on them and the host's share it counts on while Redis is away; ``shared_limits``
describes the rules and holds the Redis side."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from clawhost.api import Overloaded

from .limits import Bucket
from .shared_scripts import RENEW, SETTLE, TAKE

if TYPE_CHECKING:
    from .shared_limits import SharedLimits

log = logging.getLogger("clawhost.remote")

PERIOD = 60.0  # seconds: RPM and TPM are budgets per minute
HOLDOVER = PERIOD  # after Redis returns, the share still applies this long (see shared_limits)
FORGET = 3600  # a holder whose lease ran out this long ago leaves the lease set


class Unshared(Exception):
    """Redis did not answer: count this call on the host's share instead."""


class Share:
    """A host's share of a limit while it counts without Redis: rates / hosts, cap // hosts."""

    def __init__(self, hosts: int, rates: list[tuple[str, int, str]], cap: int | None):
        self.hosts = hosts
        # empty at first: the fleet may have spent the whole minute just before
        self.buckets = {}
        for key, per_minute, _ in rates:
            b = Bucket(per_minute / hosts)
            b.level = 0.0
            self.buckets[key] = b
        self.cap = None if cap is None else cap // hosts
        self.until: float | None = None  # back on Redis: the share still applies until then


class SharedHold:
    """One call's hold on a shared limit: its member in Redis, what it reserved where."""

    __slots__ = ("limiter", "estimate", "held", "member", "registered", "shared_rates", "share",
                 "counted")

    def __init__(self, limiter: SharedLimiter, estimate: int, member: str, registered: bool,
                 shared_rates: bool, share: Share | None):
        self.limiter, self.estimate, self.held, self.member = limiter, estimate, True, member
        self.registered, self.shared_rates, self.share = registered, shared_rates, share
        self.counted = False  # in ``inflight``: admitted, not only waiting

    def release(self, used: int | None = None) -> None:
        if self.held:
            self.held = False
            self.limiter.release(self, used)

    def cancel(self) -> None:
        if self.held:
            self.release(self.estimate)
            self.limiter.give_back(self, 1, self.estimate)


class SharedLimiter:
    """A provider's (or model's) limits counted by the fleet; a ``Limiter`` look-alike."""

    def __init__(self, shared: SharedLimits, scope: tuple[str, ...], label: str, *,
                 max_concurrency: int | None, rpm: int | None, tpm: int | None, mode: str,
                 max_wait: float):
        self.shared, self.label, self.mode, self.max_wait = shared, label, mode, max_wait
        self.name = label
        link = shared.link
        self.max_concurrency = max_concurrency
        # (redis key, per minute, what) for each rate limit configured
        self.rates = [(link.key("limits", *scope, what), limit, name)
                      for what, limit, name in (("rpm", rpm, "requests-per-minute"),
                                                ("tpm", tpm, "tokens-per-minute")) if limit]
        self.slot_key = link.key("limits", *scope, "slots") if max_concurrency else ""
        self.lease_key = link.key("limits", *scope, "leases") if max_concurrency else ""
        self.inflight = 0
        self.share: Share | None = None
        self._holds: dict[str, SharedHold] = {}  # members held or being taken, by member
        self._freed = asyncio.Event()
        self._seq = 0

    def members(self) -> list[str]:
        return [m for m, h in self._holds.items() if h.registered]

    def _reject(self, what: str, retry_after: float) -> Overloaded:
        return Overloaded(f"{self.label}: {what} limit reached", retry_after=retry_after)

    def _units(self, tokens: int) -> list[tuple[str, float, float]]:
        """(key, seconds per unit, units) of each rate for a call of ``tokens``."""
        return [(key, PERIOD / limit, 1 if name[0] == "r" else tokens)
                for key, limit, name in self.rates]

    # -- acquire -----------------------------------------------------------------------------
    async def acquire(self, tokens: int, deadline: float) -> SharedHold:
        loop = asyncio.get_running_loop()
        limit_at = min(deadline, loop.time() + self.max_wait)
        self._seq += 1
        member = f"{self.shared.holder}|{self._seq}"
        share = self.share
        if share is not None and share.until is not None and loop.time() >= share.until:
            self.share = share = None  # the holdover after Redis came back is over
        if self.shared.link.available:
            if share is not None and share.until is None:
                try:
                    await self._rejoin(share)
                except Unshared:
                    pass
            if self.shared.link.available:
                try:
                    return await self._acquire_shared(tokens, member, limit_at)
                except Unshared:
                    pass
        return await self._acquire_share(tokens, member, limit_at, self._enter_share())

    def _enter_share(self) -> Share:
        share = self.share
        if share is None:
            share = self.share = Share(self.shared.link.hosts_seen(), self.rates,
                                       self.max_concurrency)
            log.info("%s: counting on this host's share (1/%d of the limits) while the fleet's "
                     "redis is away", self.label, share.hosts)
        share.until = None
        return share

    async def _rejoin(self, share: Share) -> None:
        """Back on Redis: charge what the share spent, register the calls started meanwhile."""
        spent = [(key, PERIOD / limit, b.capacity - b.level, PERIOD)
                 for key, limit, _ in self.rates if (b := share.buckets[key]).level < b.capacity]
        if spent:
            await self.shared.run(SETTLE, [s[0] for s in spent],
                                  [len(spent), *(x for s in spent for x in s[1:])])
        if self.slot_key:
            for hold in self._holds.values():
                hold.registered = True
            await self.shared.run(RENEW, [self.slot_key, self.lease_key],
                                  [self.shared.holder, self.shared.lease_s, *self.members()])
        share.until = asyncio.get_running_loop().time() + HOLDOVER
        log.info("%s: counting in the fleet's redis again", self.label)

    def _take_args(self, units: list, budget: float, member: str) -> tuple[list, list]:
        keys = [u[0] for u in units]
        args: list = [budget, len(units), *(x for u in units for x in u[1:])]
        if self.slot_key:
            keys += [self.slot_key, self.lease_key]
            args += [self.max_concurrency, member, self.shared.holder, self.shared.lease_s,
                     FORGET]
        return keys, args

    async def _acquire_shared(self, tokens: int, member: str, limit_at: float) -> SharedHold:
        loop = asyncio.get_running_loop()
        share = self.share  # a holdover: the share applies too
        local = None
        if share is not None:
            local = await self._take_share_rates(share, tokens, limit_at)
        units = self._units(tokens)
        hold = SharedHold(self, tokens, member, registered=bool(self.slot_key),
                          shared_rates=False, share=share)
        self._holds[member] = hold  # before the call: the renewal counts it while it is taken
        try:
            budget = 0.0 if self.mode == "reject" else max(0.0, limit_at - loop.time())
            ok, wait, worst, slot = await self.shared.run(
                TAKE, *self._take_args(units, budget, member))
            wait = float(wait)
            if not ok:
                what = self.rates[int(worst) - 1][2] if int(worst) else "concurrency"
                raise self._reject(what, wait)
        except BaseException:  # refused, cancelled, or Redis away (the caller then counts
            self._holds.pop(member, None)  # the call on the share, reserving it there again)
            if share is not None:
                self._give_share(share, 1, tokens)
            raise
        hold.shared_rates = bool(units)
        hold.registered = slot == 1  # else none yet (no cap, or full, or one to wait for)
        try:
            wait = max(wait, local or 0.0)
            if wait > 0:
                await asyncio.sleep(wait)
            if self.slot_key and slot != 1:
                hold.registered = True
                await self._take_shared_slot(hold, limit_at)
        except Unshared:
            # the rates are reserved (in Redis or on the share); the slot counts on the share
            # (what Redis reserved before it went is part of the minute the share assumes spent)
            hold.registered, hold.shared_rates = False, False
            await self._admit(hold, 0.0, self._enter_share(), limit_at)
            return hold
        except BaseException:
            hold.cancel()
            raise
        return self._count(hold)

    def _count(self, hold: SharedHold) -> SharedHold:
        hold.counted = True
        self.inflight += 1
        return hold

    async def _admit(self, hold: SharedHold, wait: float, share: Share, limit_at: float) -> None:
        """Wait out a reservation, then for a slot of the share; count the call in."""
        try:
            if wait > 0:
                await asyncio.sleep(wait)
            await self._wait_share_slot(share, limit_at)
        except BaseException:
            hold.cancel()
            raise
        self._count(hold)

    async def _take_shared_slot(self, hold: SharedHold, limit_at: float) -> None:
        loop = asyncio.get_running_loop()
        pause = 0.01
        while True:
            _, _, _, taken = await self.shared.run(TAKE, *self._take_args([], 1.0, hold.member))
            if taken == 1:
                return
            if self.mode == "reject" or loop.time() + pause > limit_at:
                hold.registered = False  # never added: nothing to remove
                raise self._reject("concurrency", 1.0)
            # another host's call must end first: look again soon (sooner when one of ours ends)
            self._freed.clear()
            try:  # not wait_for: on 3.11 it can swallow a cancel that meets its timeout
                async with asyncio.timeout(pause):
                    await self._freed.wait()
            except TimeoutError:
                pass
            pause = min(pause * 2, 0.2)

    async def _take_share_rates(self, share: Share, tokens: int, limit_at: float) -> float:
        """Reserve the call on the share's buckets; the seconds to wait first."""
        loop = asyncio.get_running_loop()
        wait = 0.0
        for key, _, what in self.rates:
            need = 1 if what[0] == "r" else tokens
            w = share.buckets[key].wait_for(need)
            if w > 0 and (self.mode == "reject" or loop.time() + w > limit_at):
                raise self._reject(what, w)
            wait = max(wait, w)
        for key, _, what in self.rates:
            share.buckets[key].take(1 if what[0] == "r" else tokens)
        return wait

    def _give_share(self, share: Share, requests: int, tokens: int) -> None:
        for key, _, what in self.rates:
            share.buckets[key].give(requests if what[0] == "r" else tokens)

    async def _wait_share_slot(self, share: Share, limit_at: float) -> None:
        """Until this host has fewer calls in flight than its share of the cap."""
        loop = asyncio.get_running_loop()
        while share.cap is not None and self.inflight >= share.cap:
            if self.mode == "reject" or loop.time() >= limit_at:
                raise self._reject("concurrency", 1.0)
            self._freed.clear()
            try:  # bounded: a release between our check and clear() must not be missed
                async with asyncio.timeout(min(0.2, limit_at - loop.time())):
                    await self._freed.wait()
            except TimeoutError:
                pass

    async def _acquire_share(self, tokens: int, member: str, limit_at: float,
                             share: Share) -> SharedHold:
        if share.cap is not None and self.inflight >= share.cap and self.mode == "reject":
            raise self._reject("concurrency", 1.0)
        wait = await self._take_share_rates(share, tokens, limit_at)
        hold = SharedHold(self, tokens, member, registered=False, shared_rates=False, share=share)
        self._holds[member] = hold
        await self._admit(hold, wait, share, limit_at)
        return hold

    # -- release -----------------------------------------------------------------------------
    def release(self, hold: SharedHold, used: int | None) -> None:
        """Free the call's slot and settle its token estimate: one script, not awaited."""
        if hold.counted:
            self.inflight -= 1
            self._freed.set()
        self._holds.pop(hold.member, None)
        tokens = 0 if used is None else used - hold.estimate
        self._settle(hold, 0, tokens, free=hold.registered)

    def give_back(self, hold: SharedHold, requests: int, tokens: int) -> None:
        """A cancelled call's reservation (it never went out)."""
        self._settle(hold, -requests, -tokens, free=False)

    def _settle(self, hold: SharedHold, requests: int, tokens: int, *, free: bool) -> None:
        if hold.share is not None and hold.share is self.share:
            for key, _, what in self.rates:
                n = requests if what[0] == "r" else tokens
                if n > 0:
                    self.share.buckets[key].take(n)
                elif n < 0:
                    self.share.buckets[key].give(-n)
        adjust = []
        if hold.shared_rates:
            adjust = [(key, PERIOD / limit, n, 1e9) for key, limit, what in self.rates
                      if (n := requests if what[0] == "r" else tokens)]
        if adjust or free:
            keys = [a[0] for a in adjust] + ([self.slot_key] if free else [])
            args = [len(adjust), *(x for a in adjust for x in a[1:])] + ([hold.member] if free
                                                                        else [])
            self.shared.later(SETTLE, keys, args)
