"""Structured output on the local model: JSON mode, JSON Schema and forced tool calls by
grammar-constrained decoding (llguidance), through real HTTP with real clients (issue 20).

The request parsing and the tool-call reshaping are tested without a model; the rest runs
the real SmolLM2-135M (prepared once for the module) behind the default chain (batcher in
front of quantized_model), with the openai SDK, LangChain and plain aiohttp.
"""
from __future__ import annotations

import asyncio
import json
from enum import Enum

import aiohttp
import jsonschema
import pytest
from openai import AsyncOpenAI, LengthFinishReasonError
from pydantic import BaseModel, Field

from clawhost.api import BadRequest, ChatRequest, ModelRequest, streaming
from clawhost.host import Host
from clawhost.plugins.quantized_model.constrained import ToolCallReply, structured_request
from clawhost.testing import make_config

from conftest import workspace_with
from fake_upstream import FakeUpstream

# preparing the model takes minutes on a busy 2-core box; each real answer seconds
pytestmark = pytest.mark.timeout(900)
CHAT = "smollm2-135m-instruct"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "unit"], "additionalProperties": False}}}
SEARCH = {"type": "function", "function": {
    "name": "search_web", "description": "Search the web.",
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 10}},
        "required": ["query", "limit"]}}}
ORDER = {"type": "object", "properties": {
    "customer": {"type": "object", "properties": {
        "name": {"type": "string"}, "email": {"type": "string", "pattern": "^[a-z]+@[a-z]+\\.com$"}},
        "required": ["name", "email"], "additionalProperties": False},
    "items": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
        "type": "object", "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
                                         "qty": {"type": "integer", "minimum": 1}},
        "required": ["sku", "qty"], "additionalProperties": False}},
    "priority": {"enum": ["low", "normal", "high"]}, "note": {"type": "string"}},
    "required": ["customer", "items", "priority"], "additionalProperties": False}


# -- without a model: what a request asks for, and the tool-call reply shape ----------------

def _body(**kw) -> ChatRequest:
    return ChatRequest(model=CHAT, messages=[{"role": "user", "content": "hi"}], **kw)


def test_requests_map_to_schemas_and_bad_shapes_are_one_line_400s():
    assert structured_request(_body()) is None
    assert structured_request(_body(response_format={"type": "text"})) is None
    assert structured_request(_body(response_format={"type": "json_object"})).schema == {
        "type": "object"}
    s = structured_request(_body(response_format={"type": "json_schema", "json_schema": {
        "name": "order", "schema": ORDER, "strict": True}}))
    assert s.schema == ORDER and s.tools is None and '"priority"' in s.instruction
    # tools with auto: free text (the tools are ignored, as before); required: one call
    assert structured_request(_body(tools=[WEATHER], tool_choice="auto")) is None
    s = structured_request(_body(tools=[WEATHER, SEARCH], tool_choice="required"))
    assert s.tools == ["get_weather", "search_web"] and len(s.schema["anyOf"]) == 2
    s = structured_request(_body(tools=[WEATHER, SEARCH], tool_choice={
        "type": "function", "function": {"name": "search_web"}}))
    assert s.tools == ["search_web"]
    assert s.schema["properties"]["name"] == {"const": "search_web"}
    for kw, words in [
        ({"response_format": {"type": "yaml"}}, "'yaml' is not one of"),
        ({"response_format": {"type": "json_schema"}}, "json_schema: required"),
        ({"response_format": {"type": "json_schema", "json_schema": {"schema": [1]}}},
         "must be a JSON Schema object"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}},
         "'x' is not one of the tools (get_weather)"),
    ]:
        with pytest.raises(BadRequest) as err:
            structured_request(_body(**kw))
        assert words in str(err.value) and "\n" not in str(err.value)


CALL = '{"name":"get_weather","arguments":{"city":"Paris \\"}\\" Nord","unit":"c"}}'


def _stream(text: str, cut: int, finish: str) -> list[dict]:
    """`text` as a chat stream split at `cut` and in 3-character pieces after it."""
    pieces = [text[:cut]] + [text[i:i + 3] for i in range(cut, len(text), 3)]
    out = [streaming.chat_chunk("c", CHAT, 0, {"role": "assistant", "content": ""})]
    out += [streaming.chat_chunk("c", CHAT, 0, {"content": p}) for p in pieces if p]
    return out + [streaming.chat_chunk("c", CHAT, 0, {}, finish)]


async def _reshaped(chunks: list[dict]) -> dict:
    async def source():
        for c in chunks:
            yield c
    req = ModelRequest(kind="chat", body=_body())
    return streaming.merge_chunks(req, [c async for c in ToolCallReply().chunks(source())])


