"""clawhost bench: refuses to compete with a serving host, then hands over to
``clawhost.bench``."""

from __future__ import annotations

import sys

import click

from .common import config_option, load_checked


@click.command()
@config_option
@click.option("--quick", is_flag=True, help="short rounds, no large fp32 builds: under a minute")
@click.option("--json", "as_json", is_flag=True, help="print the figures as one JSON object")
@click.option("--html", "html_file", type=click.Path(dir_okay=False),
              help="also write a self-contained HTML report with charts")
@click.option("--live", is_flag=True, help="run even though a host is serving (it will compete "
              "with that host's traffic for the cores)")
def bench(config_path, quick, as_json, html_file, live):
    """Measure what each technique buys on this box, with and without it, beside the plan's
    predictions. Uses a scratch workspace; the configured models are reused read-only."""
    from .. import daemon
    config = load_checked(config_path)
    if not live:
        pid = daemon.running_pid(config)
        code, _ = daemon.fetch_json(config, "/readyz", timeout=1.0)
        if pid is not None or code:
            who = f"pid {pid}" if pid is not None else "a host"
            raise click.ClickException(f"clawhost is serving ({who} at {daemon.url_of(config)}): "
                                       "a bench would compete with its traffic; stop it or pass --live")
    from ..bench.cli import run_bench
    sys.exit(run_bench(config, quick=quick, as_json=as_json, html_file=html_file, live=live))
