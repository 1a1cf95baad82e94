"""connection_pool's Anthropic adapter keeps Anthropic's own message beside the chat shape:
the events of a stream added up (tool input split across deltas, thinking and its
signature, citations, stop_sequence, usage), and relayed on the chunks for a client that
came in through /v1/messages."""

from __future__ import annotations

import json

from clawhost import streaming
from clawhost.notes import SOURCE_BODY
from clawhost.plugins.connection_pool.anthropic import Accumulated, Anthropic
from clawhost.plugins.connection_pool.openai_compat import StreamState
from clawhost.types import ChatRequest, ModelRequest

CITATION = {"type": "char_location", "cited_text": "Paris", "document_index": 0,
            "start_char_index": 0, "end_char_index": 5}
EVENTS = [
    {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                          "model": "claude", "content": [], "stop_reason": None,
                                          "usage": {"input_tokens": 5, "cache_read_input_tokens": 7,
                                                    "output_tokens": 1}}},
    {"type": "ping"},
    {"type": "content_block_start", "index": 0,
     "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hm"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Paris"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": CITATION}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2,
     "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": 'ty": "Paris"}'}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
     "usage": {"output_tokens": 12}},
    {"type": "message_stop"},
]
MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
           "stop_reason": "tool_use", "stop_sequence": None,
           "usage": {"input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 12},
           "content": [{"type": "thinking", "thinking": "Hm", "signature": "sig"},
                       {"type": "text", "text": "Paris", "citations": [CITATION]},
                       {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                        "input": {"city": "Paris"}}]}


def test_the_events_add_up_to_the_message_anthropic_sent():
    acc = Accumulated()
    for ev in EVENTS:
        acc.add(ev)
    assert acc.message == MESSAGE


def request(relay: bool) -> ModelRequest:
    body = ChatRequest.model_validate({"model": "up/m1", "stream": True,
                                       "messages": [{"role": "user", "content": "hi"}]})
    req = ModelRequest(kind="chat", body=body)
    if relay:
        req.notes[SOURCE_BODY] = ("anthropic_messages", {}, body)
    return req


async def run(relay: bool) -> list[dict]:
    class Opts:
        anthropic_version, api_key, base_url, default_max_tokens = "2023-06-01", None, "x", 100

    async def events():
        for ev in EVENTS:
            yield json.dumps(ev)
    return [c async for c in Anthropic(Opts()).chunks(request(relay), events(), StreamState())]


async def test_a_stream_relays_every_event_to_a_messages_client_and_ends_with_the_message():
    chunks = await run(relay=True)
    relayed = [ev for c in chunks for ev in c[streaming.NATIVE].get("events", [])]
    assert relayed == EVENTS  # each once, in order
    assert chunks[-1][streaming.NATIVE]["message"] == MESSAGE
    # the chat translation is all there too, for the host and its caches
    merged = streaming.merge_chunks(request(True), chunks)
    msg = merged["choices"][0]["message"]
    assert msg["content"] == "Paris" and msg["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert merged[streaming.NATIVE] == {"protocol": "anthropic_messages", "message": MESSAGE}


async def test_a_chat_client_gets_no_relayed_events_but_the_caches_get_the_message():
    chunks = await run(relay=False)
    assert all(c["choices"] for c in chunks)  # no chunk without choices
    assert [streaming.NATIVE in c for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert "events" not in chunks[-1][streaming.NATIVE]
    assert streaming.without_native(chunks[-1]) == {k: v for k, v in chunks[-1].items()
                                                   if k != streaming.NATIVE}
