"""Anthropic's Messages API inbound, with the real `anthropic` SDK against a real server on
loopback: plain and streamed, tool round trips (a fake OpenAI upstream and a fake Anthropic
upstream that gets the body as sent), errors in Anthropic's shape, x-api-key as the bearer
token, count_tokens, and a cache hit for a question first asked through Chat Completions."""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import pytest

from clawhost.hookspecs import hookimpl
from clawhost.testing import EchoModel
from clawhost.types import Model

WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


@pytest.fixture
async def serve(clawhost_host, clawhost_server):
    clients = []

    async def make(*plugins, config=None, key="k"):
        host = await clawhost_host(*plugins, config=config)
        url = await clawhost_server(host)
        client = anthropic.AsyncAnthropic(base_url=url, api_key=key, max_retries=0, timeout=20)
        clients.append(client)
        return host, url, client

    yield make
    for c in clients:  # closed on the test's loop, not by the GC after it
        await c.close()


def pool(url: str, kind: str = "openai") -> dict:
    return {"plugins": {"connection_pool": {"providers": {"up": {
        "kind": kind, "base_url": url + "/v1" if kind == "openai" else url, "models": ["m1"],
        "retries": {"attempts": 0}}}}}}


async def test_plain_message_with_system_and_turns(serve):
    echo = EchoModel()
    _, _, client = await serve(echo)
    m = await client.messages.create(
        model="echo", max_tokens=50, system="Be brief.", extra_body={"temperature": 0},
        messages=[{"role": "user", "content": "first"},
                  {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                  {"role": "user", "content": [{"type": "text", "text": "say these words"}]}])
    assert m.type == "message" and m.role == "assistant" and m.model == "echo"
    assert [b.type for b in m.content] == ["text"] and m.content[0].text == "say these words"
    assert m.stop_reason == "end_turn" and m.id.startswith("msg_")
    assert m.usage.input_tokens == 3 and m.usage.output_tokens == 3
    short = await client.messages.create(model="echo", max_tokens=2,
                                         messages=[{"role": "user", "content": "one two three"}])
    assert short.content[0].text == "one two" and short.stop_reason == "max_tokens"


async def test_streamed_message_has_anthropics_event_sequence(serve):
    _, _, client = await serve(EchoModel())
    kinds = []
    async with client.messages.stream(model="echo", max_tokens=50,
                                      messages=[{"role": "user", "content": "stream me please"}]) as s:
        async for event in s:
            kinds.append(event.type)
        final = await s.get_final_message()
    assert final.content[0].text == "stream me please" and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3
    # the SDK adds its own derived "text" events; Anthropic's own come in this order
    raw = [k for k in kinds if k != "text"]
    assert raw == ["message_start", "content_block_start", "content_block_delta",
                   "content_block_stop", "message_delta", "message_stop"]


async def test_raw_stream_starts_with_message_start_and_ping(serve):
    _, url, _ = await serve(EchoModel())
    async with aiohttp.ClientSession() as s, s.post(url + "/v1/messages", json={
            "model": "echo", "max_tokens": 9, "stream": True,
            "messages": [{"role": "user", "content": "hi"}]},
            headers={"anthropic-version": "2023-06-01"}) as r:
        body = (await r.read()).decode()
    names = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert names[:2] == ["message_start", "ping"] and names[-1] == "message_stop"
    assert "[DONE]" not in body


async def test_tool_round_trip_through_an_openai_upstream(serve, upstream):
    _, _, client = await serve(config=pool(upstream.url))
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    m = await client.messages.create(model="up/m1", max_tokens=100, tools=[WEATHER],
                                     tool_choice={"type": "any"}, messages=msgs)
    sent = upstream.requests[-1]
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == "required"
    assert m.stop_reason == "tool_use"
    use = [b for b in m.content if b.type == "tool_use"][0]
    assert use.name == "get_weather" and use.input == {"city": "Paris"} and use.id == "call_1"
    msgs += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                           "content": "18 C, sunny"}]}]
    m2 = await client.messages.create(model="up/m1", max_tokens=100, tools=[WEATHER],
                                      messages=msgs)
    sent = upstream.requests[-1]["messages"]
    assert [x["role"] for x in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}
    assert m2.content[0].text == "Hello from the fake upstream." and m2.stop_reason == "end_turn"
    # streamed: the tool call arrives as content_block_start + input_json_delta
    async with client.messages.stream(model="up/m1", max_tokens=100, tools=[WEATHER],
                                      messages=msgs[:1]) as s:
        final = await s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"city": "Paris"}


