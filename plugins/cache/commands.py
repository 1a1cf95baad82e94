"""``clawhost cache stats | clear | get``: read the L2 store directly, and ask a running host
for its live counters (and to drop its L1) when one answers."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import click

from clawhost.api import config_option, load_config as load

_KEY = re.compile(r"^[0-9a-f]{64}$")


def _options(config):
    from clawhost.api import plugin_options

    from .options import Options
    return plugin_options(config, "cache", Options)


def _run_store(config, fn):
    """Open the configured L2, run ``fn(store)`` (sync or async), close it."""
    from .manager import make_l2
    opts = _options(config)
    store = make_l2(opts, config.workspace)
    if store is None:
        raise click.ClickException("plugins.cache.l2.backend is none: there is no L2 to read")
    if getattr(store, "path", None) is not None and not Path(store.path).exists():
        return fn(None)

    async def go():
        store.open()
        try:
            out = fn(store)
            return await out if asyncio.iscoroutine(out) else out
        finally:
            close = store.close()
            if asyncio.iscoroutine(close):
                await close
    return asyncio.run(go())


def _live(config, method: str, path: str) -> dict | None:
    from clawhost.api import fetch_json
    status, body = fetch_json(config, path, method=method)
    return body if status == 200 else None


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


@click.group("cache")
def cache_group():
    """The response cache: stats, clear, get."""


@cache_group.command("stats")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def stats(config_path, as_json):
    """Entries and bytes in L2; live hit rates per layer from a running host."""
    config = load(config_path)
    stored = _run_store(config, lambda s: {"entries": 0, "bytes": 0} if s is None else s.stats())
    live = _live(config, "GET", "/v1/cache/stats")
    if as_json:
        _echo({"l2": stored, "live": live})
        return
    click.echo(f"L2 ({stored.get('backend', 'disk')}): {stored.get('entries', 0)} entries, "
               f"{stored.get('bytes', 0)} bytes"
               + (f" (max {stored['max_bytes']})" if stored.get("max_bytes") else ""))
    if live is None:
        click.echo("live: no running host answered (hit rates need a running host)")
        return
    rate, l1 = live["hit_rate"], live.get("l1") or {}
    click.echo(f"L1: {l1.get('entries', 0)} entries, {l1.get('bytes', 0)} bytes")
    click.echo(f"lookups {live['lookups']}: hit-l1 {live['hits']['l1']} ({rate['l1']:.1%}), "
               f"hit-l2 {live['hits']['l2']} ({rate['l2']:.1%} of L1 misses), "
               f"miss {live['misses']}, bypass {live['bypass']}, total hit rate {rate['total']:.1%}")
    click.echo(f"stores {live['stores']}, skipped (too large) {live['skipped_oversize']}")


@cache_group.command("clear")
@config_option
@click.option("--namespace", default=None, help="only entries stored under this namespace")
def clear(config_path, namespace):
    """Delete cached entries (all, or one namespace), in L2 and in a running host's L1."""
    config = load(config_path)
    gone = _run_store(config, lambda s: 0 if s is None else s.clear(namespace))
    live = _live(config, "POST", "/v1/cache/clear" + (
        f"?namespace={urllib.request.quote(namespace)}" if namespace is not None else ""))
    what = f"namespace {namespace!r}" if namespace is not None else "all namespaces"
    extra = f"; running host dropped {live['cleared']['l1']} from L1" if live else ""
    click.echo(f"cleared {gone} entries from L2 ({what}){extra}")


@cache_group.command("get")
@config_option
@click.argument("key")
def get(config_path, key):
    """Show one entry by key (the x-clawhost-cache-key header)."""
    key = key.strip().lower()
    if not _KEY.match(key):
        raise click.ClickException("KEY must be 64 hex characters (from x-clawhost-cache-key)")
    config = load(config_path)
    entry = _run_store(config, lambda s: None if s is None else s.get_entry(key))
    if entry is None:
        raise click.ClickException(f"no entry {key}")
    value = entry.pop("value", None)
    if value is not None:
        from .record import decode_body
        entry["body"] = decode_body(value)
    _echo(entry)
