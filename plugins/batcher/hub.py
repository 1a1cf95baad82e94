"""The batcher's machinery: bounded priority queues, the embedding batcher, the decode scheduler.

``Hub`` (kept at ``host.state[STATE]``) picks the batcher for a request's model, creates
it on first use, and reports its figures to the monitor.
"""

from __future__ import annotations

import fnmatch
from dataclasses import fields
from typing import Any

from .common import Batcher, Limits, log
from .embed import EmbeddingBatcher
from .generate import GenerationScheduler
from clawhost.api import SlotEngine, engine_of

__all__ = ["Hub"]


class Hub:
    """Every batcher of one host, keyed by model id."""

    def __init__(self, host, options: Any):
        self.host = host
        self.options = options
        self.batchers: dict[str, Batcher] = {}
        self._skipped: set[str] = set()

    def wants(self, model) -> bool:
        """Batch this model? Named ones always; else local owners' embedding/chat models."""
        opts = self.options
        if opts.models is not None:
            return any(fnmatch.fnmatchcase(model.id, pat) for pat in opts.models)
        if model.kind == "rerank":  # scored inside a plugin (the semantic cache), no requests
            return False
        kind = "embedding" if model.kind == "embedding" else "chat"
        return model.owner in opts.owners and kind in opts.kinds

    def limits(self, model_id: str, meta: dict | None = None) -> Limits:
        base = {f.name: getattr(self.options, f.name) for f in fields(Limits)}
        if (meta or {}).get("slots"):  # the model plugin's own slot count, unless overridden below
            base["max_slots"] = int(meta["slots"])
        for pattern, override in self.options.per_model.items():
            if fnmatch.fnmatchcase(model_id, pattern):
                base.update(override.model_dump(exclude_none=True))
        return Limits(**base)

    def for_request(self, request) -> Batcher | None:
        model = request.model
        got = self.batchers.get(model.id)
        if got is not None or not self.wants(model) or model.status != "ready":
            return got
        if model.kind == "embedding":
            got = EmbeddingBatcher(self.host, model, self.limits(model.id, model.meta))
        else:
            engine = engine_of(model, SlotEngine)
            if engine is None:  # e.g. a remote or echo model: no slots to schedule
                if model.id not in self._skipped:
                    self._skipped.add(model.id)
                    log.info("batcher: %r has no SlotEngine; not batched",
                             model.id)
                return None
            got = GenerationScheduler(self.host, model, self.limits(model.id, model.meta), engine)
        self.batchers[model.id] = got
        return got

    def figures(self) -> dict[str, Any]:
        per = self.batchers.items()
        return {
            "queue_depth": {m: len(b.queue) for m, b in per},
            "inflight": {m: b.stats.inflight for m, b in per},
            "batches_total": {m: b.stats.batches for m, b in per},
            "mean_batch_size": {m: round(b.stats.mean_batch, 3) for m, b in per},
            "rejected_total": {m: b.queue.rejected for m, b in per},
            "timed_out_total": {m: b.queue.expired for m, b in per},
            "retried_alone_total": {m: b.stats.retried_alone for m, b in per},
            "restarts_total": {m: b.stats.restarts for m, b in per},
        }

    async def close(self) -> None:
        for b in list(self.batchers.values()):
            await b.close()
        self.batchers.clear()
