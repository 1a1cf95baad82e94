"""monitor: Prometheus ``/metrics``, a JSON history at ``/v1/stats``, a status page at ``/``,
and ``clawhost stats``.

The request path only calls ``Monitor.record`` (plain counters and fixed-bucket
histograms); everything else is computed when scraped or viewed. The machinery lives in
``clawhost.monitoring`` and is imported inside the hooks, so importing this module stays
cheap for every CLI call.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel, ConfigDict, Field

from clawhost.hookspecs import hookimpl

log = logging.getLogger("clawhost.monitor")
_PATH = r"^/[A-Za-z0-9/_.\-]*$"


class Options(BaseModel):
    """``plugins: monitor:`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")
    metrics_path: str = Field("/metrics", pattern=_PATH)
    stats_path: str = Field("/v1/stats", pattern=_PATH)
    status_page: bool = True  # the HTML status page at page_path
    page_path: str = Field("/", pattern=_PATH)
    sample_s: float = Field(2.0, ge=0.05, le=60, description="seconds between history points")
    history_s: float = Field(900.0, ge=10, le=86400, description="seconds of history kept")
    max_label_values: int = Field(32, ge=1, le=1000,
                                  description="distinct models / providers / keys per label")
    otel: bool = Field(False, description="OpenTelemetry spans per request (needs opentelemetry)")


def monitor_of(host):
    """The host's ``Monitor``, created on first use (routes are added before startup runs)."""
    mon = host.state.get("monitor")
    if mon is None:
        from clawhost.monitoring.collector import new_registry
        from clawhost.monitoring.history import History
        from clawhost.monitoring.recorder import Monitor
        opts = host.options("monitor") or Options()
        mon = Monitor(host, opts)
        mon.registry = new_registry(mon)
        mon.history = History(mon, opts.sample_s, opts.history_s)
        host.state["monitor"] = mon
    return mon


@hookimpl
def clawhost_routes(router, host):
    from clawhost.monitoring.web import add_routes
    add_routes(router, monitor_of(host).options)


@hookimpl
def clawhost_commands(cli):
    from clawhost.monitoring.table import stats_command
    cli.add_command(stats_command)


@hookimpl
async def clawhost_startup(host):
    mon = monitor_of(host)
    if mon.options.otel:
        from clawhost.monitoring.tracing import make_tracer
        mon.tracer = make_tracer()
        if mon.tracer is None:
            log.warning("monitor: otel is on but opentelemetry is not installed; no traces")
    mon.history.sample()
    mon.sampler = asyncio.get_running_loop().create_task(mon.history.run())


@hookimpl
async def clawhost_shutdown(host):
    mon = host.state.get("monitor")
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
    if request.stream and reply.body:
        use = reply.body.get("usage")
        if use:
            request.notes["usage"] = use


@hookimpl
def clawhost_request_finished(request, reply, error):
    mon = request.host.state.get("monitor")
    if mon is not None:
        mon.record(request, reply, error)
