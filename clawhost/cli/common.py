"""What every command shares, the plugins' commands too (through ``clawhost.api``): the
--config and --port/--host options, loading the config with one-line errors, and a client
for the running host."""

from __future__ import annotations

import os

import click

CONFIG_HELP = ("config file (default: $CLAWHOST_CONFIG, then ./config.yaml, then "
               "~/.config/clawhost/config.yaml; `clawhost config path` says which)")


def config_option(fn):
    # no envvar= here: locate_config reads $CLAWHOST_CONFIG itself, so it can say which
    # of the places a config came from
    return click.option("--config", "config_path", type=click.Path(dir_okay=False),
                        help=CONFIG_HELP)(fn)


def server_options(fn):
    """--port / --host for the lifecycle commands (else $CLAWHOST_PORT / $CLAWHOST_HOST,
    else server.port / server.host)."""
    fn = click.option("--port", type=click.IntRange(0, 65535), default=None,
                      help="listen on / talk to this port (default: $CLAWHOST_PORT, then "
                      "server.port)")(fn)
    return click.option("--host", "bind_host", default=None, metavar="ADDRESS",
                        help="listen on / talk to this address (default: $CLAWHOST_HOST, then "
                        "server.host)")(fn)


def load(config_path, port: int | None = None, host: str | None = None):
    """The config, with --port/--host or $CLAWHOST_PORT/$CLAWHOST_HOST applied, or a
    one-line error and exit 1."""
    from ..config import load_config
    from ..errors import ConfigError
    try:
        config = load_config(config_path)
        config.override_server(port, host)
        return config
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def plugin_options(config, name: str, model):
    """One plugin's options from ``config``, checked against its model, or a one-line error."""
    from pydantic import ValidationError

    from ..config import format_errors
    try:
        return model.model_validate(config.raw_options(name))
    except ValidationError as exc:
        raise click.ClickException("; ".join(format_errors(exc, f"plugins.{name}", model))) from None


def load_checked(config_path, port: int | None = None, host: str | None = None):
    """``load``, then every enabled plugin found and its options checked (what start does)."""
    from ..errors import ConfigError
    from ..pluginmanager import discover
    config = load(config_path, port, host)
    try:
        config.validate_plugins(discover(plugins_dir=config.plugins_dir, only=set(config.enabled)))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return config


class Group(click.Group):
    """A command group that lists its commands in the order they were added."""

    def list_commands(self, ctx):  # keep the order commands were added in
        return list(self.commands)


def client_for(config, **kw):
    """A Client (``kw``: its options) for $CLAWHOST_URL if set, else for ``config``'s host."""
    from ..client import Client
    from ..daemon import url_of
    if os.environ.get("CLAWHOST_URL") or config is None:
        return as_click_error(lambda: Client(**kw))
    token = config.host.server.token
    return as_click_error(lambda: Client(url_of(config), **kw,
                                         token=token.get_secret_value() if token else None))


def client_for_path(config_path):
    """``client_for`` the config at ``config_path`` (not read when $CLAWHOST_URL is set)."""
    return client_for(None if os.environ.get("CLAWHOST_URL") else load(config_path))


def as_click_error(fn):
    """``fn()``, with a client's error turned into click's one-line error and exit 1."""
    from ..client import ClientError
    try:
        return fn()
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
