"""An Anthropic upstream's reply reaches a /v1/messages client as Anthropic sent it: thinking
blocks with their signatures, cache usage fields, stop_sequence, blocks the chat shape has
no place for. The real `anthropic` SDK against clawhost against a fake Anthropic upstream (a
real aiohttp server on loopback), plain and streamed, live and from the cache, and the same
entry still answers a Chat Completions client in OpenAI's shape (and the other way round)."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from aiohttp import web

T0 = {"temperature": 0}
THINKING = {"type": "enabled", "budget_tokens": 2048}
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
USAGE = {"input_tokens": 21, "output_tokens": 9, "cache_creation_input_tokens": 0,
         "cache_read_input_tokens": 1500}


def message(body: dict) -> dict:
    """The fake's answer: thinking (when asked for), a text block and an odd block the chat
    shape cannot carry, stopped by the client's first stop sequence."""
    content = []
    if body.get("thinking", {}).get("type") == "enabled":
        content.append({"type": "thinking", "thinking": "The user wants a city.",
                        "signature": SIGNATURE})
        content.append({"type": "redacted_thinking", "data": "c2VjcmV0"})
    content.append({"type": "text", "text": "Paris"})
    return {"id": "msg_fake01", "type": "message", "role": "assistant", "model": "claude-up",
            "content": content, "stop_reason": "stop_sequence",
            "stop_sequence": (body.get("stop_sequences") or ["END"])[0], "usage": dict(USAGE)}


