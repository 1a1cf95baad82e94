"""A bounded, two-level priority queue whose entries expire on their own timer.

Triton's dynamic batcher is the anchor: a full queue rejects at once (429), an entry that
waits past its timeout is answered 503 by a timer the moment it expires (never when the
batcher next looks), and it is taken out of the queue so the batch it would have joined
neither waits for it nor counts it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from clawhost.api import Overloaded, Unavailable

PRIORITIES = ("interactive", "background")  # index 0 is served first
# Shed when the wait ahead exceeds this share of the timeout: the service rate is noisy (on a
# shared 2-core box a step's time varies 2-3x), and an admitted request should finish, not time
# out (a 429 now beats a 503 after the timeout). A short queue still keeps the model busy.
SHED_AT = 0.25


@dataclass(eq=False)
class Entry:
    """One queued request: its work, its size (texts or 1), and the future that answers it."""

    request: Any
    priority: int
    size: int = 1
    length: int = 0  # a cheap length estimate, for grouping similar lengths together
    enqueued: float = field(default_factory=time.perf_counter)
    future: asyncio.Future | None = None
    timer: asyncio.TimerHandle | None = None
    state: str = "queued"  # queued -> taken | expired | cancelled
    predicted: float = 0.0  # the uncorrected wait the queue expected for it when it came in

    @property
    def waited(self) -> float:
        return time.perf_counter() - self.enqueued


class BoundedQueue:
    """FIFO per priority level, bounded in entries; entries expire after ``timeout_s``."""

    def __init__(self, max_entries: int, timeout_s: float, *, name: str = "",
                 on_expire: Callable[[Entry], None] | None = None, shed: bool = True):
        self.max_entries = max_entries
        self.timeout_s = timeout_s
        self.name = name
        self.shed = shed
        # decayed sums of service time and requests served, fed by the batcher: their ratio is
        # the recent seconds per departure when the model is kept busy
        self._busy = self._departed = 0.0
        self.free: Callable[[], int] = lambda: 0  # entries that could start at once (set by the batcher)
        self.bias = 1.0  # recent actual / expected waits: corrects a rate that runs optimistic
        self.levels: list[deque[Entry]] = [deque() for _ in PRIORITIES]
        self.arrived = asyncio.Event()  # set on every put, cleared by the consumer
        self.rejected = 0
        self.expired = 0
        self._on_expire = on_expire

    def __len__(self) -> int:
        return sum(len(level) for level in self.levels)

    @property
    def size(self) -> int:
        """Queued work in size units (texts for embeddings)."""
        return sum(e.size for level in self.levels for e in level)

    def note_service(self, seconds: float, requests: float = 1.0) -> None:
        """The model served ``requests`` in ``seconds`` of its capacity (a batch's time; a
        sequence's time divided by the slots it shared the model with)."""
        self._busy = 0.9 * self._busy + seconds
        self._departed = 0.9 * self._departed + requests

    @property
    def interval(self) -> float:
        """Recent seconds per departure (0 until something was served)."""
        return self._busy / self._departed if self._departed > 0 else 0.0

    def _raw_wait(self, priority: int) -> float:
        ahead = sum(len(level) for level in self.levels[:priority + 1]) - self.free()
        return max(0, ahead) * self.interval

    def expected_wait(self, priority: int = len(PRIORITIES) - 1) -> float:
        """Seconds a new entry of ``priority`` would wait: the recent departure rate, scaled
        by how far recent entries' real waits ran over what it predicted for them."""
        return self._raw_wait(priority) * max(1.0, self.bias)

    def _calibrate(self, entry: Entry, waited: float) -> None:
        if entry.predicted > 0.01:  # only entries that had to wait for departures say anything
            sample = min(waited / entry.predicted, 20.0)
            self.bias = 0.8 * self.bias + 0.2 * sample

    def check(self, priority: int, retry_after: float = 1.0) -> None:
        """Raise ``Overloaded`` when the queue is full or, with ``shed``, when the entries
        ahead would likely not drain before a new one's timeout."""
        full = len(self) >= self.max_entries
        wait = self.expected_wait(priority)
        late = self.shed and wait > SHED_AT * self.timeout_s
        if full or late:
            self.rejected += 1
            why = (f"full ({self.max_entries} waiting)" if full else
                   f"too slow to drain (~{wait:.1f} s ahead of this request)")
            raise Overloaded(f"the batcher queue for {self.name!r} is {why}; retry shortly",
                             # Retry-After: about when the whole queue will have drained
                             retry_after=max(retry_after, self.expected_wait()))

    def put(self, entry: Entry, retry_after: float = 1.0) -> Entry:
        """Queue an entry, or raise ``Overloaded`` at once (see ``check``)."""
        self.check(entry.priority, retry_after)
        entry.predicted = self._raw_wait(entry.priority)
        loop = asyncio.get_running_loop()
        entry.future = entry.future or loop.create_future()
        entry.timer = loop.call_later(self.timeout_s, self._expire, entry)
        self.levels[entry.priority].append(entry)
        self.arrived.set()
        return entry

    def _expire(self, entry: Entry) -> None:
        if entry.state != "queued":
            return
        self._drop(entry, "expired")
        self.expired += 1
        self._calibrate(entry, entry.waited)  # at least that long: the estimate was short
        if not entry.future.done():
            entry.future.set_exception(Unavailable(
                f"waited {entry.waited * 1000:.0f} ms in the batcher queue for {self.name!r} "
                f"(queue_timeout_ms {self.timeout_s * 1000:.0f}); retry later",
                headers={"Retry-After": "1"}))
        if self._on_expire:
            self._on_expire(entry)

    def _drop(self, entry: Entry, state: str) -> None:
        entry.state = state
        if entry.timer:
            entry.timer.cancel()
        try:
            self.levels[entry.priority].remove(entry)
        except ValueError:
            pass

    def cancel(self, entry: Entry) -> None:
        """The caller went away while queued: leave without a trace."""
        if entry.state == "queued":
            self._drop(entry, "cancelled")

    def oldest(self) -> Entry | None:
        """The entry that has waited longest, any level (its age drives the flush timer)."""
        heads = [level[0] for level in self.levels if level]
        return min(heads, key=lambda e: e.enqueued) if heads else None

    def take(self, entry: Entry) -> Entry:
        """Remove a queued entry for running: its expiry timer stops here."""
        self._drop(entry, "taken")
        self._calibrate(entry, entry.waited)
        return entry

    def pop(self) -> Entry | None:
        """The next entry by priority, then arrival."""
        for level in self.levels:
            if level:
                return self.take(level[0])
        return None

    def pick(self, budget: int) -> list[Entry]:
        """Entries for one batch of at most ``budget`` size units (at least one entry).

        The most urgent entry (by priority, then age) anchors the batch; the rest of the budget
        goes to entries of the same level closest to it in length (so padding stays small),
        then to lower levels. An entry larger than the budget runs alone.
        """
        first = next((level[0] for level in self.levels if level), None)
        if first is None:
            return []
        chosen, used = [self.take(first)], first.size
        for level in self.levels[first.priority:]:
            for e in sorted(level, key=lambda e: (abs(e.length - first.length), e.enqueued)):
                if used + e.size <= budget:
                    chosen.append(self.take(e))
                    used += e.size
            if used >= budget:
                break
        return chosen

    def fail_all(self, exc_factory: Callable[[], BaseException]) -> None:
        for level in self.levels:
            for entry in list(level):
                self._drop(entry, "cancelled")
                if not entry.future.done():
                    entry.future.set_exception(exc_factory())
