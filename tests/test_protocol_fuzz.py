"""Hostile bodies for the protocol endpoints: never a 500, always the protocol's own error
shape with one line. Hand-written cases (wrong types, huge ints, deep nesting, missing
fields, NaN) and a hypothesis run that swaps fields of valid bodies for arbitrary JSON."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawhost.hookspecs import hookimpl
from clawhost.testing import EchoModel

VALID = {
    "/v1/messages": {"model": "echo", "max_tokens": 5,
                     "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    "/v1/messages/count_tokens": {"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "echo", "input": [{"role": "user", "content": "hi"}],
                      "max_output_tokens": 5},
    "/v1/rerank": {"model": "echo", "query": "q", "documents": ["a", {"text": "b"}], "top_n": 1},
}


def shape_ok(path: str, status: int, data) -> bool:
    """The protocol's error shape, with a one-line message."""
    if status < 400:
        return True
    if path.startswith("/v1/messages"):
        msg = data["error"]["message"] if data.get("type") == "error" else None
    elif path == "/v1/rerank":
        msg = data.get("message")
    else:
        msg = data["error"]["message"]
    return isinstance(msg, str) and "\n" not in msg and "Traceback" not in msg


def deep(n: int):
    value: object = "x"
    for _ in range(n):
        value = [value]
    return value


HOSTILE = [
    b"", b"null", b"[]", b"\"text\"", b"{", b"\xff\xfe", b"{\"model\": NaN}",
    b"[" * 100_000 + b"]" * 100_000,                          # deeper than json.loads recurses
    b'{"model": "echo", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
]


def mutations(body: dict) -> list[dict]:
    out = [{}]
    for key in body:
        out.append({k: v for k, v in body.items() if k != key})          # missing
        for value in (None, 10**100, -1, 1.5e308, "s" * 10, [], {}, [[[]]], True,
                      deep(300), {"a": deep(50)}):
            out.append({**body, key: value})
    return out


@pytest.fixture
async def url(clawhost_host, clawhost_server):
    host = await clawhost_host(EchoModel())
    return await clawhost_server(host)


async def test_hand_written_hostile_bodies_get_no_500(url):
    async with aiohttp.ClientSession() as s:
        for path, body in VALID.items():
            cases = [*HOSTILE, *(json.dumps(b).encode() for b in mutations(body))]
            for raw in cases:
                async with s.post(url + path, data=raw,
                                  headers={"Content-Type": "application/json"}) as r:
                    text = await r.text()
                    assert r.status < 500, (path, raw[:200], r.status, text[:300])
                    assert shape_ok(path, r.status, json.loads(text)), (path, raw[:200], text)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


def _paths(value, prefix=()):
    """Every place in a body a value can be swapped in."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(value, path, new):
    if not path:
        return new
    value = json.loads(json.dumps(value))
    here = value
    for step in path[:-1]:
        here = here[step]
    here[path[-1]] = new
    return value


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_hypothesis_swapped_fields_get_no_500(url, data):
    path = data.draw(st.sampled_from(sorted(VALID)))
    spots = list(_paths(VALID[path]))
    where = data.draw(st.sampled_from(spots))
    body = _replace(VALID[path], where, data.draw(JSON))
    async with aiohttp.ClientSession() as s, s.post(url + path, json=body) as r:
        text = await r.text()
    assert r.status < 500, (path, body, text[:300])
    assert shape_ok(path, r.status, json.loads(text)), (path, body, text)


class Broken:
    """A model plugin that fails with a message that must not reach the client."""

    @hookimpl
    def clawhost_register_models(self, register):
        from clawhost.types import Model
        register(Model("broken", "chat+completion", owner="broken"))

    @hookimpl
    async def clawhost_infer(self, request):
        if request.model.owner == "broken":
            raise RuntimeError("db password=hunter2 at line 12")


async def test_a_failing_plugin_is_a_500_without_details_in_each_shape(clawhost_host, clawhost_server):
    host = await clawhost_host(Broken())
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/messages", json={**VALID["/v1/messages"], "model": "broken"}) as r:
            data = await r.json()
            assert r.status == 500 and data["error"]["type"] == "api_error"
        async with s.post(url + "/v1/responses", json={**VALID["/v1/responses"], "model": "broken"}) as r:
            data2 = await r.json()
            assert r.status == 500 and data2["error"]["type"] == "server_error"
        async with s.post(url + "/v1/messages", json={**VALID["/v1/messages"], "model": "broken",
                                                      "stream": True}) as r:
            body = await r.text()
    for text in (json.dumps(data), json.dumps(data2), body):
        assert "hunter2" not in text and "Traceback" not in text
    await asyncio.sleep(0)
