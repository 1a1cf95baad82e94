"""``Monitor``: the per-host state behind ``host.state[STATE]``.

``record()`` runs once per request, on the request path, so it only bumps plain Python
counters and fixed-bucket histograms (no locks, no prometheus objects, no sample lists).
Everything else (Prometheus text, percentiles, rates) is computed when someone asks.

Labels stay bounded: a model label is a registered model id or ``"other"``; providers and
statuses are capped at ``max_label_values`` distinct values, the rest fold into ``"other"``.
No prompt, key or tenant ever becomes a label.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from typing import Any

from clawhost.api import BATCH_SIZE, CACHE_RESULT, PROVIDER, RETRIES, USAGE, Stash

from .histogram import BATCH_BOUNDS, Histogram

OTHER = "other"
CACHE_RESULTS = ("hit-l1", "hit-l2", "hit-normalized", "hit-semantic", "miss", "bypass")
_SOURCE_TO_CACHE = {"l1": "hit-l1", "l2": "hit-l2", "semantic": "hit-semantic"}
STAGES = ("total", "queue", "infer", "ttft")  # request.timings keys exported as histograms


class ModelStats:
    """Latency histograms and token counts of one model label."""

    __slots__ = ("total", "queue", "infer", "ttft", "tokens_in", "tokens_out", "stages")

    def __init__(self) -> None:
        self.total, self.queue, self.infer, self.ttft = (Histogram() for _ in STAGES)
        self.tokens_in = 0
        self.tokens_out = 0
        # the stages after "total", as (timing key, histogram) for record()'s loop
        self.stages = (("queue", self.queue), ("infer", self.infer), ("ttft", self.ttft))


class Monitor:
    """Counters for one host; ``record`` is the only thing on the request path."""

    def __init__(self, host: Any, options: Any):
        self.host = host
        self.options = options
        self.max_labels = options.max_label_values
        self.requests: dict[tuple[str, str, int], int] = {}  # (model, kind, status) -> n
        self.models: dict[str, ModelStats] = {}
        self.cache = dict.fromkeys(CACHE_RESULTS, 0)
        self.batch = Histogram(BATCH_BOUNDS)
        self.rejected: dict[str, int] = {}
        self.upstream: dict[tuple[str, int], int] = {}  # (provider, status) -> calls
        self.upstream_retries: dict[str, int] = {}
        self.upstream_errors: dict[str, int] = {}
        self._providers: set[str] = set()
        self.figure_errors: dict[str, int] = {}
        self.inflight: list[int] | None = None  # the server's in-flight counter, once seen
        self.history = None  # a history.History, set by the plugin
        self.registry = None  # the plugin's own prometheus CollectorRegistry
        self.sampler = None  # the asyncio task filling the history
        self.tracer = None  # an OpenTelemetry tracer when configured
        self.stats_served = 0  # /v1/stats answers (the status page polls it)

    # -- the hot path --------------------------------------------------------------
    def record(self, request: Any, reply: Any, error: BaseException | None) -> None:
        """Count one finished request (called from ``clawhost_request_finished``).

        Written flat on purpose (histogram observes inlined, few calls): it runs on every
        request, and the cache-hit path it sits on is a few tens of microseconds long.
        """
        model = request.model
        mid = model.id if model is not None else OTHER
        stats = self.models.get(mid)
        if stats is None:
            mid, stats = self._new_model(mid, model)
        if reply is not None and error is None:
            status = reply.status
        else:
            status = self._failed_status(request, error)
        key = (mid, request.kind, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1

        t = request.timings
        v = t.get("total")
        if v is not None:
            h = stats.total
            h.counts[bisect_left(h.bounds, v)] += 1
            h.sum += v
        if len(t) > 2 or "lookup" not in t:  # a hit has only lookup and total: skip the rest
            for name, h in stats.stages:
                v = t.get(name)
                if v is not None:
                    h.counts[bisect_left(h.bounds, v)] += 1
                    h.sum += v

        notes = request.notes
        body = reply.body if reply is not None else None
        use = body.get("usage") if body else None
        if use is None and notes:
            use = notes.get(USAGE)
        if use:
            stats.tokens_in += use.get("prompt_tokens") or 0
            stats.tokens_out += use.get("completion_tokens") or 0
        cache = notes.get(CACHE_RESULT) if notes else None
        if cache is None and reply is not None:
            cache = _SOURCE_TO_CACHE.get(reply.source)
        if cache is not None and cache in self.cache:
            self.cache[cache] += 1
        if notes and (BATCH_SIZE in notes or PROVIDER in notes):
            self._batch_and_provider(notes, status, error)
        if status == 429:
            self.rejected[mid] = self.rejected.get(mid, 0) + 1
        if self.tracer is not None:
            self.tracer(request, reply, error)

    def _batch_and_provider(self, notes: Stash, status: int, error: BaseException | None) -> None:
        size = notes.get(BATCH_SIZE)
        if isinstance(size, int) and size > 0:
            self.batch.observe(size)
        provider = notes.get(PROVIDER)
        if provider:
            p = self._provider(str(provider))
            self.upstream[(p, status)] = self.upstream.get((p, status), 0) + 1
            retries = notes.get(RETRIES)
            if isinstance(retries, int) and retries > 0:
                self.upstream_retries[p] = self.upstream_retries.get(p, 0) + retries
            if error is not None:
                self.upstream_errors[p] = self.upstream_errors.get(p, 0) + 1

    def _failed_status(self, request: Any, error: BaseException | None) -> int:
        if error is not None:
            return _status(error)
        # no reply and no error: the loop was cancelled, by the server's request timeout
        # (the client got a 504) or because the client went away (499, nginx's convention)
        limit = self.host.config.host.server.request_timeout_s
        return 504 if request.timings.get("total", 0.0) >= 0.99 * limit else 499

    def _new_model(self, mid: str, model: Any) -> tuple[str, ModelStats]:
        # only ids the host registered (the very same Model) get their own label
        registered = model is not None and self.host.models.get(mid) is model
        if not registered or len(self.models) >= self.max_labels:
            mid = OTHER
        stats = self.models.get(mid)
        if stats is None:
            stats = self.models[mid] = ModelStats()
        return mid, stats

    def _provider(self, name: str) -> str:
        if name in self._providers:
            return name
        if len(self._providers) >= self.max_labels:
            return OTHER
        self._providers.add(name)
        return name

    # -- reading -------------------------------------------------------------------
    def totals(self) -> dict[str, Any]:
        """Cumulative figures across models, for the history sampler and ``/v1/stats``."""
        latency = [0] * len(next(iter(self.models.values())).total.counts) if self.models else []
        tokens_in = tokens_out = 0
        for s in self.models.values():
            for i, n in enumerate(s.total.counts):
                latency[i] += n
            tokens_in += s.tokens_in
            tokens_out += s.tokens_out
        requests = errors = 0
        for (_, _, status), n in self.requests.items():
            requests += n
            if status >= 500 or status == 499:
                errors += n
        return {"requests": requests, "errors": errors, "latency": latency,
                "tokens_in": tokens_in, "tokens_out": tokens_out, "cache": dict(self.cache),
                "batch_sum": self.batch.sum, "batch_count": self.batch.count,
                "rejected": sum(self.rejected.values())}


def _status(error: BaseException) -> int:
    status = getattr(error, "status", None)
    if isinstance(status, int) and 100 <= status < 600:
        return status
    if isinstance(error, (asyncio.CancelledError, ConnectionError)):
        return 499  # the client went away (nginx's convention)
    return 500
