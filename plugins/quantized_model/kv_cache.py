"""The chat graph's KV cache element type: float32, float16 or int8.

GroupQueryAttention (onnxruntime >= 1.32) keeps its cache in the type of ``past_key``: float16
next to a float32 query, or int8 with static per-channel scales (``k_quant_type`` /
``v_quant_type`` PER_CHANNEL, ``k_scale`` / ``v_scale`` inputs of [1, kv_heads, 1, head_dim]).
The prepared ``model.onnx`` always has a float32 cache (the float reference and the perplexity
check use it); the other types are small graph files beside it, ``model.kv-<type>.onnx``,
that share its weights file, written by `kv_calibrate` while preparing, or when the plugin
loads artifacts prepared before this existed. This module is the leaf the engine imports:
types and sizes only.

int8 scales (`kv_calibrate`): the largest |key| / |value| per channel over a calibration text rendered as a
chat (the template's first tokens carry the largest values), times a margin, / 127. Keys are
stored after the rotary embedding, which rotates channel pairs: a pair shares the larger of
its two maxima, so no position's rotation can leave the calibrated range.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

KVDtype = Literal["float32", "float16", "int8"]
KV_DTYPES: tuple[str, ...] = ("float32", "float16", "int8")
DEFAULT_KV_DTYPE: KVDtype = "int8"
ITEMSIZE = {"float32": 4, "float16": 2, "int8": 1}
NUMPY = {"float32": np.float32, "float16": np.float16, "int8": np.int8}


def graph_file(dtype: str) -> str:
    """The graph file (in the artifact folder) whose KV cache has this element type."""
    if dtype not in KV_DTYPES:
        raise ValueError(f"unknown KV cache type {dtype!r}; choose one of {', '.join(KV_DTYPES)}")
    return "model.onnx" if dtype == "float32" else f"model.kv-{dtype}.onnx"


def bytes_per_token(cfg, dtype: str = "float32") -> int:
    """KV cache bytes one token of one sequence takes (keys and values, all layers)."""
    return 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * ITEMSIZE[dtype]
