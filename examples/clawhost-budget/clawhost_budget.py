"""clawhost-budget: price every remote call by its tokens and keep spending under a limit.

Totals per provider per day and per month live in ``<workspace>/budget/ledger.json``.
Near a limit a header (``x-clawhost-budget: warn ...``) and a gauge warn; over it the
request is refused (402 or 429) or rerouted to a local model, as configured.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from clawhost.hookspecs import hookimpl

log = logging.getLogger("clawhost.budget")


class Price(BaseModel):
    input_per_mtok: float = Field(ge=0, description="USD per million prompt tokens")
    output_per_mtok: float = Field(ge=0, description="USD per million completion tokens")


class Limit(BaseModel):
    daily_usd: float | None = Field(None, gt=0)
    monthly_usd: float | None = Field(None, gt=0)


class Options(BaseModel):
    """The ``budget:`` section of config.yaml."""

    prices: dict[str, Price] = Field(default_factory=dict,
                                     description="model id or glob (openai/gpt-4o*) -> price")
    limits: dict[str, Limit] = Field(default_factory=dict,
                                     description="provider (model id prefix) or '*' -> limits")
    warn_at: float = Field(0.8, gt=0, le=1)
    on_exceed: Literal["refuse", "reroute"] = "refuse"
    refuse_status: Literal[402, 429] = 402
    reroute_model: str | None = None


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


@hookimpl
def clawhost_startup(host):
    host.state["budget"] = Budget(host.options("budget") or Options(), host.workspace)


@hookimpl(tryfirst=True)
def clawhost_infer(request):
    """Before any model runs: warn near the limit, refuse or reroute over it."""
    from clawhost.errors import Overloaded, PaymentRequired

    budget: Budget = request.host.state["budget"]
    if budget.price(request.model.id) is None:
        return None  # unpriced (e.g. local) models are free
    provider = provider_of(request.model.id)
    ratio = budget.usage_ratio(provider)
    if ratio >= 1.0:
        opts = budget.options
        if opts.on_exceed == "reroute" and opts.reroute_model in request.host.models:
            budget.rerouted += 1
            request.model = request.host.models[opts.reroute_model]
            request.response_headers["x-clawhost-budget"] = (
                f"rerouted; provider={provider}; to={opts.reroute_model}")
            return None  # the rest of the chain serves the local model
        budget.refused += 1
        message = (f"budget exceeded for provider {provider!r}: "
                   f"{ratio:.0%} of its limit is spent; try again next period")
        if opts.refuse_status == 429:
            raise Overloaded(message, retry_after=3600)
        raise PaymentRequired(message)
    if ratio >= budget.options.warn_at:
        request.response_headers["x-clawhost-budget"] = f"warn; provider={provider}; used={ratio:.0%}"
    return None


@hookimpl
def clawhost_request_finished(request, reply, error):
    """Charge what the answer cost, from its token usage."""
    if error is not None or reply is None or reply.source not in ("model", "upstream"):
        return
    budget: Budget = request.host.state["budget"]
    price = budget.price(request.model.id)
    if price is None:
        return
    usage = (reply.body or {}).get("usage") or {}
    cost = (usage.get("prompt_tokens", 0) * price.input_per_mtok
            + usage.get("completion_tokens", 0) * price.output_per_mtok) / 1e6
    if cost:
        budget.ledger.add(provider_of(request.model.id), cost)


@hookimpl
def clawhost_commands(cli):
    import click

    from clawhost.cli import config_option, load

    @cli.command(name="budget")
    @config_option
    def budget_show(config_path):
        """Show today's and this month's spend per provider."""
        config = load(config_path)
        ledger = Ledger(config.workspace / "budget" / "ledger.json")
        day, month = ledger.periods()
        providers = sorted({k.split("|")[0] for k in ledger.data["month"]})
        if not providers:
            click.echo("no spend recorded")
        for p in providers:
            d, m = ledger.spent(p)
            click.echo(f"{p:<20} today ${d:.4f}   {month} ${m:.4f}")
