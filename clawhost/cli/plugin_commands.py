"""clawhost plugins: list the installed plugins, or write a new one's skeleton."""

from __future__ import annotations

import json

import click

from .common import Group, config_option, load


@click.group(cls=Group, invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def plugins(ctx, config_path, as_json):
    """List installed plugins: enabled or not, distribution, version, hooks."""
    if ctx.invoked_subcommand:
        return
    from ..pluginmanager import discover
    enabled, plugins_dir = [], None
    try:
        config = load(config_path)
        enabled, plugins_dir = config.enabled, config.plugins_dir
    except click.ClickException:
        pass
    rows = [{"name": p.name, "enabled": p.name in enabled, "dist": p.dist, "version": p.version,
             "builtin": p.builtin, "hooks": p.hooks, "error": p.error}
            for p in discover(plugins_dir=plugins_dir).values()]
    rows.sort(key=lambda r: (not r["enabled"], enabled.index(r["name"]) if r["enabled"] else 0, r["name"]))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = "enabled " if r["enabled"] else "disabled"
        click.echo(f"{state} {r['name']:<18} {r['dist']} {r['version']}")
        click.echo(f"         {'BROKEN: ' + r['error'] if r['error'] else ', '.join(r['hooks'])}")


@plugins.command("new")
@click.argument("name")
@click.option("--dir", "parent", default=".", type=click.Path(file_okay=False),
              help="where to write clawhost-NAME/")
def plugins_new(name, parent):
    """Write a new plugin package skeleton, clawhost-NAME/, that passes its own tests."""
    from pathlib import Path

    from ..scaffold import create
    try:
        root = create(name, Path(parent))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {root}\n  cd {root} && pip install -e '.[test]' && pytest")
