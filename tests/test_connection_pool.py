"""connection_pool end to end: real fake providers on loopback, the host, the server, openai."""

from __future__ import annotations

import json

import aiohttp
import openai
import pytest

from clawhost.hookspecs import hookimpl
from clawhost.testing import EchoModel
from fake_upstream import FakeUpstream
from clawhost.plugins.connection_pool import STATE as CONNECTION_POOL_STATE

KEY = "sk-test-SECRET-7f3a9c"
FAST = {"connect": 0.5, "first_byte": 0.5, "idle": 0.3, "total": 3}


def provider(url: str, *, kind: str = "openai", **kw) -> dict:
    base = url + "/v1" if kind == "openai" else url
    return {"kind": kind, "base_url": base, "api_key": "${CP_TEST_KEY}", "models": ["m1"],
            "timeouts": FAST, "retries": {"attempts": 2, "backoff_base": 0.01, "backoff_max": 0.05},
            "cooldown": {"failures": 3, "min_calls": 3, "seconds": 0.5, "jitter": 0}, **kw}


class Recorder:
    """Keeps what each finished request left in its notes."""

    def __init__(self):
        self.finished = []

    @hookimpl
    def clawhost_request_finished(self, request, reply, error):
        self.finished.append((request.body.model, request.notes.as_dict(), error))


@pytest.fixture
async def upstreams():
    made = []

    async def make(**kw) -> FakeUpstream:
        f = FakeUpstream(**kw)
        await f.start()
        made.append(f)
        return f

    yield make
    for f in made:
        await f.stop()


@pytest.fixture
async def make_host(clawhost_host, clawhost_server, monkeypatch):
    monkeypatch.setenv("CP_TEST_KEY", KEY)
    clients = []

    async def make(providers: dict, *, fallbacks=None, deadline=10.0, plugins=(),
                   before: dict | None = None, **pool):
        """``before``: other plugins' config, listed ahead of connection_pool (say a cache);
        ``pool``: more connection_pool options."""
        rec = Recorder()
        cfg = {"plugins": {**(before or {}),
                           "connection_pool": {"providers": providers,
                                               "fallbacks": fallbacks or {},
                                               "deadline": deadline, **pool}}}
        host = await clawhost_host(EchoModel(), rec, *plugins, config=cfg)
        url = await clawhost_server(host)
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="t", max_retries=0, timeout=20)
        clients.append(client)
        return host, url, client, rec

    yield make
    # Closed here, on the test's loop: a client left to the garbage collector closes itself
    # after its loop has gone and logs "Event loop is closed" into a later test.
    for client in clients:
        await client.close()


MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


async def post(url: str, body: dict) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json=body) as r:
            return r.status, await r.json(), dict(r.headers)


async def stream_events(url: str, body: dict) -> list:
    """Raw SSE data items of a streamed chat call (errors included)."""
    out = []
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json={**body, "stream": True}) as r:
            assert r.status == 200
            async for line in r.content:
                if line.startswith(b"data: "):
                    data = line[6:].strip().decode()
                    out.append(data if data == "[DONE]" else json.loads(data))
    return out


# -- the happy paths ------------------------------------------------------------------------
async def test_openai_plain_and_stream_through_the_official_client(upstreams, make_host):
    up = await upstreams(key=KEY)
    host, url, client, rec = await make_host({"a": provider(up.url)})
    r = await client.chat.completions.create(model="a/m1", messages=MSGS)
    assert r.choices[0].message.content == "Hello from the fake upstream."
    assert r.usage.total_tokens == 13
    assert up.requests[-1]["model"] == "m1" and up.requests[-1]["messages"][0]["role"] == "system"
    assert "cache" not in up.requests[-1]
    chunks = [c async for c in await client.chat.completions.create(
        model="a/m1", messages=MSGS, stream=True)]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake upstream."
    assert all(c.choices for c in chunks)          # our own usage request is not passed on
    assert up.requests[-1]["stream_options"] == {"include_usage": True}
    chunks = [c async for c in await client.chat.completions.create(
        model="a/m1", messages=MSGS, stream=True, stream_options={"include_usage": True})]
    assert chunks[-1].usage.total_tokens == 13
    up.faults += ["nostream"]      # a server that answers JSON to a stream request: replayed
    chunks = [c async for c in await client.chat.completions.create(
        model="a/m1", messages=MSGS, stream=True)]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake upstream."
    assert rec.finished[-1][1]["provider"] == "a" and rec.finished[-1][1]["retries"] == 0
    figs = host.state[CONNECTION_POOL_STATE].figures()
    assert figs["calls_total"]["a"] == 4 and figs["inflight"]["a"] == 0