async def test_an_anthropic_upstream_gets_the_body_as_sent(serve, upstream):
    _, _, client = await serve(config=pool(upstream.url, kind="anthropic"))
    msgs = [{"role": "user", "content": [
        {"type": "text", "text": "Weather?", "cache_control": {"type": "ephemeral"}}]}]
    m = await client.messages.create(model="up/m1", max_tokens=77, tools=[WEATHER],
                                     system="sys", messages=msgs)
    sent = upstream.requests[-1]
    # cache_control cannot travel in the chat shape: it reached the upstream, so no translation
    assert sent["messages"] == msgs and sent["model"] == "m1" and sent["max_tokens"] == 77
    assert sent["system"] == "sys" and sent["tools"] == [WEATHER] and "stream" not in sent
    assert m.content[0].type == "tool_use" and m.content[0].id == "toolu_1"
    async with client.messages.stream(model="up/m1", max_tokens=20, messages=msgs) as s:
        text = "".join([t async for t in s.text_stream])
    assert text == "Hello from the fake upstream." and upstream.requests[-1]["stream"] is True


async def test_errors_come_in_anthropics_shape(serve):
    _, url, client = await serve(EchoModel())
    with pytest.raises(anthropic.NotFoundError) as err:
        await client.messages.create(model="nope", max_tokens=5,
                                     messages=[{"role": "user", "content": "x"}])
    assert err.value.body["type"] == "error"
    assert err.value.body["error"]["type"] == "not_found_error"
    assert "available: echo" in err.value.body["error"]["message"]
    bad = [({"model": "echo", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
           ({"model": "echo", "max_tokens": 5, "messages": []}, "messages"),
           ({"model": "echo", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]},
            "messages.0.role"),
           ({"model": "echo", "max_tokens": 5, "temperature": 1.5,
             "messages": [{"role": "user", "content": "x"}]}, "temperature"),
           ({"model": "echo", "max_tokens": 5, "thinking": {"type": "enabled"},
             "messages": [{"role": "user", "content": "x"}]}, "thinking"),
           ({"model": "echo", "max_tokens": 5, "messages": [
               {"role": "user", "content": [{"type": "video", "url": "x"}]}]}, "messages.0.content")]
    async with aiohttp.ClientSession() as s:
        for body, where in bad:
            async with s.post(url + "/v1/messages", json=body) as r:
                data = await r.json()
                assert r.status == 400, (body, data)
                assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
                msg = data["error"]["message"]
                assert msg.startswith(where) and "\n" not in msg, msg
        async with s.post(url + "/v1/messages", data=b"{not json") as r:
            assert r.status == 400 and (await r.json())["error"]["type"] == "invalid_request_error"
        async with s.post(url + "/v1/messages", json={"model": "echo", "max_tokens": 5,
                          "messages": [{"role": "user", "content": "x"}]},
                          headers={"anthropic-version": "yesterday"}) as r:
            assert r.status == 400 and "anthropic-version" in (await r.json())["error"]["message"]


async def test_x_api_key_is_the_bearer_token(serve):
    config = {"server": {"token": "s3cret-token"}}
    _, _, good = await serve(EchoModel(), config=config, key="s3cret-token")
    m = await good.messages.create(model="echo", max_tokens=5,
                                   messages=[{"role": "user", "content": "hi"}])
    assert m.content[0].text == "hi"
    _, _, bad = await serve(EchoModel(), config=config, key="wrong")
    with pytest.raises(anthropic.AuthenticationError) as err:
        await bad.messages.create(model="echo", max_tokens=5,
                                  messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["error"]["type"] == "authentication_error"
    assert "s3cret" not in str(err.value.body)


# This SDK release no longer has a temperature argument (newer models fix it); older clients
# and raw bodies send it, and the exact cache keeps only deterministic (temperature 0) answers.
T0 = {"temperature": 0}


async def test_same_question_through_chat_completions_then_messages_hits_the_cache(serve):
    echo = EchoModel()
    host, url, client = await serve(echo, config={"plugins": {"cache": {}}}, key="same-key")
    oa = openai.AsyncOpenAI(base_url=url + "/v1", api_key="same-key", max_retries=0)
    try:
        first = await oa.chat.completions.with_raw_response.create(
            model="echo", max_tokens=50, temperature=0, stop=["zzz"],
            messages=[{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "what is cached here"}])
    finally:
        await oa.close()
    assert first.headers["x-clawhost-cache"] == "miss" and echo.calls == 1
    raw = await client.messages.with_raw_response.create(
        model="echo", max_tokens=50, extra_body=T0, stop_sequences=["zzz"], system="Be brief.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "what is cached here"}]}])
    assert raw.headers["x-clawhost-cache"] == "hit-l1" and echo.calls == 1
    assert (await raw.parse()).content[0].text == "what is cached here"
    # streamed through Messages: replayed from the same entry, as Anthropic events
    async with client.messages.stream(model="echo", max_tokens=50, extra_body=T0,
                                      stop_sequences=["zzz"], system="Be brief.",
                                      messages=[{"role": "user", "content": "what is cached here"}]) as s:
        assert (await s.get_final_message()).content[0].text == "what is cached here"
    assert echo.calls == 1
    # another parameter is another answer
    await client.messages.create(model="echo", max_tokens=49, extra_body=T0, system="Be brief.",
                                 stop_sequences=["zzz"],
                                 messages=[{"role": "user", "content": "what is cached here"}])
    assert echo.calls == 2


class Tokenizing:
    """A model whose engine keeps the slot contract's ``prepare``: a local tokenizer."""

    class Engine:
        def new_batch(self, max_slots):
            raise NotImplementedError

        def prepare(self, request):
            words = " ".join(m.text() for m in request.body.messages).split()
            return list(range(len(words) + 3)), None  # 3 template tokens

    @hookimpl
    def clawhost_register_models(self, register):
        register(Model("local-chat", "chat+completion", owner="tok", engine=self.Engine()))


async def test_count_tokens_with_a_local_tokenizer_and_without(serve):
    _, _, client = await serve(EchoModel(), Tokenizing())
    got = await client.messages.count_tokens(
        model="local-chat", system="one two",
        messages=[{"role": "user", "content": "three four five"}])
    assert got.input_tokens == 5 + 3
    with pytest.raises(anthropic.BadRequestError, match="no local tokenizer"):
        await client.messages.count_tokens(model="echo",
                                           messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "x"}])


def test_tool_results_come_before_the_text_of_their_turn():
    from clawhost.protocols.anthropic_messages import MessagesRequest, chat_messages
    body = MessagesRequest.model_validate({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "text", "text": "let me see"},
                                          {"type": "tool_use", "id": "t1", "name": "f", "input": {"b": 1, "a": 2}}]},
        {"role": "user", "content": [{"type": "text", "text": "and"},
                                     {"type": "tool_result", "tool_use_id": "t1", "is_error": True,
                                      "content": [{"type": "text", "text": "boom"}]}]}]})
    got = chat_messages(body)
    assert got[1] == {"role": "assistant", "content": "let me see", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":2,"b":1}'}}]}
    assert got[2:] == [{"role": "tool", "tool_call_id": "t1", "content": "Error: boom"},
                       {"role": "user", "content": "and"}]