async def test_tool_call_reply_shapes_bodies_and_streams_split_anywhere():
    body = ToolCallReply().body(streaming.chat_completion(CHAT, CALL))
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls" and message["content"] is None
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "get_weather" and call["id"].startswith("call_")
    assert json.loads(call["function"]["arguments"]) == {"city": 'Paris "}" Nord', "unit": "c"}
    for cut in range(len(CALL) + 1):  # wherever the pieces fall, the same call comes out
        merged = await _reshaped(_stream(CALL, cut, "stop"))
        assert merged["choices"][0]["finish_reason"] == "tool_calls"
        (got,) = merged["choices"][0]["message"]["tool_calls"]
        assert got["function"]["name"] == "get_weather", cut
        assert got["function"]["arguments"] == call["function"]["arguments"], cut
    # cut by max_tokens: finish_reason "length" and the partial text, never a made-up call
    cut_body = ToolCallReply().body(streaming.chat_completion(CHAT, CALL[:30],
                                                              finish_reason="length"))
    assert cut_body["choices"][0]["finish_reason"] == "length"
    assert cut_body["choices"][0]["message"]["content"] == CALL[:30]
    merged = await _reshaped(_stream(CALL[:20], 5, "length"))
    assert merged["choices"][0]["finish_reason"] == "length"
    assert merged["choices"][0]["message"]["content"] == CALL[:20]


# -- the real model over HTTP --------------------------------------------------------------

@pytest.fixture(scope="module")
def workspace(tmp_path_factory, real_models) -> dict:
    """The real SmolLM2 (prepared once per run) in this module's workspace."""
    ws = workspace_with(real_models, tmp_path_factory.mktemp("structured") / "ws", CHAT)
    return {"ws": ws, "section": {"models": {CHAT: real_models["section"]["models"][CHAT]}}}


@pytest.fixture
async def server(workspace, clawhost_server):
    """clawhost as configured by default (batcher before quantized_model), and a fake
    remote provider behind connection_pool."""
    upstream = FakeUpstream("openai", key="sk-up")
    base = await upstream.start()
    host = Host(make_config(workspace["ws"], {"plugins": {
        "cache": {"l2": {"backend": "none"}}, "batcher": {},
        "quantized_model": workspace["section"],
        "connection_pool": {"providers": {"up": {"base_url": base + "/v1", "api_key": "sk-up",
                                                 "models": ["gpt-x"], "retries": 0}}}}}))
    await host.start()
    assert host.readiness()["models"][CHAT] == "ready"
    url = await clawhost_server(host)
    client = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=600)
    yield {"url": url, "client": client, "upstream": upstream}
    await client.close()
    await host.stop()
    await upstream.stop()


class Unit(str, Enum):
    c = "c"
    f = "f"


class City(BaseModel):
    name: str
    country: str
    population_millions: float
    landmarks: list[str] = Field(max_length=3)
    unit: Unit


USER = [{"role": "user", "content": "Tell me about Paris, the capital of France."}]


@pytest.mark.slow
async def test_openai_sdk_parse_with_a_pydantic_model(server):
    client = server["client"]
    raw = await client.beta.chat.completions.with_raw_response.parse(
        model=CHAT, messages=USER, response_format=City, temperature=0, max_tokens=200)
    assert raw.headers["x-clawhost-structured"] == "json"
    done = raw.parse()
    assert done.choices[0].finish_reason == "stop"
    city = done.choices[0].message.parsed
    assert isinstance(city, City) and len(city.landmarks) <= 3
    # json_object mode: any one JSON object, sampled (temperature 0.8) and still valid
    for seed in range(3):
        r = await client.chat.completions.create(
            model=CHAT, messages=USER, response_format={"type": "json_object"},
            temperature=0.8, seed=seed, max_tokens=200)
        if r.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(r.choices[0].message.content), dict)
    # too few tokens: finish_reason "length", which the SDK turns into an error, not a parse
    with pytest.raises(LengthFinishReasonError):
        await client.beta.chat.completions.parse(model=CHAT, messages=USER, response_format=City,
                                                 temperature=0, max_tokens=5)


@pytest.mark.slow
async def test_json_schema_nested_arrays_enums_patterns_whole_and_streamed(server):
    client = server["client"]
    fmt = {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER, "strict": True}}
    msgs = [{"role": "user", "content": "Alice (alice@shop.com) orders 2 of ABC-123, urgently."}]
    r = await client.chat.completions.create(model=CHAT, messages=msgs, response_format=fmt,
                                             temperature=0, max_tokens=300)
    assert r.choices[0].finish_reason == "stop"
    whole = json.loads(r.choices[0].message.content)
    jsonschema.validate(whole, ORDER)
    # another max_tokens: another cache key, so the stream is generated, not replayed
    stream = await client.chat.completions.create(model=CHAT, messages=msgs, response_format=fmt,
                                                  temperature=0, max_tokens=299, stream=True)
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert len([p for p in pieces if p]) > 3  # streamed as it decodes, not in one piece
    assert json.loads("".join(pieces)) == whole  # the same greedy answer


