"""Local embedding engine: graph built from safetensors, checked against a numpy BERT, served by ORT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from clawhost.engines.bert_graph import QUANTIZATIONS, build_bert_onnx
from clawhost.engines.embed_engine import EmbedEngine, InputTooLongError, padded, plan_batches

WORDS = "the a cat dog sat on mat bread bake car fix how do i what is recipe for ran fast slow".split()
HIDDEN, HEADS, LAYERS, FFN, MAX_POS, MAX_LEN = 64, 4, 2, 128, 40, 24


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz-Stegun 7.1.26 (abs error < 1.5e-7): numpy has no erf and scipy is not a dependency."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return np.sign(x) * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * g + b


def reference_forward(weights: dict, heads: int, eps: float, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Float64 numpy BERT from the raw HF weight names, masked mean pooling, L2 normalisation."""
    w = {k.removeprefix("bert."): v.astype(np.float64) for k, v in weights.items() if v.dtype.kind == "f"}
    batch, seq = ids.shape
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    hidden = x.shape[-1]
    d = hidden // heads
    mask_bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9)
    i = 0
    while f"encoder.layer.{i}.attention.self.query.weight" in w:
        p = f"encoder.layer.{i}."

        def lin(t: np.ndarray, n: str) -> np.ndarray:
            return t @ w[p + n + ".weight"].T + w[p + n + ".bias"]

        q, k, v = (lin(x, f"attention.self.{n}").reshape(batch, seq, heads, d).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + mask_bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
        x = _layer_norm(lin(a, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"], eps)
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
        x = _layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                        w[p + "output.LayerNorm.bias"], eps)
        i += 1
    m = mask[..., None].astype(np.float64)
    e = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


def _tiny_model(folder: Path) -> dict[str, np.ndarray]:
    """A random 2-layer BERT with a WordPiece tokenizer, written the way HF ships one."""
    rng = np.random.default_rng(7)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + WORDS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "intermediate_size": FFN, "layer_norm_eps": 1e-12, "max_position_embeddings": MAX_POS,
        "hidden_act": "gelu", "vocab_size": len(vocab), "type_vocab_size": 2}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": MAX_LEN}))

    def r(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {"embeddings.word_embeddings.weight": r(len(vocab), HIDDEN, scale=1.0),
         "embeddings.position_embeddings.weight": r(MAX_POS, HIDDEN),
         "embeddings.token_type_embeddings.weight": r(2, HIDDEN),
         "embeddings.LayerNorm.weight": 1 + r(HIDDEN, scale=0.1), "embeddings.LayerNorm.bias": r(HIDDEN, scale=0.1),
         "embeddings.position_ids": np.arange(MAX_POS, dtype=np.int64)[None]}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            w[p + n + ".weight"], w[p + n + ".bias"] = r(HIDDEN, HIDDEN, scale=0.15), r(HIDDEN, scale=0.1)
        w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"] = r(FFN, HIDDEN, scale=0.15), r(FFN)
        w[p + "output.dense.weight"], w[p + "output.dense.bias"] = r(HIDDEN, FFN, scale=0.1), r(HIDDEN, scale=0.1)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + n + ".weight"], w[p + n + ".bias"] = 1 + r(HIDDEN, scale=0.1), r(HIDDEN, scale=0.1)
    save_file(w, str(folder / "model.safetensors"))
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.enable_padding(length=MAX_LEN)  # like MiniLM's packaged tokenizer.json: the engine must undo this
    tok.save(str(folder / "tokenizer.json"))
    return w


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("tiny_bert")
    weights = _tiny_model(root / "src")
    facts = {q: build_bert_onnx(root / "src", root / q, q) for q in ("fp32", "int8")}
    engines = {q: EmbedEngine.load(root / q, threads=1) for q in facts}
    return {"root": root, "weights": weights, "facts": facts, "eng": engines}


def _reference(tiny: dict, texts: list[str]) -> np.ndarray:
    eng = tiny["eng"]["fp32"]
    ids, mask = padded(eng._encode(texts))
    return reference_forward(tiny["weights"], HEADS, 1e-12, ids, mask)


TEXTS = ["the cat sat on the mat", "how do i bake bread", "a dog", "what is a recipe for bread", "fix the car fast"]


def test_fp32_graph_matches_numpy_reference(tiny: dict) -> None:
    got = tiny["eng"]["fp32"].embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), HIDDEN)
    assert np.abs(got - _reference(tiny, TEXTS)).max() < 1e-4


def test_int8_graph_stays_close_to_reference(tiny: dict) -> None:
    got = tiny["eng"]["int8"].embed(TEXTS)
    cos = (got * _reference(tiny, TEXTS)).sum(1)
    assert cos.min() > 0.99
    assert not np.allclose(got, tiny["eng"]["fp32"].embed(TEXTS), atol=1e-6)  # really a different graph


