"""clawhost fleet: the hosts sharing this config's Redis."""

from __future__ import annotations

import json
import sys

import click

from .common import Group, config_option, load


@click.group(cls=Group)
def fleet():
    """Fleet mode: the hosts sharing this config's Redis (docs/fleet.md)."""


@fleet.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def fleet_status(config_path, as_json):
    """List the fleet's hosts with their heartbeats and versions; stale ones flagged.
    Asks the running host, else reads Redis itself. Exit status 3 when any host is stale."""
    from .. import daemon
    from ..fleet import status
    config = load(config_path)
    code, body = daemon.fetch_json(config, "/v1/fleet")
    if code == 200 and isinstance(body, dict) and body.get("enabled"):
        where = f"running host at {daemon.url_of(config)}"
    elif config.host.fleet is None:
        raise click.ClickException("fleet mode is off in this config (add a fleet: section; "
                                   "see docs/fleet.md)")
    else:
        body = status.from_redis(config.host.fleet)
        where = "read from redis"
    if as_json:
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo("\n".join(status.lines(body, where)))
    if body.get("error"):
        sys.exit(1)
    if any(h.get("stale") for h in body.get("hosts", [])):
        sys.exit(3)
