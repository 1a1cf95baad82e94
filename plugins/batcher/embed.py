"""Dynamic batching for embeddings: many requests, one ``clawhost_infer_batch`` call.

A batch flushes when it holds ``max_batch_size`` texts or when its oldest request has waited
``max_wait_ms``, whichever comes first, on a timer. One batch runs at a time per model (two
cores have nothing to spare for a second one); the next fills while it runs, so under load
batches leave full and back to back.
"""

from __future__ import annotations

import asyncio
import time

from clawhost.api import BATCH_SIZE, BATCH_TEXTS, ClawhostError, Reply, Unavailable

from .common import Batcher, log, mark_admitted
from .options import BYPASS
from .queue import Entry


class EmbeddingBatcher(Batcher):
    """The queue and flush loop for one embedding model."""

    def __init__(self, host, model, limits):
        super().__init__(host, model, limits)
        # while no batch runs, the next one takes up to max_batch_size at once
        self.queue.free = lambda: 0 if self.stats.inflight else self.limits.max_batch_size

    async def submit(self, request) -> Reply:
        texts = request.body.texts
        if len(texts) > self.limits.max_batch_size:
            return await self._sliced(request, texts)
        return await self._submit_one(request, texts)

    async def _sliced(self, request, texts: list[str]) -> Reply:
        """A request larger than a batch runs as slices of ``max_batch_size`` texts, one after
        another: each slice queues behind whatever arrived meanwhile, so one huge request
        shares the model with small ones instead of holding it for its whole length."""
        size, parts = self.limits.max_batch_size, []
        for at in range(0, len(texts), size):
            body = request.body.model_copy(update={"input": texts[at:at + size]})
            part = type(request)(kind=request.kind, body=body, tenant=request.tenant,
                                 headers=request.headers, model=request.model, host=request.host,
                                 disconnected=request.disconnected)
            parts.append(await self._submit_one(part, texts[at:at + size]))
            request.timings["queue"] = request.timings.get("queue", 0.0) + part.timings.get("queue", 0.0)
            for key in (BATCH_SIZE, BATCH_TEXTS):
                if key in part.notes:
                    request.notes[key] = max(request.notes.get(key, 0), part.notes[key])
        return Reply(body=merge_embeddings([p.body for p in parts]), headers=parts[-1].headers,
                     source=parts[-1].source)

    async def _submit_one(self, request, texts: list[str]) -> Reply:
        entry = self.enqueue(Entry(request, self.priority_of(request), size=len(texts),
                                   length=max(len(t) for t in texts)))
        guard = self.limits.queue_timeout_ms / 1000 + 2 * self.limits.batch_timeout_s + 1
        try:
            return await asyncio.wait_for(asyncio.shield(entry.future), guard)
        except asyncio.CancelledError:
            self.queue.cancel(entry)  # the client went away while queued: leave quietly
            raise
        except TimeoutError:
            raise Unavailable(f"embedding batch for {self.model.id!r} did not finish in time") from None

    async def _loop(self) -> None:
        q, lim = self.queue, self.limits
        wait = lim.max_wait_ms / 1000
        while not self._closed:
            oldest = q.oldest()
            if oldest is None:
                q.arrived.clear()
                await q.arrived.wait()
                continue
            # Timer flush: sleep until the oldest request's deadline unless the batch fills first.
            while q.size < lim.max_batch_size:
                left = oldest.enqueued + wait - time.perf_counter()
                if left <= 0:
                    break
                q.arrived.clear()
                try:
                    await asyncio.wait_for(q.arrived.wait(), left)
                except TimeoutError:
                    break
                oldest = q.oldest()  # the old one may have expired or left meanwhile
                if oldest is None:
                    break
            entries = q.pick(lim.max_batch_size)
            if entries:
                await self._run_batch(entries)

    async def _run_batch(self, entries: list[Entry]) -> None:
        self.stats.batches += 1
        self.stats.batched += len(entries)
        self.stats.inflight += len(entries)
        for e in entries:
            mark_admitted(e, len(entries))
            e.request.notes[BATCH_TEXTS] = sum(x.size for x in entries)
        started = time.perf_counter()
        try:
            try:
                results = await self._call([e.request for e in entries])
            except Exception as exc:  # noqa: BLE001 - one bad input must not fail its batch-mates
                if len(entries) == 1:
                    results = [exc]
                else:
                    log.warning("embedding batch of %d for %r failed (%s); retrying each alone",
                                len(entries), self.model.id, type(exc).__name__)
                    results = []
                    for e in entries:
                        self.stats.retried_alone += 1
                        try:
                            results.extend(await self._call([e.request]))
                        except Exception as one:  # noqa: BLE001
                            results.append(one)
            for e, res in zip(entries, results):
                if e.future.done():
                    continue
                if isinstance(res, BaseException):
                    self.stats.failed += 1
                    e.future.set_exception(res)
                else:
                    e.future.set_result(res)
        finally:
            self.queue.note_service(time.perf_counter() - started, len(entries))
            self.stats.inflight -= len(entries)
            for e in entries:  # only if this loop itself broke: nobody is left hanging
                if not e.future.done():
                    e.future.set_exception(Unavailable("the batcher restarted; retry the request"))

    async def _call(self, requests: list) -> list:
        """One model call for ``requests``: the owner's ``clawhost_infer_batch``, guarded."""
        walk = self.host.chain.walk
        try:
            replies = await asyncio.wait_for(walk("clawhost_infer_batch", first=True, isolate=False,
                                                  model=self.model, requests=requests),
                                             self.limits.batch_timeout_s)
        except TimeoutError:
            raise Unavailable(f"embedding batch for {self.model.id!r} timed out after "
                              f"{self.limits.batch_timeout_s:g} s") from None
        if replies is None:  # the owner has no batch hook: run them one by one through it
            return await asyncio.gather(*(self._call_one(r) for r in requests),
                                        return_exceptions=True)
        if len(replies) != len(requests):
            raise ClawhostError(f"model plugin returned {len(replies)} replies for "
                                f"{len(requests)} requests")
        return list(replies)

    async def _call_one(self, request) -> Reply:
        request.notes[BYPASS] = True  # our own clawhost_infer steps aside
        reply = await self.host.chain.walk("clawhost_infer", first=True, isolate=False,
                                           request=request)
        if reply is None:
            raise Unavailable(f"no plugin could serve model {self.model.id!r}")
        return reply


def merge_embeddings(bodies: list[dict]) -> dict:
    """One OpenAI embedding list from the lists of consecutive slices of its inputs."""
    data, prompt, total = [], 0, 0
    for body in bodies:
        offset = len(data)
        data += [{**d, "index": offset + j}
                 for j, d in enumerate(sorted(body["data"], key=lambda d: d.get("index", 0)))]
        use = body.get("usage") or {}
        prompt += use.get("prompt_tokens") or 0
        total += use.get("total_tokens") or 0
    return {**bodies[0], "data": data, "usage": {"prompt_tokens": prompt, "total_tokens": total}}
