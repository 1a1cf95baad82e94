"""The HTTP API, through the official openai client and raw requests, on a real server."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from clawhost.hookspecs import hookimpl
from clawhost.testing import EchoModel


@pytest.fixture
async def api(clawhost_host, clawhost_server):
    host = await clawhost_host(EchoModel())
    url = await clawhost_server(host)
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    async with aiohttp.ClientSession() as session:
        yield host, url, client, session
    await client.close()


async def test_openai_client_chat_completion_and_embeddings(api):
    host, url, client, _ = api
    resp = await client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hi from openai"}])
    assert resp.choices[0].message.content == "hi from openai"
    assert resp.choices[0].finish_reason == "stop" and resp.usage.total_tokens == 6
    comp = await client.completions.create(model="echo", prompt="one two three", max_tokens=2)
    assert comp.choices[0].text == "one two" and comp.choices[0].finish_reason == "length"
    emb = await client.embeddings.create(model="echo-embed", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 8
    models = await client.models.list()
    assert {m.id for m in models.data} == {"echo", "echo-embed"}


async def test_openai_client_streaming(api):
    _, _, client, _ = api
    stream = await client.chat.completions.create(
        model="echo", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "streamed words here"}])
    text, finish, usage = [], None, None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(text) == "streamed words here" and finish == "stop"
    assert usage is not None and usage.completion_tokens == 3
    comp = await client.completions.create(model="echo", prompt="p q", stream=True)
    assert "".join([c.choices[0].text async for c in comp if c.choices]) == "p q"


@pytest.mark.parametrize("data, status, needle", [
    (b"{not json", 400, "invalid JSON"),
    (b'{"model": "echo", "messages": "hi"}', 400, "messages"),
    (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model: Field required"),
    (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": -5}', 400, "max_tokens"),
    (b'{"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}', 400, "messages.0.role"),
    (b'{"model": "echo", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, "not valid UTF-8"),
    (b'[1, 2]', 400, "must be a JSON object"),
    (b'{"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]}', 404, "available: echo"),
    (b'{"model": "echo", "metadata": "no", "messages": [{"role": "user", "content": "x"}]}', 400,
     "metadata: must be an object (a mapping of names to values) (got 'no')"),
])
async def test_bad_input_gets_one_line_openai_error(api, data, status, needle):
    _, url, _, session = api
    async with session.post(url + "/v1/chat/completions", data=data,
                            headers={"Content-Type": "application/json"}) as r:
        body = await r.json()
    assert r.status == status
    err = body["error"]
    assert needle in err["message"] and "\n" not in err["message"] and "Traceback" not in err["message"]
    assert set(err) == {"message", "type", "param", "code"}
    # the host keeps serving everyone else
    async with session.post(url + "/v1/chat/completions", json={
            "model": "echo", "messages": [{"role": "user", "content": "ok"}]}) as r:
        assert r.status == 200


@pytest.mark.parametrize("data, needle", [
    (b'{"model": "echo-embed", "input": [1.5, 2]}', "token-id lists (each non-empty) (got [1.5, 2])"),
    (b'{"model": "echo-embed", "input": [["a"]]}', "input: must be a string, a list of strings, "
                                                    "a list of token ids or a list of token-id lists"),
    (b'{"model": "echo-embed", "input": 7}', "(each non-empty) (got 7)"),
    (b'{"model": "echo-embed", "input": [100277]}', "100277 (position 0) is not a cl100k_base token id"),
    (b'{"model": "echo-embed", "input": []}', "input must not be empty"),
    (b'{"model": "echo-embed", "input": "x", "encoding_format": "hex"}', "(got 'hex')"),
])
async def test_bad_embedding_input_gets_one_clear_line(api, data, needle):
    _, url, _, session = api
    async with session.post(url + "/v1/embeddings", data=data,
                            headers={"Content-Type": "application/json"}) as r:
        err = (await r.json())["error"]
    assert r.status == 400 and err["param"] in ("input", "encoding_format")
    assert needle in err["message"] and "\n" not in err["message"] and ";" not in err["message"]
    async with session.post(url + "/v1/embeddings", json={"model": "echo-embed", "input": "ok"}) as r:
        assert r.status == 200


async def test_oversized_body_is_413(api):
    host, url, _, session = api
    big = b'{"model": "echo", "messages": [{"role": "user", "content": "' + b"x" * (5 * 1024 * 1024) + b'"}]}'
    async with session.post(url + "/v1/chat/completions", data=big) as r:
        body = await r.json()
    assert r.status == 413 and "larger than" in body["error"]["message"]


async def test_internal_error_never_leaks_a_traceback(api, register_plugin):
    host, url, _, session = api

    class Crash:
        @hookimpl(tryfirst=True)
        def clawhost_infer(self, request):
            raise RuntimeError("db password=hunter2 at /srv/secret.py line 3")

    register_plugin(host, Crash())
    async with session.post(url + "/v1/chat/completions", json={
            "model": "echo", "messages": [{"role": "user", "content": "x"}]}) as r:
        text = await r.text()
    assert r.status == 500
    assert "hunter2" not in text and "Traceback" not in text and "secret.py" not in text


async def test_too_many_in_flight_is_429_with_retry_after(clawhost_host, clawhost_server):
    host = await clawhost_host(EchoModel(delay=0.3), config={"server": {"max_inflight": 2}})
    url = await clawhost_server(host)
    body = {"model": "echo", "messages": [{"role": "user", "content": "x"}]}
    async with aiohttp.ClientSession() as s:
        async def one():
            async with s.post(url + "/v1/chat/completions", json=body) as r:
                return r.status, r.headers.get("Retry-After")
        results = await asyncio.gather(*[one() for _ in range(5)])
    assert sorted(s for s, _ in results) == [200, 200, 429, 429, 429]
    assert all(ra == "1" for s, ra in results if s == 429)


async def test_bearer_token_required_when_configured(clawhost_host, clawhost_server):
    host = await clawhost_host(EchoModel(), config={"server": {"token": "tok-123456"}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v1/models") as r:
            assert r.status == 401 and "bearer" in (await r.json())["error"]["message"]
        async with s.get(url + "/healthz") as r:
            assert r.status == 200
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="tok-123456", max_retries=0)
    models = await client.models.list()
    assert models.data[0].id == "echo"
    await client.close()


def test_non_loopback_bind_without_token_refuses():
    from clawhost.errors import ConfigError
    from clawhost.host import Host
    from clawhost.server import check_bind
    from clawhost.testing import make_config
    import tempfile
    host = Host(make_config(tempfile.mkdtemp(), {"server": {"host": "0.0.0.0"}}))
    with pytest.raises(ConfigError, match="server.token is required"):
        check_bind(host)
    ok = Host(make_config(tempfile.mkdtemp(), {"server": {"host": "0.0.0.0", "token": "abcdef"}}))
    check_bind(ok)


async def test_health_ready_models_and_openapi(api):
    host, url, _, session = api
    async with session.get(url + "/healthz") as r:
        assert r.status == 200
    async with session.get(url + "/readyz") as r:
        facts = await r.json()
        assert r.status == 200 and facts["models"] == {"echo": "ready", "echo-embed": "ready"}
    async with session.get(url + "/v1/models/echo") as r:
        assert (await r.json())["id"] == "echo"
    async with session.get(url + "/openapi.json") as r:
        spec = await r.json()
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
                 "/healthz", "/readyz", "/openapi.json"):
        assert path in spec["paths"]
    assert "ChatRequest" in spec["components"]["schemas"]
    host.ready = False
    async with session.get(url + "/readyz") as r:
        assert r.status == 503
    async with session.post(url + "/v1/chat/completions", json={"model": "echo", "messages": [
            {"role": "user", "content": "x"}]}) as r:
        assert r.status == 503 and r.headers["Retry-After"] == "1"


async def test_plugin_routes_hook_adds_routes(clawhost_host, clawhost_server):
    from aiohttp import web

    class Route:
        @hookimpl
        def clawhost_routes(self, router, host):
            async def hello(request):
                return web.json_response({"hi": len(host.models)})
            router.add_get("/hello", hello)

    host = await clawhost_host(Route(), EchoModel())
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/hello") as r:
            assert (await r.json()) == {"hi": 2}
        async with s.get(url + "/openapi.json") as r:
            assert "/hello" in (await r.json())["paths"]


async def test_python_client_sync_and_async(api):
    from clawhost.client import AsyncClient, Client, ClientError
    _, url, _, _ = api
    async with AsyncClient(url) as c:
        assert await c.chat("async hello") == "async hello"
        assert len((await c.embed(["x"]))[0]) == 8
        assert "".join([p async for p in c.chat_stream("s t")]) == "s t"
    sync = Client(url)
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, sync.chat, "sync hello") == "sync hello"
    pieces = await loop.run_in_executor(None, lambda: list(sync.chat_stream("a b c")))
    assert "".join(pieces) == "a b c"
    with pytest.raises(ClientError, match="not found"):
        await loop.run_in_executor(None, lambda: sync.chat("x", model="missing"))
    with pytest.raises(ClientError, match="must start with http:// or https://"):
        Client("localhost:8787")
    with pytest.raises(ClientError, match="cannot reach clawhost at http://127.0.0.1:9"):
        await loop.run_in_executor(None, lambda: Client("http://127.0.0.1:9").models())


async def test_request_timeout_is_504_and_the_host_keeps_serving(clawhost_host, clawhost_server):
    slow = EchoModel(delay=2.0)
    host = await clawhost_host(slow, config={"server": {"request_timeout_s": 0.2}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json={
                "model": "echo", "messages": [{"role": "user", "content": "x"}]}) as r:
            body = await r.json()
        assert r.status == 504 and "request_timeout_s" in body["error"]["message"]
        async with s.get(url + "/healthz") as r:
            assert r.status == 200


async def test_client_that_hangs_up_sets_disconnected(clawhost_host, clawhost_server, register_plugin):
    """A non-streaming request whose client goes away is cancelled and flagged for plugins."""
    seen = []

    class Slow:
        @hookimpl(tryfirst=True)
        async def clawhost_infer(self, request):
            seen.append(request)
            await asyncio.sleep(5)

    host = await clawhost_host(EchoModel())
    register_plugin(host, Slow())
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        with pytest.raises(asyncio.TimeoutError):
            async with s.post(url + "/v1/chat/completions", json={
                    "model": "echo", "messages": [{"role": "user", "content": "x"}]},
                    timeout=aiohttp.ClientTimeout(total=0.3)):
                pass
    for _ in range(50):
        if seen and seen[0].disconnected.is_set():
            break
        await asyncio.sleep(0.05)
    assert seen and seen[0].disconnected.is_set()


def test_an_empty_stop_string_means_no_stop():
    from clawhost.types import ChatRequest
    msgs = [{"role": "user", "content": "x"}]
    assert ChatRequest(model="m", messages=msgs, stop="").stop_list == []
    assert ChatRequest(model="m", messages=msgs, stop=["", "END"]).stop_list == ["END"]
    assert ChatRequest(model="m", messages=msgs, stop=["a", "b"]).stop_list == ["a", "b"]