def events(msg: dict) -> list[dict]:
    """``msg`` as Anthropic streams it (the thinking in two deltas, then its signature)."""
    start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**USAGE, "output_tokens": 1}}
    out = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for i, block in enumerate(msg["content"]):
        if block["type"] == "thinking":
            out += [{"type": "content_block_start", "index": i,
                     "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
                    {"type": "content_block_delta", "index": i,
                     "delta": {"type": "thinking_delta", "thinking": block["thinking"][:8]}},
                    {"type": "content_block_delta", "index": i,
                     "delta": {"type": "thinking_delta", "thinking": block["thinking"][8:]}},
                    {"type": "content_block_delta", "index": i,
                     "delta": {"type": "signature_delta", "signature": block["signature"]}}]
        elif block["type"] == "text":
            out += [{"type": "content_block_start", "index": i,
                     "content_block": {"type": "text", "text": ""}},
                    {"type": "content_block_delta", "index": i,
                     "delta": {"type": "text_delta", "text": block["text"]}}]
        else:
            out.append({"type": "content_block_start", "index": i, "content_block": block})
        out.append({"type": "content_block_stop", "index": i})
    out += [{"type": "message_delta", "delta": {"stop_reason": msg["stop_reason"],
                                                "stop_sequence": msg["stop_sequence"]},
             "usage": {"output_tokens": msg["usage"]["output_tokens"]}},
            {"type": "message_stop"}]
    return out


class FakeAnthropic:
    def __init__(self):
        self.requests: list[dict] = []

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        assert request.headers.get("anthropic-version")
        self.requests.append(body)
        msg = message(body)
        if not body.get("stream"):
            return web.json_response(msg)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for ev in events(msg):
            await resp.write(f"event: {ev['type']}\ndata: {json.dumps(ev)}\n\n".encode())
        return resp


@pytest.fixture
async def upstream():
    fake = FakeAnthropic()
    app = web.Application()
    app.router.add_post("/v1/messages", fake.messages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def serve(clawhost_host, clawhost_server, upstream):
    clients = []

    async def make(cache: bool = False):
        config = {"plugins": {"connection_pool": {"providers": {"up": {
            "kind": "anthropic", "base_url": upstream.url, "models": ["m1"],
            "retries": {"attempts": 0}}}}}}
        if cache:
            config["plugins"]["cache"] = {}
        host = await clawhost_host(config=config)
        url = await clawhost_server(host)
        an = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0, timeout=20)
        oa = openai.AsyncOpenAI(base_url=url + "/v1", api_key="k", max_retries=0, timeout=20)
        clients.extend([an, oa])
        return an, oa

    yield make
    for c in clients:
        await c.close()


def check_native(m, stop="END"):
    """Everything the fake sent, as the SDK parsed it."""
    assert [b.type for b in m.content] == ["thinking", "redacted_thinking", "text"]
    assert m.content[0].thinking == "The user wants a city."
    assert m.content[0].signature == SIGNATURE
    assert m.content[1].data == "c2VjcmV0" and m.content[2].text == "Paris"
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == stop
    assert m.usage.cache_read_input_tokens == 1500 and m.usage.input_tokens == 21
    assert m.model == "up/m1"  # the name the client asked for, as with any other model


async def test_plain_and_streamed_replies_keep_what_the_chat_shape_cannot(serve, upstream):
    an, _ = await serve()
    ask = dict(model="up/m1", max_tokens=4096, thinking=THINKING, stop_sequences=["STOP"],
               messages=[{"role": "user", "content": "Capital of France?"}])
    m = await an.messages.create(**ask)
    check_native(m, "STOP")
    assert upstream.requests[-1]["thinking"] == THINKING  # the request passed through too
    async with an.messages.stream(**ask) as s:
        seen = [ev.type async for ev in s]
        final = await s.get_final_message()
    check_native(final, "STOP")
    assert upstream.requests[-1]["stream"] is True
    # the upstream's own events, thinking deltas and signature included, not a translation
    assert seen.count("thinking") == 2 and "signature" in seen


async def test_a_relayed_stream_without_thinking_is_whole(serve, upstream):
    an, _ = await serve()
    async with an.messages.stream(model="up/m1", max_tokens=50,
                                  messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join([t async for t in s.text_stream])
        final = await s.get_final_message()
    assert text == "Paris" and final.stop_sequence == "END" and final.stop_reason == "stop_sequence"


async def test_cache_hits_across_the_two_apis_keep_the_native_reply(serve, upstream):
    an, oa = await serve(cache=True)
    chat = await oa.chat.completions.with_raw_response.create(
        model="up/m1", max_tokens=4096, temperature=0, stop=["STOP"],
        extra_body={"thinking": THINKING},
        messages=[{"role": "user", "content": "Capital of France?"}])
    assert chat.headers["x-clawhost-cache"] == "miss" and len(upstream.requests) == 1
    body = json.loads(chat.content)  # OpenAI's shape, nothing of clawhost's own inside
    assert body["choices"][0]["message"]["content"] == "Paris"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert not any(k.startswith("x_clawhost") for k in body)
    # the same question through /v1/messages: a hit, and still Anthropic's whole message
    raw = await an.messages.with_raw_response.create(
        model="up/m1", max_tokens=4096, extra_body=T0, thinking=THINKING, stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "Capital of France?"}])
    assert raw.headers["x-clawhost-cache"] == "hit-l1" and len(upstream.requests) == 1
    check_native(await raw.parse(), "STOP")
    async with an.messages.stream(model="up/m1", max_tokens=4096, extra_body=T0,
                                  thinking=THINKING, stop_sequences=["STOP"],
                                  messages=[{"role": "user", "content": "Capital of France?"}]) as s:
        check_native(await s.get_final_message(), "STOP")
    assert len(upstream.requests) == 1
    # and back: asked first through /v1/messages, streamed, then through Chat Completions
    async with an.messages.stream(model="up/m1", max_tokens=300, extra_body=T0,
                                  messages=[{"role": "user", "content": "Capital of Italy?"}]) as s:
        first = await s.get_final_message()
    assert first.content[0].text == "Paris" and len(upstream.requests) == 2
    stream = await oa.chat.completions.create(
        model="up/m1", max_tokens=300, temperature=0, stream=True,
        messages=[{"role": "user", "content": "Capital of Italy?"}])
    chunks = [c async for c in stream]
    assert len(upstream.requests) == 2  # a hit: the stream's assembled reply was stored
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris"
    assert not any("x_clawhost_native" in (c.model_extra or {}) for c in chunks)
    again = await an.messages.create(model="up/m1", max_tokens=300, extra_body=T0,
                                      messages=[{"role": "user", "content": "Capital of Italy?"}])
    assert again.stop_sequence == "END" and again.usage.cache_read_input_tokens == 1500
    # thinking asked for or not are two answers, two entries
    plain = await an.messages.create(model="up/m1", max_tokens=4096, extra_body=T0,
                                      stop_sequences=["STOP"],
                                      messages=[{"role": "user", "content": "Capital of France?"}])
    assert [b.type for b in plain.content] == ["text"] and len(upstream.requests) == 3
