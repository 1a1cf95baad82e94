"""semantic_cache through a real host: scope isolation, verifier, persistence, controls, headers.

The embedding model is a deterministic bag-of-words hashing embedder registered as a plugin
(paraphrases that reorder or recase words embed identically; one changed word lowers the
cosine), so these tests check the cache's logic, not MiniLM's quality.
"""

from __future__ import annotations

import json

import aiohttp
import numpy as np
import pytest

from clawhost.host import Host
from clawhost.hookspecs import hookimpl
from clawhost.plugins import semantic_cache
from clawhost.plugins.semantic_cache import features as semantic_cache_features
from clawhost.testing import BagModel, EchoModel, make_config
from clawhost.types import ChatRequest, ModelRequest
from clawhost.api import CACHE_RESULT
from clawhost.plugins.semantic_cache import STATE as SEMANTIC_CACHE_STATE

DIM = 64  # BagModel's default


def config(**opts):
    # The semantic tier alone (recased paraphrases would hit the normalised-exact tier
    # first: test_semantic_normalized.py covers that tier and the two together).
    base = {"embedding_model": "bag-embed", "verifier": False, "min_similarity": 0.9,
            "normalized": False}
    return {"plugins": {"semantic_cache": {**base, **opts}}}


async def make_host(clawhost_host, **opts):
    echo, bag = EchoModel(), BagModel()
    host = await clawhost_host(echo, bag, config=config(**opts))
    return host, echo, bag


def chat(text, system=None, tenant="default", temperature=0, **body):
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}]
    return ModelRequest(kind="chat", tenant=tenant, body=ChatRequest(
        model="echo", messages=msgs, temperature=temperature, **body))


async def ask(host, text, **kw):
    req = chat(text, **kw)
    reply = await host.handle(req)
    return req, reply


def answer(reply):
    return reply.body["choices"][0]["message"]["content"]


async def test_a_paraphrase_is_served_from_the_cache_with_its_similarity(clawhost_host):
    host, echo, _ = await make_host(clawhost_host)
    _, first = await ask(host, "How do I reset my password?")
    assert first.source == "model"
    req, again = await ask(host, "how do I reset MY password")
    assert again.source == "semantic" and echo.calls == 1
    assert answer(again) == "How do I reset my password?"  # the stored answer, not a new echo
    assert again.headers["x-clawhost-cache"] == "hit-semantic"
    assert float(again.headers["x-clawhost-similarity"]) >= 0.999
    assert req.notes[CACHE_RESULT] == "hit-semantic"
    figures = host.state[SEMANTIC_CACHE_STATE].figures()
    assert figures["entries"] == 1 and figures["hits"] == 1 and figures["bytes"] > DIM * 4


@pytest.mark.parametrize("change", [
    {"system": "You answer in French."}, {"tenant": "someone-else"}, {"temperature": 0.7},
    {"max_tokens": 5}])
async def test_requests_in_another_scope_never_hit(clawhost_host, change):
    host, echo, _ = await make_host(clawhost_host, policy="all")
    await ask(host, "How do I reset my password?")
    _, other = await ask(host, "How do I reset my password?", **change)
    assert other.source == "model" and echo.calls == 2
    _, same = await ask(host, "how do I reset my password")  # the original scope still hits
    assert same.source == "semantic"


