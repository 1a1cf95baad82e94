"""Anthropic's Messages API inbound: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

A Messages body becomes the ``ChatRequest`` a Chat Completions client would send for the
same conversation (system -> a system message, tool_use -> tool_calls, tool_result -> tool
messages, stop_sequences -> stop), so both APIs share cache entries. The reply, or its
chunk stream, is turned back into a message or Anthropic's event sequence. The body as sent
rides along on the request (``SOURCE_BODY``), so connection_pool's Anthropic adapter can
send it upstream as is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...contracts import SlotEngine, engine_of
from ...errors import BadRequest, ClawhostError, Unavailable
from ...notes import SOURCE_BODY
from ...streaming import NATIVE, native_message
from ...types import ModelRequest, Reply
from .. import Endpoint, EventWriter, Inbound, register, sse_event
from ..common import extension_fields, model_request
from .bodies import CountTokensRequest, MessagesRequest
from .events import ChunkEvents, message_events, relayed
from .translate import chat_messages, chat_tools, check_version, error_body, to_chat, to_message

NAME = "anthropic_messages"

__all__ = ["NAME", "CountTokens", "CountTokensRequest", "Messages", "MessagesRequest",
           "chat_messages", "chat_tools", "error_body", "message_events", "relayed",
           "to_chat", "to_message"]


class Messages(Endpoint):
    path = "/v1/messages"
    protocol = NAME
    summary = "Anthropic Messages (stream: true for Anthropic's event stream)"
    Body = MessagesRequest
    streams = True
    stream_description = ("Anthropic events: message_start, ping, content_block_start, "
                          "content_block_delta, content_block_stop, message_delta, message_stop")

    def error_body(self, exc: ClawhostError) -> dict[str, Any]:
        return error_body(exc)

    async def to_request(self, body: MessagesRequest, call: Inbound) -> ModelRequest:
        check_version(call.headers)
        request = to_chat(body, call)
        # the JSON as parsed (validated above, not copied: a dump cost 15 us a request), and
        # the body object, since an adapter sends it only while no plugin replaced the body
        request.notes[SOURCE_BODY] = (NAME, call.raw, request.body)
        return request

    async def reply(self, body: MessagesRequest, request: ModelRequest, reply: Reply,
                    call: Inbound) -> dict[str, Any]:
        # an Anthropic upstream's own message (live or cached) as it came: thinking blocks,
        # cache usage and stop_sequence have no place in the chat shape
        message = native_message(reply.body, NAME)
        if message is not None:
            return {**message, "model": body.model}
        return to_message(reply.body, body.model)

    def stream(self, body: MessagesRequest, request: ModelRequest, call: Inbound) -> _Stream:
        return _Stream(body.model)


class _Stream(EventWriter):
    """The host's chunks as Anthropic's events, or an Anthropic upstream's own (live, or a
    cached message replayed). The events of one host chunk go out in one write: a write per
    event costs a syscall each, which was most of a streamed request's added CPU."""

    def __init__(self, model: str):
        self.model = model
        self.events = ChunkEvents(model)
        self.started = False
        self.native = False  # an Anthropic upstream's own events (or a cached message) went out

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        if NATIVE in chunk and chunk[NATIVE].get("protocol") == NAME and not (
                self.started and not self.native):
            carried = chunk[NATIVE]
            if "events" in carried:  # relayed live, as the upstream sent them
                self.native = self.started = True
                return b"".join(relayed(ev, self.model) for ev in carried["events"])
            if not self.started and isinstance(carried.get("message"), dict):
                self.native = self.started = True  # a cached Anthropic reply, replayed whole
                return b"".join(message_events(carried["message"], self.model))
        if self.native:
            return b""
        out = [] if self.started else self.events.start(chunk.get("id"))
        self.started = True
        out += self.events.chunk(chunk)
        return b"".join(out)

    def end(self) -> bytes:
        if self.native:
            return b""
        return b"".join((self.events.start(None) if not self.started else [])
                        + self.events.end())

    def error(self, exc: ClawhostError) -> bytes:
        return sse_event("error", error_body(exc))


class CountTokens(Endpoint):
    path = "/v1/messages/count_tokens"
    protocol = NAME
    summary = "Anthropic token counting (local models only: their own tokenizer)"
    Body = CountTokensRequest
    loop = False

    def error_body(self, exc: ClawhostError) -> dict[str, Any]:
        return error_body(exc)

    async def answer(self, body: CountTokensRequest, call: Inbound) -> dict[str, Any]:
        check_version(call.headers)
        host = call.host
        model = host.resolve_model(body.model, "chat")   # 404 with the models there are
        data = {"model": body.model, "messages": chat_messages(body), **chat_tools(body)}
        data.update(extension_fields(call, body.model_extra))
        request = model_request(call, "chat", data)
        request.model = model
        engine = engine_of(model, SlotEngine)
        if engine is None:
            if model.status not in ("ready",):
                raise Unavailable(f"model {model.id!r} is {model.status}; try again shortly",
                                  headers={"Retry-After": "5"})
            raise BadRequest(f"model {model.id!r} has no local tokenizer: count_tokens works for "
                             "local models only", param="model")
        # the prompt exactly as the model would read it (chat template applied)
        ids, _ = await asyncio.to_thread(engine.prepare, request)
        return {"input_tokens": len(ids)}


register(Messages())
register(CountTokens())
