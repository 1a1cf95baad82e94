"""The cache plugin through a real host and HTTP server: hits, misses, policy, controls,
tenants, TTL, streaming replay, restart, and the CLI."""

from __future__ import annotations

import json

import aiohttp
import pytest
from click.testing import CliRunner

from clawhost.plugins import cache as cache_plugin
from clawhost.testing import EchoModel
from clawhost.api import CACHE_RESULT
from clawhost.plugins.cache import STATE as CACHE_STATE

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello cache"}],
        "temperature": 0}


async def post(url, body, headers=None, path="/v1/chat/completions"):
    async with aiohttp.ClientSession() as s:
        async with s.post(url + path, json=body, headers=headers or {}) as r:
            return r.status, dict(r.headers), await r.json()


def cfg(workspace=None, **opts):
    data = {"plugins": {"cache": opts}}
    if workspace is not None:
        data["workspace"] = str(workspace)
    return data


async def serve(clawhost_host, clawhost_server, model=None, **kw):
    model = model or EchoModel()
    host = await clawhost_host(model, config=cfg(**kw))
    return model, host, await clawhost_server(host)


async def test_miss_then_l1_hit_with_key_header(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server)
    st, h1, b1 = await post(url, CHAT)
    assert st == 200 and h1["x-clawhost-cache"] == "miss" and "x-clawhost-cache-key" not in h1
    st, h2, b2 = await post(url, {**CHAT, "user": "someone", "metadata": {"a": 1}})
    assert st == 200 and h2["x-clawhost-cache"] == "hit-l1"
    assert len(h2["x-clawhost-cache-key"]) == 64
    assert b2 == b1 and model.calls == 1
    stats = await host.state[CACHE_STATE].stats()
    assert stats["hits"]["l1"] == 1 and stats["misses"] == 1 and stats["stores"] == 1


async def test_notes_carry_the_cache_state(clawhost_host, register_plugin):
    from clawhost.hookspecs import hookimpl
    from clawhost.types import ChatRequest, ModelRequest
    seen = []

    class Spy:
        @hookimpl
        def clawhost_request_finished(self, request, reply, error):
            seen.append(request.notes.get(CACHE_RESULT))

    host = await clawhost_host(EchoModel(), config=cfg())
    register_plugin(host, Spy())
    for _ in range(2):
        await host.handle(ModelRequest("chat", ChatRequest.model_validate(CHAT)))
    await host.handle(ModelRequest("chat", ChatRequest.model_validate({**CHAT, "temperature": 1})))
    assert seen == ["miss", "hit-l1", "bypass"]


async def test_output_changing_fields_miss(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server)
    await post(url, CHAT)
    for change in ({"max_tokens": 1}, {"seed": 3}, {"stop": ["x"]}, {"top_p": 0.5},
                   {"model": "echo", "messages": [{"role": "user", "content": "other"}]},
                   {"some_provider_knob": 7}):
        _, h, _ = await post(url, {**CHAT, **change})
        assert h["x-clawhost-cache"] == "miss", change
    assert model.calls == 7


async def test_tenants_never_share_entries(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server)
    a, b = {"Authorization": "Bearer token-a"}, {"Authorization": "Bearer token-b"}
    _, h, _ = await post(url, CHAT, a)
    assert h["x-clawhost-cache"] == "miss"
    _, h, _ = await post(url, CHAT, b)
    assert h["x-clawhost-cache"] == "miss"  # b cannot read (or probe) a's entry
    _, h, _ = await post(url, CHAT, a)
    assert h["x-clawhost-cache"] == "hit-l1"
    assert model.calls == 2
    # a namespace scopes further, inside one tenant
    _, h, _ = await post(url, {**CHAT, "cache": {"namespace": "x"}}, a)
    assert h["x-clawhost-cache"] == "miss"


async def test_policy_deterministic_and_all(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server)
    warm = {**CHAT, "temperature": 0.8}
    for _ in range(2):
        _, h, _ = await post(url, warm)
        assert h["x-clawhost-cache"] == "bypass"
    seeded = {**warm, "seed": 42}
    await post(url, seeded)
    _, h, _ = await post(url, seeded)
    assert h["x-clawhost-cache"] == "hit-l1"
    assert model.calls == 3
    model2, _, url2 = await serve(clawhost_host, clawhost_server, policy="all")
    await post(url2, warm)
    _, h, _ = await post(url2, warm)
    assert h["x-clawhost-cache"] == "hit-l1" and model2.calls == 1


@pytest.mark.parametrize("how", ["body", "header"])
async def test_no_cache_and_no_store(clawhost_host, clawhost_server, how):
    model, host, url = await serve(clawhost_host, clawhost_server)

    def ask(directive):
        if how == "body":
            return post(url, {**CHAT, "cache": {directive: True}})
        return post(url, CHAT, {"Cache-Control": directive})

    _, h, _ = await ask("no-store")
    assert h["x-clawhost-cache"] == "miss"
    _, h, _ = await post(url, CHAT)
    assert h["x-clawhost-cache"] == "miss"  # the no-store answer was not kept; this one is
    _, h, _ = await ask("no-cache")
    assert h["x-clawhost-cache"] == "bypass"
    assert model.calls == 3
    _, h, _ = await post(url, CHAT)
    assert h["x-clawhost-cache"] == "hit-l1"


