"""Continuous (iteration-level) batching for generation, after Orca.

One scheduler task per chat model owns a ``SlotBatch``. Each iteration is one job in the
model's worker thread: free the slots of finished or abandoned requests, prefill the
requests admitted from the queue into free slots, and run one decode step for every active
slot. A request that arrives mid-generation joins at the next step; one that finishes, or
whose client goes away, leaves before the next step. Tokens go to each request's own
``asyncio.Queue``, which feeds its ``Reply.stream`` (or its whole body).

While nothing changes (no arrival, nobody finishing or leaving), the worker does not wait
for the event loop between steps: it hands each step's tokens to the loop and steps again
(`_keep_stepping`). A round trip through the loop costs ~0.6 ms a step on a 2-core box
(BENCHMARKS.md, #18 session 13), 4–5% of a single stream's decode. Any change sends the job
back to the loop, which alone frees and admits slots, so a slot is never reused behind its
back.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from clawhost.api import BATCH_SIZE, ClawhostError, Reply, SlotEngine, Unavailable

from .common import Batcher, log, mark_admitted
from .protocol import event_fields
from .queue import Entry
from .reply import body_of, chunks_of


@dataclass(eq=False)
class Sequence:
    """One request's generation: its prompt, what it produced, and the queue to its reader."""

    entry: Entry
    prompt_ids: list[int]
    sampling: Any
    limit: int | None
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    slot: int | None = None
    tokens: list[int] = field(default_factory=list)
    count: int = 0
    gone: bool = False  # the client went away
    done: bool = False
    # when output last went unread: idleness (``stream_idle_s``) counts only from the first
    # token the reader has not taken, so a long prefill, which produces none, is never idle
    last_read: float = field(default_factory=time.perf_counter)
    started: float = 0.0  # when it got its slot

    @property
    def request(self):
        return self.entry.request

    def push(self, text: str, finish: str | None, tokens: int = 1) -> None:
        self.count += tokens
        if self.out.empty():  # idle from this token on, if nobody takes it
            self.last_read = time.perf_counter()
        if text:
            self.out.put_nowait(("text", text))
        if finish:
            self.finish(finish)

    def finish(self, reason: str) -> None:
        if not self.done:
            self.done = True
            self.out.put_nowait(("end", reason))

    def fail(self, exc: BaseException) -> None:
        if not self.done:
            self.done = True
            self.out.put_nowait(("error", exc))


