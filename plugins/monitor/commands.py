"""``clawhost stats``: a terminal table of a running host's ``/v1/stats``."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import click

from clawhost.api import config_option

DEFAULT_STATS_PATH = "/v1/stats"


def _num(v: Any, fmt: str = "{:.1f}", none: str = "-") -> str:
    return none if v is None else fmt.format(v)


def _pct(v: Any) -> str:
    return _num(None if v is None else 100.0 * v, "{:.1f}%")


def render_table(data: dict[str, Any], url: str = "") -> str:
    """The stats answer as aligned text lines (no colours: it goes to logs and pipes too)."""
    s = data["summary"]
    rows = [
        f"clawhost stats  {url}  last {s.get('window_s', 0):.0f} s  (up {data.get('uptime_s', 0):.0f} s)",
        f"  {'requests/s':<13}{_num(s['requests_per_s']):>9}   requests {s['requests']}"
        f"   errors/s {_num(s['errors_per_s'])}   rejected {s.get('rejected', 0)}",
        f"  {'latency ms':<13}p50 {_num(s['p50_ms'], '{:.2f}')}   p95 {_num(s['p95_ms'], '{:.2f}')}"
        f"   p99 {_num(s['p99_ms'], '{:.2f}')}",
        f"  {'hit rate':<13}all {_pct(s['hit_rate'])}   l1 {_pct(s['hit_rate_l1'])}"
        f"   l2 {_pct(s['hit_rate_l2'])}   semantic {_pct(s['hit_rate_semantic'])}",
        f"  {'batch size':<13}mean {_num(s['mean_batch_size'], '{:.2f}')}",
        f"  {'tokens/s':<13}{_num(s['tokens_per_s']):>9}   in {_num(s['tokens_in_per_s'])}"
        f"   out {_num(s['tokens_out_per_s'])}",
        f"  {'memory':<13}RSS {_num(s['rss_mb'])} MB   CPU {_num(s['cpu_percent'], '{:.0f}%')}",
    ]
    models = data.get("models") or []
    if models:
        rows.append("  models")
        rows += [f"    {m['id']:<32} {m['owner']:<16} {m['status']}" for m in models]
    plugins = data.get("plugins") or []
    if plugins:
        requests = (data.get("totals") or {}).get("requests", 0)
        rows.append(f"  {'plugin chain':<20}{'calls':>10}{'time ms':>12}{'us/request':>12}"
                    f"{'errors':>8}")
        rows += [f"    {p['name']:<18}{p['calls']:>10}{p['seconds'] * 1000:>12.1f}"
                 f"{per_request(p, requests):>12}{p['errors']:>8}" for p in plugins]
    return "\n".join(rows)


REQUEST_HOOKS = ("clawhost_request_started", "clawhost_lookup", "clawhost_infer",
                 "clawhost_infer_batch", "clawhost_store", "clawhost_request_finished")


def per_request(plugin: dict[str, Any], requests: int) -> str:
    """Microseconds of a plugin's request-path hooks per request (boot hooks left out)."""
    hooks = plugin.get("hooks") or {}
    if not requests:
        return "-"
    seconds = sum(hooks[h]["seconds"] for h in REQUEST_HOOKS if h in hooks)
    return f"{1e6 * seconds / requests:.1f}"


def _target(config_path: str | None) -> tuple[Any, str]:
    """A client for the running host and the stats path from its config."""
    from clawhost.api import client_for
    from clawhost.api import load_config as load
    config, path = None, DEFAULT_STATS_PATH
    try:
        config = load(config_path)
        path = (config.raw_options("monitor") or {}).get("stats_path", path)
    except click.ClickException:
        if not os.environ.get("CLAWHOST_URL"):
            raise
    return client_for(config, timeout=10), path


def fetch(client: Any, path: str, window: float) -> dict[str, Any]:
    from clawhost.api import ClientError
    try:
        return client.request("GET", f"{path}?window={window:g}")
    except ClientError as exc:
        if exc.status == 404:
            raise click.ClickException(f"{client.url} has no {path}: enable the monitor plugin "
                                       "(plugins: monitor: {} in config.yaml)") from None
        if exc.status == 0:
            raise click.ClickException(f"{exc} (is it running? try `clawhost start`)") from None
        raise click.ClickException(str(exc)) from None


@click.command("stats")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print the raw JSON (with the series)")
@click.option("--watch", type=click.FloatRange(min=0.2), is_flag=False, flag_value=2.0,
              default=None, metavar="[SECONDS]", help="refresh every N seconds (default 2) "
              "until Ctrl-C")
@click.option("--window", type=click.FloatRange(min=1), default=60.0, show_default=True,
              metavar="SECONDS",
              help="seconds of history to summarise")
def stats_command(config_path, as_json, watch, window):
    """Requests/s, p50/p95/p99, hit rates, batch size, tok/s and RSS of the running host."""
    client, path = _target(config_path)
    try:
        while True:
            data = fetch(client, path, window)
            if as_json:
                click.echo(json.dumps(data, indent=None if watch else 2))
            else:
                if watch:
                    click.clear()
                click.echo(render_table(data, client.url))
            if not watch:
                return
            time.sleep(watch)
    except KeyboardInterrupt:
        return
