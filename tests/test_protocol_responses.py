"""OpenAI's Responses API inbound, with the real `openai` SDK against a real server on
loopback: plain and streamed (typed events), instructions, function-call round trips through
a fake upstream, previous_response_id from the store (scoped by tenant, store: false, TTL),
and errors."""

from __future__ import annotations

import asyncio
import aiohttp
import openai
import pytest

from clawhost.testing import EchoModel

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
async def serve(clawhost_host, clawhost_server):
    clients = []

    async def make(*plugins, config=None):
        host = await clawhost_host(*plugins, config=config)
        url = await clawhost_server(host)

        def client(key="k"):
            c = openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)
            clients.append(c)
            return c
        return host, url, client

    yield make
    for c in clients:
        await c.close()


def pool(url: str) -> dict:
    return {"plugins": {"connection_pool": {"providers": {"up": {
        "kind": "openai", "base_url": url + "/v1", "models": ["m1"], "retries": {"attempts": 0}}}}}}


async def test_plain_response_with_instructions_and_usage(serve, upstream):
    _, _, client = await serve(config=pool(upstream.url))
    r = await client().responses.create(model="up/m1", input="Hi", instructions="Be brief.",
                                        max_output_tokens=40, temperature=0)
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.output_text == "Hello from the fake upstream."
    assert r.output[0].type == "message" and r.output[0].content[0].type == "output_text"
    assert r.usage.input_tokens == 7 and r.usage.output_tokens == 6 and r.usage.total_tokens == 13
    sent = upstream.requests[-1]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Hi"}]
    assert sent["max_tokens"] == 40 and sent["temperature"] == 0


async def test_streamed_response_has_the_typed_events(serve):
    _, _, client = await serve(EchoModel())
    stream = await client().responses.create(model="echo", input="three word answer", stream=True)
    events = [e async for e in stream]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for k in ("response.output_item.added", "response.content_part.added",
              "response.output_text.delta", "response.output_text.done",
              "response.content_part.done", "response.output_item.done"):
        assert k in kinds, k
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "three word answer"
    done = events[-1].response
    assert done.output_text == "three word answer" and done.usage.output_tokens == 3
    # the SDK's own accumulator agrees
    async with client().responses.stream(model="echo", input="again") as s:
        final = await s.get_final_response()
    assert final.output_text == "again"


async def test_function_call_round_trip(serve, upstream):
    _, _, client = await serve(config=pool(upstream.url))
    c = client()
    r = await c.responses.create(model="up/m1", input="Weather in Paris?", tools=[WEATHER],
                                 tool_choice="required")
    call = [o for o in r.output if o.type == "function_call"][0]
    assert call.name == "get_weather" and call.call_id == "call_1"
    assert call.arguments == '{"city": "Paris"}'
    assert upstream.requests[-1]["tools"][0]["function"]["name"] == "get_weather"
    assert upstream.requests[-1]["tool_choice"] == "required"
    r2 = await c.responses.create(model="up/m1", tools=[WEATHER], input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 C"}])
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}
    assert r2.output_text == "Hello from the fake upstream."
    # the same round trip by previous_response_id: the stored turn carries the call
    r3 = await c.responses.create(model="up/m1", tools=[WEATHER], previous_response_id=r.id,
                                  input=[{"type": "function_call_output", "call_id": "call_1",
                                          "output": "18 C"}])
    assert upstream.requests[-1]["messages"] == sent and r3.output_text == r2.output_text
    # streamed: the call arrives as output_item.added + function_call_arguments events
    stream = await c.responses.create(model="up/m1", input="Weather?", tools=[WEATHER],
                                      stream=True)
    events = [e async for e in stream]
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    out = events[-1].response.output
    assert out[0].type == "function_call" and out[0].arguments == '{"city": "Paris"}'


