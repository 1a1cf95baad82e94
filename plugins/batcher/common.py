"""What both batchers share: per-model limits, counters, and the self-restarting loop."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from clawhost.api import BATCH_SIZE, Unavailable

from .queue import PRIORITIES, BoundedQueue, Entry

log = logging.getLogger("clawhost.batcher")


@dataclass(frozen=True)
class Limits:
    """The resolved settings for one model (plugin Options plus its per-model override)."""

    max_batch_size: int = 32  # embeddings: texts per model call
    max_wait_ms: float = 5.0  # embeddings: the oldest request's longest wait before a flush
    max_slots: int = 4  # generation: sequences decoding together
    max_queue: int = 64  # waiting requests (not counting the running batch)
    queue_timeout_ms: float = 5000.0
    priority: str = "interactive"  # default level for requests that do not say
    batch_timeout_s: float = 60.0  # guard on one model call (a step: a prefill chunk + a decode step)
    stream_idle_s: float = 60.0  # a stream whose output goes unread this long is dropped
    shed: bool = True  # 429 at once when the queue ahead would outlast queue_timeout_ms


@dataclass
class Stats:
    batches: int = 0
    batched: int = 0  # requests that ran in those batches (sum of batch sizes)
    inflight: int = 0
    restarts: int = 0
    retried_alone: int = 0
    failed: int = 0

    @property
    def mean_batch(self) -> float:
        return self.batched / self.batches if self.batches else 0.0


class Batcher:
    """A queue plus one supervised loop task for one model; subclasses implement ``_loop``."""

    def __init__(self, host, model, limits: Limits):
        self.host, self.model, self.limits = host, model, limits
        self.queue = BoundedQueue(limits.max_queue, limits.queue_timeout_ms / 1000, name=model.id,
                                  shed=limits.shed)
        self.stats = Stats()
        self._task: asyncio.Task | None = None
        self._closed = False

    def priority_of(self, request) -> int:
        level = getattr(request.body, "priority", None) or self.limits.priority
        return PRIORITIES.index(level)

    def enqueue(self, entry: Entry) -> Entry:
        self.ensure_running()
        return self.queue.put(entry)

    def ensure_running(self) -> None:
        if self._closed:
            raise Unavailable(f"the batcher for {self.model.id!r} is shutting down")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"batcher:{self.model.id}")

    async def _supervise(self) -> None:
        """Run the loop; when it fails, log, answer what it held, and start it again."""
        while not self._closed:
            try:
                await self._loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a batcher bug must not stop serving
                self.stats.restarts += 1
                log.error("batcher loop for %r failed (%s: %s); restarting", self.model.id,
                          type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))
                try:
                    self._recover(exc)
                except Exception:  # noqa: BLE001
                    log.exception("batcher recovery for %r failed", self.model.id)
                await asyncio.sleep(0.01)  # a loop that fails at once must not spin

    async def _loop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _recover(self, exc: BaseException) -> None:
        """Answer the requests the failed loop held (queued ones stay queued)."""

    async def close(self) -> None:
        self._closed = True
        self.queue.fail_all(lambda: Unavailable("the host is shutting down"))
        self.queue.arrived.set()  # an idle loop wakes, sees _closed and ends
        task = self._task
        # Python 3.11's wait_for can swallow a cancel that lands as its inner future completes,
        # so one cancel() is not enough: repeat until the task is really gone (bounded).
        for _ in range(50):
            if task is None or task.done():
                break
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        if task is not None and task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception never retrieved" noise


def mark_admitted(entry: Entry, batch_size: int) -> None:
    """What the monitor reads: time spent queued, and how many ran together."""
    req = entry.request
    req.timings["queue"] = time.perf_counter() - entry.enqueued
    req.notes[BATCH_SIZE] = max(batch_size, req.notes.get(BATCH_SIZE, 0))
