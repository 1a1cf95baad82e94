"""Cache keys, per-request controls, and the L1 bounds, without a server."""

from __future__ import annotations

import copy

from clawhost.cache_control import cacheable, directives, parse_cache_control
from clawhost.cache_keys import exact_key, scope_key
from clawhost.plugins.cache.l1 import L1
from clawhost.plugins.batcher import RequestFields as BatcherFields
from clawhost.plugins.cache import RequestFields as CacheFields
from clawhost.types import CompletionRequest, EmbeddingRequest, ModelRequest, extend_bodies

# the bodies a host with the cache and the batcher parses: their fields are clawhost's own
ChatRequest = extend_bodies([CacheFields, BatcherFields])["chat"]

BASE = {"model": "m", "temperature": 0,
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": "hi"}]}


def chat(tenant="default", headers=None, **over):
    return ModelRequest("chat", ChatRequest.model_validate({**BASE, **over}), tenant=tenant,
                        headers=headers or {})


def test_key_ignores_transport_fields_and_normalises_shapes():
    a = chat()
    same = [
        chat(user="u", metadata={"x": 1}, stream=True, stream_options={"include_usage": True},
             priority="background", cache={"ttl": 5}),
        chat(messages=[{"role": "system", "content": "be brief", "name": None},
                       {"role": "user", "content": [{"type": "text", "text": "hi"}],
                        "tool_calls": None, "tool_call_id": None}]),
        chat(max_completion_tokens=None, stop=None, seed=None),
    ]
    assert {exact_key(r) for r in same} == {exact_key(a)}
    assert exact_key(chat(max_tokens=9)) == exact_key(chat(max_completion_tokens=9))
    assert exact_key(chat(stop="x")) == exact_key(chat(stop=["x"]))
    assert len(exact_key(a)) == 64 and int(exact_key(a), 16) >= 0


def test_key_changes_with_every_output_changing_field():
    changes = [{"model": "n"}, {"temperature": 0.5}, {"top_p": 0.9}, {"top_k": 3},
               {"max_tokens": 7}, {"seed": 1}, {"stop": ["."]}, {"presence_penalty": 1.0},
               {"frequency_penalty": 1.0}, {"tools": [{"type": "function",
                                                       "function": {"name": "f"}}]},
               {"tool_choice": "none"}, {"response_format": {"type": "json_object"}},
               {"logit_bias": {"1": 2}}, {"reasoning_effort": "low"},
               {"messages": [{"role": "user", "content": "hi"}]}]
    keys = {exact_key(chat(**c)) for c in changes} | {exact_key(chat())}
    assert len(keys) == len(changes) + 1


def test_key_scopes_and_kinds():
    a = chat()
    assert exact_key(a) != exact_key(chat(tenant="t-other"))
    assert exact_key(a) != exact_key(a, namespace="ns")
    assert exact_key(chat(cache={"namespace": "ns"})) == exact_key(a, namespace="ns")
    comp = ModelRequest("completion", CompletionRequest(model="m", prompt="hi"))
    comp_list = ModelRequest("completion", CompletionRequest(model="m", prompt=["hi"]))
    emb = ModelRequest("embedding", EmbeddingRequest(model="m", input="hi"))
    assert exact_key(comp) == exact_key(comp_list) != exact_key(emb)


def test_key_never_mutates_the_request():
    r = chat(stop="x", max_completion_tokens=4, cache={"namespace": "n"}, odd=None)
    before = copy.deepcopy(r.body.model_dump())
    exact_key(r), scope_key(r, 2)
    assert r.body.model_dump() == before


def test_scope_key_separates_query_from_context():
    s1, q1 = scope_key(chat())
    s2, q2 = scope_key(chat(messages=[{"role": "system", "content": "be brief"},
                                      {"role": "user", "content": "hello there"}]))
    assert s1 == s2 and (q1, q2) == ("hi", "hello there")
    s3, _ = scope_key(chat(messages=[{"role": "system", "content": "be long"},
                                     {"role": "user", "content": "hi"}]))
    s4, _ = scope_key(chat(tenant="t-x"))
    s5, _ = scope_key(chat(temperature=1))
    assert len({s1, s3, s4, s5}) == 4
    convo = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
             {"role": "user", "content": "c"}]
    s6, q6 = scope_key(chat(messages=convo))
    s7, _ = scope_key(chat(messages=[{**convo[0], "content": "z"}, *convo[1:]]))
    assert q6 == "c" and s6 != s7  # earlier turns belong to the scope
    s8, q8 = scope_key(chat(messages=convo), query_turns=2)
    s9, _ = scope_key(chat(messages=[{**convo[0], "content": "z"}, *convo[1:]]), query_turns=2)
    assert q8 == "a\nc" and s8 == s9


