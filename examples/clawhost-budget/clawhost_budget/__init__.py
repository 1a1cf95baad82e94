"""clawhost-budget: price every remote call by its tokens and keep spending under a limit.

Totals per provider per day and per month live in ``<workspace>/budget/ledger.json``, or, in
fleet mode (``ledger: fleet``, or ``auto`` with a ``fleet:`` section), in the fleet's Redis,
so several hosts spend one budget.
Near a limit a header (``x-clawhost-budget: warn ...``) and a gauge warn; over it the
request is refused (402 or 429) or rerouted to a local model, as configured. This module is
the hooks; ``options`` holds the options, ``ledger`` the machinery (the built-ins' layout).
"""

from __future__ import annotations

import logging
import time

from clawhost.api import hookimpl

from .ledger import Budget, FleetLedger, Ledger, periods, provider_of, read_fleet_totals
from .options import NAME, STATE, Limit, Options, Price

__all__ = ["Budget", "FleetLedger", "Ledger", "Limit", "NAME", "Options", "Price", "STATE", "provider_of"]
log = logging.getLogger("clawhost.budget")


@hookimpl
def clawhost_startup(host):
    from clawhost.api import fleet_of

    options = host.options(NAME) or Options()
    link = fleet_of(host) if options.ledger != "file" else None  # (options checked "fleet")
    host.state[STATE] = Budget(options, host.workspace, link)


@hookimpl(tryfirst=True)
async def clawhost_infer(request):
    """Before any model runs: warn near the limit, refuse or reroute over it."""
    from clawhost.api import Overloaded, PaymentRequired

    budget: Budget = request.host.state[STATE]
    if budget.price(request.model.id) is None:
        return None  # unpriced (e.g. local) models are free
    provider = provider_of(request.model.id)
    await budget.ledger.refresh(provider)  # the fleet's totals (a file ledger has them)
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
async def clawhost_request_finished(request, reply, error):
    """Charge what the answer cost, from its token usage."""
    if error is not None or reply is None or reply.source not in ("model", "upstream"):
        return
    budget: Budget = request.host.state[STATE]
    price = budget.price(request.model.id)
    if price is None:
        return
    usage = (reply.body or {}).get("usage") or {}
    cost = (usage.get("prompt_tokens", 0) * price.input_per_mtok
            + usage.get("completion_tokens", 0) * price.output_per_mtok) / 1e6
    if cost:
        await budget.ledger.charge(provider_of(request.model.id), cost)


@hookimpl
def clawhost_commands(cli):
    import click

    from clawhost.api import config_option
    from clawhost.api import load_config as load

    @cli.command(name="budget")
    @config_option
    def budget_show(config_path):
        """Show today's and this month's spend per provider (the fleet's, in fleet mode)."""
        config = load(config_path)
        day, month = periods(time.time)
        fleet = config.host.fleet
        if fleet is not None and (config.raw_options(NAME) or {}).get("ledger") != "file":
            try:
                spent = read_fleet_totals(fleet.url.get_secret_value(), fleet.namespace, day,
                                          month)
            except OSError as exc:  # the URL may carry a password: name host:port/db only
                where = fleet.url.get_secret_value().split("@")[-1].split("://")[-1]
                raise click.ClickException(f"the fleet's redis at {where} is unreachable "
                                           f"({exc.__class__.__name__})") from None
        else:
            ledger = Ledger(config.workspace / "budget" / "ledger.json")
            spent = {p: ledger.spent(p) for p in ledger.providers()}
        if not spent:
            click.echo("no spend recorded")
        for p, (d, m) in sorted(spent.items()):
            click.echo(f"{p:<20} today ${d:.4f}   {month} ${m:.4f}")
