"""Write the smaller-KV-cache graphs of a prepared chat model (see `kv_cache`), calibrating
the int8 scales on the float32-cache graph.

Separate from `kv_cache` because calibrating runs the chat engine, which imports `kv_cache`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .kv_cache import KV_DTYPES, graph_file

# values beyond the calibrated range saturate; this much room above it costs 0.2 bits
MARGIN = 1.15


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
    """Write ``graph_file(dtype)`` beside ``model.onnx``, sharing its weights file. The int8
    graph also gets the float prefill path of `kv_prefill`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from . import kv_prefill

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
    num_heads = layers = 0
    for idx, node in enumerate(g.node):
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
        num_heads = next(a.i for a in node.attribute if a.name == "num_heads")
        g.node[idx].CopyFrom(kv_prefill.split_attention(
            g, node, layer, scales[layer, 0], scales[layer, 1], num_heads))
        layers += 1
    if layers:
        kv_prefill.add_shared(g, "inputs_embeds", layers, *scales.shape[2:])
        kv_prefill.mark(model)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.partial")  # two loaders may race
    onnx.save_model(model, str(tmp))  # weights stay in model.onnx.data (relative location)
    tmp.replace(out)
    return out


def stored_scales(path: Path) -> np.ndarray | None:
    """The calibrated scales of an int8 graph written before, [layers, 2, kv_heads, head_dim]
    (None when there is no such graph)."""
    import onnx
    from onnx import numpy_helper

    if not path.exists():
        return None
    g = onnx.load(str(path), load_external_data=False).graph
    found = {t.name: numpy_helper.to_array(t) for t in g.initializer
             if t.name.startswith(("k_scale_", "v_scale_"))}
    layers = len(found) // 2
    if not layers:
        return None
    return np.stack([np.stack([found[f"k_scale_{i}"][0, :, 0], found[f"v_scale_{i}"][0, :, 0]])
                     for i in range(layers)]).astype(np.float32)


def ensure_graph(folder: Path, dtype: str, threads: int = 2) -> Path:
    """The graph file for `dtype`, written now if this artifact folder predates it. An
    existing int8 graph is not opened here (that imports onnx, 2 s at start-up: ml_dtypes'
    import alone); the loader checks its prefill path with `is_current` and calls `refresh`."""
    path = Path(folder) / graph_file(dtype)
    if not path.exists():
        write_variant(folder, dtype, calibrate(folder, threads) if dtype == "int8" else None)
    return path


def refresh(folder: Path, threads: int = 2) -> Path:
    """Rewrite an int8 graph written without the current prefill path (kv_prefill), with its
    own scales (recalibrated if it has none)."""
    scales = stored_scales(Path(folder) / graph_file("int8"))
    return write_variant(folder, "int8", calibrate(folder, threads) if scales is None else scales)


def write_all(folder: Path, threads: int = 2) -> None:
    """Every variant graph (preparation time)."""
    for dtype in KV_DTYPES:
        ensure_graph(folder, dtype, threads)
    refresh_if_stale(folder, threads)


def refresh_if_stale(folder: Path, threads: int = 2) -> None:
    """Rewrite an int8 graph left in the folder by an older build (preparation, benchmarks
    and tests; serving checks the open session's metadata instead, without importing onnx)."""
    import onnx

    from .kv_prefill import is_current
    graph = onnx.load(str(Path(folder) / graph_file("int8")), load_external_data=False)
    if not is_current({p.key: p.value for p in graph.metadata_props}):
        refresh(folder, threads)
