"""``POST /v1/rerank`` (Cohere/Jina shape): the protocol with a small in-process rerank model
(shape, top_n, return_documents, order, the exact cache, errors), and the real packaged
cross-encoder served by quantized_model (slow)."""

from __future__ import annotations

import aiohttp
import pytest
from conftest import models_settled

from clawhost.hookspecs import hookimpl
from clawhost.testing import EchoModel


class OverlapReranker:
    """A rerank model plugin: the share of query words found in the document."""

    def __init__(self):
        self.calls = 0

    @hookimpl
    def clawhost_register_models(self, register):
        from clawhost.types import Model
        register(Model("overlap", "rerank", owner="overlap"))

    @hookimpl
    async def clawhost_infer(self, request):
        from clawhost.types import Reply
        if request.model.owner != "overlap":
            return None
        self.calls += 1
        q = set(request.body.query.lower().split())
        scores = [len(q & set(d.lower().split())) / len(q) for d in request.body.documents]
        results = sorted(({"index": i, "relevance_score": s} for i, s in enumerate(scores)),
                         key=lambda r: -r["relevance_score"])
        return Reply({"object": "rerank", "model": "overlap", "results": results})


async def post(url: str, body, path="/v1/rerank"):
    async with aiohttp.ClientSession() as s, s.post(url + path, json=body) as r:
        return r.status, dict(r.headers), await r.json()


DOCS = ["the cat sat", "a dog barked loudly", "the cat sat on the mat"]


async def test_rerank_shape_top_n_documents_and_cache(clawhost_host, clawhost_server):
    model = OverlapReranker()
    host = await clawhost_host(model, EchoModel(), config={"plugins": {"cache": {}}})
    url = await clawhost_server(host)
    st, h, body = await post(url, {"model": "overlap", "query": "cat on mat", "documents": DOCS})
    assert st == 200, body
    assert [r["index"] for r in body["results"]] == [2, 0, 1]
    assert body["results"][0]["relevance_score"] == 1.0 and "document" not in body["results"][0]
    assert h["x-clawhost-cache"] == "miss"
    # top_n and return_documents shape the answer, not the scores: the same cache entry
    st, h, body = await post(url, {"model": "overlap", "query": "cat on mat", "top_n": 2,
                                   "return_documents": True,
                                   "documents": [DOCS[0], DOCS[1], {"text": DOCS[2], "id": "m"}]})
    assert h["x-clawhost-cache"] == "hit-l1" and model.calls == 1
    assert body["results"] == [
        {"index": 2, "relevance_score": 1.0, "document": {"text": DOCS[2], "id": "m"}},
        {"index": 0, "relevance_score": 1 / 3, "document": {"text": DOCS[0]}}]


async def test_rerank_errors(clawhost_host, clawhost_server):
    host = await clawhost_host(OverlapReranker(), EchoModel())
    url = await clawhost_server(host)
    st, _, body = await post(url, {"model": "echo", "query": "q", "documents": ["d"]})
    assert st == 404 and "cannot serve rerank requests" in body["message"]
    assert "overlap" in body["message"]
    for bad, where in [({"model": "overlap", "documents": ["d"]}, "query"),
                       ({"model": "overlap", "query": "q", "documents": []}, "documents"),
                       ({"model": "overlap", "query": "q", "documents": [3]}, "documents.0"),
                       ({"model": "overlap", "query": "q", "documents": ["d"], "top_n": 0}, "top_n")]:
        st, _, body = await post(url, bad)
        assert st == 400 and body["message"].startswith(where), body
    # the chat endpoint does not serve a rerank model
    st, _, body = await post(url, {"model": "overlap", "messages": [{"role": "user", "content": "x"}]},
                             path="/v1/chat/completions")
    assert st == 404


@pytest.mark.slow
async def test_real_rerank_model_ranks_a_paraphrase_first(clawhost_host, clawhost_server,
                                                          packaged_minilm):
    """The shipped cross-encoder (MiniLM + the qqp adapter), prepared and served by
    quantized_model as kind rerank: the paraphrase outranks the unrelated documents."""
    host = await clawhost_host(config={"plugins": {"quantized_model": {"models": {
        "minilm-l6-qqp-verifier": {"source": str(packaged_minilm), "kind": "rerank",
                                   "adapter": "qqp-verifier", "check": False}}}}})
    await models_settled(host, timeout=600)
    assert host.models["minilm-l6-qqp-verifier"].status == "ready"
    url = await clawhost_server(host)
    docs = ["What is the weather like in Paris today?",
            "How do I improve my English?",
            "Best way to cook rice"]
    st, _, body = await post(url, {"model": "minilm-l6-qqp-verifier",
                                   "query": "How can I improve my English?", "documents": docs,
                                   "return_documents": True})
    assert st == 200, body
    ranked = [r["index"] for r in body["results"]]
    assert ranked[0] == 1, body
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5 > scores[-1]
    assert body["results"][0]["document"] == {"text": docs[1]}