class GenerationScheduler(Batcher):
    """Queue, slots and the decode loop for one chat model."""

    def __init__(self, host, model, limits, engine: SlotEngine):
        super().__init__(host, model, limits)
        self.engine = engine
        self.active: dict[int, Sequence] = {}
        self.batch = None
        self.steps = 0
        # when the worker last finished a call (a step: prefill chunk and/or decode, a new
        # batch, a probe): the progress every sequence in a slot is waiting on
        self.worked = time.perf_counter()
        self.queue.free = lambda: max(0, self.limits.max_slots - len(self.active))
        # one thread per model: the engine is never called from two threads at once
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"batcher-{model.id}")
        self._event_loop: asyncio.AbstractEventLoop | None = None  # where `_keep_stepping` delivers
        # a job that keeps stepping returns to the loop this often at least, so the loop's own
        # checks (idle readers, the `batch_timeout_s` guard) still run
        self._stride_s = min(0.25, limits.batch_timeout_s / 4)

    # -- the request side -----------------------------------------------------------
    async def submit(self, request) -> Reply:
        self.queue.check(self.priority_of(request))  # reject before paying for tokenization
        prompt_ids, sampling = self.engine.prepare(request)  # BadRequest for a prompt too long
        seq = Sequence(Entry(request, self.priority_of(request)), list(prompt_ids), sampling,
                       request.body.token_limit)
        seq.entry.length = len(seq.prompt_ids)
        seq.entry.seq = seq  # the loop finds the sequence through its queue entry
        self.enqueue(seq.entry)
        try:  # wait until prefilled: a 503/400 still goes out as an HTTP status, not in-band
            await asyncio.wait_for(asyncio.shield(seq.entry.future),
                                   self.limits.queue_timeout_ms / 1000 + self.limits.batch_timeout_s + 1)
        except asyncio.CancelledError:
            self.queue.cancel(seq.entry)
            self.leave(seq)
            raise
        except TimeoutError:
            self.leave(seq)
            raise Unavailable(f"{self.model.id!r} did not start the request in time") from None
        if request.stream:
            return Reply(stream=chunks_of(request, seq, self))
        try:
            return Reply(body=await body_of(request, seq, self))
        finally:
            self.leave(seq)  # a cancelled caller frees its slot at the next step

    def working_on(self, seq: Sequence) -> bool:
        """Is ``seq`` still being worked on? It holds its slot and the worker finished a call
        within ``batch_timeout_s`` + 1 s (one call never takes longer: ``_run`` fails it).
        A long prompt's prefill is many such calls, one chunk each (the chunks of several
        prompts take turns), so it makes progress without producing a token."""
        return (self.active.get(seq.slot) is seq and not (seq.done or seq.gone)
                and time.perf_counter() - self.worked <= self.limits.batch_timeout_s + 1)

    def leave(self, seq: Sequence) -> None:
        """The reader is gone (disconnect, aclose, cancel): drop it at the next step."""
        if not seq.done:
            seq.gone = True

    # -- the loop ---------------------------------------------------------------------
    async def _loop(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        while not self._closed:
            if not self.active and not len(self.queue):
                self.queue.arrived.clear()
                await self.queue.arrived.wait()
                continue
            if self.batch is None:
                self.batch = await self._run(self.engine.new_batch, self.limits.max_slots)
            leaving = [s for s in self.active.values() if s.done or s.gone or self._dropped(s)]
            for s in leaving:
                del self.active[s.slot]
            joining = []
            while len(self.active) + len(joining) < self.limits.max_slots:
                entry = self.queue.pop()
                if entry is None:
                    break
                if entry.seq.gone:
                    continue
                joining.append(entry.seq)
            size = len(self.active) + len(joining)
            for s in joining:
                mark_admitted(s.entry, size)
            for s in self.active.values():
                s.request.notes[BATCH_SIZE] = max(size, s.request.notes.get(BATCH_SIZE, 0))
            try:
                added, events = await self._run(self._tick, [s.slot for s in leaving], joining,
                                                list(self.active.values()))
            except Exception as exc:  # noqa: BLE001 - isolate the request that broke the step
                await self._isolate(exc, joining)
                continue
            self._admit(joining, added)
            self._deliver(events)

    def _tick(self, leaving: list[int], joining: list[Sequence], members: list[Sequence]):
        """In the worker thread: remove, prefill, step (and more steps while nothing changes,
        when nobody joined). Prefill errors stay per request."""
        for slot in leaving:
            self.batch.remove(slot)
        added = []
        for s in joining:
            try:
                added.append(self.batch.add(s.prompt_ids + s.tokens, s.sampling))
            except Exception as exc:  # noqa: BLE001
                added.append(exc)
        have = sum(not (s.done or s.gone) for s in self.active.values() if s.slot not in leaving)
        have += sum(not isinstance(a, BaseException) for a in added)
        events = self.batch.step() if have else {}
        if not joining:  # the loop must admit the joiners before it can take their tokens
            events = self._keep_stepping(events, members)
        return added, events

    def _keep_stepping(self, events: dict, members: list[Sequence]) -> dict:
        """In the worker thread: while the last step changed nothing the loop must act on,
        hand its tokens to the loop and run the next one. Returns the last step's events."""
        started = time.perf_counter()
        # counted here, not read from the sequences: the loop updates those as it delivers
        counts = {s.slot: s.count for s in members}
        while events and time.perf_counter() - started < self._stride_s:
            for slot, event in events.items():
                counts[slot] = counts.get(slot, 0) + max(len(event_fields(event)[0]), 1)
            if self._needs_loop(events, members, counts):
                break
            try:
                self._event_loop.call_soon_threadsafe(self._deliver, events)
            except RuntimeError:  # the loop closed under us: the host is stopping
                break
            events = self.batch.step()
            self.worked = time.perf_counter()
        return events

    def _needs_loop(self, events: dict, members: list[Sequence], counts: dict[int, int]) -> bool:
        """Must the loop act before the next step? Someone finished, reached their limit, left
        or stopped reading, or a queued request could take a free slot."""
        if self._closed or (len(self.queue) and len(members) < self.limits.max_slots):
            return True
        if any(event_fields(e)[2] is not None for e in events.values()):
            return True
        return any(s.done or s.gone or self._why_drop(s) is not None
                   or (s.limit is not None and counts.get(s.slot, 0) >= s.limit)
                   for s in members)

    def _admit(self, joining: list[Sequence], added: list) -> None:
        for s, slot in zip(joining, added):
            if isinstance(slot, BaseException):
                self.stats.failed += 1
                s.done = True
                if not s.entry.future.done():
                    s.entry.future.set_exception(slot if isinstance(slot, ClawhostError)
                                                 else ClawhostError("the model failed to start the request"))
                else:
                    s.fail(slot)
                continue
            s.slot = slot
            s.started = time.perf_counter()
            self.active[slot] = s
            if not s.entry.future.done():
                s.entry.future.set_result(s)
        self.stats.inflight = len(self.active)

    def _deliver(self, events: dict) -> None:
        if events:  # for generation a "batch" is one decode step; its size, the slots in it
            self.steps += 1
            self.stats.batches += 1
            self.stats.batched += len(events)
        for slot, event in events.items():
            s = self.active.get(slot)
            if s is None or s.done:
                continue
            tokens, text, finish = event_fields(event)
            s.tokens.extend(tokens)
            if finish is None and s.limit is not None and s.count + max(len(tokens), 1) >= s.limit:
                finish = "length"
            s.push(text, finish, max(len(tokens), 1))  # a finished one is freed by the next tick, before its step
            if finish:  # it held one of max_slots shares of the model for this long
                self.queue.note_service((time.perf_counter() - s.started) / self.limits.max_slots)
        self.stats.inflight = sum(not (s.done or s.gone) for s in self.active.values())

    def _why_drop(self, s: Sequence) -> str | None:
        """Why `s` must stop: its client is gone (``request.disconnected``) or stopped reading.
        Reads only: the worker asks it too (`_needs_loop`)."""
        gone = getattr(s.request, "disconnected", None)
        if gone is not None and gone.is_set():
            return "the client disconnected"
        if s.out.qsize() > 0 and time.perf_counter() - s.last_read > self.limits.stream_idle_s:
            return f"nobody read the stream for {self.limits.stream_idle_s:g} s"
        return None

    def _dropped(self, s: Sequence) -> bool:
        """Drop a sequence whose client is gone or who stopped reading (`_why_drop`)."""
        why = self._why_drop(s)
        if why is None:
            return False
        s.gone = True
        s.fail(Unavailable(f"generation stopped: {why}"))
        return True

    async def _isolate(self, exc: BaseException, joining: list[Sequence]) -> None:
        """A step failed: retry each request alone; only the one that fails alone is failed."""
        members = [s for s in list(self.active.values()) + joining if not (s.done or s.gone)]
        log.warning("decode step for %r failed with %d requests (%s: %s); retrying each alone",
                    self.model.id, len(members), type(exc).__name__, exc)
        self.active.clear()
        self.batch = None
        if isinstance(exc, Unavailable):  # the step hung: no use retrying on a stuck worker
            for s in members:
                self._fail(s, exc)
            return
        try:
            self.batch = await self._run(self.engine.new_batch, self.limits.max_slots)
        except Exception as one:  # noqa: BLE001
            for s in members:
                self._fail(s, one)
            raise
        for s in members:
            s.slot = None
            if len(members) > 1:
                self.stats.retried_alone += 1
                try:
                    await self._run(self._probe, s)
                except Exception as one:  # noqa: BLE001
                    self._fail(s, one)
                    continue
            else:
                self._fail(s, exc)
                continue
            try:  # healthy: back into the batch where it left off
                s.slot = await self._run(self.batch.add, s.prompt_ids + s.tokens, s.sampling)
            except Exception as one:  # noqa: BLE001
                self._fail(s, one)
                continue
            self.active[s.slot] = s
            if not s.entry.future.done():
                s.entry.future.set_result(s)
        self.stats.inflight = len(self.active)

    def _probe(self, s: Sequence) -> None:
        alone = self.engine.new_batch(1)
        slot = alone.add(s.prompt_ids + s.tokens, s.sampling)
        alone.step()
        alone.remove(slot)

    def _fail(self, s: Sequence, exc: BaseException) -> None:
        self.stats.failed += 1
        err = exc if isinstance(exc, ClawhostError) else ClawhostError(
            f"the model failed while generating ({type(exc).__name__})")
        if not s.entry.future.done():
            s.entry.future.set_exception(err)
        s.fail(err)

    async def _run(self, fn, *args):
        """Run ``fn`` in the model's worker thread, bounded by ``batch_timeout_s``."""
        call = asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(call), self.limits.batch_timeout_s)
        except TimeoutError:
            raise Unavailable(f"{self.model.id!r}: one step (a prefill chunk and a decode step) "
                              f"took longer than batch_timeout_s {self.limits.batch_timeout_s:g} s"
                              ) from None
        finally:
            if call.done():  # it returned or raised: the worker is not stuck
                self.worked = time.perf_counter()

    def _recover(self, exc: BaseException) -> None:
        """The loop itself broke: fail what was running, start over with a fresh batch."""
        for s in list(self.active.values()):
            self._fail(s, Unavailable("the batcher restarted; retry the request"))
        self.active.clear()
        self.batch = None
        self.stats.inflight = 0

    async def close(self) -> None:
        await super().close()
        for s in list(self.active.values()):
            s.fail(Unavailable("the host is shutting down"))
        self.active.clear()
        self._worker.shutdown(wait=False, cancel_futures=True)
