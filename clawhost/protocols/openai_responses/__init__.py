"""OpenAI's Responses API inbound, the stateless subset plus ``previous_response_id``.

``input`` (a string or items), ``instructions``, function ``tools``, ``function_call`` /
``function_call_output`` items become the ``ChatRequest`` a Chat Completions client would
send for the same conversation; the reply becomes a ``response`` object or its typed event
stream. With ``store`` (the default, as at OpenAI) the conversation is kept per tenant in
``workspace/.cache/responses/`` for a day, so a later request can continue it by id.
"""

from __future__ import annotations

from typing import Any

from ...types import ModelRequest, Reply
from .. import Endpoint, Inbound, register
from . import translate
from .bodies import ResponsesRequest
from .events import ResponseEvents, envelope_format
from .translate import (HARMLESS, STORE, call_item, envelope, input_messages, message_item,
                        reply_messages, store_of, to_chat, to_response, usage_of)

NAME = "openai_responses"

__all__ = ["HARMLESS", "NAME", "STORE", "ResponseEvents", "Responses", "ResponsesRequest",
           "call_item", "envelope", "envelope_format", "input_messages", "message_item",
           "reply_messages", "store_of", "to_chat", "to_response", "usage_of"]


class Responses(Endpoint):
    path = "/v1/responses"
    protocol = NAME
    summary = "OpenAI Responses (stateless subset, previous_response_id; stream: true for events)"
    Body = ResponsesRequest
    streams = True
    stream_description = ("typed events: response.created, response.in_progress, "
                          "response.output_item.added, response.content_part.added, "
                          "response.output_text.delta, response.output_text.done, "
                          "response.function_call_arguments.delta/.done, "
                          "response.output_item.done, response.completed")

    def close(self, host) -> None:
        store = host.state.pop(STORE)
        if store is not None:  # pending conversations written; a restart opens it again
            store.close()

    async def to_request(self, body: ResponsesRequest, call: Inbound) -> ModelRequest:
        request, call.state["conversation"] = to_chat(body, call)
        return request

    def _store(self, body: ResponsesRequest, call: Inbound, rid: str, chat: dict) -> None:
        if body.store:
            store_of(call).put(rid, call.tenant, call.state["conversation"] + reply_messages(chat))

    async def reply(self, body: ResponsesRequest, request: ModelRequest, reply: Reply,
                    call: Inbound) -> dict[str, Any]:
        rid = translate.new_id("resp")
        out = to_response(body, rid, reply.body)
        self._store(body, call, rid, reply.body)
        return out

    def stream(self, body: ResponsesRequest, request: ModelRequest, call: Inbound) -> ResponseEvents:
        rid = translate.new_id("resp")
        keep = (lambda chat: self._store(body, call, rid, chat)) if body.store else None
        return ResponseEvents(body, rid, keep)


register(Responses())