async def test_only_the_last_user_turn_is_the_query_earlier_turns_are_scope(clawhost_host):
    host, echo, _ = await make_host(clawhost_host)
    def convo(prev, last):
        return ModelRequest(kind="chat", body=ChatRequest(model="echo", temperature=0, messages=[
            {"role": "user", "content": prev}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": last}]))
    await host.handle(convo("We talk about Rust.", "How do I read a file?"))
    assert (await host.handle(convo("We talk about Rust.", "how do I read a file"))).source == "semantic"
    assert (await host.handle(convo("We talk about Go.", "how do I read a file"))).source == "model"


async def test_the_verifier_rejects_number_and_negation_look_alikes(clawhost_host):
    host, echo, bag = await make_host(clawhost_host, min_similarity=0.8)
    await ask(host, "What is the best phone in 2016?")
    await ask(host, "Is coffee good for your health?")
    cache = host.state[SEMANTIC_CACHE_STATE]
    # both pairs clear the cosine floor: only the rules stop them
    v16, v17 = bag.engine.embed(["What is the best phone in 2016?", "What is the best phone in 2017?"])
    assert float(v16 @ v17) >= 0.8
    _, year = await ask(host, "What is the best phone in 2017?")
    _, neg = await ask(host, "Is coffee not good for your health?")
    assert year.source == "model" and neg.source == "model"
    assert cache.figures()["rejected_by_verifier"] == 2


async def test_the_learned_verifier_serves_an_identical_paraphrase(clawhost_host):
    host, echo, _ = await make_host(clawhost_host, verifier=True, verifier_model=None, min_similarity=0.8)
    await ask(host, "How do I reset my password?")
    _, again = await ask(host, "How do I reset my password")
    assert again.source == "semantic"


async def test_two_close_entries_with_different_answers_are_ambiguous(clawhost_host):
    host, echo, _ = await make_host(clawhost_host, min_similarity=0.5, margin=0.2)
    # one plain word over the query each ("red apples taste sweet" would be a qualifier)
    await ask(host, "apples taste sweet")
    await ask(host, "apples taste sour")
    _, reply = await ask(host, "apples taste")  # equally close to both
    assert reply.source == "model"
    assert host.state[SEMANTIC_CACHE_STATE].figures()["ambiguous"] == 1


async def test_cache_controls_opt_out(clawhost_host):
    host, echo, _ = await make_host(clawhost_host)
    await ask(host, "How do I reset my password?", cache={"no-store": True})
    assert host.state[SEMANTIC_CACHE_STATE].figures()["entries"] == 0
    await ask(host, "How do I reset my password?")
    req = chat("how do I reset my password")
    req.headers["Cache-Control"] = "no-cache"
    assert (await host.handle(req)).source == "model"
    _, body_opt_out = await ask(host, "how do I reset my password", cache={"no-cache": True})
    assert body_opt_out.source == "model"
    # no-cache still stored a second answer to the same question: the cache cannot tell
    # which one is right, so it misses rather than guess
    cache = host.state[SEMANTIC_CACHE_STATE]
    assert cache.figures()["entries"] == 2
    assert (await ask(host, "How do I reset my password"))[1].source == "model"
    assert cache.figures()["ambiguous"] == 1


class ChangingModel(EchoModel):
    """Its answer to the same question changes on every call, like a model that was updated."""

    @hookimpl
    async def clawhost_infer(self, request):
        from clawhost import streaming
        from clawhost.types import Reply
        if request.model.owner != "echo" or request.kind != "chat":
            return None
        self.calls += 1
        return Reply(streaming.chat_completion(request.model.id, f"answer {self.calls}"))


async def test_a_refresh_replaces_the_same_questions_stale_answer(clawhost_host):
    host = await clawhost_host(ChangingModel(), BagModel(), config=config())
    cache = host.state[SEMANTIC_CACHE_STATE]
    await ask(host, "How do I reset my password?")
    _, fresh = await ask(host, "How do I reset my password?", cache={"no-cache": True})
    assert answer(fresh) == "answer 2" and cache.figures()["entries"] == 1
    assert answer((await ask(host, "how do I reset MY password"))[1]) == "answer 2"
    for entry in cache.index.entries.values():
        entry.created -= 60  # as if stored a minute ago
    req = chat("How do I reset my password?")
    req.headers["Cache-Control"] = "max-age=30"  # the stored answer is too old for this one
    assert answer(await host.handle(req)) == "answer 3"
    _, para = await ask(host, "how do I reset MY password")
    assert para.source == "semantic" and answer(para) == "answer 3"
    assert cache.figures()["entries"] == 1 and cache.figures()["ambiguous"] == 0


async def test_default_policy_skips_sampled_requests_and_embeddings(clawhost_host):
    host, echo, bag = await make_host(clawhost_host)
    await ask(host, "How do I reset my password?", temperature=0.7)
    assert host.state[SEMANTIC_CACHE_STATE].figures()["entries"] == 0
    from clawhost.types import EmbeddingRequest
    await host.handle(ModelRequest(kind="embedding", body=EmbeddingRequest(model="echo-embed",
                                                                          input="hello")))
    assert host.state[SEMANTIC_CACHE_STATE].figures()["entries"] == 0


async def test_entries_expire_after_their_ttl(clawhost_host):
    host, echo, _ = await make_host(clawhost_host)
    await ask(host, "How do I reset my password?", cache={"ttl": 30})
    cache = host.state[SEMANTIC_CACHE_STATE]
    entry = next(iter(cache.index.entries.values()))
    assert 29 < entry.expires - entry.created <= 30
    entry.expires = entry.created  # as if 30 s had passed
    _, late = await ask(host, "how do I reset my password")
    assert late.source == "model" and cache.figures()["expired"] == 1


async def test_the_index_survives_a_restart(tmp_path):
    cfg = config()
    cfg["workspace"] = str(tmp_path / "ws")
    hosts = []
    for _ in range(2):
        echo, bag = EchoModel(), BagModel()
        host = Host(make_config(tmp_path / "ws", cfg), extra_plugins=[("echo", echo), ("bag", bag)])
        await host.start()
        hosts.append((host, echo))
        if len(hosts) == 1:
            await ask(host, "How do I reset my password?")
            await host.stop()
    host, echo = hosts[1]
    try:
        _, reply = await ask(host, "how do I reset my password")
        assert reply.source == "semantic" and echo.calls == 0
        assert (tmp_path / "ws" / ".cache" / "semantic" / "index.sqlite").is_file()
    finally:
        await host.stop()


async def test_hit_headers_reach_the_http_client(clawhost_host, clawhost_server):
    host, echo, _ = await make_host(clawhost_host)
    url = await clawhost_server(host)
    body = {"model": "echo", "temperature": 0,
            "messages": [{"role": "user", "content": "How do I reset my password?"}]}
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{url}/v1/chat/completions", json=body) as r:
            assert r.status == 200 and r.headers.get("x-clawhost-cache") != "hit-semantic"
        body["messages"][0]["content"] = "how do I reset my password"
        async with s.post(f"{url}/v1/chat/completions", json=body) as r:
            data = await r.json()
            assert r.headers["x-clawhost-cache"] == "hit-semantic"
            assert 0.99 <= float(r.headers["x-clawhost-similarity"]) <= 1.0001
            assert data["choices"][0]["message"]["content"] == "How do I reset my password?"


async def test_through_the_host_mode_embeds_via_the_plugin_chain(clawhost_host):
    host, echo, bag = await make_host(clawhost_host, embed_via="host")
    await ask(host, "How do I reset my password?")
    calls = bag.engine.calls
    _, again = await ask(host, "how do I reset my password")
    assert again.source == "semantic" and bag.engine.calls > calls


def test_options_reject_unknown_rules():
    with pytest.raises(Exception):
        semantic_cache.Options(rules=["colour"])


async def test_behind_the_exact_cache_exact_repeats_hit_l1_and_paraphrases_hit_semantic(
        clawhost_host, tmp_path):
    cfg = config()
    cfg["plugins"] = {"cache": {"l2": {"backend": "none"}}, **cfg["plugins"]}
    echo, bag = EchoModel(), BagModel()
    host = await clawhost_host(echo, bag, config=cfg)
    assert host.chain.names()[:2] == ["cache", "semantic_cache"]
    first, _ = await ask(host, "How do I reset my password?")
    assert first.notes[CACHE_RESULT] == "miss"
    exact, reply = await ask(host, "How do I reset my password?")
    assert reply.source == "l1" and exact.notes[CACHE_RESULT] == "hit-l1"
    para, reply = await ask(host, "how do I reset my password")
    assert reply.source == "semantic" and para.notes[CACHE_RESULT] == "hit-semantic"
    assert para.response_headers["x-clawhost-cache"] == "hit-semantic"
    assert echo.calls == 1


async def test_interaction_weights_see_the_stored_vector(clawhost_host, tmp_path):
    """Weights that punish any |u-v|: only an identical bag of words passes, so a hit proves
    the live path handed the verifier both the stored and the new vector."""
    n = len(semantic_cache_features.NAMES)
    np.savez(tmp_path / "w.npz", diff=np.full(DIM, -20.0, np.float32),
             prod=np.zeros(DIM, np.float32))
    (tmp_path / "w.json").write_text(json.dumps({
        "features": list(semantic_cache_features.NAMES), "mean": [0.0] * n,
        "scale": [1.0] * n, "coef": [0.0] * n, "bias": 0.0, "pair_terms": "w.npz",
        "info": {"threshold": 0.4}}))
    host, echo, _ = await make_host(clawhost_host, verifier=True, verifier_model=None, min_similarity=0.5,
                                    rules=[], verifier_weights=str(tmp_path / "w.json"),
                                    structure=False)  # the weights alone decide
    await ask(host, "How do I reset my password?")
    _, same = await ask(host, "how do I reset my password")
    _, other = await ask(host, "How do I reset my email password?")
    assert same.source == "semantic" and other.source == "model"
    assert host.state[SEMANTIC_CACHE_STATE].figures()["rejected_by_verifier"] == 1


async def test_interaction_weights_for_another_dimension_fall_back_to_lexical(clawhost_host):
    host, echo, _ = await make_host(clawhost_host, verifier=True, verifier_model=None, min_similarity=0.8,
                                    verifier_weights="interaction")
    await ask(host, "How do I reset my password?")
    _, again = await ask(host, "How do I reset my password")
    assert again.source == "semantic"
    assert host.state[SEMANTIC_CACHE_STATE].verifier.weights.dim is None  # 64-dim bag vectors


def test_without_its_embedding_model_it_stays_off_and_loads_nothing(tmp_path):
    """No local embedder: the plugin says so once, serves nothing, and never imports numpy."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent(f"""
        import asyncio, sys
        from clawhost.host import Host
        from clawhost.testing import make_config
        from clawhost.testmodel import EchoModel
        from clawhost.types import ChatRequest, ModelRequest
        host = Host(make_config({str(tmp_path / 'ws')!r}, {{"plugins": {{"semantic_cache": {{}}}}}}),
                    extra_plugins=[("echo", EchoModel())])
        async def main():
            await host.start()
            body = ChatRequest.model_validate({{"model": "echo", "temperature": 0,
                "messages": [{{"role": "user", "content": "hi there"}}]}})
            reply = await host.handle(ModelRequest(kind="chat", body=body))
            print(reply.body["choices"][0]["message"]["content"], "semantic_cache" in host.state,
                  "numpy" in sys.modules)
        asyncio.run(main())
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ["hi", "there", "False", "False"], res.stdout + res.stderr
    assert "semantic_cache is off: embedding model 'all-minilm-l6-v2' is not served here" in res.stderr


def _cli(conf):
    """``clawhost semantic-cache ARGS --config conf`` in-process, off the event loop."""
    import asyncio

    from click.testing import CliRunner

    from clawhost.cli import build
    cli, run = build(), CliRunner()
    return lambda *args: asyncio.to_thread(run.invoke, cli, [*args, "--config", str(conf)])


async def test_stats_and_clear_go_through_the_running_host(clawhost_host, clawhost_server,
                                                           tmp_path):
    import yaml
    host, echo, _ = await make_host(clawhost_host)
    url = await clawhost_server(host)
    await ask(host, "How do I reset my password?")
    await ask(host, "Where is the nearest train station?")
    assert (await ask(host, "how do I reset MY password"))[1].source == "semantic"
    conf = tmp_path / "config.yaml"
    conf.write_text(yaml.safe_dump({"workspace": str(host.workspace),
                                    "server": {"port": int(url.rsplit(":", 1)[1])},
                                    "plugins": {"semantic_cache": config()["plugins"]["semantic_cache"]}}))
    invoke = _cli(conf)
    res = await invoke("semantic-cache", "stats", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["entries"] == 2 and data["live"]["hits"] == 1 and data["live"]["stores"] == 2
    res = await invoke("semantic-cache", "stats")
    assert "2 entries" in res.output and "live: hits 1, misses 2" in res.output
    res = await invoke("semantic-cache", "clear")
    assert res.exit_code == 0 and "cleared 2 entries (running host)" in res.output
    req, reply = await ask(host, "how do I reset MY password")
    assert reply.source == "model" and echo.calls == 3  # forgotten in memory, not only on disk
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v1/semantic-cache/stats") as r:
            assert (await r.json())["entries"] == 1  # the miss above was stored again


async def test_stats_and_clear_read_the_index_file_when_no_host_runs(tmp_path):
    from clawhost.plugins.semantic_cache.index import SemanticIndex
    folder = tmp_path / "ws" / ".cache" / "semantic"
    folder.mkdir(parents=True)
    ix = SemanticIndex(folder / "index.sqlite", 4, "fp", 100, 10**6)
    for i in range(3):
        ix.add("scope", f"question {i}", np.eye(4, dtype=np.float32)[i], {"n": i}, ttl=60)
    ix.close()
    conf = tmp_path / "config.yaml"
    conf.write_text(f"workspace: {tmp_path / 'ws'}\nserver: {{port: 1}}\n"
                    "plugins: {semantic_cache: {embedding_model: bag-embed}}\n")
    invoke = _cli(conf)
    res = await invoke("semantic-cache", "stats")
    assert res.exit_code == 0 and res.output.startswith("3 entries,") and "no running host" in res.output
    res = await invoke("semantic-cache", "clear")
    assert res.exit_code == 0 and "cleared 3 entries" in res.output
    assert json.loads((await invoke("semantic-cache", "stats", "--json")).output)["entries"] == 0
    (folder / "index.sqlite").write_bytes(b"not a database at all" * 100)
    res = await invoke("semantic-cache", "stats")
    assert res.exit_code == 1 and "is not a semantic cache index" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


async def test_a_host_with_the_semantic_cache_off_says_so_and_its_file_is_left_alone(
        clawhost_host, clawhost_server, tmp_path):
    host = await clawhost_host(EchoModel(), config={"plugins": {"semantic_cache": {}}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/semantic-cache/clear") as r:
            body = await r.json()
            assert r.status == 503 and "semantic cache is off" in body["error"]["message"]
    index = host.workspace / ".cache" / "semantic" / "index.sqlite"
    index.parent.mkdir(parents=True)
    index.write_bytes(b"left alone")
    conf = tmp_path / "config.yaml"
    conf.write_text(f"workspace: {host.workspace}\nserver: {{port: {url.rsplit(':', 1)[1]}}}\n"
                    "plugins: {semantic_cache: {}}\n")
    res = await _cli(conf)("semantic-cache", "clear")
    assert res.exit_code == 1 and "did not clear: the semantic cache is off" in res.output
    assert index.read_bytes() == b"left alone"
