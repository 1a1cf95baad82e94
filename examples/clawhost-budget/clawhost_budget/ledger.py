"""The ledgers (spend per provider per day and month: on disk, or in the fleet's Redis) and the
budget that reads them."""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from clawhost.api import fleet_key

from .options import Limit, Options, Price

MICROCENTS = 100_000_000  # per USD: the fleet ledger counts integers, so no sum drifts
DAY_TTL_S = 3 * 86400     # a day's total outlives the day (for late readers), then goes
MONTH_TTL_S = 62 * 86400

# KEYS: the day's and the month's total, and the charge's own key; ARGV: micro-cents, the
# two expiries in seconds. One script, so a host killed half-way never counts a call in one
# period and not the other; the charge's key makes a charge sent again (its answer was lost)
# count once.
ADD = """
if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('INCRBY', KEYS[1], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('INCRBY', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return {redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[2]) or '0'}
"""


def periods(clock) -> tuple[str, str]:
    """Today and this month, in UTC."""
    t = time.gmtime(clock())
    return time.strftime("%Y-%m-%d", t), time.strftime("%Y-%m", t)


class Ledger:
    """Spend per (provider, day) and (provider, month), saved atomically as JSON."""

    def __init__(self, path: Path, clock=time.time):
        self.path, self.clock = path, clock
        self.lock = threading.Lock()
        try:
            self.data = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {"day": {}, "month": {}}

    def periods(self) -> tuple[str, str]:
        return periods(self.clock)

    def providers(self) -> set[str]:
        return {k.split("|")[0] for k in self.data["month"]}

    async def refresh(self, provider: str) -> None:
        """Nothing to read: this host's file is the whole ledger."""

    async def charge(self, provider: str, usd: float) -> None:
        self.add(provider, usd)

    def spent(self, provider: str) -> tuple[float, float]:
        day, month = self.periods()
        return (self.data["day"].get(f"{provider}|{day}", 0.0),
                self.data["month"].get(f"{provider}|{month}", 0.0))

    def add(self, provider: str, usd: float) -> None:
        day, month = self.periods()
        with self.lock:
            for period, key in (("day", day), ("month", month)):
                k = f"{provider}|{key}"
                self.data[period][k] = self.data[period].get(k, 0.0) + usd
            self.data["day"] = {k: v for k, v in self.data["day"].items() if k.endswith(day)}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data))
            os.replace(tmp, self.path)


class FleetLedger:
    """The fleet's ledger: integer micro-cents per provider per day and per month in the
    fleet's Redis (``<ns>:budget:<provider>:<day or month>``), added with one atomic script,
    so calls charged on several hosts at once all count, to the cent.

    ``spent`` answers from the totals last read (every priced request reads them first, with
    ``refresh``). While Redis is away, spend is kept here and added when it is back; the
    totals read before the outage plus this host's own spend decide meanwhile.
    """

    def __init__(self, link: Any, clock=time.time):
        self.link, self.clock = link, clock
        self.totals: dict[tuple[str, str], int] = {}   # (provider, period) -> micro-cents
        # charges not yet in Redis: id -> (provider, day, month, micro-cents)
        self.pending: dict[str, tuple[str, str, str, int]] = {}
        self._script: Any = None
        self._client: Any = None

    def periods(self) -> tuple[str, str]:
        return periods(self.clock)

    def providers(self) -> set[str]:
        return {p for p, _ in self.totals}

    def _keys(self, provider: str, day: str, month: str) -> list[str]:
        ns = self.link.namespace
        return [budget_key(ns, provider, day), budget_key(ns, provider, month)]

    def spent(self, provider: str) -> tuple[float, float]:
        day, month = self.periods()
        d = self.totals.get((provider, day), 0)
        m = self.totals.get((provider, month), 0)
        for p, pd, pm, n in self.pending.values():
            if p == provider:
                d += n if pd == day else 0
                m += n if pm == month else 0
        return d / MICROCENTS, m / MICROCENTS

    async def _call(self, coro_fn) -> Any:
        """A Redis call, or None when Redis is away (the fleet's link hears of it)."""
        if not self.link.available or self.link.redis is None:
            return None
        try:
            return await coro_fn(self.link.redis)
        except (OSError, TimeoutError) as exc:
            self.link.report_failure(exc)
        except Exception as exc:  # noqa: BLE001 - redis's errors, without importing redis
            if "Connection" in type(exc).__name__ or "Timeout" in type(exc).__name__:
                self.link.report_failure(exc)
        return None

    def _add_script(self, client: Any) -> Any:
        if client is not self._client:
            self._client, self._script = client, client.register_script(ADD)
        return self._script

    async def refresh(self, provider: str) -> None:
        await self._flush()
        day, month = self.periods()
        got = await self._call(lambda r: r.mget(self._keys(provider, day, month)))
        if got is not None:
            self.totals[(provider, day)] = int(got[0] or 0)
            self.totals[(provider, month)] = int(got[1] or 0)

    async def charge(self, provider: str, usd: float) -> None:
        day, month = self.periods()
        self.pending[uuid.uuid4().hex] = (provider, day, month, round(usd * MICROCENTS))
        await self._flush()

    async def _flush(self) -> None:
        for charge, (provider, day, month, n) in list(self.pending.items()):
            keys = [*self._keys(provider, day, month),
                    budget_key(self.link.namespace, "charge", charge)]
            got = await self._call(lambda r: self._add_script(r)(
                keys=keys, args=[n, DAY_TTL_S, MONTH_TTL_S]))
            if got is None:
                return  # Redis is away: kept, and sent again (counted once) when it is back
            self.pending.pop(charge, None)
            self.totals[(provider, day)], self.totals[(provider, month)] = int(got[0]), int(got[1])


