"""OpenClaw 2026.9.6 itself as clawhost's client: real agent turns and memory searches (slow).

OpenClaw and Node 24 come from npm (``.ci/install-openclaw``, cached; CI runs it first). Its
config is README.md's JSON blocks, as written but for the port. A fake OpenAI-compatible
upstream on loopback stands in for the remote model behind clawhost's connection_pool; it
answers with text, or with a call to OpenClaw's ``read`` tool when the user says USE_TOOL.
The local models are the real SmolLM2-135M and all-MiniLM-L6-v2, prepared once per test run
(conftest's real_models).
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from clawhost.api import CACHE_RESULT, FALLBACK, PROVIDER, SOURCE_BODY, USAGE, hookimpl
from clawhost.host import Host
from clawhost.testing import make_config

import openclaw_env
from conftest import workspace_with
from fake_upstream import FakeUpstream

# each real turn takes 20-90 s on a shared 2-core box; OpenClaw retries a failing model
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
CHAT, EMBED, REMOTE = "smollm2-135m-instruct", "all-minilm-l6-v2", "openai/gpt-4o-mini"
CLOCK = "2026-01-01T09:00:00Z"


@pytest.fixture(scope="module")
def openclaw_path() -> dict:
    try:
        return openclaw_env.install()
    except openclaw_env.Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def models(tmp_path_factory, real_models) -> dict:
    """The chat and embedding models (prepared once per run), in this module's workspace."""
    ws = workspace_with(real_models, tmp_path_factory.mktemp("openclaw_models") / "ws")
    return {"workspace": ws, "section": real_models["section"]}


class Recorder:
    """Every request clawhost finished: model, cache result, provider, fallback, usage."""

    def __init__(self):
        self.rows: list[dict] = []

    @hookimpl
    def clawhost_request_finished(self, request, reply, error):
        n = request.notes
        usage = (reply.body or {}).get("usage") if reply is not None and reply.body else None
        self.rows.append({
            "model": request.body.model, "kind": request.kind, "cache": n.get(CACHE_RESULT),
            "provider": n.get(PROVIDER), "fallback": n.get(FALLBACK),
            "usage": usage or n.get(USAGE), "error": repr(error) if error else None,
            "tools": bool(getattr(request.body, "tools", None)),
            "max_tokens": getattr(request.body, "token_limit", None)})


@pytest.fixture
async def stack(models, clawhost_server, tmp_path):
    """A fake remote model, clawhost in front of it (the real local models too), a recorder."""
    upstream = FakeUpstream("openai", key="sk-test-upstream", script=openclaw_env.agent_script)
    base = await upstream.start()
    config = make_config(models["workspace"], {"plugins": {
        "monitor": {}, "cache": {"l2": {"backend": "none"}}, "batcher": {},
        "quantized_model": models["section"],
        "connection_pool": {
            "providers": {"openai": {"base_url": base + "/v1", "api_key": "sk-test-upstream",
                                     "models": ["gpt-4o-mini"], "retries": 0}},
            "fallbacks": {REMOTE: [CHAT]}}}})
    recorder = Recorder()
    host = Host(config, extra_plugins=[("recorder", recorder)])
    await host.start()
    assert host.readiness()["models"][CHAT] == "ready"
    url = await clawhost_server(host)
    yield {"url": url, "upstream": upstream, "recorder": recorder, "host": host}
    await host.stop()
    await upstream.stop()


async def stats(url: str) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v1/stats?window=900") as r:
            return (await r.json())["totals"]


