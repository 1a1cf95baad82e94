"""The local chat engine on a tiny random llama GGUF built here (no 98 MB download needed).

Covers GGUF -> fused ONNX -> ChatEngine, sampling, stop strings, limits, batched decoding,
the manifest, sources, and that serving imports neither torch nor transformers. One test
uses the real SmolLM2 GGUF when it is present on this machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from clawhost.plugins.quantized_model.chat_build import PRESETS, build, write_artifacts  # noqa: E402
from clawhost.plugins.quantized_model.chat_engine import ChatEngine, ContextLengthError, SamplingParams  # noqa: E402
from clawhost.plugins.quantized_model.manifest import ManifestError, verify, write_manifest  # noqa: E402
from clawhost.plugins.quantized_model.sources import SourceError, resolve_source  # noqa: E402
from clawhost.plugins.quantized_model.weights import open_weights  # noqa: E402
from conftest import REAL_CHAT  # noqa: E402

TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            "{{ '<|im_start|>system\nYou are a tiny test model<|im_end|>\n' }}{% endif %}"
            "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
            "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def _byte_chars() -> list[str]:
    """GPT-2's byte -> printable unicode map (what byte-level BPE vocabularies use)."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    order = sorted(range(256), key=lambda i: bs[i])
    return [chr(cs[i]) for i in order]