def test_controls_from_body_and_header():
    assert parse_cache_control("No-Cache, max-age=30, max-age=10, junk=1") == (True, False, 10.0)
    assert parse_cache_control("max-age=abc") == (False, False, None)
    d = directives(chat(headers={"cache-control": "no-store"}))
    assert d.no_store and not d.no_cache
    d = directives(chat(cache={"no-cache": True, "ttl": 600, "namespace": "p"},
                        headers={"Cache-Control": "max-age=60"}))
    assert (d.no_cache, d.no_store, d.ttl, d.max_age, d.namespace) == (True, False, 60, 60, "p")
    d = directives(chat(headers={"CACHE-CONTROL": "max-age=0"}))
    assert d.no_cache and d.no_store and d.bypass
    assert directives(chat()) == directives(chat(headers={"Cache-Control": ""}))


def test_policy():
    assert cacheable(chat()) and cacheable(chat(temperature=1.2, seed=4))
    assert not cacheable(chat(temperature=None)) and not cacheable(chat(temperature=0.3))
    assert cacheable(chat(temperature=0.3), "all")
    assert cacheable(ModelRequest("embedding", EmbeddingRequest(model="m", input="x")))


def test_l1_stays_within_its_byte_budget_under_endless_distinct_keys():
    l1 = L1(max_bytes=64 * 1024, max_entries=10_000)
    peak = 0
    for i in range(20_000):
        l1.put(f"{i:064x}", b"v" * (100 + i % 900), 0.0, 1e12, "")
        peak = max(peak, l1.bytes)
    assert peak <= 64 * 1024 and l1.evictions > 19_000
    assert l1.bytes == sum(e.size for e in l1._items.values())
    assert l1.get(f"{19_999:064x}", 1.0) is not None and l1.get(f"{0:064x}", 1.0) is None
    small = L1(max_bytes=1 << 30, max_entries=5)
    for i in range(50):
        small.put(str(i), b"x", 0.0, 1e12, "")
    assert len(small) == 5 and small.get("49", 1.0) is not None


def test_l1_lru_ttl_skew_and_namespaces():
    l1 = L1(max_bytes=3 * (210 + 10), max_entries=100, skew=5)
    for k in "abc":
        l1.put(k, b"1234567890", 100.0, 200.0, "ns" if k == "a" else "")
    assert l1.get("a", 150.0) is not None  # a is now the most recent
    l1.put("d", b"1234567890", 100.0, 200.0, "")
    assert l1.get("b", 150.0) is None and l1.get("a", 150.0) is not None
    assert l1.get("a", 200.0) is None  # expired
    l1.put("e", b"x", 100.0, 200.0, "")
    assert l1.get("e", 94.0) is None  # created "in the future" beyond the skew
    l1.put("f", b"x", 100.0, 200.0, "ns")
    assert l1.clear("ns") == 1 and l1.get("f", 150.0) is None and len(l1) == 2
    assert not l1.put("huge", b"x" * 10_000, 0.0, 1.0, "")


def test_nulls_inside_free_form_values_still_count():
    schema = {"type": "function", "function": {"name": "f", "parameters": {"default": None}}}
    bare = {"type": "function", "function": {"name": "f", "parameters": {}}}
    assert exact_key(chat(tools=[schema])) != exact_key(chat(tools=[bare]))
    assert exact_key(chat(provider_knob=None)) == exact_key(chat())