async def test_previous_response_id_continues_only_for_its_tenant(serve, upstream):
    host, url, client = await serve(config=pool(upstream.url))
    alice, bob = client("alice"), client("bob")
    r1 = await alice.responses.create(model="up/m1", input="My name is Ada.", instructions="I1")
    r2 = await alice.responses.create(model="up/m1", input="What is my name?",
                                      previous_response_id=r1.id, instructions="I2")
    # instructions are not carried over (as at OpenAI); the conversation is
    assert upstream.requests[-1]["messages"] == [
        {"role": "system", "content": "I2"}, {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello from the fake upstream."},
        {"role": "user", "content": "What is my name?"}]
    s = await alice.responses.create(model="up/m1", input="and now?", previous_response_id=r2.id,
                                     stream=True)
    last = [e async for e in s][-1].response
    await alice.responses.create(model="up/m1", input="more", previous_response_id=last.id)
    assert len(upstream.requests[-1]["messages"]) == 7  # 3 turns and their answers, then this
    with pytest.raises(openai.BadRequestError, match="not found") as err:
        await bob.responses.create(model="up/m1", input="x", previous_response_id=r1.id)
    assert err.value.body["param"] == "previous_response_id"
    r4 = await alice.responses.create(model="up/m1", input="secret", store=False)
    with pytest.raises(openai.BadRequestError):
        await alice.responses.create(model="up/m1", input="x", previous_response_id=r4.id)
    assert (host.workspace / ".cache" / "responses" / "store.db").is_file()


def test_the_store_expires_and_survives_a_damaged_row(tmp_path):
    from clawhost.protocols.response_store import ResponseStore
    store = ResponseStore(tmp_path, ttl_s=-1)
    store.put("r1", "t", [{"role": "user", "content": "x"}])
    assert store.get("r1", "t") is None       # already expired
    store.ttl_s = 60
    store.put("r2", "t", [{"role": "user", "content": "x"}])
    assert store.get("r2", "t") == [{"role": "user", "content": "x"}]
    assert store.get("r2", "other") is None
    store.db.execute("UPDATE responses SET messages = '{broken' WHERE id = 'r2'")
    assert store.get("r2", "t") is None
    store.close()


async def test_errors_are_one_line_400s_in_openais_shape(serve):
    _, url, client = await serve(EchoModel())
    with pytest.raises(openai.NotFoundError, match="available: echo"):
        await client().responses.create(model="nope", input="x")
    bad = [({"model": "echo"}, "input"),
           ({"model": "echo", "input": [{"type": "bogus"}]}, "input.0"),
           ({"model": "echo", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
           ({"model": "echo", "input": "x", "tools": [{"type": "web_search"}]}, "tools.0"),
           ({"model": "echo", "input": "x", "reasoning": {"effort": "high"}}, "reasoning"),
           ({"model": "echo", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input.0")]
    async with aiohttp.ClientSession() as s:
        for body, where in bad:
            async with s.post(url + "/v1/responses", json=body) as r:
                data = await r.json()
                assert r.status == 400, (body, data)
                msg = data["error"]["message"]
                assert msg.startswith(where) and "\n" not in msg, (where, msg)


async def test_the_store_batches_writes_and_a_clean_close_keeps_them(tmp_path):
    from clawhost.protocols.response_store import FLUSH_AFTER_S, ResponseStore
    store = ResponseStore(tmp_path)
    turn = [{"role": "user", "content": "x"}]
    for i in range(3):
        store.put(f"r{i}", "t", turn)
    assert store.get("r1", "t") == turn and store.get("r1", "u") is None  # readable at once
    on_disk = lambda: store.db.execute("SELECT count(*) FROM responses").fetchone()[0]  # noqa: E731
    assert on_disk() == 0  # one commit for the three, a moment later
    await asyncio.sleep(FLUSH_AFTER_S * 3)
    assert on_disk() == 3
    store.put("r3", "t", turn)
    store.close()  # a clean stop writes what is pending
    again = ResponseStore(tmp_path)
    assert [again.get(f"r{i}", "t") for i in range(4)] == [turn] * 4
    again.close()


def test_expired_rows_are_swept_by_time_through_an_index(tmp_path):
    import sqlite3
    from clawhost.protocols import response_store
    # a store.db from before the index: opening it adds the index
    old = sqlite3.connect(tmp_path / "store.db")
    old.execute("CREATE TABLE responses (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, "
                "expires REAL NOT NULL, messages TEXT NOT NULL)")
    old.execute("INSERT INTO responses VALUES ('gone', 't', 1.0, '[]')")
    old.commit()
    old.close()
    store = response_store.ResponseStore(tmp_path)
    rows = lambda: {r[0] for r in store.db.execute("SELECT id FROM responses")}  # noqa: E731
    assert rows() == set()  # the sweep at open
    plan = " ".join(str(r) for r in store.db.execute(
        "EXPLAIN QUERY PLAN DELETE FROM responses WHERE expires <= 5"))
    assert "responses_expires" in plan, plan  # a range of the index, not a table scan
    store.ttl_s = -1
    store.put("expired", "t", [{"role": "user", "content": "x"}])
    store.flush()
    assert rows() == {"expired"}  # swept at most once a PURGE_EVERY_S, not per write
    store.purged -= response_store.PURGE_EVERY_S  # as if the last sweep were that long ago
    store.ttl_s = 60
    store.put("kept", "t", [{"role": "user", "content": "x"}])
    store.flush()
    assert rows() == {"kept"}
    store.close()
