"""The ``clawhost`` command line: the root group, each command group from its own module,
and the installed plugins' commands added by ``build``. Heavy imports stay inside the
commands that need them.

The helpers plugins use (``config_option``, ``load``, ``plugin_options``, ``client_for``)
live in ``clawhost.cli.common`` and reach plugins through ``clawhost.api``; they are named
here too, for code that imported them from ``clawhost.cli``.
"""

from __future__ import annotations

import sys

import click

from .bench_command import bench
from .common import (CONFIG_HELP, Group, client_for, config_option, load, load_checked,
                     plugin_options, server_options)
from .config_commands import config
from .fleet_commands import fleet
from .lifecycle import memory_line, restart, run, start, status, stop
from .model_calls import ask, embed
from .plugin_commands import plugins
from .skill_commands import skills

__all__ = ["CONFIG_HELP", "Group", "build", "cli", "client_for", "config_option", "load",
           "load_checked", "main", "memory_line", "plugin_options", "server_options"]


@click.group(cls=Group)
@click.version_option(package_name="clawhost")
def cli():
    """clawhost: serve an agent's model calls from caches, local models and remote providers."""


# the order of `clawhost --help`
for command in (start, stop, restart, status, run, ask, embed, plugins, config, skills, bench,
                fleet):
    cli.add_command(command)
del command


def build() -> click.Group:
    """The CLI with every installed plugin's commands added."""
    from ..pluginmanager import Chain, PluginError, discover
    chain = Chain()
    for name, p in reversed(list(discover().items())):
        if p.module is not None:
            try:
                chain.register(p.module, name=name)
            except PluginError as exc:  # the host refuses it at start; the CLI still works
                click.echo(f"warning: {exc}", err=True)
    chain.walk_sync("clawhost_commands", cli=cli)
    return cli


def main() -> None:
    # Core commands don't need every plugin imported for its CLI additions: skipping that
    # keeps `start`/`run`/`stop` quick (the host imports just the plugins it enables).
    args = sys.argv[1:2]
    core = {"start", "stop", "status", "run", "restart", "ask", "embed", "bench"}
    (cli if args and args[0] in core else build())(prog_name="clawhost")
