"""A sequence's token queue turned into OpenAI chunks (streams) or one body (the rest)."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

from clawhost.api import Unavailable, streaming


async def _items(seq, scheduler) -> AsyncIterator[tuple[str, object]]:
    # Wait for the next token as long as the sequence makes progress: it holds its slot and
    # the model keeps finishing steps (a long prompt's prefill is many steps without a token).
    # No step for longer than one may take (``batch_timeout_s``, after which the scheduler
    # fails it) means the work is stuck, or the sequence was forgotten: say so, never hang.
    guard = scheduler.limits.batch_timeout_s + 1
    while True:
        try:
            kind, value = await asyncio.wait_for(seq.out.get(), guard)
        except TimeoutError:
            if scheduler.working_on(seq):
                continue
            raise Unavailable(f"{scheduler.model.id!r} made no progress on the request for "
                              f"{guard:g} s (batch_timeout_s + 1)") from None
        seq.last_read = time.perf_counter()
        if kind == "error":
            raise value
        yield kind, value
        if kind == "end":
            return


def _usage(seq) -> dict:
    return streaming.usage(len(seq.prompt_ids), seq.count)


async def chunks_of(request, seq, scheduler) -> AsyncIterator[dict]:
    """OpenAI chunks as tokens arrive; closing the iterator frees the slot at the next step."""
    cid = streaming.new_id("cmpl" if request.kind == "completion" else "chatcmpl")
    model, created = request.model.id, int(time.time())
    chat = request.kind != "completion"
    started = False
    try:
        async for kind, value in _items(seq, scheduler):
            if chat and not started:  # with the first token, so the host's ttft means a token
                started = True
                yield streaming.chat_chunk(cid, model, created, {"role": "assistant", "content": ""})
            if kind == "text":
                yield (streaming.chat_chunk(cid, model, created, {"content": value}) if chat
                       else streaming.text_chunk(cid, model, created, value))
                continue
            yield (streaming.chat_chunk(cid, model, created, {}, value) if chat
                   else streaming.text_chunk(cid, model, created, "", value))
            if (getattr(request.body, "stream_options", None) or {}).get("include_usage"):
                last = streaming.chat_chunk(cid, model, created, {}) if chat else \
                    streaming.text_chunk(cid, model, created, "")
                last["choices"], last["usage"] = [], _usage(seq)
                yield last
    finally:
        scheduler.leave(seq)


async def body_of(request, seq, scheduler) -> dict:
    """The whole reply once the sequence finishes."""
    parts, finish = [], "stop"
    async for kind, value in _items(seq, scheduler):
        if kind == "text":
            parts.append(value)
        else:
            finish = value
    text = "".join(parts)
    if request.kind == "completion":
        return streaming.text_completion(request.model.id, text, finish_reason=finish,
                                         usage=_usage(seq))
    return streaming.chat_completion(request.model.id, text, finish_reason=finish, usage=_usage(seq))