def write_tiny_gguf(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    merges = ["h e", "l l", "Ġ w", "o r", "he ll", "Ġw or", "Ġ t", "Ġt he"]
    tokens = specials + _byte_chars() + [m.replace(" ", "") for m in merges]
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))
    vocab, hidden, inter, layers, heads, kv = len(tokens), 64, 128, 2, 4, 2
    vocab_pad = -(-vocab // 32) * 32
    tokens += [f"<unused{i}>" for i in range(vocab_pad - vocab)]
    types += [4] * (vocab_pad - vocab)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(layers)
    w.add_context_length(256)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_dimension_count(hidden // heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template(TEMPLATE)
    q = gguf.GGMLQuantizationType

    def mat(name, n, k, qtype=q.Q4_1, scale=0.08):
        arr = (rng.standard_normal((n, k)) * scale).astype(np.float32)
        w.add_tensor(name, gguf.quants.quantize(arr, qtype), raw_dtype=qtype)

    mat("token_embd.weight", vocab_pad, hidden, q.Q8_0, 0.5)
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    for i in range(layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        w.add_tensor(p + "ffn_norm.weight", (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        mat(p + "attn_q.weight", hidden, hidden)
        mat(p + "attn_k.weight", kv * hidden // heads, hidden)
        mat(p + "attn_v.weight", kv * hidden // heads, hidden)
        mat(p + "attn_output.weight", hidden, hidden)
        mat(p + "ffn_gate.weight", inter, hidden)
        mat(p + "ffn_up.weight", inter, hidden)
        mat(p + "ffn_down.weight", hidden, inter)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tinychat")
    src = root / "tiny.gguf"
    write_tiny_gguf(src)
    out = root / "int4-mixed"
    facts, check = build(src, out, {"quantization": "int4-mixed", "check": True}, threads=1)
    write_manifest(out, source=str(src), quantization="int4-mixed", checks=check, facts=facts)
    return {"src": src, "dir": out, "check": check, "engine": ChatEngine.load(out, threads=1)}


def _msgs(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_build_load_generate_and_checks(tiny):
    eng: ChatEngine = tiny["engine"]
    ids = eng.encode_chat(_msgs("hello world"))
    assert eng.decode(eng.encode("hello world the")) == "hello world the"
    assert eng.render_chat(_msgs("hi")).startswith("<|im_start|>system\nYou are a tiny test model")
    assert ids.count(eng.tokenizer.token_to_id("<|im_start|>")) == 3  # system, user, assistant
    res = eng.generate(ids, SamplingParams(max_tokens=12)).complete()
    assert res.usage.prompt_tokens == len(ids) and 1 <= res.usage.completion_tokens <= 12
    assert "Ġ" not in res.text and res.finish_reason in ("stop", "length")
    check = tiny["check"]
    assert check["perplexity_fp32"] > 0 and check["perplexity_quantized"] > 0
    assert len(check["prompts"]) == 3
    # preparing wrote the smaller KV cache graphs and recorded what they cost in perplexity
    assert (tiny["dir"] / "model.kv-int8.onnx").is_file()
    for dtype in ("float16", "int8"):
        kv = check["kv_cache"][dtype]
        assert kv["perplexity"] > 0
        assert abs(kv["ratio"] - kv["perplexity"] / check["perplexity_quantized"]) < 1e-3


def test_greedy_is_deterministic_and_seeded_sampling_reproducible(tiny):
    eng = tiny["engine"]
    ids = eng.encode_chat(_msgs("the world"))
    a = eng.generate(ids, SamplingParams(max_tokens=20)).complete()
    b = eng.generate(ids, SamplingParams(max_tokens=20)).complete()
    assert a.token_ids == b.token_ids
    hot = dict(max_tokens=20, temperature=1.5, top_p=0.95, top_k=50)
    s1 = eng.generate(ids, SamplingParams(seed=7, **hot)).complete()
    s2 = eng.generate(ids, SamplingParams(seed=7, **hot)).complete()
    others = {tuple(eng.generate(ids, SamplingParams(seed=s, **hot)).complete().token_ids)
              for s in range(8, 12)}
    assert s1.token_ids == s2.token_ids
    assert len(others | {tuple(s1.token_ids)}) > 1  # the seed changes the sample


def test_max_tokens_and_streaming_deltas(tiny):
    eng = tiny["engine"]
    ids = eng.encode_chat(_msgs("hello"))
    gen = eng.generate(ids, SamplingParams(max_tokens=5, temperature=1.0, seed=1))
    deltas = list(gen)
    assert gen.result.finish_reason in ("length", "stop")
    if gen.result.finish_reason == "length":
        assert gen.result.usage.completion_tokens == 5
    assert "".join(deltas) == gen.result.text


def test_stop_sequences_hold_back_and_cut(tiny):
    eng = tiny["engine"]
    ids = eng.encode_chat(_msgs("hello world"))
    # find a seed whose sample has text we can stop on (random weights, high temperature)
    full = None
    for seed in range(20):
        r = eng.generate(ids, SamplingParams(max_tokens=30, temperature=1.2, seed=seed)).complete()
        if len(r.text) >= 8:
            full, seed_ok = r, seed
            break
    assert full is not None
    stop = full.text[4:7]
    cut = full.text[: full.text.find(stop)]
    gen = eng.generate(ids, SamplingParams(max_tokens=30, temperature=1.2, seed=seed_ok, stop=[stop]))
    streamed = "".join(gen)
    assert gen.result.finish_reason == "stop"
    assert gen.result.text == cut and streamed == cut and stop not in streamed


def test_context_length_error(tiny):
    eng = tiny["engine"]
    ids = eng.encode_chat(_msgs("hello"))
    with pytest.raises(ContextLengthError):
        eng.generate(ids, SamplingParams(max_tokens=eng.context_length))
    with pytest.raises(ContextLengthError):
        eng.generate(ids * 40)
    # no max_tokens: the answer may use the rest of the context
    res = eng.generate(ids, SamplingParams(temperature=1.0, seed=3)).complete()
    assert res.usage.total_tokens <= eng.context_length


def test_batched_greedy_equals_single(tiny):
    eng = tiny["engine"]
    prompts = [eng.encode_chat(_msgs(t)) for t in ("hello", "the world is", "or", "hell hello")]
    p = SamplingParams(max_tokens=10)
    single = [eng.generate(ids, p).complete().token_ids for ids in prompts]
    batch = eng.new_batch(max_slots=3)
    got: dict[int, list[int]] = {}
    slot_of = {batch.add(prompts[0], p): 0}
    for _ in range(2):  # the first sequence is ahead when the others join
        for slot, ev in batch.step().items():
            got.setdefault(slot_of[slot], []).append(ev.token_id)
    slot_of[batch.add(prompts[1], p)] = 1
    slot_of[batch.add(prompts[2], p)] = 2
    waiting = [3]
    while len(batch) or waiting:
        if waiting and batch.free_slots:
            slot_of[batch.add(prompts[waiting.pop()], p)] = 3
        for slot, ev in batch.step().items():
            got.setdefault(slot_of[slot], []).append(ev.token_id)
            if ev.finish_reason:
                slot_of = {**slot_of}  # the slot may be reused by the next add
    assert [got[i] for i in range(4)] == single
    with pytest.raises(RuntimeError):
        full = eng.new_batch(max_slots=1)
        full.add(prompts[0], p)
        full.add(prompts[1], p)


def test_manifest_detects_corruption_and_incomplete(tiny, tmp_path):
    d = tmp_path / "art"
    d.mkdir()
    for name in ("model.onnx", "tokenizer.json", "chat_config.json"):
        (d / name).write_bytes((tiny["dir"] / name).read_bytes())
    write_manifest(d, source="test", quantization="int4-mixed", checks={"ok": True})
    assert verify(d)["complete"] is True
    data = bytearray((d / "tokenizer.json").read_bytes())
    data[10] ^= 1  # same size, different bytes
    (d / "tokenizer.json").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="sha256"):
        verify(d)
    (d / "chat_config.json").unlink()
    with pytest.raises(ManifestError, match="missing"):
        verify(d)
    m = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").write_text(json.dumps({**m, "complete": False}))
    with pytest.raises(ManifestError, match="did not complete"):
        verify(d)


def test_sources(tiny, tmp_path):
    assert resolve_source(str(tiny["src"]), tmp_path) == tiny["src"].resolve()
    for bad in ("pypi:", str(tmp_path / "missing.gguf"), "not a source"):
        with pytest.raises(SourceError):
            resolve_source(bad, tmp_path)


def test_fp32_graph_matches_dequantized_numpy(tiny, tmp_path):
    """The float graph's first-token logits equal a plain numpy forward pass of the GGUF."""
    w = open_weights(tiny["src"])
    write_artifacts(w, tiny["src"], tmp_path / "fp32", PRESETS["fp32"])
    eng = ChatEngine.load(tmp_path / "fp32", threads=1)
    from clawhost.plugins.quantized_model.runner import Runner
    ids = eng.encode("hello world")[:1]
    got = Runner(eng.model, rows=1).prefill(0, ids)
    cfg = w.config
    x = w.get("embed")[ids[0]]
    for i in range(cfg.num_layers):  # one token: attention output is just V
        p = f"layers.{i}."
        h = x / np.sqrt((x ** 2).mean() + cfg.rms_eps) * w.get(p + "attn_norm")
        v = w.get(p + "v") @ h
        rep = cfg.num_heads // cfg.num_kv_heads
        attn = np.repeat(v.reshape(cfg.num_kv_heads, -1), rep, axis=0).reshape(-1)
        x = x + w.get(p + "o") @ attn
        h = x / np.sqrt((x ** 2).mean() + cfg.rms_eps) * w.get(p + "ffn_norm")
        g = w.get(p + "gate") @ h
        x = x + w.get(p + "down") @ (g / (1 + np.exp(-g)) * (w.get(p + "up") @ h))
    h = x / np.sqrt((x ** 2).mean() + cfg.rms_eps) * w.get("norm")
    ref = w.get("embed") @ h
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)


def test_serving_imports_no_torch(tiny):
    code = ("import sys; from clawhost.plugins.quantized_model.chat_engine import ChatEngine; "
            f"e = ChatEngine.load({str(tiny['dir'])!r}, threads=1); "
            "r = e.chat([{'role': 'user', 'content': 'hello'}], max_tokens=3); "
            "bad = [m for m in ('torch', 'transformers', 'optimum', 'sentence_transformers', "
            "'onnx', 'gguf', 'jinja2') "
            "if m in sys.modules]; print(bad, r.usage.completion_tokens)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.split("]")[0] == "[", out.stdout


@pytest.mark.slow
def test_real_smollm2_knows_paris(real_models):
    eng = ChatEngine.load(real_models["folder"](REAL_CHAT), threads=2)
    res = eng.chat(_msgs("What is the capital of France?"), max_tokens=24)
    assert "Paris" in res.text and "Ġ" not in res.text and "<|im_start|>" not in res.text


def test_hf_folder_matches_gguf_including_rotary_layout(tiny, tmp_path):
    """A HF folder (unpermuted Q/K, half-split rotary) gives the GGUF graph's logits.

    GGUF permutes Q/K rows for interleaved rotary; the builder relies on GQA's
    rotary_interleaved flag instead of undoing it. Several positions make rotary matter."""
    from safetensors.numpy import save_file

    from clawhost.plugins.quantized_model.gguf_tokenizer import tokenizer_json_from_gguf
    from clawhost.plugins.quantized_model.runner import Runner

    w = open_weights(tiny["src"])
    cfg = w.config

    def unpermute(m: np.ndarray, heads: int) -> np.ndarray:
        return m.reshape(heads, m.shape[0] // heads // 2, 2, -1).swapaxes(1, 2).reshape(m.shape)

    tensors = {"model.embed_tokens.weight": w.get("embed"), "model.norm.weight": w.get("norm")}
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
             "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
             "down": "mlp.down_proj", "attn_norm": "input_layernorm",
             "ffn_norm": "post_attention_layernorm"}
    for i in range(cfg.num_layers):
        for short, hf in names.items():
            arr = w.get(f"layers.{i}.{short}")
            if short == "q":
                arr = unpermute(arr, cfg.num_heads)
            elif short == "k":
                arr = unpermute(arr, cfg.num_kv_heads)
            tensors[f"model.layers.{i}.{hf}.weight"] = np.ascontiguousarray(arr)
    hf_dir = tmp_path / "hf"
    hf_dir.mkdir()
    save_file(tensors, str(hf_dir / "model.safetensors"))
    (hf_dir / "config.json").write_text(json.dumps({
        "model_type": "llama", "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size, "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads, "num_key_value_heads": cfg.num_kv_heads,
        "rope_theta": cfg.rope_theta, "rms_norm_eps": cfg.rms_eps,
        "max_position_embeddings": cfg.context_length, "tie_word_embeddings": True}))
    fields = {k: w.field(k) for k in ("tokenizer.ggml.model", "tokenizer.ggml.tokens",
                                      "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                                      "tokenizer.ggml.pre")}
    (hf_dir / "tokenizer.json").write_text(json.dumps(tokenizer_json_from_gguf(fields)))
    (hf_dir / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": TEMPLATE, "eos_token": "<|im_end|>"}))
    assert resolve_source(str(hf_dir), tmp_path) == hf_dir.resolve()
    logits = {}
    for name, src in (("gguf", tiny["src"]), ("hf", hf_dir)):
        write_artifacts(open_weights(src), src, tmp_path / f"art_{name}", PRESETS["fp32"])
        eng = ChatEngine.load(tmp_path / f"art_{name}", threads=1)
        ids = eng.encode_chat(_msgs("hello world, the world"))
        logits[name] = Runner(eng.model, rows=1).prefill(0, ids, num_logits=len(ids))
    np.testing.assert_allclose(logits["hf"], logits["gguf"], rtol=1e-4, atol=1e-4)


def test_four_bit_head_rescoring_keeps_greedy(tiny, tmp_path):
    """The 4-bit LM head + exact rescoring decodes greedily like the 8-bit head, with the
    head in blocks of 32 (int4-mixed's) or 64 (`head_block_size`)."""
    import onnx

    w = open_weights(tiny["src"])
    outs = {}
    for head, block in ((8, None), (4, None), (4, 64)):
        opts = PRESETS["int4-mixed"].model_copy(update={"head_bits": head,
                                                       "head_block_size": block})
        folder = tmp_path / f"h{head}-{block}"
        write_artifacts(w, tiny["src"], folder, opts)
        graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
        lm_head = next(n for n in graph.node if n.output[0] == "logits")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in lm_head.attribute}
        assert (attrs["bits"], attrs["block_size"]) == (head, block or 32)  # Q8_0 rows and int4-mixed: 32
        eng = ChatEngine.load(folder, threads=1)
        assert eng.model.has_hidden == (head == 4)
        outs[head, block] = [eng.generate(eng.encode_chat(_msgs(t)), SamplingParams(max_tokens=16))
                             .complete().token_ids for t in ("hello", "the world", "or not")]
    assert outs[4, None] == outs[8, None] == outs[4, 64]


class _PieceTokenizer:
    """Token i decodes to PIECES[i] (enough to drive `Sequence` without a model)."""

    def __init__(self, pieces: list[str]):
        self.pieces = pieces

    def decode(self, ids, skip_special_tokens=True):
        return "".join(self.pieces[i] for i in ids)


@pytest.mark.parametrize("pieces,stream,final,reason", [
    (["Hel", "lo E", "N", "D more", "x"], ["Hel", "lo ", "", ""], "Hello ", "stop"),
    (["a E", "x", "y", "z"], ["a ", "Ex", "y", "z"], "a Exyz", "length"),
])
def test_stop_string_held_back_across_tokens(pieces, stream, final, reason):
    from clawhost.plugins.quantized_model.sequence import Sequence

    seq = Sequence(_PieceTokenizer(pieces), [0], SamplingParams(stop=["END"]), max_tokens=4,
                   stop_ids=set())
    got = []
    for i in range(len(pieces)):
        ev = seq.advance(np.eye(len(pieces), dtype=np.float32)[i])
        got.append(ev.text)
        if ev.finish_reason:
            break
    assert got == stream and seq.result().text == final and seq.finish_reason == reason
    assert "".join(got) == final


def test_top_p_and_top_k_restrict_the_candidates():
    from clawhost.plugins.quantized_model.sampling import Sampler

    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32))
    top_p = Sampler(SamplingParams(temperature=1.0, top_p=0.7, seed=0))
    top_k = Sampler(SamplingParams(temperature=1.0, top_k=3, seed=0))
    free = Sampler(SamplingParams(temperature=1.0, seed=0))
    assert {top_p.pick(logits) for _ in range(300)} == {0, 1}
    assert {top_k.pick(logits) for _ in range(300)} == {0, 1, 2}
    counts = np.bincount([free.pick(logits) for _ in range(4000)], minlength=4) / 4000
    np.testing.assert_allclose(counts, [0.5, 0.3, 0.15, 0.05], atol=0.03)


@pytest.mark.parametrize("top_p", [0.3, 0.9, 0.95, 0.999])
def test_nucleus_is_the_full_sorts_prefix(top_p):
    """top-p sorts the best candidates first and the rest only when the nucleus reaches
    them (sampling._nucleus): it keeps the same tokens in the same order as sorting all of
    them, ties included, from peaked distributions to flat ones that need the full sort."""
    from clawhost.plugins.quantized_model.sampling import _nucleus

    rng = np.random.default_rng(5)
    for spread in (0.3, 1.0, 3.0, 8.0):
        for ties in (False, True):
            x = rng.normal(0, spread, 6000)
            if ties:  # many equal probabilities, some of them at the cut
                x = np.round(x * 2) / 2
            probs = np.exp(x - x.max())
            order = np.argsort(-probs, kind="stable")
            keep = int(np.searchsorted(np.cumsum(probs[order]) / probs.sum(), top_p)) + 1
            np.testing.assert_array_equal(_nucleus(probs, top_p), order[:keep])
    for tied in (100, 3000):  # the nucleus ends inside a block of equal ones: lowest first
        probs = rng.uniform(0, 1e-6, 6000)
        probs[rng.choice(6000, tied, replace=False)] = 0.1
        order = np.argsort(-probs, kind="stable")
        keep = int(np.searchsorted(np.cumsum(probs[order]) / probs.sum(), top_p)) + 1
        np.testing.assert_array_equal(_nucleus(probs, top_p), order[:keep])