@pytest.mark.slow
async def test_tool_choice_required_and_named_whole_and_streamed(server):
    client = server["client"]
    msgs = [{"role": "user", "content": "What's the weather in Lyon, in celsius?"}]
    r = await client.chat.completions.create(model=CHAT, messages=msgs, tools=[WEATHER, SEARCH],
                                             tool_choice="required", temperature=0, max_tokens=120)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in (WEATHER, SEARCH)}
    jsonschema.validate(json.loads(call.function.arguments), schemas[call.function.name])
    # a named function: that one, even where the question suits the other
    named = {"type": "function", "function": {"name": "search_web"}}
    r = await client.chat.completions.create(model=CHAT, messages=msgs, tools=[WEATHER, SEARCH],
                                             tool_choice=named, temperature=0, max_tokens=120)
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "search_web"
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, schemas["search_web"])
    # streamed: the name first, the arguments in pieces, OpenAI's delta shape
    stream = await client.chat.completions.create(
        model=CHAT, messages=msgs, tools=[WEATHER, SEARCH], tool_choice=named, temperature=0,
        max_tokens=119, stream=True)  # not the cached reply of the call above
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks
              if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0].function.name == "search_web" and deltas[0].id.startswith("call_")
    assert len(deltas) > 2
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == args
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # the assembled stream is a proper message for the next turn: the tool result goes back
    follow = msgs + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                     {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"}]
    r = await client.chat.completions.create(model=CHAT, messages=follow, tools=[WEATHER, SEARCH],
                                             temperature=0, max_tokens=30)
    assert r.choices[0].message.content and not r.choices[0].message.tool_calls


@pytest.mark.slow
async def test_langchain_with_structured_output(server):
    from langchain_openai import ChatOpenAI
    llm = ChatOpenAI(model=CHAT, base_url=server["url"] + "/v1", api_key="unused", temperature=0,
                     max_tokens=200, max_retries=0)
    for method in ("json_schema", "function_calling"):  # response_format, then a named tool
        city = await llm.with_structured_output(City, method=method).ainvoke(
            "Tell me about Rome, the capital of Italy.")
        assert isinstance(city, City), method


@pytest.mark.slow
async def test_bad_schema_is_a_one_line_400_and_others_are_served(server):
    url = server["url"]
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}}}}
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json={
                "model": CHAT, "messages": USER, "response_format": bad}) as r:
            assert r.status == 400
            err = (await r.json())["error"]
        assert err["param"] == "response_format" and "\n" not in err["message"]
        assert 'Unimplemented keys: ["if", "then"]' in err["message"]
        tools = [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"a": {"type": "string", "pattern": "(?<=x)a"}}}}}]
        async with s.post(url + "/v1/chat/completions", json={
                "model": CHAT, "messages": USER, "tools": tools, "tool_choice": "required"}) as r:
            assert r.status == 400
            err = (await r.json())["error"]
        assert err["param"] == "tools" and "look-around" in err["message"]
    r = await server["client"].chat.completions.create(model=CHAT, messages=USER, max_tokens=8)
    assert r.choices[0].message.content


@pytest.mark.slow
async def test_constrained_and_free_slots_decode_side_by_side(server):
    """Sharing the batch with a constrained sequence changes nothing for a free-text one:
    the mask is per slot."""
    client = server["client"]
    free = dict(model=CHAT, messages=[{"role": "user", "content": "Name three colours."}],
                temperature=0, max_tokens=40)
    alone = (await client.chat.completions.create(**free)).choices[0].message.content
    fmt = {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER}}
    order = [{"role": "user", "content": "Alice (alice@shop.com) orders 2 of ABC-123, urgently."}]
    together = await asyncio.gather(
        client.chat.completions.create(model=CHAT, messages=order, response_format=fmt,
                                       temperature=0, max_tokens=300),
        client.chat.completions.create(**free))
    jsonschema.validate(json.loads(together[0].choices[0].message.content), ORDER)
    assert together[1].choices[0].message.content == alone


@pytest.mark.slow
async def test_remote_models_get_response_format_and_tool_choice_unchanged(server):
    client, up = server["client"], server["upstream"]
    fmt = {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER, "strict": True}}
    await client.chat.completions.create(model="up/gpt-x", messages=USER, response_format=fmt)
    assert up.requests[-1]["response_format"] == fmt
    named = {"type": "function", "function": {"name": "search_web"}}
    await client.chat.completions.create(model="up/gpt-x", messages=USER,
                                         tools=[WEATHER, SEARCH], tool_choice=named)
    assert up.requests[-1]["tool_choice"] == named
    assert up.requests[-1]["tools"] == [WEATHER, SEARCH]


@pytest.mark.slow
async def test_a_number_cannot_run_away_until_max_tokens(server):
    """Asked for many digits, the model still closes the object: at most MAX_DIGITS digits
    in a row when the grammar allows anything else (a sampled number used to run to 300
    digits and be cut by max_tokens)."""
    from clawhost.plugins.quantized_model.constrained import MAX_DIGITS
    schema = {"type": "object", "properties": {"pi": {"type": "number"}}, "required": ["pi"],
              "additionalProperties": False}
    r = await server["client"].chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Write pi to 500 digits."}],
        response_format={"type": "json_schema", "json_schema": {"name": "pi", "schema": schema}},
        temperature=0, max_tokens=120)
    assert r.choices[0].finish_reason == "stop"
    text = r.choices[0].message.content
    assert isinstance(json.loads(text)["pi"], (int, float))
    import re
    assert max(len(d) for d in re.findall("[0-9]+", text)) <= MAX_DIGITS
