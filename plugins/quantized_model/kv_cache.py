"""The chat graph's KV cache element type: float32, float16 or int8.

GroupQueryAttention (onnxruntime >= 1.32) keeps its cache in the type of ``past_key``: float16
next to a float32 query, or int8 with static per-channel scales (``k_quant_type`` /
``v_quant_type`` PER_CHANNEL, ``k_scale`` / ``v_scale`` inputs of [1, kv_heads, 1, head_dim]).
The prepared ``model.onnx`` always has a float32 cache (the float reference and the perplexity
check use it); the other types are small graph files beside it, ``model.kv-<type>.onnx``,
that share its weights file. They are written while preparing, or on first load for
artifacts prepared before this existed (the int8 one needs a calibration pass either way).

int8 scales: the largest |key| / |value| per channel over a calibration text rendered as a
chat (the template's first tokens carry the largest values), times a margin, / 127. Keys are
stored after the rotary embedding, which rotates channel pairs: a pair shares the larger of
its two maxima, so no position's rotation can leave the calibrated range.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

KVDtype = Literal["float32", "float16", "int8"]
KV_DTYPES: tuple[str, ...] = ("float32", "float16", "int8")
DEFAULT_KV_DTYPE: KVDtype = "int8"
ITEMSIZE = {"float32": 4, "float16": 2, "int8": 1}
NUMPY = {"float32": np.float32, "float16": np.float16, "int8": np.int8}
# values beyond the calibrated range saturate; this much room above it costs 0.2 bits
MARGIN = 1.15


def graph_file(dtype: str) -> str:
    """The graph file (in the artifact folder) whose KV cache has this element type."""
    return "model.onnx" if dtype == "float32" else f"model.kv-{dtype}.onnx"


def bytes_per_token(cfg, dtype: str = "float32") -> int:
    """KV cache bytes one token of one sequence takes (keys and values, all layers)."""
    return 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * ITEMSIZE[dtype]


def calibration_ids(tokenizer_encode, render_chat) -> list[int]:
    """A chat-rendered text as served prompts look (system prompt, markers, prose)."""
    from .quality import CHECK_PROMPTS, PPL_TEXT

    msgs = [{"role": "user", "content": PPL_TEXT},
            {"role": "assistant", "content": " ".join(CHECK_PROMPTS)},
            {"role": "user", "content": CHECK_PROMPTS[0]}]
    return tokenizer_encode(render_chat(msgs))


def calibrate(folder: Path, threads: int = 2) -> np.ndarray:
    """Per-channel int8 scales, [layers, 2 (key, value), kv_heads, head_dim] float32, from
    the float32-cache graph run over `calibration_ids`."""
    from .chat_engine import ChatEngine
    from .runner import Runner

    engine = ChatEngine.load(folder, threads=threads, kv_cache="float32")
    ids = calibration_ids(engine.encode, engine.render_chat)[: engine.config.context_length]
    runner = Runner(engine.model, rows=1, capacity=len(ids))
    engine.prefill(runner, 0, ids)
    cfg = engine.config
    amax = np.empty((cfg.num_layers, 2, cfg.num_kv_heads, cfg.head_dim), np.float32)
    for j, buf in enumerate(runner.kv):
        amax[j // 2, j % 2] = np.abs(buf[0, :, :len(ids)]).max(axis=1)
    keys = amax[:, 0]
    if cfg.rotary_interleaved:  # pairs (0, 1), (2, 3), ...
        pair = np.maximum(keys[..., 0::2], keys[..., 1::2])
        keys[..., 0::2] = keys[..., 1::2] = pair
    else:  # pairs (i, i + head_dim / 2)
        half = cfg.head_dim // 2
        pair = np.maximum(keys[..., :half], keys[..., half:])
        keys[..., :half] = keys[..., half:] = pair
    return np.maximum(amax * MARGIN / 127.0, 1e-6).astype(np.float32)


def write_variant(folder: Path, dtype: str, scales: np.ndarray | None = None) -> Path:
    """Write ``graph_file(dtype)`` beside ``model.onnx``, sharing its weights file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder = Path(folder)
    out = folder / graph_file(dtype)
    if dtype == "float32":
        return out
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    g = model.graph
    elem = {"float16": TensorProto.FLOAT16, "int8": TensorProto.INT8}[dtype]
    for vi in list(g.input) + list(g.output):
        if vi.name.startswith(("past_key_", "past_value_", "present_key_", "present_value_")):
            vi.type.tensor_type.elem_type = elem
    for node in g.node:
        if node.op_type != "GroupQueryAttention" or dtype != "int8":
            continue
        layer = int(node.output[1].rsplit("_", 1)[1])
        names = []
        for kind, s in (("k", scales[layer, 0]), ("v", scales[layer, 1])):
            name = f"{kind}_scale_{layer}"
            g.initializer.append(numpy_helper.from_array(
                np.ascontiguousarray(s[None, :, None, :], np.float32), name))
            names.append(name)
        while len(node.input) < 14:  # k_scale, v_scale are inputs 12 and 13
            node.input.append("")
        node.input[12], node.input[13] = names
        node.attribute.extend([helper.make_attribute("k_quant_type", "PER_CHANNEL"),
                               helper.make_attribute("v_quant_type", "PER_CHANNEL"),
                               helper.make_attribute("kv_cache_bit_width", 8)])
    tmp = out.with_name(f"{out.name}.{os.getpid()}.partial")  # two loaders may race
    onnx.save_model(model, str(tmp))  # weights stay in model.onnx.data (relative location)
    tmp.replace(out)
    return out


def ensure_graph(folder: Path, dtype: str, threads: int = 2) -> Path:
    """The graph file for `dtype`, written now if this artifact folder predates it."""
    if dtype not in KV_DTYPES:
        raise ValueError(f"unknown KV cache type {dtype!r}; choose one of {', '.join(KV_DTYPES)}")
    path = Path(folder) / graph_file(dtype)
    if not path.exists():
        write_variant(folder, dtype, calibrate(folder, threads) if dtype == "int8" else None)
    return path


def write_all(folder: Path, threads: int = 2) -> None:
    """Every variant graph (preparation time)."""
    for dtype in KV_DTYPES:
        ensure_graph(folder, dtype, threads)