async def test_ttl_and_max_age_follow_the_clock(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server, ttl_s=100)
    now = [1_000_000.0]
    host.state[CACHE_STATE].clock = lambda: now[0]
    await post(url, CHAT)
    await post(url, {**CHAT, "cache": {"ttl": 10}, "messages": [{"role": "user", "content": "b"}]})
    now[0] += 50
    assert (await post(url, CHAT))[1]["x-clawhost-cache"] == "hit-l1"
    _, h, _ = await post(url, {**CHAT, "messages": [{"role": "user", "content": "b"}]})
    assert h["x-clawhost-cache"] == "miss"  # its own ttl of 10 s ran out
    _, h, _ = await post(url, CHAT, {"Cache-Control": "max-age=30"})
    assert h["x-clawhost-cache"] == "miss"  # 50 s old is too old for this client
    now[0] += 200
    assert (await post(url, CHAT))[1]["x-clawhost-cache"] == "miss"
    # the clock jumps back an hour: entries "from the future" are not trusted
    now[0] -= 3600
    assert (await post(url, CHAT))[1]["x-clawhost-cache"] == "miss"
    assert model.calls == 6


async def test_oversized_entry_is_skipped_and_counted(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server, max_entry_bytes=400)
    big = {**CHAT, "messages": [{"role": "user", "content": "word " * 200}]}
    for _ in range(2):
        assert (await post(url, big))[1]["x-clawhost-cache"] == "miss"
    assert host.state[CACHE_STATE].counts["skipped_oversize"] == 2 and model.calls == 2
    await post(url, CHAT)
    assert (await post(url, CHAT))[1]["x-clawhost-cache"] == "hit-l1"


async def test_embeddings_and_completions_are_cached(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server)
    emb = {"model": "echo-embed", "input": "some text"}
    _, _, e1 = await post(url, emb, path="/v1/embeddings")
    _, h, e2 = await post(url, {**emb, "input": ["some text"]}, path="/v1/embeddings")
    assert h["x-clawhost-cache"] == "hit-l1" and e1 == e2
    comp = {"model": "echo", "prompt": "say this", "temperature": 0}
    await post(url, comp, path="/v1/completions")
    _, h, c = await post(url, comp, path="/v1/completions")
    assert h["x-clawhost-cache"] == "hit-l1" and c["choices"][0]["text"] == "say this"
    assert model.calls == 2


async def test_streaming_is_stored_and_replayed_as_sse(clawhost_host, clawhost_server):
    from openai import AsyncOpenAI
    model, host, url = await serve(clawhost_host, clawhost_server)
    client = AsyncOpenAI(base_url=url + "/v1", api_key="k")
    texts, states = [], []
    for _ in range(2):
        raw = await client.chat.completions.with_raw_response.create(
            model="echo", temperature=0, stream=True,
            messages=[{"role": "user", "content": "stream me please"}])
        states.append(raw.headers["x-clawhost-cache"])
        stream = raw.parse()
        parts, finish = [], None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
        texts.append("".join(parts))
        assert finish == "stop"
    assert states == ["miss", "hit-l1"] and texts == ["stream me please"] * 2
    assert model.calls == 1
    # the assembled stream also answers the same request without streaming
    reply = await client.chat.completions.create(
        model="echo", temperature=0, messages=[{"role": "user", "content": "stream me please"}])
    assert reply.choices[0].message.content == "stream me please" and model.calls == 1
    await client.close()


async def test_l2_survives_a_restart_and_promotes(clawhost_host, clawhost_server, tmp_path):
    ws = tmp_path / "shared-ws"
    m1 = EchoModel()
    h1 = await clawhost_host(m1, config=cfg(ws))
    await post(await clawhost_server(h1), CHAT)
    await h1.stop()  # flushes the writer
    m2 = EchoModel()
    h2 = await clawhost_host(m2, config=cfg(ws))
    url = await clawhost_server(h2)
    assert (await post(url, CHAT))[1]["x-clawhost-cache"] == "hit-l2"
    assert (await post(url, CHAT))[1]["x-clawhost-cache"] == "hit-l1"
    assert m2.calls == 0
    assert (ws / ".cache" / "responses.db").is_file()


async def test_l1_only_and_no_l2(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server, l2={"backend": "none"},
                                   l1={"enabled": False})
    for _ in range(2):
        assert (await post(url, CHAT))[1]["x-clawhost-cache"] == "miss"
    assert model.calls == 2