async def test_completions_embeddings_prefix_routing_and_model_list(upstreams, make_host):
    up = await upstreams()
    _, url, client, _ = await make_host({"a": provider(up.url, embedding_models=["emb"])})
    r = await client.completions.create(model="a/m1", prompt="Say hi")
    assert r.choices[0].text == "Hello from the fake upstream."
    e = await client.embeddings.create(model="a/emb", input=["ab", "abcd"])
    assert [d.embedding[0] for d in e.data] == [2.0, 4.0]
    r = await client.chat.completions.create(model="a/some-org/other-model", messages=MSGS)
    assert up.requests[-1]["model"] == "some-org/other-model"
    ids = {m.id async for m in client.models.list()}
    assert {"a/m1", "a/emb", "a/*"} <= ids
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="zz/m1", messages=MSGS)


async def test_openai_tool_calls_pass_through_unchanged(upstreams, make_host):
    up = await upstreams()
    _, url, client, _ = await make_host({"a": provider(up.url)})
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    r = await client.chat.completions.create(model="a/m1", messages=MSGS, tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == \
        ("call_1", "weather", {"city": "Paris"})
    assert r.choices[0].finish_reason == "tool_calls" and up.requests[-1]["tools"] == tools
    chunks = [c async for c in await client.chat.completions.create(
        model="a/m1", messages=MSGS, tools=tools, stream=True)]
    args = "".join(tc.function.arguments or "" for c in chunks for tc in c.choices[0].delta.tool_calls or [])
    assert json.loads(args) == {"city": "Paris"} and chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_anthropic_translation_plain_stream_and_tools(upstreams, make_host):
    up = await upstreams(key=KEY)
    _, url, client, _ = await make_host({"c": provider(up.url, kind="anthropic")})
    r = await client.chat.completions.create(model="c/m1", messages=MSGS, max_tokens=50, stop=["X"])
    sent = up.requests[-1]
    assert sent["system"] == "Be brief." and sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert sent["max_tokens"] == 50 and sent["stop_sequences"] == ["X"]
    assert up.headers[-1]["x-api-key"] == KEY and "Authorization" not in up.headers[-1]
    assert r.choices[0].message.content == "Hello from the fake upstream."
    assert r.choices[0].finish_reason == "stop" and r.usage.prompt_tokens == 11
    chunks = [c async for c in await client.chat.completions.create(
        model="c/m1", messages=MSGS, stream=True, stream_options={"include_usage": True})]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hello from the fake upstream."
    assert chunks[-1].usage.total_tokens == 17
    tools = [{"type": "function", "function": {"name": "weather", "description": "w",
                                               "parameters": {"type": "object"}}}]
    r = await client.chat.completions.create(model="c/m1", messages=MSGS, tools=tools,
                                             tool_choice="required")
    assert up.requests[-1]["tools"] == [{"name": "weather", "description": "w",
                                         "input_schema": {"type": "object"}}]
    assert up.requests[-1]["tool_choice"] == {"type": "any"}
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "weather"
    # the tool result goes back as a user turn with a tool_result block (the fake checks turns)
    follow = MSGS + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                     {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    r = await client.chat.completions.create(model="c/m1", messages=follow, tools=tools)
    sent = up.requests[-1]["messages"]
    assert sent[1]["content"][0] == {"type": "tool_use", "id": "toolu_1", "name": "weather",
                                     "input": {"city": "Paris"}}
    assert sent[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}
    assert r.choices[0].message.content == "Hello from the fake upstream."
    chunks = [c async for c in await client.chat.completions.create(
        model="c/m1", messages=MSGS, tools=tools, stream=True)]
    calls = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == "toolu_1" and calls[0].function.name == "weather"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_pooled_session_reuses_connections(upstreams, make_host):
    up, up2 = await upstreams(), await upstreams()
    _, url, client, _ = await make_host({"a": provider(up.url),
                                         "b": provider(up2.url, reuse_connections=False)})
    for _ in range(10):
        await client.chat.completions.create(model="a/m1", messages=MSGS)
        await client.chat.completions.create(model="b/m1", messages=MSGS)
    assert len(up.connections) == 1 and len(up2.connections) == 10


async def test_batched_embeddings_go_upstream_as_one_call(upstreams, make_host, clawhost_host,
                                                           clawhost_server):
    up = await upstreams()
    cfg = {"plugins": {
        "batcher": {"models": ["a/emb"], "max_wait_ms": 100, "max_batch_size": 64},
        "connection_pool": {"providers": {"a": provider(up.url, embedding_models=["emb"])}}}}
    host = await clawhost_host(config=cfg)
    url = await clawhost_server(host)
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="t", max_retries=0)
    inputs = [["a"], ["bb", "ccc"], ["dddd"], ["eeeee", "ffffff", "g"]]
    import asyncio
    replies = await asyncio.gather(*(client.embeddings.create(model="a/emb", input=i)
                                     for i in inputs))
    for texts, r in zip(inputs, replies):
        assert [d.embedding[0] for d in r.data] == [float(len(t)) for t in texts]
        assert [d.index for d in r.data] == list(range(len(texts)))
    assert len(up.requests) == 1 and sorted(up.requests[0]["input"]) == sorted(
        t for i in inputs for t in i)
    await client.close()
