"""Prepare a chat model: GGUF / HF folder -> fused ONNX graph + tokenizer + config, checked.

No torch anywhere. ``build(src, out, spec, emit) -> (facts, check)`` is what the preparation
process calls; the checks (perplexity and greedy text vs the float graph) go into the
manifest.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from .gguf_tokenizer import chat_meta_from_gguf, chat_meta_from_hf, tokenizer_json_from_gguf
from .llama_graph import GraphOptions, write_llama
from .weights import GGUFWeights, open_weights

Emit = Callable[[float, str], None]

# Presets (measured on SmolLM2-135M; docs/local-models.md has the table). Re-quantizing the
# GGUF's Q4_1 blocks to MatMulNBits' integer zero points costs ~20% perplexity at pure 4 bits,
# so the default keeps the most sensitive matrices (attention and down projections, measured
# one by one) at 8 bits and the rest at 4; its LM head is 4-bit with exact 8-bit rescoring
# of the best candidates (runner.rescore). 8-bit matrices use blocks of 64: MLAS runs them
# ~3% faster than blocks of 32 and perplexity did not suffer (16.92 vs 17.29 for int4-mixed).
PRESETS: dict[str, GraphOptions] = {
    "int4-mixed": GraphOptions(weight_bits=4, eight_bit=["qkv", "o", "down"], head_bits=4,
                               block_size_8bit=64),
    "int8": GraphOptions(weight_bits=8, head_bits=8, block_size_8bit=64),
    "int4": GraphOptions(weight_bits=4, head_bits=4),
    "fp32": GraphOptions(weight_bits=32, head_bits=32),
}
DEFAULT_PRESET = "int4-mixed"
_TOKENIZER_KEYS = ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                   "tokenizer.ggml.merges", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id",
                   "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
                   "tokenizer.chat_template")


def write_artifacts(weights, src: Path, out: Path, opts: GraphOptions,
                    emit: Emit = lambda f, s: None) -> dict[str, Any]:
    """Write model.onnx(+.data), tokenizer.json and chat_config.json into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(weights, GGUFWeights):
        fields = {k: weights.field(k) for k in _TOKENIZER_KEYS}
        (out / "tokenizer.json").write_text(json.dumps(tokenizer_json_from_gguf(fields)))
        meta = chat_meta_from_gguf(fields)
    else:
        shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
        meta = chat_meta_from_hf(src)

    def tick(_what: str, i: int, n: int) -> None:
        emit(0.15 + 0.45 * i / max(n, 1), f"building layer {i}/{n}")

    write_llama(weights, opts, out / "model.onnx", progress=tick)
    (out / "chat_config.json").write_text(json.dumps(
        {"config": weights.config.model_dump(), **meta, "graph": opts.model_dump()}, indent=2))
    return meta


def build(src: Path, out: Path, spec: dict[str, Any], emit: Emit = lambda f, s: None,
          threads: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build the artifacts for `spec["quantization"]` (a PRESETS key) and check them."""
    quant = spec.get("quantization") or DEFAULT_PRESET
    if quant not in PRESETS:
        raise ValueError(f"unknown chat quantization {quant!r}; choose one of {', '.join(PRESETS)}")
    opts = PRESETS[quant]
    emit(0.12, "reading weights")
    weights = open_weights(src)
    write_artifacts(weights, Path(src), out, opts, emit)
    cfg = weights.config
    emit(0.61, "calibrating the int8 KV cache")
    from .kv_calibrate import write_all
    write_all(out, threads)  # model.kv-float16.onnx, model.kv-int8.onnx beside model.onnx
    facts = {"quantization": quant, "graph": opts.model_dump(), "layers": cfg.num_layers,
             "vocab_size": cfg.vocab_size, "context_length": cfg.context_length}
    check: dict[str, Any] = {}
    if spec.get("check", True) and opts.weight_bits < 32:
        from .quality import compare_with_float, release_memory

        emit(0.62, "writing the float reference graph")
        ref = out / ".fp32"
        try:
            write_artifacts(weights, Path(src), ref, PRESETS["fp32"])
            # the reference session holds ~560 MB of float weights: let nothing else stay
            # (the GGUF reader's parsed metadata is ~160 MB of small objects)
            del weights
            release_memory()
            emit(0.65, "checking against the float graph")
            check = compare_with_float(ref, out, threads=threads, emit=emit)
        finally:
            shutil.rmtree(ref, ignore_errors=True)
    return facts, check