async def test_bad_options_are_one_line_errors(tmp_path):
    from clawhost.errors import ConfigError
    from clawhost.host import Host
    from clawhost.testing import make_config
    with pytest.raises(ConfigError, match="l2.url is required"):
        Host(make_config(tmp_path, cfg(l2={"backend": "redis"})))
    with pytest.raises(ConfigError, match="max_bytes"):
        Host(make_config(tmp_path, cfg(l1={"max_bytes": "lots"})))
    host = Host(make_config(tmp_path, cfg(l1={"max_bytes": "1MiB"})))
    assert host.options("cache").l1.max_bytes == 1024 * 1024


async def test_cli_stats_get_clear(clawhost_host, clawhost_server, tmp_path):
    import yaml

    from clawhost.cli import build
    ws = tmp_path / "cli-ws"
    host = await clawhost_host(EchoModel(), config=cfg(ws))
    url = await clawhost_server(host)
    await post(url, CHAT)
    await post(url, {**CHAT, "cache": {"namespace": "proj"},
                     "messages": [{"role": "user", "content": "two"}]})
    _, h, _ = await post(url, CHAT)
    key = h["x-clawhost-cache-key"]
    host.state[CACHE_STATE].l2.flush()
    conf = tmp_path / "config.yaml"
    port = int(url.rsplit(":", 1)[1])  # so the CLI finds this host's live counters
    conf.write_text(yaml.safe_dump({"workspace": str(ws), "server": {"port": port},
                                    "plugins": {"cache": {}}}))
    cli, run = build(), CliRunner()

    def invoke(*args):
        import asyncio
        return asyncio.to_thread(run.invoke, cli, [*args, "--config", str(conf)])

    res = await invoke("cache", "stats", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["l2"]["entries"] == 2 and data["live"]["hits"]["l1"] == 1
    res = await invoke("cache", "stats")
    assert "L2 (disk): 2 entries" in res.output and "hit-l1 1" in res.output
    res = await invoke("cache", "get", key)
    assert res.exit_code == 0 and json.loads(res.output)["body"]["choices"][0]["message"][
        "content"] == "hello cache"
    res = await invoke("cache", "get", "nothex")
    assert res.exit_code != 0 and "64 hex" in res.output
    res = await invoke("cache", "clear", "--namespace", "proj")
    assert res.exit_code == 0 and "cleared 1 entries" in res.output
    res = await invoke("cache", "clear")
    assert "cleared 1 entries" in res.output and "L1" in res.output
    assert (await post(url, CHAT))[1]["x-clawhost-cache"] == "miss"  # L1 was dropped too


async def test_l1_stays_flat_under_many_distinct_requests(clawhost_host):
    from clawhost.types import ChatRequest, ModelRequest
    host = await clawhost_host(EchoModel(), config=cfg(l1={"max_bytes": "64KiB"},
                                                       l2={"backend": "none"}))
    l1 = host.state[CACHE_STATE].l1
    sizes = []
    for i in range(1500):
        body = ChatRequest.model_validate({**CHAT, "messages": [
            {"role": "user", "content": f"distinct question number {i} " + "pad " * (i % 50)}]})
        await host.handle(ModelRequest("chat", body))
        sizes.append(l1.bytes)
    assert max(sizes) <= 64 * 1024 and l1.evictions > 1000
    assert max(sizes[500:]) - min(sizes[500:]) < 16 * 1024  # flat, not growing


async def test_monitor_sees_the_cache(clawhost_host, clawhost_server):
    model = EchoModel()
    host = await clawhost_host(model, config={"plugins": {"cache": {}, "monitor": {}}})
    url = await clawhost_server(host)
    await post(url, CHAT)
    await post(url, CHAT)
    await post(url, {**CHAT, "temperature": 1})
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/metrics") as r:
            text = await r.text()
    assert 'clawhost_cache_requests{key="hit-l1"} 1.0' in text
    assert 'clawhost_cache_requests{key="bypass"} 1.0' in text
    assert "clawhost_cache_l2_usable 1.0" in text


async def test_bypass_is_labelled_on_streams_too(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server)
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json={**CHAT, "stream": True},
                          headers={"Cache-Control": "no-cache"}) as r:
            raw = await r.text()
            assert r.headers["x-clawhost-cache"] == "bypass"
    events = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and json.loads(events[0])["object"] == "chat.completion.chunk"
    _, h, _ = await post(url, CHAT)
    assert h["x-clawhost-cache"] == "hit-l1"  # no-cache still stored the streamed answer
    assert model.calls == 1 and host.state[CACHE_STATE].counts["bypass"] == 1


async def test_odd_json_values_never_break_a_request(clawhost_host, clawhost_server):
    model, host, url = await serve(clawhost_host, clawhost_server)
    raw = json.dumps(CHAT)[:-1] + ', "provider_knob": NaN}'  # Python's json accepts NaN
    states = []
    for _ in range(2):
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/v1/chat/completions", data=raw,
                              headers={"Content-Type": "application/json"}) as r:
                assert r.status == 200
                states.append(r.headers["x-clawhost-cache"])
    assert states == ["miss", "hit-l1"] and not host.chain.stats.errors
