"""clawhost config: where the config is, whether it is valid, and its JSON Schema."""

from __future__ import annotations

import json

import click

from .common import Group, config_option, load_checked


@click.group(cls=Group)
def config():
    """Check config.yaml, or print its JSON Schema."""


@config.command("path")
@config_option
def config_path_cmd(config_path):
    """Print which config file commands use here, and why (or every place looked at)."""
    from ..config import locate_config
    from ..errors import ConfigError
    try:
        path, how = locate_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(path))  # alone on stdout, for $(clawhost config path)
    click.echo(f"found via {how}", err=True)


@config.command("check")
@config_option
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def config_check(config_path, file):
    """Validate a config file (default: --config / $CLAWHOST_CONFIG / ./config.yaml /
    the per-user config)."""
    config = load_checked(file or config_path)
    click.echo(f"{config.path}: ok ({len(config.enabled)} plugins: {', '.join(config.enabled)})")


@config.command("schema")
def config_schema():
    """Print the JSON Schema of config.yaml, with every installed plugin's options."""
    from ..config import json_schema
    from ..pluginmanager import discover
    click.echo(json.dumps(json_schema(discover()), indent=2))