def budget_key(namespace: str, *parts: str) -> str:
    """A budget key in the fleet's Redis: ``<ns>:budget:<provider>:<period>`` for a total,
    ``<ns>:budget:charge:<id>`` for a charge already counted. The ledger and the CLI read
    and write the same names through this one function."""
    return fleet_key(namespace, "budget", *parts)


def read_fleet_totals(url: str, namespace: str, day: str,
                      month: str) -> dict[str, tuple[float, float]]:
    """provider -> (today, this month) in USD, read from the fleet's Redis (for the CLI).
    Raises OSError when Redis cannot be reached."""
    import redis
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    prefix = budget_key(namespace, "")
    try:
        providers = [k.decode()[len(prefix):-len(month) - 1]
                     for k in client.scan_iter(match=budget_key(namespace, "*", month),
                                               count=1000)]
        out = {}
        for p in providers:
            d, m = client.mget([budget_key(namespace, p, day), budget_key(namespace, p, month)])
            out[p] = (int(d or 0) / MICROCENTS, int(m or 0) / MICROCENTS)
        return out
    except redis.exceptions.ConnectionError as exc:
        raise OSError(str(type(exc).__name__)) from None
    finally:
        client.close()


class Budget:
    def __init__(self, options: Options, workspace: Path, link: Any = None):
        self.options = options
        self.ledger: Ledger | FleetLedger = (FleetLedger(link) if link is not None else
                                             Ledger(workspace / "budget" / "ledger.json"))
        self.refused = 0
        self.rerouted = 0

    def price(self, model: str) -> Price | None:
        if model in self.options.prices:
            return self.options.prices[model]
        for pattern, price in self.options.prices.items():
            if fnmatch.fnmatchcase(model, pattern):
                return price
        return None

    def limit(self, provider: str) -> Limit | None:
        return self.options.limits.get(provider) or self.options.limits.get("*")

    def usage_ratio(self, provider: str) -> float:
        """The highest share of any limit already spent (0 with no limit)."""
        limit = self.limit(provider)
        if limit is None:
            return 0.0
        day, month = self.ledger.spent(provider)
        ratios = [day / limit.daily_usd if limit.daily_usd else 0.0,
                  month / limit.monthly_usd if limit.monthly_usd else 0.0]
        return max(ratios)

    def figures(self) -> dict:
        providers = {p for p in self.options.limits if p != "*"}
        providers |= self.ledger.providers()
        return {"spent_today_usd": {p: self.ledger.spent(p)[0] for p in providers},
                "spent_month_usd": {p: self.ledger.spent(p)[1] for p in providers},
                "limit_used_ratio": {p: self.usage_ratio(p) for p in providers},
                "refused_total": self.refused, "rerouted_total": self.rerouted}


def provider_of(model_id: str) -> str:
    return model_id.split("/", 1)[0] if "/" in model_id else model_id
