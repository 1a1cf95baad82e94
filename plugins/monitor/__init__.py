"""monitor: Prometheus ``/metrics``, a JSON history at ``/v1/stats``, a status page at ``/``,
and ``clawhost stats``.

The request path only calls ``Monitor.record`` (plain counters and fixed-bucket
histograms); everything else is computed when scraped or viewed. The machinery lives in
this package's modules and is imported inside the hooks, so importing this module stays
cheap for every CLI call.
"""

from __future__ import annotations

import asyncio
import logging

from clawhost.api import USAGE, hookimpl

from .options import NAME, STATE, Options

__all__ = ["NAME", "Options", "STATE"]
log = logging.getLogger("clawhost.monitor")


def monitor_of(host):
    """The host's ``Monitor``, created on first use (routes are added before startup runs)."""
    mon = host.state.get(STATE)
    if mon is None:
        from .collector import new_registry
        from .history import History
        from .recorder import Monitor
        opts = host.options(NAME) or Options()
        mon = Monitor(host, opts)
        mon.registry = new_registry(mon)
        mon.history = History(mon, opts.sample_s, opts.history_s)
        host.state[STATE] = mon
    return mon


@hookimpl
def clawhost_routes(router, host):
    from .web import add_routes
    add_routes(router, monitor_of(host).options)


@hookimpl
def clawhost_commands(cli):
    from .commands import stats_command
    cli.add_command(stats_command)


@hookimpl
async def clawhost_startup(host):
    mon = monitor_of(host)
    if mon.options.otel:
        from .tracing import make_tracer
        mon.tracer = make_tracer()
        if mon.tracer is None:
            log.warning("monitor: otel is on but opentelemetry is not installed; no traces")
    mon.history.sample()
    mon.sampler = asyncio.get_running_loop().create_task(mon.history.run())


@hookimpl
async def clawhost_shutdown(host):
    mon = host.state.get(STATE)
    task = getattr(mon, "sampler", None)
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


@hookimpl
def clawhost_store(request, reply):
    # a streamed reply reaches request_finished without a body: keep the assembled usage
    if request.stream and reply.body and not reply.cached:
        use = reply.body.get("usage")
        if use:
            request.notes[USAGE] = use


@hookimpl
def clawhost_request_finished(request, reply, error):
    mon = request.host.state.get(STATE)
    if mon is not None:
        mon.record(request, reply, error)