@pytest.mark.parametrize("q", [q for q in QUANTIZATIONS if q not in ("fp32", "int8")])
def test_every_int8_variant_tracks_the_reference(tiny: dict, q: str) -> None:
    # int8-b128 on this model's K of 64/128 also covers a block wider than K (zero-padded).
    facts = build_bert_onnx(tiny["root"] / "src", tiny["root"] / q, q)
    got = EmbedEngine.load(tiny["root"] / q, threads=1).embed(TEXTS)
    assert facts["quantization"] == q
    assert (got * _reference(tiny, TEXTS)).sum(1).min() > 0.98


def test_the_graph_is_built_with_this_cpus_weight_bits(tiny: dict, monkeypatch) -> None:
    import onnx
    from onnx import numpy_helper

    from clawhost.engines import cpu
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    for flags, bits in (("flags : avx2", 7), ("flags : avx2 avx512_vnni", 8)):
        monkeypatch.setattr(cpu, "cpu_flags", lambda f=flags: f)
        out = tiny["root"] / f"bits{bits}"
        facts = build_bert_onnx(tiny["root"] / "src", out, "int8")
        assert facts["weight_bits"] == bits
        model = onnx.load(str(out / "model.onnx"))
        widest = max(int(np.abs(numpy_helper.to_array(t).astype(np.int16)).max())
                     for t in model.graph.initializer
                     if t.data_type == onnx.TensorProto.INT8 and "_qw" in t.name)
        assert widest == 2 ** (bits - 1) - 1  # each column's largest weight reaches the end
        got = EmbedEngine.load(out, threads=1).embed(TEXTS)
        assert (got * _reference(tiny, TEXTS)).sum(1).min() > 0.98


def test_graph_facts_name_fused_and_quantized_ops(tiny: dict) -> None:
    fp32, int8 = tiny["facts"]["fp32"]["ops"], tiny["facts"]["int8"]["ops"]
    for ops in (fp32, int8):
        assert ops["Softmax"] == LAYERS and ops["LayerNormalization"] == 2 * LAYERS + 1
        assert "SkipLayerNormalization" not in ops  # its CPU kernel is the slow one
    assert int8["MatMulIntegerToFloat"] == 4 * LAYERS and int8["QuantizeLinear"] == 4 * LAYERS
    assert "GatherBlockQuantized" in int8
    # Only attention's two products per layer and the pooling product stay float; the
    # scores read k transposed inside FusedMatMul (no Transpose of k).
    assert int8.get("MatMul", 0) == LAYERS + 1 and int8["FusedMatMul"] == LAYERS
    assert int8["Transpose"] == 2 * LAYERS
    assert tiny["facts"]["int8"]["onnx_bytes"] < tiny["facts"]["fp32"]["onnx_bytes"]
    cfg = json.loads((tiny["root"] / "int8" / "embed_config.json").read_text())
    assert cfg["dim"] == HIDDEN and cfg["max_length"] == MAX_LEN


