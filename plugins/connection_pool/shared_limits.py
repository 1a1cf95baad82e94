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
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from clawhost.api import FleetLink, Overloaded

from .limits import Bucket

log = logging.getLogger("clawhost.remote")

PERIOD = 60.0  # seconds: RPM and TPM are budgets per minute
HOLDOVER = PERIOD  # after Redis returns, the share still applies this long (see above)
FORGET = 3600  # a holder whose lease ran out this long ago leaves the lease set
MAX_CALLS = 32  # Redis calls in flight from this host's limits at once (see SharedLimits)

# One call's way in, in one round trip. KEYS: the rate (GCRA) keys, then, when the limit
# has a concurrency cap, its slot set and lease set. ARGV: max_wait, the number of rate keys,
# (seconds per unit, units) per rate key, then cap, member, holder, lease_s, forget_s.
# The rates are reserved all together or not at all; a slot is taken at once only when the
# call need not wait for the rates (a call that waits takes its slot after the wait).
# -> {1, wait, 0, slot}: reserved; slot 1 taken, 0 full, -1 not asked for
#    {0, wait, i, 0}: rate i refused (wait seconds would be needed) | i = 0: slots full
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local maxw = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local worst, worst_i = 0, 0
local tats = {}
for i = 1, n do
  local e = tonumber(ARGV[1 + i * 2])
  local u = tonumber(ARGV[2 + i * 2])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local need = u
  if need > 60 / e then need = 60 / e end  -- more than a minute's budget waits for a full one
  local w = tat + need * e - now - 60
  if w > worst then worst, worst_i = w, i end
  tats[i] = tat + u * e
end
if worst > maxw then return {0, tostring(worst), worst_i, 0} end
local slot = -1
if #KEYS > n and worst <= 0 then
  local a = 3 + n * 2
  local slots, leases, member, holder = KEYS[n + 1], KEYS[n + 2], ARGV[a + 1], ARGV[a + 2]
  local lease, forget = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  -- holders whose lease ran out (killed, or cut off from Redis) give their slots back
  for _, h in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
    redis.call('ZREMRANGEBYLEX', slots, '[' .. h .. '|', '[' .. h .. '|\\255')
  end
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now - forget)
  redis.call('ZADD', leases, now + lease, holder)
  redis.call('PEXPIRE', leases, math.ceil((lease + forget) * 1000))
  if redis.call('ZCARD', slots) >= tonumber(ARGV[a]) then
    if maxw <= 0 then return {0, '1', 0, 0} end
    slot = 0
  else
    redis.call('ZADD', slots, 0, member)
    redis.call('PEXPIRE', slots, math.ceil(lease * 2000))
    slot = 1
  end
end
for i = 1, n do
  redis.call('SET', KEYS[i], tostring(tats[i]), 'PX', math.ceil((tats[i] - now + 1) * 1000))
end
return {1, tostring(worst), 0, slot}
"""

# One call's way out (or a settlement), in one round trip. KEYS: rate keys, then optionally
# the slot set. ARGV: the number of rate keys, (seconds per unit, units, most) per rate key
# (units: + charge, - give back; most: the most debt it may leave, in seconds), then the
# member to free.
SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
for i = 1, n do
  local e = tonumber(ARGV[i * 3 - 1])
  local u = tonumber(ARGV[i * 3])
  local most = tonumber(ARGV[i * 3 + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  tat = tat + u * e
  if tat > now + most then tat = now + most end
  if tat <= now then
    redis.call('DEL', KEYS[i])
  else
    redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil((tat - now + 1) * 1000))
  end
end
if #KEYS > n then redis.call('ZREM', KEYS[n + 1], ARGV[n * 3 + 2]) end
return 1
"""

# KEYS: the slot set and the lease set. ARGV: holder, lease_s, members...: the holder's
# members become exactly these, and its lease is extended.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = ARGV[1]
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYLEX', KEYS[1], '[' .. h .. '|', '[' .. h .. '|\\255')
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('ZADD', KEYS[2], now + lease, h)
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 2000)) end
return 1
"""


class Unshared(Exception):
    """Redis did not answer: count this call on the host's share instead."""


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
