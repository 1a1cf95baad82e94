"""The ``clawhost`` command line. Heavy imports stay inside the commands that need them."""

from __future__ import annotations

import json
import sys

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
    from .config import load_config
    from .errors import ConfigError
    try:
        config = load_config(config_path)
        config.override_server(port, host)
        return config
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def plugin_options(config, name: str, model):
    """One plugin's options from ``config``, checked against its model, or a one-line error."""
    from pydantic import ValidationError

    from .config import format_errors
    try:
        return model.model_validate(config.raw_options(name))
    except ValidationError as exc:
        raise click.ClickException("; ".join(format_errors(exc, f"plugins.{name}", model))) from None


def load_checked(config_path, port: int | None = None, host: str | None = None):
    from .errors import ConfigError
    from .pluginmanager import discover
    config = load(config_path, port, host)
    try:
        config.validate_plugins(discover(plugins_dir=config.plugins_dir, only=set(config.enabled)))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return config


class Group(click.Group):
    def list_commands(self, ctx):  # keep the order commands were added in
        return list(self.commands)


@click.group(cls=Group)
@click.version_option(package_name="clawhost")
def cli():
    """clawhost: serve an agent's model calls from caches, local models and remote providers."""


@cli.command()
@config_option
@server_options
@click.option("--timeout", default=900.0, show_default=True,
              help="seconds to wait for /readyz (first start prepares models)")
def start(config_path, port, bind_host, timeout):
    """Start the host in the background and wait until it is ready."""
    from . import daemon
    config = load_checked(config_path, port, bind_host)
    try:
        pid = daemon.start(config, timeout=timeout, progress=lambda n: click.echo(f"  {n}", err=True))
    except daemon.LifecycleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"clawhost started (pid {pid}) at {daemon.url_of(config)}")


@cli.command()
@config_option
@server_options
@click.option("--timeout", type=float, default=None, help="seconds to wait for the drain")
def stop(config_path, port, bind_host, timeout):
    """Stop the host, letting in-flight requests finish."""
    from . import daemon
    pid = daemon.stop(load(config_path, port, bind_host), timeout=timeout)
    click.echo("clawhost is not running" if pid is None else f"clawhost stopped (pid {pid})")


@cli.command()
@config_option
@server_options
@click.option("--timeout", default=900.0, show_default=True)
@click.pass_context
def restart(ctx, config_path, port, bind_host, timeout):
    """Stop the host if it runs, then start it."""
    ctx.invoke(stop, config_path=config_path, port=port, bind_host=bind_host)
    ctx.invoke(start, config_path=config_path, port=port, bind_host=bind_host, timeout=timeout)


@cli.command()
@config_option
@server_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def status(config_path, port, bind_host, as_json):
    """Say whether the host runs, with its pid, uptime, address, plugins and models."""
    from . import daemon
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


@cli.command()
@config_option
@server_options
@click.option("--log-file", is_flag=True, help="log to workspace/logs/clawhost.log")
def run(config_path, port, bind_host, log_file):
    """Run the host in the foreground until Ctrl-C or SIGTERM."""
    from . import daemon
    from .errors import ConfigError
    try:
        daemon.run_foreground(load_checked(config_path, port, bind_host), log_file=log_file)
    except (ConfigError, daemon.LifecycleError) as exc:
        import logging
        logging.getLogger("clawhost").error("%s", exc)
        raise click.ClickException(str(exc)) from None


def client_for(config, **kw):
    """A Client (``kw``: its options) for $CLAWHOST_URL if set, else for ``config``'s host."""
    from .client import Client
    from .daemon import url_of
    import os
    if os.environ.get("CLAWHOST_URL") or config is None:
        return _call(lambda: Client(**kw))
    token = config.host.server.token
    return _call(lambda: Client(url_of(config), token=token.get_secret_value() if token else None,
                                **kw))


def _client(config_path):
    import os
    return client_for(None if os.environ.get("CLAWHOST_URL") else load(config_path))


def _call(fn):
    from .client import ClientError
    try:
        return fn()
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@config_option
@click.argument("prompt")
@click.option("-m", "--model", help="model id (default: the first chat model)")
@click.option("-s", "--system", help="system prompt")
@click.option("--stream", is_flag=True, help="print tokens as they arrive")
@click.option("--max-tokens", type=int, default=None)
@click.option("--temperature", type=float, default=None)
def ask(config_path, prompt, model, system, stream, max_tokens, temperature):
    """Ask a chat model and print its answer."""
    client = _client(config_path)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]
    kw = {k: v for k, v in {"max_tokens": max_tokens, "temperature": temperature}.items() if v is not None}
    if stream:
        for piece in _call(lambda: list(client.chat_stream(messages, model=model, **kw))):
            click.echo(piece, nl=False)
        click.echo()
    else:
        click.echo(_call(lambda: client.chat(messages, model=model, **kw)))


@cli.command()
@config_option
@click.argument("texts", nargs=-1, required=True)
@click.option("-m", "--model", help="model id (default: the first embedding model)")
def embed(config_path, texts, model):
    """Print the embedding of each text as a JSON list."""
    client = _client(config_path)
    for vec in _call(lambda: client.embed(list(texts), model=model)):
        click.echo(json.dumps(vec))


@cli.group(cls=Group, invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def plugins(ctx, config_path, as_json):
    """List installed plugins: enabled or not, distribution, version, hooks."""
    if ctx.invoked_subcommand:
        return
    from .pluginmanager import discover
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

    from .scaffold import create
    try:
        root = create(name, Path(parent))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {root}\n  cd {root} && pip install -e '.[test]' && pytest")


@cli.group(cls=Group)
def config():
    """Check config.yaml, or print its JSON Schema."""


@config.command("path")
@config_option
def config_path_cmd(config_path):
    """Print which config file commands use here, and why (or every place looked at)."""
    from .config import locate_config
    from .errors import ConfigError
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
    from .config import json_schema
    from .pluginmanager import discover
    click.echo(json.dumps(json_schema(discover()), indent=2))


@cli.group(cls=Group)
def skills():
    """List, show and run OpenClaw-style skills from the workspace and other roots."""


def _skills(config_path):
    from . import skills as skill_mod
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
        from .skills import roots
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
    from .skills import clean  # folder names come from disk: no escapes reach the terminal
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
    from . import skills as skill_mod
    from .daemon import url_of
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


@cli.command()
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
    from . import daemon
    config = load_checked(config_path)
    if not live:
        pid = daemon.running_pid(config)
        code, _ = daemon.fetch_json(config, "/readyz", timeout=1.0)
        if pid is not None or code:
            who = f"pid {pid}" if pid is not None else "a host"
            raise click.ClickException(f"clawhost is serving ({who} at {daemon.url_of(config)}): "
                                       "a bench would compete with its traffic; stop it or pass --live")
    from .bench.cli import run_bench
    sys.exit(run_bench(config, quick=quick, as_json=as_json, html_file=html_file, live=live))


@cli.group(cls=Group)
def fleet():
    """Fleet mode: the hosts sharing this config's Redis (docs/fleet.md)."""


@fleet.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def fleet_status(config_path, as_json):
    """List the fleet's hosts with their heartbeats and versions; stale ones flagged.
    Asks the running host, else reads Redis itself. Exit status 3 when any host is stale."""
    from . import daemon
    from .fleet import status
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


def build() -> click.Group:
    """The CLI with every installed plugin's commands added."""
    from .pluginmanager import Chain, PluginError, discover
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