@pytest.mark.parametrize("q", ["fp32", "int8"])
def test_rows_are_unit_norm(tiny: dict, q: str) -> None:
    assert np.allclose(np.linalg.norm(tiny["eng"][q].embed(TEXTS), axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("q", ["fp32", "int8"])
def test_padding_does_not_change_an_embedding(tiny: dict, q: str) -> None:
    eng = tiny["eng"][q]
    alone = eng.embed(["a dog"])[0]
    long_ones = ["the cat sat on the mat and the dog ran fast", "how do i fix the car " * 3]
    mixed = eng.embed(long_ones + ["a dog"] + long_ones)
    assert np.abs(mixed[2] - alone).max() < 1e-5
    assert np.abs(mixed[0] - mixed[3]).max() < 1e-5  # order is restored after sorting by length


def test_truncation_keeps_the_first_tokens(tiny: dict, tmp_path: Path) -> None:
    eng = tiny["eng"]["fp32"]
    words = (WORDS * 3)[:40]
    long_text = " ".join(words)
    assert eng.count_tokens([long_text]) == [42]
    cut = " ".join(words[:MAX_LEN - 2])
    assert np.abs(eng.embed([long_text]) - eng.embed([cut])).max() < 1e-5
    vectors, counts = eng.embed_counted(["a dog", long_text])  # usage counts what was embedded
    assert counts == [eng.count_tokens(["a dog"])[0], MAX_LEN] and vectors.shape == (2, HIDDEN)
    strict = EmbedEngine.load(tiny["root"] / "fp32", threads=1, truncate=False)
    with pytest.raises(InputTooLongError, match="42 tokens"):
        strict.embed(["a dog", long_text])
    assert strict.embed([cut]).shape == (1, HIDDEN)
    shorter = EmbedEngine.load(tiny["root"] / "fp32", threads=1, max_length=8)
    assert shorter.max_length == 8
    assert np.abs(shorter.embed([long_text]) - eng.embed([" ".join(words[:6])])).max() < 1e-5
    with pytest.raises(ValueError, match="max_length"):
        EmbedEngine.load(tiny["root"] / "fp32", max_length=MAX_POS + 1)


def test_empty_inputs_have_defined_results(tiny: dict) -> None:
    eng = tiny["eng"]["int8"]
    assert eng.count_tokens(["", "a dog"]) == [2, 4]
    empty = eng.embed([""])
    assert empty.shape == (1, HIDDEN) and np.isfinite(empty).all()
    assert abs(np.linalg.norm(empty) - 1.0) < 1e-5
    assert eng.embed([]).shape == (0, HIDDEN)
    with pytest.raises(TypeError, match="list of strings"):
        eng.embed("a dog")
    with pytest.raises(TypeError, match="list of strings"):
        eng.embed(["a dog", None])


def test_concurrent_embed_calls_give_the_same_vectors(tiny: dict) -> None:
    eng = tiny["eng"]["int8"]
    jobs = [TEXTS[i:] + TEXTS[:i] for i in range(len(TEXTS))] * 3
    expected = [eng.embed(j) for j in jobs]
    got: list = [None] * len(jobs)

    def work(i: int) -> None:
        got[i] = eng.embed(jobs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e, g in zip(expected, got):
        assert np.abs(e - g).max() < 1e-5
    spinning = EmbedEngine.load(tiny["root"] / "int8", threads=2, spin=True)  # busy-waiting pool threads
    assert np.abs(spinning.embed(TEXTS) - eng.embed(TEXTS)).max() < 1e-5


def test_batch_plan_splits_off_long_texts_and_respects_the_cap() -> None:
    lengths = [5] * 40 + [60]
    bounds = plan_batches(lengths, max_batch=32, run_cost=10)
    assert bounds[0] == 0 and bounds[-1] == len(lengths)
    assert all(0 < b - a <= 32 for a, b in zip(bounds, bounds[1:]))
    assert bounds[-2] == 40  # the one long text runs alone instead of padding 40 short ones to 60
    assert plan_batches([7] * 64, max_batch=32) == [0, 32, 64]  # equal lengths: fewest runs
    assert plan_batches([], max_batch=32) == [0]


def test_batch_plan_caps_padded_tokens_per_run() -> None:
    bounds = plan_batches([100] * 10 + [500], max_batch=32, max_tokens=320)
    sizes = [b - a for a, b in zip(bounds, bounds[1:])]
    assert sum(sizes) == 11 and sizes[-1] == 1  # a text longer than the cap still runs, alone
    assert all(size * 100 <= 320 for size in sizes[:-1])
    assert plan_batches([10] * 64, max_batch=32, max_tokens=320) == [0, 32, 64]
    assert plan_batches([10] * 64, max_batch=32, max_tokens=160) == [0, 16, 32, 48, 64]


def test_bad_artifacts_and_options_give_clear_errors(tiny: dict, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model.onnx is missing"):
        EmbedEngine.load(tmp_path)
    with pytest.raises(ValueError, match="unknown quantization"):
        build_bert_onnx(tiny["root"] / "src", tmp_path / "x", "int3")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("tokenizer.json", "embed_config.json"):
        (broken / name).write_bytes((tiny["root"] / "fp32" / name).read_bytes())
    (broken / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot load"):
        EmbedEngine.load(broken)


def test_import_does_not_pull_torch_or_transformers() -> None:
    code = ("import sys, clawhost.engines.embed_engine, clawhost.engines.bert_graph; "
            "bad = [m for m in ('torch', 'transformers', 'sentence_transformers', 'optimum') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_real_minilm_int8_tracks_fp32(tmp_path: Path, packaged_minilm: Path) -> None:
    for q in ("fp32", "int8"):
        build_bert_onnx(packaged_minilm, tmp_path / q, q)
    fp32, int8 = (EmbedEngine.load(tmp_path / q, threads=2) for q in ("fp32", "int8"))
    topics = ["bread", "a car", "the weather", "python code", "my taxes", "a cat", "the moon", "football", "music",
              "a new job"]
    forms = ["How do I learn about {}?", "What is the best thing about {}?", "Why is {} so hard to understand?",
             "Tell me something about {}.", "{}"]
    texts = [f.format(t) for t in topics for f in forms]
    cos = (fp32.embed(texts) * int8.embed(texts)).sum(1)
    assert len(texts) == 50 and cos.min() > 0.99
    for eng in (fp32, int8):
        q, near, far = eng.embed(["How do I bake bread?", "What is a recipe for baking bread?", "How do I fix a car?"])
        assert q @ near > q @ far


def test_smoothquant_vectors_do_not_depend_on_the_batch(tiny: dict) -> None:
    # int8-sq scales activations per token, so a text embeds the same alone or next to long ones;
    # int8-dyn (one activation scale per batch) is the counter-example the test must tell apart.
    long_ones = ["the cat sat on the mat and the dog ran fast " * 2, "how do i fix the car " * 3]
    drift = {}
    for q in ("int8-sq", "int8-dyn"):
        if not (tiny["root"] / q / "model.onnx").exists():
            build_bert_onnx(tiny["root"] / "src", tiny["root"] / q, q)
        eng = EmbedEngine.load(tiny["root"] / q, threads=1, batch_size=8)
        alone = eng.embed(["a dog"])[0]
        drift[q] = float(np.abs(eng.embed(long_ones + ["a dog"])[2] - alone).max())
    assert drift["int8-sq"] < 1e-5 < drift["int8-dyn"]
