"""clawhost skills: list, show and run OpenClaw-style skills."""

from __future__ import annotations

import json
import sys

import click

from .common import Group, config_option, load


@click.group(cls=Group)
def skills():
    """List, show and run OpenClaw-style skills from the workspace and other roots."""


def _skills(config_path):
    from .. import skills as skill_mod
    config = load(config_path)
    found, problems = skill_mod.discover(config)
    for line in problems:
        click.echo(f"warning: {line}", err=True)
    return config, found


@skills.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="a list of {name, description, eligible, reason, path}")
def skills_list(config_path, as_json):
    """Every skill found, eligible or not, and why not."""
    config, found = _skills(config_path)
    if as_json:
        click.echo(json.dumps([s.row() for s in found], indent=2))
        return
    if not found:  # say where we looked: an empty answer reads as a broken command
        from ..skills import roots
        where = ", ".join(str(path) for _, path in roots(config))
        click.echo(f"no skills found (looked in: {where})")
    for s in found:
        mark = "ok " if s.eligible else "-- "
        click.echo(f"{mark}{s.name:<24} {s.description[:60]}")
        if not s.eligible:
            click.echo(f"    not eligible: {s.reason}")


@skills.command("show")
@config_option
@click.argument("name")
def skills_show(config_path, name):
    """A skill's details: where it is, its gates and its entry script."""
    _, found = _skills(config_path)
    skill = next((s for s in found if s.name == name), None)
    if skill is None:
        raise click.ClickException(f"no skill named {name!r} (see `clawhost skills list`)")
    from ..skills import clean  # folder names come from disk: no escapes reach the terminal
    click.echo(f"name:        {skill.name}\ndescription: {skill.description}\n"
               f"path:        {clean(str(skill.path))}")
    click.echo(f"eligible:    {'yes' if skill.eligible else 'no: ' + str(skill.reason)}")
    click.echo(f"entry:       {clean(skill.entry or '(none)')}")
    for other in skill.shadows:
        click.echo(f"shadows:     {clean(other)}")
    gates = {k: v for k, v in skill.meta.items() if k not in ("name", "description")}
    if gates:
        click.echo("frontmatter: " + json.dumps(gates))


@skills.command("run", context_settings={"ignore_unknown_options": True})
@config_option
@click.option("--timeout", type=float, default=None, help="seconds before the script is killed")
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def skills_run(config_path, timeout, name, args):
    """Run a skill's entry script with CLAWHOST_URL / CLAWHOST_TOKEN set; exit with its status."""
    from .. import skills as skill_mod
    from ..daemon import url_of
    import os
    config, found = _skills(config_path)
    skill = next((s for s in found if s.name == name), None)
    if skill is None:
        raise click.ClickException(f"no skill named {name!r} (see `clawhost skills list`)")
    token = config.host.server.token
    url = os.environ.get("CLAWHOST_URL") or url_of(config)
    try:
        res = skill_mod.run(skill, list(args), config, url=url, timeout=timeout,
                            token=token.get_secret_value() if token else os.environ.get("CLAWHOST_TOKEN"),
                            stdin=None if sys.stdin.isatty() else sys.stdin)
    except skill_mod.SkillError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(res.stdout, nl=False)
    click.echo(res.stderr, nl=False, err=True)
    sys.exit(res.returncode)
