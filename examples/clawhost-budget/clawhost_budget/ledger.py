"""The ledger (spend per provider per day and month, on disk) and the budget that reads it."""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
from pathlib import Path

from .options import Limit, Options, Price

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
        t = time.gmtime(self.clock())
        return time.strftime("%Y-%m-%d", t), time.strftime("%Y-%m", t)

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


class Budget:
    def __init__(self, options: Options, workspace: Path):
        self.options = options
        self.ledger = Ledger(workspace / "budget" / "ledger.json")
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
        providers |= {k.split("|")[0] for k in self.ledger.data["month"]}
        return {"spent_today_usd": {p: self.ledger.spent(p)[0] for p in providers},
                "spent_month_usd": {p: self.ledger.spent(p)[1] for p in providers},
                "limit_used_ratio": {p: self.usage_ratio(p) for p in providers},
                "refused_total": self.refused, "rerouted_total": self.rerouted}


def provider_of(model_id: str) -> str:
    return model_id.split("/", 1)[0] if "/" in model_id else model_id