async def test_remote_primary_tool_call_round_trip_then_repeat_is_a_cache_hit(
        stack, openclaw_path, tmp_path):
    """README pattern 1 as written: a turn whose model calls a tool, then the same turn again."""
    url, upstream, rec = stack["url"], stack["upstream"], stack["recorder"]
    claw = openclaw_env.OpenClaw(tmp_path / "home", openclaw_path,
                                 openclaw_env.config(["provider"], url))
    claw.snapshot(tmp_path / "pristine")
    message = "USE_TOOL: read note.txt and tell me what it says."

    first = await claw.turn(message, pin_clock=CLOCK)
    meta = first["meta"]["agentMeta"]
    assert (meta["provider"], meta["model"]) == ("clawhost", REMOTE)
    # the tool call went out, OpenClaw ran `read`, and the file's text came back to the model
    assert len(upstream.requests) == 2, [r["messages"][-1] for r in upstream.requests]
    assert upstream.requests[0]["temperature"] == 0 and upstream.requests[0]["tools"]
    tool_msg = next(m for m in upstream.requests[1]["messages"] if m["role"] == "tool")
    assert tool_msg["tool_call_id"] == "callread1"  # OpenClaw keeps [A-Za-z0-9] ids as sent
    assert openclaw_env.NOTE in openclaw_env._text(tool_msg["content"])
    assert openclaw_env.NOTE in openclaw_env.reply_text(first)
    # usage: OpenClaw got it from clawhost's stream, and clawhost's monitor counted it
    assert meta["usage"]["input"] > 0 and meta["usage"]["output"] > 0
    remote = [r for r in rec.rows if r["model"] == REMOTE]
    assert [r["cache"] for r in remote] == ["miss", "miss"]
    assert all(r["provider"] == "openai" and r["usage"]["prompt_tokens"] > 0 for r in remote)
    before = await stats(url)
    assert before["tokens_in"] >= sum(r["usage"]["prompt_tokens"] for r in remote)

    # the same turn from the same state: both calls are answered from the cache
    claw.restore(tmp_path / "pristine")
    again = await claw.turn(message, pin_clock=CLOCK)
    assert openclaw_env.reply_text(again) == openclaw_env.reply_text(first)
    assert len(upstream.requests) == 2, "a repeated identical turn must not reach the upstream"
    assert [r["cache"] for r in rec.rows if r["model"] == REMOTE][2:] == ["hit-l1", "hit-l1"]
    after = await stats(url)
    assert after["cache"]["hit-l1"] - before["cache"]["hit-l1"] == 2


async def test_failover_to_the_local_model_when_the_upstream_fails(stack, openclaw_path, tmp_path):
    """Pattern 1 plus pattern 2's lean prompt settings, remote primary kept: the upstream
    answers 500, clawhost fails over to SmolLM2 and OpenClaw's turn still succeeds."""
    url, upstream, rec = stack["url"], stack["upstream"], stack["recorder"]
    cfg = openclaw_env.config(["provider", "local"], url)
    cfg["agents"]["defaults"]["model"] = {"primary": "clawhost/" + REMOTE}
    claw = openclaw_env.OpenClaw(tmp_path / "home", openclaw_path, cfg)
    upstream.faults += ["500"] * 20
    result = await claw.turn("Say hello in five words.")
    assert result["meta"]["agentMeta"]["model"] == REMOTE
    assert openclaw_env.reply_text(result).strip()
    assert upstream.requests, "the remote primary was tried first"
    answered = [r for r in rec.rows if r["model"] == REMOTE and r["error"] is None]
    assert answered and answered[-1]["fallback"] == CHAT
    local = [r for r in rec.rows if r["model"] == CHAT]
    assert local and local[-1]["usage"]["prompt_tokens"] < 8192


