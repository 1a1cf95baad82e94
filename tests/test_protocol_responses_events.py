"""The Responses API's event stream, byte for byte.

The events are rendered from byte templates (the constant parts of each event and of the
response object encoded once per response, only sequence numbers, deltas and the final text
spliced in). These tests hold the exact bytes of sample streams against
``data/responses_stream.json``, recorded from the earlier renderer that built a dict per
event and encoded it whole (commit 7b5c9b0), so the wire format the `openai` SDK and
OpenClaw parse cannot drift; and they check each stream's shape on its own terms: every
``data:`` line is JSON, sequence numbers run 0, 1, 2, ... and the event order is the
documented one. Streams through a real server and the real SDK are in
test_protocol_responses.py.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from clawhost import streaming
from clawhost.errors import UpstreamError
from clawhost.protocols import Inbound
from clawhost.protocols import openai_responses as orr

GOLDEN = Path(__file__).parent / "data" / "responses_stream.json"
CREATED = 1_765_000_000


def chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None,
          choices: bool = True) -> dict[str, Any]:
    c = streaming.chat_chunk("chatcmpl-1", "m", CREATED, delta or {}, finish)
    if not choices:
        c["choices"] = []
    if usage is not None:
        c["usage"] = usage
    return c


ROLE = chunk({"role": "assistant", "content": ""})
USAGE = chunk(usage=streaming.usage(12, 5), choices=False)


def call(index: int, id: str | None = None, name: str | None = None, args: str = "") -> dict:
    fn: dict[str, Any] = {"arguments": args}
    if name is not None:
        fn["name"] = name
    tc: dict[str, Any] = {"index": index, "function": fn}
    if id is not None:
        tc = {"index": index, "id": id, "type": "function", "function": fn}
    return chunk({"tool_calls": [tc]})


WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
           "strict": True}

# name -> (the request body, the host's chunks, whether the chunk stream fails after them)
CASES: dict[str, tuple[dict, list[dict], bool]] = {
    "text": ({"model": "echo", "input": "hi", "instructions": "Be brief.",
              "max_output_tokens": 64, "temperature": 0},
             [ROLE, chunk({"content": "Paris"}), chunk(finish="stop"), USAGE], False),
    "tokens with escapes and non-ASCII": (
        {"model": "m", "input": "x", "metadata": {"k": "v"}, "user": "u-1", "top_p": 0.5},
        [ROLE] + [chunk({"content": t}) for t in ("Hel", "lo ", "\"wörld\"", "\n\t🙂", " \\ </")]
        + [chunk(finish="stop"), USAGE], False),
    "length": ({"model": "m", "input": "x", "max_output_tokens": 2},
               [ROLE, chunk({"content": "a b"}), chunk(finish="length"), USAGE], False),
    "no usage, no text": ({"model": "m", "input": "x", "parallel_tool_calls": False},
                          [ROLE, chunk(finish="stop")], False),
    "tool calls": (
        {"model": "m", "input": "weather?", "tools": [WEATHER], "tool_choice": "required",
         "previous_response_id": "resp_earlier"},
        [ROLE, call(0, "call_1", "get_weather"), call(0, args='{"city": '),
         call(0, args='"Paris"}'), call(1, "call_2", "get_weather", '{"city": "Oslo"}'),
         chunk(finish="tool_calls"), USAGE], False),
    "text then a call then text": (
        {"model": "m", "input": "x", "tools": [WEATHER],
         "tool_choice": {"type": "function", "name": "get_weather"}},
        [ROLE, chunk({"content": "Let me look."}), call(0, None, "get_weather", "{}"),
         chunk({"content": "Done."}), chunk(finish="stop"), USAGE], False),
    "fails mid-stream": ({"model": "m", "input": "x"},
                         [ROLE, chunk({"content": "par"})], True),
}


async def render(name: str, monkeypatch) -> str:
    """The SSE text the endpoint sends for a case: ids from a counter, a fixed clock."""
    data, chunks, fails = CASES[name]
    counter = itertools.count(1)
    monkeypatch.setattr(orr.translate, "new_id", lambda prefix: f"{prefix}_{next(counter):04d}")
    monkeypatch.setattr(orr.translate.time, "time", lambda: float(CREATED))
    body = orr.ResponsesRequest.model_validate({**data, "stream": True, "store": False})

    async def host_chunks():
        for c in chunks:
            yield c
        if fails:
            raise UpstreamError("the upstream closed the stream", code="upstream_error")

    call_ = Inbound(host=None, headers={}, tenant="default", raw=data)  # type: ignore[arg-type]
    writer = orr.Responses().stream(body, None, call_)
    frames = []  # as sse_response.stream_events drives a protocol's writer
    try:
        async for c in host_chunks():
            frames.append(writer.chunk(c))
        frames.append(writer.end())
    except UpstreamError as exc:
        frames.append(writer.error(exc))
    return b"".join(frames).decode()


def events_of(sse: str) -> list[tuple[str, dict]]:
    out = []
    for block in sse.split("\n\n")[:-1]:
        event, data = block.split("\n")
        assert event.startswith("event: ") and data.startswith("data: "), block
        out.append((event[7:], json.loads(data[6:])))
    assert sse.endswith("\n\n")
    return out


@pytest.mark.parametrize("name", list(CASES))
async def test_the_stream_is_byte_identical_to_the_recorded_one(name, monkeypatch):
    golden = json.loads(GOLDEN.read_text())
    assert await render(name, monkeypatch) == golden[name]


@pytest.mark.parametrize("name", list(CASES))
async def test_events_are_named_numbered_and_in_order(name, monkeypatch):
    events = events_of(await render(name, monkeypatch))
    assert all(kind == data["type"] for kind, data in events)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    if CASES[name][2]:
        assert kinds[-1] == "error"
        return
    assert kinds[-1] in ("response.completed", "response.incomplete")
    final = events[-1][1]["response"]
    # the final object's items are those the output_item.done events carried, in order
    done = [d["item"] for k, d in events if k == "response.output_item.done"]
    assert final["output"] == done or (not done and final["output"][0]["content"][0]["text"] == "")
    # every delta adds up to its done event's text or arguments
    for k, d in events:
        if k == "response.output_text.done":
            assert d["text"] == "".join(e["delta"] for kk, e in events if kk ==
                                        "response.output_text.delta" and e["item_id"] == d["item_id"])
        if k == "response.function_call_arguments.done":
            assert d["arguments"] == "".join(
                e["delta"] for kk, e in events
                if kk == "response.function_call_arguments.delta" and e["item_id"] == d["item_id"])
    # created/in_progress and the final object differ only in what a finished response adds
    start = events[0][1]["response"]
    assert events[1][1]["response"] == start
    assert {k for k in start if start[k] != final[k]} <= {"status", "output", "usage",
                                                         "incomplete_details"}


@pytest.mark.parametrize("data", [
    {"model": "m", "input": "x"},
    {"model": "100%", "input": "x", "instructions": "%s %b %d %% \x00slot", "user": "50% off",
     "metadata": {"%": "%%"}, "tools": [WEATHER, {**WEATHER, "name": "b%d", "strict": None}],
     "tool_choice": {"type": "function", "name": "get_weather"}, "temperature": 0.5,
     "top_p": 1, "max_output_tokens": 9, "parallel_tool_calls": False,
     "previous_response_id": "resp_%b", "store": False}])
@pytest.mark.parametrize("state", [("in_progress", [], None, None),
                                   ("completed", [orr.message_item("msg_1", "hi %b")],
                                    streaming.usage(3, 2), "stop"),
                                   ("completed", [], None, "length")])
def test_the_streamed_response_object_has_the_plain_ones_bytes(data, state):
    """The %-format the stream renders its response object from, filled, is byte for byte
    the object a plain request gets (client strings holding % and the placeholders too)."""
    body = orr.ResponsesRequest.model_validate(data)
    plain = orr.envelope(body, "resp_1", CREATED, *state)
    fmt = orr.envelope_format(body, "resp_1", CREATED)
    filled = fmt % tuple(streaming.dumps(plain[k]) for k in
                         ("status", "incomplete_details", "output", "usage"))
    assert filled == streaming.dumps(plain)
