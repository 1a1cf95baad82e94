"""start, stop, restart, status and run: the host's process from the command line."""

from __future__ import annotations

import json
import sys

import click

from .common import config_option, load, load_checked, server_options


@click.command()
@config_option
@server_options
@click.option("--timeout", default=900.0, show_default=True,
              help="seconds to wait for /readyz (first start prepares models)")
def start(config_path, port, bind_host, timeout):
    """Start the host in the background and wait until it is ready."""
    from .. import daemon
    config = load_checked(config_path, port, bind_host)
    try:
        pid = daemon.start(config, timeout=timeout, progress=lambda n: click.echo(f"  {n}", err=True))
    except daemon.LifecycleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"clawhost started (pid {pid}) at {daemon.url_of(config)}")


@click.command()
@config_option
@server_options
@click.option("--timeout", type=float, default=None, help="seconds to wait for the drain")
def stop(config_path, port, bind_host, timeout):
    """Stop the host, letting in-flight requests finish."""
    from .. import daemon
    pid = daemon.stop(load(config_path, port, bind_host), timeout=timeout)
    click.echo("clawhost is not running" if pid is None else f"clawhost stopped (pid {pid})")


@click.command()
@config_option
@server_options
@click.option("--timeout", default=900.0, show_default=True)
@click.pass_context
def restart(ctx, config_path, port, bind_host, timeout):
    """Stop the host if it runs, then start it."""
    ctx.invoke(stop, config_path=config_path, port=port, bind_host=bind_host)
    ctx.invoke(start, config_path=config_path, port=port, bind_host=bind_host, timeout=timeout)


@click.command()
@config_option
@server_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def status(config_path, port, bind_host, as_json):
    """Say whether the host runs, with its pid, uptime, address, plugins and models."""
    from .. import daemon
    facts = daemon.status(load(config_path, port, bind_host))
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    if not facts["running"]:
        click.echo(f"clawhost is not running ({facts['url']})")
        sys.exit(3)
    click.echo(f"clawhost is running: pid {facts['pid']}, {facts['url']}, "
               f"{'ready' if facts.get('ready') else 'starting'}, up {facts.get('uptime_s', 0)}s"
               + (f" (ready after {facts['ready_after_s']}s)" if facts.get("ready_after_s") else ""))
    click.echo(f"  plugins: {', '.join(facts.get('plugins', [])) or 'none'}")
    kv = facts.get("kv_cache") or {}  # local chat models' memory (clawhost.api.MemoryFacts)
    for model, state in (facts.get("models") or {}).items():
        click.echo(f"  model {model}: {state}")
        if model in (kv.get("models") or {}):
            click.echo(f"    {memory_line(kv['models'][model])}")
            kept = prefix_line(kv["models"][model])
            if kept:
                click.echo(f"    {kept}")
    if kv.get("budget_mb") is not None:
        click.echo(f"  KV cache: {kv['used_mb']:g} of kv_cache_mb {kv['budget_mb']:g} reserved "
                   f"by {kv['streams']} stream(s)")
    if facts.get("progress"):
        click.echo(f"  progress: {facts['progress']}")


def memory_line(m: dict) -> str:
    """One model's ``MemoryFacts`` in words (the same facts as /v1/models and /readyz)."""
    fits = ("no KV budget" if m.get("full_context_streams") is None else
            f"{m['full_context_streams']} full-context stream(s) fit in kv_cache_mb "
            f"{m['kv_cache_mb']:g}")
    slots = f"; {m['max_slots']} slots" if m.get("max_slots") else ""
    return (f"context {m['context_length']:,} tokens; KV cache {m['kv_cache_dtype']}, "
            f"{m['kv_bytes_per_token']:,} B per token, {m['kv_mb_full_context']:g} MB for a "
            f"full context; {fits}{slots}")


def prefix_line(m: dict) -> str | None:
    """Where long prompts' KV is kept for reuse, in words (None: nowhere)."""
    parts = []
    for key, where in (("prefix_cache", "in memory"), ("prefix_cache_disk", "on disk")):
        if key in m:
            f = m[key]
            parts.append(f"{f['mb']:g} of {f['limit_mb']:g} MB {where}, {f['hits']} hit(s)")
    return "kept prompt prefixes: " + "; ".join(parts) if parts else None


@click.command()
@config_option
@server_options
@click.option("--log-file", is_flag=True, help="log to workspace/logs/clawhost.log")
def run(config_path, port, bind_host, log_file):
    """Run the host in the foreground until Ctrl-C or SIGTERM."""
    from .. import daemon
    from ..errors import ConfigError
    try:
        daemon.run_foreground(load_checked(config_path, port, bind_host), log_file=log_file)
    except (ConfigError, daemon.LifecycleError) as exc:
        import logging
        logging.getLogger("clawhost").error("%s", exc)
        raise click.ClickException(str(exc)) from None
