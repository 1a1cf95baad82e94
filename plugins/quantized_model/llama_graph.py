"""Build a fused llama decoder ONNX graph straight from numpy weights (no torch, no exporter).

The graph mirrors what onnxruntime-genai's model builder emits, because the fused contrib
ops are where the speed is (DESIGN.md: unfused export 40 tok/s, fused 125 tok/s):

    inputs_embeds (looked up in numpy from the 8-bit table of the tied LM head)
    per layer: SkipSimplifiedLayerNormalization -> MatMulNBits(packed QKV)
               -> GroupQueryAttention (rotary inside, KV cache shared in place)
               -> MatMulNBits(o) -> SkipSimplifiedLayerNormalization
               -> MatMulNBits(packed gate+up) -> Split -> SiLU * up -> MatMulNBits(down)
    last position only -> MatMulNBits(LM head, 8-bit)

Inputs: ``inputs_embeds`` float32 [B, S, H], ``num_logits`` int64 [1], ``seqlens_k`` int32 [B] (= total length - 1 per row),
``total_sequence_length`` int32 scalar, ``past_key_{i}`` / ``past_value_{i}`` float32
[B, kv_heads, capacity, head_dim]. Outputs: ``logits`` [B, S or 1, V] and ``present_*``.
Binding the same buffer to past and present makes GQA append to the cache in place.
"""
from __future__ import annotations

import sys
import weakref
from pathlib import Path
from typing import BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from pydantic import BaseModel

from clawhost.engines.onnx_files import save_with_external_data
from .quantize import NBits, from_q8_0, quantize, requantize
from .weights import LlamaConfig, WeightReader


class GraphOptions(BaseModel):
    """How to encode the weights. ``weight_bits=32`` gives the float reference graph."""

    weight_bits: int = 4  # transformer-block matrices: 4, 8 or 32
    head_bits: int = 8  # LM head: 8, 32, or 4 (+ exact 8-bit rescoring of the best tokens)
    accuracy_level: int = 4  # MatMulNBits compute type; 4 = int8 activations (llama.cpp-like)
    block_size: int = 32
    head_block_size: int | None = None  # 4-bit LM head's block (None: block_size)
    block_size_8bit: int = 32  # 8-bit matrices: 64 is faster (MLAS) and loses nothing measurable
    # matrices kept at 8 bits inside a 4-bit graph: names ("qkv", "o", "gate", "up", "down")
    # for every layer, or "LAYER.NAME" / "LAYER.*" for one layer
    eight_bit: list[str] = []
    pack_gate_up: bool = True  # measured: +7% decode (thread CPU), B=4 aggregate +50% under load


class _Builder:
    def __init__(self, cfg: LlamaConfig, opts: GraphOptions, data: BinaryIO | None = None,
                 location: str = ""):
        self.cfg, self.opts = cfg, opts
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0
        # weak references: the builder must not keep every weight alive until the end
        self._seen: dict[int, tuple[weakref.ref, str]] = {}
        self.data, self.location = data, location

    def known(self, arr) -> str | None:
        """The initializer name `arr` (this very object) was added under, if any."""
        seen = self._seen.get(id(arr))
        return seen[1] if seen is not None and seen[0]() is arr else None

    def init(self, name: str, arr: np.ndarray) -> str:
        """Add an initializer; passing the same array object again reuses it (tied weights).

        With a data file, a tensor's bytes go there at once (the layout ``onnx.save_model``
        gives with external data: in order, unaligned, inline below 1 KB), so the graph
        never holds a second copy of the weights."""
        if (known := self.known(arr)) is not None:
            return known
        self._seen[id(arr)] = (weakref.ref(arr), name)
        arr = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<"))  # onnx stores little-endian
        # onnx's threshold is sys.getsizeof(raw_data) >= 1024 (33 bytes of bytes-object header)
        if self.data is None or arr.nbytes + sys.getsizeof(b"") < 1024:
            self.inits.append(numpy_helper.from_array(arr, name))
            return name
        t = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(arr.dtype),
                        dims=arr.shape, data_location=TensorProto.EXTERNAL)
        offset = self.data.tell()
        self.data.write(memoryview(arr.reshape(-1)).cast("B"))  # little-endian, as onnx writes
        for key, value in (("location", self.location), ("offset", offset),
                           ("length", arr.nbytes)):
            t.external_data.add(key=key, value=str(value))
        self.inits.append(t)
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, domain: str = "", **attrs) -> list[str]:
        self.n += 1
        outs = [f"{op}_{self.n}_{j}" for j in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"{op}_{self.n}",
                                           domain=domain, **attrs))
        return outs

    def linear(self, x: str, w: np.ndarray | NBits, name: str, bits: int | None = None) -> str:
        """x @ w.T with w [N, K], as MatMulNBits (quantized) or MatMul (float)."""
        if bits is None:
            bits = self.opts.weight_bits
            layer, _, short = name.removeprefix("layers.").partition(".")
            picks = self.opts.eight_bit
            shorts = short.split("_")  # "gate_up" counts as both
            if bits < 8 and any(x in picks or f"{layer}.{x}" in picks for x in shorts) \
                    or bits < 8 and f"{layer}.*" in picks:
                bits = 8
        if isinstance(w, np.ndarray) and bits >= 16:
            if self.known(w) is not None:  # tied float table: transpose at load, not on disk
                wt = self.node("Transpose", [self.init(name, w)], perm=[1, 0])[0]
                return self.node("MatMul", [x, wt])[0]
            return self.node("MatMul", [x, self.init(name, w.T.astype(np.float32))])[0]
        if isinstance(w, NBits):
            q = w
        else:
            block = self.opts.block_size_8bit if bits == 8 else self.opts.block_size
            q = quantize(w, bits, block if w.shape[1] % block == 0 else self.opts.block_size)
        n, k = q.scales.shape[0], q.scales.shape[1] * q.block
        ins = [x, self.init(name + ".qweight", q.weight), self.init(name + ".scales", q.scales),
               self.init(name + ".zp", q.zero_points)]
        return self.node("MatMulNBits", ins, domain="com.microsoft", K=k, N=n, bits=q.bits,
                         block_size=q.block, accuracy_level=self.opts.accuracy_level)[0]