async def test_local_model_lean_turn_and_memory_search_with_local_embeddings(
        stack, openclaw_path, tmp_path):
    """README patterns 2 and 3 as written: an agent turn on SmolLM2 inside its 8,192-token
    context, and OpenClaw's memory index and search on clawhost's all-MiniLM-L6-v2."""
    url, upstream, rec = stack["url"], stack["upstream"], stack["recorder"]
    claw = openclaw_env.OpenClaw(tmp_path / "home", openclaw_path,
                                 openclaw_env.config(["provider", "local", "memory"], url))
    result = await claw.turn("Name three colours.")
    meta = result["meta"]["agentMeta"]
    assert (meta["provider"], meta["model"]) == ("clawhost", CHAT)
    assert openclaw_env.reply_text(result).strip()
    local = [r for r in rec.rows if r["model"] == CHAT]
    assert local and all(r["error"] is None for r in local)
    assert not any(r["tools"] for r in local), "compat.supportsTools false sends no tools"
    assert all(r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] <= 8192
               for r in local)
    assert not upstream.requests

    (claw.workspace / "MEMORY.md").write_text(
        "# Notes\n\nMy sister Ada lives in Lisbon and likes sailing.\n")
    (claw.workspace / "memory").mkdir(exist_ok=True)
    (claw.workspace / "memory" / "2026-01-02.md").write_text(
        "Bought tomatoes and basil for Friday's pasta.\n")
    code, out, err = await claw.run("memory", "index", "--force", timeout=300)
    assert code == 0, out + err
    embedded = [r for r in rec.rows if r["model"] == EMBED]
    assert embedded and all(r["error"] is None for r in embedded)
    code, out, err = await claw.run("memory", "search", "which city is my sister in", "--json",
                                    timeout=300)
    assert code == 0, out + err
    hits = json.loads(out[out.index("{"):])["results"]
    assert hits and "Lisbon" in hits[0]["snippet"]
    assert hits[0]["vectorScore"] > 0, "ranked by the local embeddings, not text alone"
    assert len([r for r in rec.rows if r["model"] == EMBED]) > len(embedded)


class Inbound:
    """The protocol each finished request came in by (``SOURCE_BODY``'s first item)."""

    def __init__(self):
        self.protocols: list[str] = []

    @hookimpl
    def clawhost_request_finished(self, request, reply, error):
        source = request.notes.get(SOURCE_BODY)
        self.protocols.append(source[0] if source else "openai")


async def test_anthropic_messages_provider_completes_a_tool_turn(clawhost_server, openclaw_path,
                                                                 tmp_path):
    """An OpenClaw provider with ``api: "anthropic-messages"`` pointed at clawhost: the agent
    turn's model call, OpenClaw's ``read`` tool and the answer all go through /v1/messages,
    translated to the fake OpenAI-compatible upstream behind clawhost and back."""
    upstream = FakeUpstream("openai", key="sk-test-upstream", script=openclaw_env.agent_script)
    base = await upstream.start()
    inbound = Inbound()
    host = Host(make_config(tmp_path / "ws", {"plugins": {
        "cache": {"l2": {"backend": "none"}},
        "connection_pool": {"providers": {"openai": {
            "base_url": base + "/v1", "api_key": "sk-test-upstream", "models": ["gpt-4o-mini"],
            "retries": 0}}}}}), extra_plugins=[("inbound", inbound)])
    await host.start()
    try:
        url = await clawhost_server(host)
        cfg = openclaw_env.config(["provider"], url)
        provider = cfg["models"]["providers"]["clawhost"]
        provider["api"] = "anthropic-messages"
        provider["models"] = [m for m in provider["models"] if m["id"] == REMOTE]
        claw = openclaw_env.OpenClaw(tmp_path / "home", openclaw_path, cfg)
        result = await claw.turn("USE_TOOL: read note.txt and tell me what it says.",
                                 pin_clock=CLOCK)
        meta = result["meta"]["agentMeta"]
        assert (meta["provider"], meta["model"]) == ("clawhost", REMOTE)
        assert len(upstream.requests) == 2, [r["messages"][-1] for r in upstream.requests]
        assert upstream.requests[0]["tools"]
        # the tool_use went back to OpenClaw as Anthropic's block and its tool_result came in
        tool_msg = next(m for m in upstream.requests[1]["messages"] if m["role"] == "tool")
        assert tool_msg["tool_call_id"] == "callread1"
        assert openclaw_env.NOTE in openclaw_env._text(tool_msg["content"])
        assert openclaw_env.NOTE in openclaw_env.reply_text(result)
        assert inbound.protocols == ["anthropic_messages", "anthropic_messages"]
        assert meta["usage"]["input"] > 0 and meta["usage"]["output"] > 0
    finally:
        await host.stop()
        await upstream.stop()
