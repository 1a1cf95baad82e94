"""OpenClaw as a real client: its provider snippet, its request shapes, its stream parser.

OpenClaw's `models.providers` entry with `api: openai-completions` sends streaming chat
requests with tools, content parts, tool results and `stream_options.include_usage`, and
reads deltas, tool-call fragments, finish reasons and the final usage chunk. These tests
imitate those shapes without OpenClaw; tests/test_openclaw_real.py runs OpenClaw itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest

from clawhost.host import Host
from clawhost.testing import EchoModel, make_config

from fake_upstream import FakeUpstream

README = Path(__file__).resolve().parents[1] / "README.md"

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city", "strict": False,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]


def openclaw_request(model: str, *, tools=True, history=False) -> dict:
    """The body OpenClaw's openai-completions transport sends for one agent turn."""
    messages = [
        {"role": "system", "content": "You are a personal assistant running inside OpenClaw."},
        {"role": "user", "content": [{"type": "text", "text": "What's the weather in Paris?"}]},
    ]
    if history:
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
        ]
    body = {"model": model, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True}, "store": False,
            "max_completion_tokens": 256, "temperature": 0}
    if tools:
        body["tools"] = TOOLS
    return body


async def parse_like_openclaw(resp: aiohttp.ClientResponse) -> dict:
    """What OpenClaw keeps from a stream: text, tool calls by index, stop reason, usage."""
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    text, calls, stop, usage, done = [], {}, None, None, False
    async for raw in resp.content:
        line = raw.decode().strip()
        if not line:
            continue
        assert line.startswith("data: "), line
        data = line[6:]
        if data == "[DONE]":
            done = True
            continue
        chunk = json.loads(data)
        assert "error" not in chunk, chunk
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice.get("delta") or {}
            text.append(delta.get("content") or "")
            for tc in delta.get("tool_calls") or []:
                slot = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] = tc.get("id") or slot["id"]
                slot["name"] += (tc.get("function") or {}).get("name") or ""
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
            stop = {"stop": "stop", "length": "length", "tool_calls": "toolUse"}.get(
                choice.get("finish_reason"), stop)
    assert done, "stream must end with data: [DONE]"
    return {"text": "".join(text), "tool_calls": [calls[i] for i in sorted(calls)],
            "stop": stop, "usage": usage}


@pytest.fixture
async def served(tmp_path, clawhost_server):
    upstream = FakeUpstream("openai", key="sk-test-upstream")
    base = await upstream.start()
    config = make_config(tmp_path / "ws", {"plugins": {"connection_pool": {"providers": {
        "openai": {"base_url": base + "/v1", "api_key": "sk-test-upstream",
                   "models": ["gpt-4o-mini"]}}}}})
    host = Host(config, extra_plugins=[("echo", EchoModel())])
    await host.start()
    url = await clawhost_server(host)
    yield url, upstream
    await host.stop()
    await upstream.stop()


def test_readme_documents_the_openclaw_provider_snippet():
    text = README.read_text()
    assert '"baseUrl": "http://127.0.0.1:8787/v1"' in text
    assert '"api": "openai-completions"' in text
    snippet = re.search(r"```json5?\n(\{.*?\"providers\".*?)\n```", text, re.S)
    assert snippet, "README needs the models.providers snippet as a json block"
    config = json.loads(snippet.group(1))
    provider = config["models"]["providers"]["clawhost"]
    assert provider["baseUrl"] == "http://127.0.0.1:8787/v1"
    assert provider["api"] == "openai-completions"
    assert {m["id"] for m in provider["models"]} >= {"smollm2-135m-instruct"}


async def test_tool_call_streams_through_unchanged_from_a_remote_provider(served):
    url, upstream = served
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json=openclaw_request("openai/gpt-4o-mini")) as r:
            assert r.status == 200
            got = await parse_like_openclaw(r)
    assert got["stop"] == "toolUse"
    assert got["tool_calls"] == [{"id": "call_1", "name": "get_weather",
                                  "arguments": "{\"city\": \"Paris\"}"}]
    assert got["usage"]["prompt_tokens"] == 7
    sent = upstream.requests[-1]
    assert sent["tools"] == TOOLS and sent["messages"][1]["content"][0]["type"] == "text"


async def test_tool_result_turn_gets_text_answer(served):
    url, upstream = served
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions",
                          json=openclaw_request("openai/gpt-4o-mini", history=True)) as r:
            got = await parse_like_openclaw(r)
    assert got["stop"] == "stop" and got["text"] == "Hello from the fake upstream."
    assert upstream.requests[-1]["messages"][-1] == {
        "role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}


async def test_plain_streaming_turn_from_a_local_model_parses(served):
    url, _ = served
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json=openclaw_request("echo", tools=False)) as r:
            got = await parse_like_openclaw(r)
    assert got["text"] == "What's the weather in Paris?" and got["stop"] == "stop"
    assert got["usage"] and got["usage"]["total_tokens"] > 0