def _rope_cache(cfg: LlamaConfig) -> tuple[np.ndarray, np.ndarray]:
    half = cfg.head_dim // 2
    inv = 1.0 / (cfg.rope_theta ** (np.arange(half, dtype=np.float64) * 2 / cfg.head_dim))
    ang = np.arange(cfg.context_length, dtype=np.float64)[:, None] * inv[None, :]
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def write_llama(weights: WeightReader, opts: GraphOptions, path: Path, progress=None) -> None:
    """Build the graph straight into ``path`` + ``path.data``, one tensor at a time.

    Same files as ``save_model(build_llama(...), path)``, without holding every weight as
    a protobuf copy and then again as serialized bytes (measured on SmolLM2: the fp32
    reference graph peaked at 2.4 GB that way)."""
    path = Path(path)
    data = path.with_name(path.name + ".data")
    with open(data, "wb") as fh:
        model = build_llama(weights, opts, progress, data=fh, location=data.name)
    save_model(model, path)


def build_llama(weights: WeightReader, opts: GraphOptions, progress=None,
                data: BinaryIO | None = None, location: str = "") -> onnx.ModelProto:
    """Return the ONNX model for `weights`: initializers inline (save with ``save_model``),
    or, given an open ``data`` file named ``location``, written there as they are made."""
    cfg = weights.config
    b = _Builder(cfg, opts, data, location)
    tick = progress or (lambda *_: None)
    kv, hd, nh = cfg.num_kv_heads, cfg.head_dim, cfg.num_heads

    # The embedding lookup happens in numpy (clawhost.plugins.quantized_model.embedding) from the same bytes as
    # the tied LM head, so the 8-bit table is stored once on disk. (Inside the graph it would
    # need a second copy: MatMulNBits only prepacks - its fast path - weights it does not
    # share; sharing measured 2.3 ms/token for the LM head instead of ~1.2 ms.)
    x = "inputs_embeds"
    if opts.head_bits >= 16:
        table = weights.get("embed")
        b.init("embed.weight", table)
        head_w: np.ndarray | NBits = table if cfg.tie_embeddings else weights.get("lm_head")
        head_bits = 32
    else:
        raw = weights.q8_0_blocks("embed")
        table8 = from_q8_0(raw) if raw is not None else quantize(weights.get("embed"), 8, 32)
        head_w, head_bits = table8, 8
        if not cfg.tie_embeddings:
            head_raw = weights.q8_0_blocks("lm_head")
            head_w = from_q8_0(head_raw) if head_raw is not None else quantize(
                weights.get("lm_head"), 8, 32)
        if opts.head_bits == 4:
            # 4-bit head for speed (it is memory-bound: 1.2 ms/token at 8 bits); the engine
            # rescores the best candidates exactly from the 8-bit table (`hidden` output)
            head_w, head_bits = requantize(head_w, 4, opts.head_block_size or opts.block_size), 4
        if head_bits == 4 or not cfg.tie_embeddings:  # table not shared by the graph
            b.init("embed.table.qweight", table8.weight)
            b.init("embed.table.scales", table8.scales)
    cos, sin = _rope_cache(cfg)
    b.init("cos_cache", cos), b.init("sin_cache", sin)

    residual, hidden = x, None
    for i in range(cfg.num_layers):
        tick("layer", i, cfg.num_layers)
        p = f"layers.{i}."
        if hidden is None:  # later layers get their input norm fused into the previous Skip
            ln1 = b.init(p + "attn_norm", weights.get(p + "attn_norm"))
            hidden = b.node("SimplifiedLayerNormalization", [x, ln1], epsilon=cfg.rms_eps,
                            axis=-1, stash_type=1)[0]
        qkv_w = np.concatenate([weights.get(p + "q"), weights.get(p + "k"), weights.get(p + "v")])
        qkv = b.linear(hidden, qkv_w, p + "qkv")
        attn, pk, pv = b.node(
            "GroupQueryAttention",
            [qkv, "", "", f"past_key_{i}", f"past_value_{i}", "seqlens_k",
             "total_sequence_length", "cos_cache", "sin_cache"],
            n_out=3, domain="com.microsoft", num_heads=nh, kv_num_heads=kv,
            scale=float(1.0 / np.sqrt(hd)), do_rotary=1,
            rotary_interleaved=int(cfg.rotary_interleaved))
        b.nodes[-1].output[1], b.nodes[-1].output[2] = f"present_key_{i}", f"present_value_{i}"
        o = b.linear(attn, weights.get(p + "o"), p + "o")
        ln2 = b.init(p + "ffn_norm", weights.get(p + "ffn_norm"))
        sk = b.node("SkipSimplifiedLayerNormalization", [o, residual, ln2], n_out=4,
                    domain="com.microsoft", epsilon=cfg.rms_eps)
        b.nodes[-1].output[1], b.nodes[-1].output[2] = "", ""
        hidden, residual = sk[0], sk[3]
        if opts.pack_gate_up:  # one MatMulNBits (one activation quantization) + a Split
            gu = b.linear(hidden, np.concatenate([weights.get(p + "gate"), weights.get(p + "up")]),
                          p + "gate_up")
            inter = cfg.intermediate_size
            gate, up = b.node("Split", [gu, b.init(f"{p}split", np.array([inter, inter]))],
                              n_out=2, axis=-1)
        else:
            gate = b.linear(hidden, weights.get(p + "gate"), p + "gate")
            up = b.linear(hidden, weights.get(p + "up"), p + "up")
        act = b.node("Mul", [b.node("Mul", [gate, b.node("Sigmoid", [gate])[0]])[0], up])[0]
        down = b.linear(act, weights.get(p + "down"), p + "down")
        nxt = f"layers.{i + 1}.attn_norm" if i + 1 < cfg.num_layers else "norm"
        gamma = b.init(nxt, weights.get(nxt))
        sk = b.node("SkipSimplifiedLayerNormalization", [down, residual, gamma], n_out=4,
                    domain="com.microsoft", epsilon=cfg.rms_eps)
        b.nodes[-1].output[1], b.nodes[-1].output[2] = "", ""
        hidden, residual = sk[0], sk[3]
    # logits only for the last `num_logits` positions: 1 when serving (the LM head over a
    # whole prompt would cost more than the prompt itself), all of them for perplexity
    start = b.node("Neg", ["num_logits"])[0]
    hidden = b.node("Slice", [hidden, start, b.init("last.end", np.array([np.iinfo(np.int64).max])),
                              b.init("last.axis", np.array([1]))])[0]
    b.linear(hidden, head_w, "lm_head", bits=head_bits)
    b.nodes[-1].output[0] = "logits"
    if head_bits == 4:
        b.nodes.append(helper.make_node("Identity", [hidden], ["hidden"]))
    tick("layer", cfg.num_layers, cfg.num_layers)
    return _finish(b, cfg)


