"""The Prometheus view of a host, built at scrape time from plain counters.

A custom ``Collector`` in a ``CollectorRegistry`` owned by the monitor (never the global
default registry, so two hosts in one process never mix): requests, latency histograms,
tokens, cache results, batches, upstream providers, per-plugin hook time, process RSS and
CPU, model load state, and the gauges any plugin exposes through ``state.figures()``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, Metric)
from prometheus_client.registry import Collector

from clawhost.api import fleet_of

from .histogram import EXPORT_BOUNDS
from .recorder import STAGES

log = logging.getLogger("clawhost.monitor")
_BAD = re.compile(r"[^a-zA-Z0-9_]")
_STAGE_HELP = {"total": "whole request, received to answered",
               "queue": "waiting in a batcher queue", "infer": "model or upstream inference",
               "ttft": "time to the first streamed chunk"}


def metric_name(*parts: str) -> str:
    name = _BAD.sub("_", "_".join(p for p in parts if p)).strip("_")
    return name if not name[:1].isdigit() else "_" + name


def model_state(status: str) -> str:
    """``ready`` / ``loading`` / ``error`` (free text after ``error:`` never becomes a label)."""
    s = (status or "").split(":", 1)[0].strip().lower()
    return s if s in ("ready", "loading", "error") else "other"


class HostCollector(Collector):
    """Reads the monitor, the plugin chain, the process and ``figures()`` at each scrape."""

    def __init__(self, monitor: Any):
        import psutil
        self.monitor = monitor
        self.host = monitor.host
        self.process = psutil.Process()
        self._warned: dict[str, float] = {}

    def describe(self) -> list:
        return []  # nothing to check at registration; everything is read at scrape time

    def collect(self) -> Iterator[Metric]:
        link = fleet_of(self.host)
        if link is None:
            yield from self._families()
            return
        # fleet mode: every sample carries host="<fleet name>" (a validated name, never a
        # URL or secret), so one Prometheus job scraping every host keeps them apart
        for fam in self._families():
            fam.samples = [s._replace(labels={**s.labels, "host": link.name})
                           for s in fam.samples]
            yield fam

    def _families(self) -> Iterator[Metric]:
        seen: set[str] = set()
        for fam in self._own():
            seen.add(fam.name)
            yield fam
        yield from self._fleet()
        yield from self._figures(seen)
        # after the figures, so this scrape's failures are already counted
        fe = CounterMetricFamily("clawhost_monitor_figure_errors", "figures() calls that "
                                 "raised, by plugin state.", labels=["plugin"])
        for name, n in sorted(self.monitor.figure_errors.items()):
            fe.add_metric([name], n)
        yield fe

    def _fleet(self) -> Iterator[Metric]:
        link = fleet_of(self.host)
        if link is None:
            return
        yield GaugeMetricFamily("clawhost_fleet_redis_up", "1 while the fleet's Redis answers "
                                "this host, else 0.", value=1.0 if link.available else 0.0)
        yield GaugeMetricFamily("clawhost_fleet_hosts_seen", "Hosts (this one included) that "
                                "sent a heartbeat recently.", value=link.hosts_seen())

    def _own(self) -> Iterator[Metric]:
        m, host = self.monitor, self.host
        req = CounterMetricFamily("clawhost_requests", "Model requests by model, endpoint and "
                                  "HTTP status.", labels=["model", "endpoint", "status"])
        for (model, kind, status), n in sorted(m.requests.items()):
            req.add_metric([model, kind, str(status)], n)
        yield req
        for stage in STAGES:
            h = HistogramMetricFamily(f"clawhost_request_{stage}_seconds",
                                      f"Seconds per request: {_STAGE_HELP[stage]}.",
                                      labels=["model"])
            for model, stats in sorted(m.models.items()):
                hist = getattr(stats, stage)
                if hist.count or stage == "total":
                    h.add_metric([model], hist.cumulative(EXPORT_BOUNDS), hist.sum)
            yield h
        tok = CounterMetricFamily("clawhost_tokens", "Tokens by model and direction (in = "
                                  "prompt, out = completion), from replies' usage.",
                                  labels=["model", "direction"])
        for model, stats in sorted(m.models.items()):
            tok.add_metric([model, "in"], stats.tokens_in)
            tok.add_metric([model, "out"], stats.tokens_out)
        yield tok
        hits = CounterMetricFamily("clawhost_cache_hits", "Requests answered by a cache layer.",
                                   labels=["layer"])
        for layer in ("l1", "l2", "semantic"):
            hits.add_metric([layer], m.cache[f"hit-{layer}"])
        yield hits
        yield CounterMetricFamily("clawhost_cache_misses", "Requests no cache layer could "
                                  "answer.", value=m.cache["miss"])
        yield CounterMetricFamily("clawhost_cache_bypass", "Requests that skipped the caches.",
                                  value=m.cache["bypass"])
        b = HistogramMetricFamily("clawhost_batch_size", "Requests per batch, as seen by each "
                                  "batched request.")
        b.add_metric([], m.batch.cumulative(), m.batch.sum)
        yield b
        rej = CounterMetricFamily("clawhost_rejected_requests", "Requests refused with 429 "
                                  "(queue full, rate limit).", labels=["model"])
        for model, n in sorted(m.rejected.items()):
            rej.add_metric([model], n)
        yield rej
        refused = CounterMetricFamily("clawhost_refused_requests", "API requests answered with "
                                      "an error before the request loop (bad body, token, "
                                      "route, server full), by path and status.",
                                      labels=["path", "status"])
        for (path, status), n in sorted(getattr(host, "refused", {}).items())[: m.max_labels]:
            refused.add_metric([path, str(status)], n)
        yield refused
        yield from self._upstream()
        yield from self._chain()
        yield from self._process()
        mod = GaugeMetricFamily("clawhost_model_ready", "1 when a model is ready, else 0, with "
                                "its load state.", labels=["model", "owner", "state"])
        for model in list(host.models.values())[: m.max_labels]:
            state = model_state(model.status)
            mod.add_metric([model.id, model.owner, state], 1.0 if state == "ready" else 0.0)
        yield mod
        if m.inflight is not None:
            yield GaugeMetricFamily("clawhost_inflight_requests", "Requests in flight.",
                                    value=m.inflight[0])
        if host.started_at:
            yield GaugeMetricFamily("clawhost_uptime_seconds", "Seconds since the host started.",
                                    value=time.time() - host.started_at)

    def _upstream(self) -> Iterator[Metric]:
        m = self.monitor
        calls = CounterMetricFamily("clawhost_upstream_requests", "Requests sent to a remote "
                                    "provider, by final status.", labels=["provider", "status"])
        for (p, status), n in sorted(m.upstream.items()):
            calls.add_metric([p, str(status)], n)
        yield calls
        for name, data, doc in (("retries", m.upstream_retries, "Retries of remote calls."),
                                ("errors", m.upstream_errors, "Remote calls that failed.")):
            fam = CounterMetricFamily(f"clawhost_upstream_{name}", doc, labels=["provider"])
            for p, n in sorted(data.items()):
                fam.add_metric([p], n)
            yield fam

    def _chain(self) -> Iterator[Metric]:
        st = self.host.chain.stats
        sec = CounterMetricFamily("clawhost_plugin_hook_seconds", "Seconds spent in each "
                                  "plugin's hook implementations.", labels=["plugin", "hook"])
        calls = CounterMetricFamily("clawhost_plugin_hook_calls", "Calls of each plugin's hook "
                                    "implementations.", labels=["plugin", "hook"])
        errs = CounterMetricFamily("clawhost_plugin_hook_errors", "Exceptions raised by each "
                                   "plugin's hooks (isolated and counted).",
                                   labels=["plugin", "hook"])
        for (plugin, hook), n in sorted(dict(st.calls).items()):
            calls.add_metric([plugin, hook], n)
            sec.add_metric([plugin, hook], st.seconds.get((plugin, hook), 0.0))
        for (plugin, hook), n in sorted(dict(st.errors).items()):
            errs.add_metric([plugin, hook], n)
        yield from (sec, calls, errs)

    def _process(self) -> Iterator[Metric]:
        with self.process.oneshot():
            rss = self.process.memory_info().rss
            cpu = self.process.cpu_times()
            threads = self.process.num_threads()
        yield GaugeMetricFamily("clawhost_process_resident_memory_bytes", "Resident memory "
                                "of the host process.", value=rss)
        yield CounterMetricFamily("clawhost_process_cpu_seconds", "CPU time (user + system) "
                                  "of the host process.", value=cpu.user + cpu.system)
        yield GaugeMetricFamily("clawhost_process_threads", "Threads of the host process.",
                                value=threads)

    def _figures(self, seen: set[str]) -> Iterator[Metric]:
        """Gauges from ``host.state[key].figures()``; one that raises is skipped and counted."""
        for key, obj in self.host.state.items():
            name = key.name
            figures = getattr(obj, "figures", None)  # any plugin's state may offer figures()
            if name == "monitor" or not callable(figures):
                continue
            try:
                data = dict(figures())
            except Exception as exc:  # noqa: BLE001 - another plugin's bug must not break /metrics
                self._failed(name, exc)
                continue
            for figure, value in data.items():
                fam = self._figure(name, str(figure), value, seen)
                if fam is not None:
                    seen.add(fam.name)
                    yield fam

    def _figure(self, plugin: str, figure: str, value: Any, seen: set[str]) -> Metric | None:
        name = metric_name("clawhost", plugin, figure)
        if name in seen or name.removesuffix("_total") in seen:
            return None  # never emit a family twice: that would make the exposition invalid
        doc = f"{figure!s} reported by the {plugin} plugin's figures()."
        if isinstance(value, dict):
            fam = GaugeMetricFamily(name, doc, labels=["key"])
            for key, v in list(value.items())[: self.monitor.max_labels]:
                if _number(v):
                    fam.add_metric([str(key)[:64]], float(v))
            return fam
        return GaugeMetricFamily(name, doc, value=float(value)) if _number(value) else None

    def _failed(self, name: str, exc: Exception) -> None:
        m = self.monitor
        m.figure_errors[name] = m.figure_errors.get(name, 0) + 1
        now = time.monotonic()
        if now - self._warned.get(name, -math.inf) > 60:  # at most one line a minute each
            self._warned[name] = now
            log.warning("monitor: %s.figures() failed: %s: %s", name, type(exc).__name__, exc)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))


def new_registry(monitor: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(monitor))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