def _finish(b: _Builder, cfg: LlamaConfig) -> onnx.ModelProto:
    f32, dims = TensorProto.FLOAT, ["batch", cfg.num_kv_heads, "capacity", cfg.head_dim]
    inputs = [helper.make_tensor_value_info("inputs_embeds", f32,
                                            ["batch", "seq", cfg.hidden_size]),
              helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, ["batch"]),
              helper.make_tensor_value_info("total_sequence_length", TensorProto.INT32, []),
              helper.make_tensor_value_info("num_logits", TensorProto.INT64, [1])]
    outputs = [helper.make_tensor_value_info("logits", f32, ["batch", "out_seq", cfg.vocab_size])]
    if any(n.output[0] == "hidden" for n in b.nodes[-2:]):
        outputs.append(helper.make_tensor_value_info("hidden", f32,
                                                     ["batch", "out_seq", cfg.hidden_size]))
    for i in range(cfg.num_layers):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_{kind}_{i}", f32, dims))
            outputs.append(helper.make_tensor_value_info(f"present_{kind}_{i}", f32, dims))
    graph = helper.make_graph(b.nodes, "llama", inputs, outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 9
    return model


def save_model(model: onnx.ModelProto, path) -> None:
    """Save with all weights in one external data file next to the graph, then the sidecar."""
    from .embedding import write_sidecar

    save_with_external_data(model, path)
    write_sidecar(Path(path))
