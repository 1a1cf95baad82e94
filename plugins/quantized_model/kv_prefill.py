"""The int8 graph's prefill path: float attention over a one-layer float view of the int8 cache.

Why: onnxruntime 1.32's CPU GroupQueryAttention over a quantized cache reads it through
MLAS's fused dequantize-and-dot kernels (``MlasQKGemm``), made for decode: every query row
dequantizes every cached key again, where the float32 cache gets a blocked SGEMM. Measured
on one SmolLM2 layer, a 128-token chunk after 7,000 cached tokens: 233 ms over int8 against
44 ms this way (2 threads); a whole 7k prompt took 95 s against 38 s with a float32 cache.
Per-tensor scales, ``ORT_MLAS_QKGEMM_S8_APPROX_VNNI`` and the non-flash path were no faster.

How: in ``model.kv-int8.onnx`` each layer's attention is an ``If``. Decode steps (one token
per row) and runs of up to `IN_PLACE_TOKENS` tokens (a speculative verification: speculate.py)
run the int8 GroupQueryAttention as before: it appends to the bound cache in place; for a few
tokens its per-row dequantizing costs less than the view's casts (5 tokens after 1,000
cached: 44 against 58 ms). Longer prefill chunks (one row) run the other branch, per KV head h:

    Cast(past_key[:, h, :past]) -> int8 values as floats     (no scale: folded below)
    GroupQueryAttention, float, h's query heads over that view + the chunk (flash attention)
    present[:, :, past:] -> Round -> Clip -> int8 -> outputs ``new_key_{i}`` / ``new_value_{i}``

which the runner writes into the cache after the run. The per-channel scales are folded
into the chunk instead of the cache: queries are multiplied by the key scale of their KV
head and the new keys divided by it (a rotary pair shares one scale, so this commutes with
the rotation), new values are divided by the value scale and the attention output
multiplied by it. So the cache is read with one Cast, and the new rows come out already in
int8 units: round(x / scale) clipped to [-128, 127], as GroupQueryAttention writes them.
Inside a chunk, attention sees its own new keys and values unrounded (closer to float32).

Memory: the float view exists for one KV head of one layer at a time (its keys and values
as float32, plus GroupQueryAttention's present copy: 4 x 4 bytes x head_dim per cached
token, 7 MB for SmolLM2 at 7k; all three heads at once measured +18 MB of host peak) and is
freed before the next. The runner makes those blocks
mappings of their own during the run (`memory.large_blocks_mapped`): on glibc's heap,
30 layers' worth of them fragmented it to several times that.
"""
from __future__ import annotations

import numpy as np

# metadata_props key marking a graph written with this prefill path (older int8 graphs
# are rewritten from their own scales when loaded)
MARK = "clawhost.kv_int8_prefill"
VERSION = "4"  # 3: each branch holds its own constants (the If's implicit inputs 41 -> 10)
# 4: runs of up to IN_PLACE_TOKENS tokens take the in-place branch
IN_PLACE_TOKENS = 8  # the longest run the in-place branch takes (a guess of 7 and its token)


def new_rows_output(kind: str, layer: int) -> str:
    return f"new_{kind}_{layer}"


def fold_scales(k_scale: np.ndarray, v_scale: np.ndarray, num_heads: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier of the packed q|k|v input, multiplier of the attention output) for one
    layer's [kv_heads, head_dim] key and value scales."""
    group = num_heads // k_scale.shape[0]  # query heads per KV head, in order
    qkv = np.concatenate([np.repeat(k_scale, group, 0).ravel(), 1.0 / k_scale.ravel(),
                          1.0 / v_scale.ravel()])
    out = np.repeat(v_scale, group, 0).ravel()
    return qkv.astype(np.float32), out.astype(np.float32)


def split_attention(graph, node, layer: int, k_scale: np.ndarray, v_scale: np.ndarray,
                    num_heads: int):
    """An If to put in place of int8 GroupQueryAttention `node` (already carrying its
    quantization inputs and attributes): decode -> `node`, prefill -> the float path above.
    Needs `add_shared` once per graph."""
    from onnx import TensorProto, helper, numpy_helper

    i = layer
    qkv, past_k, past_v, seqlens, total, cos, sin = (node.input[j] for j in (0, 3, 4, 5, 6, 7, 8))
    out, present_k, present_v = node.output
    kv_heads, head_dim = k_scale.shape
    qkv_mul, out_mul = fold_scales(k_scale, v_scale, num_heads)

    # Constants live in the branch that uses them, not the main graph: every main-graph
    # value a branch reads is an implicit input the If gathers on each run, decode too
    prefill_consts: list = []

    def const(name: str, arr, into: list | None = None) -> str:
        (prefill_consts if into is None else into).append(
            numpy_helper.from_array(np.asarray(arr), name))
        return name

    no_rows = np.zeros((1, kv_heads, 0, head_dim), np.int8)
    empty = const(f"kv_prefill.empty_{i}", no_rows)
    qkv_mul, out_mul = const(f"kv_prefill.qkv_mul_{i}", qkv_mul), const(f"kv_prefill.out_mul_{i}", out_mul)
    p = f"kv_prefill.{i}."
    one, axis2 = const(p + "one", np.array([1], np.int64)), const(p + "axis2", np.array([2], np.int64))
    axes12, lo, hi = (const(p + "axes12", np.array([1, 2], np.int64)), const(p + "lo", np.float32(-128)),
                      const(p + "hi", np.float32(127)))

    def v(name, elem):
        return helper.make_tensor_value_info(name, elem, None)

    f32, i8 = TensorProto.FLOAT, TensorProto.INT8
    n = helper.make_node
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute
             if a.name not in ("k_quant_type", "v_quant_type", "kv_cache_bit_width")}
    prefill = [
        n("Mul", [qkv, qkv_mul], [p + "qkv"]),
        n("Shape", [qkv], [p + "tokens"], start=1, end=2),
        n("Cast", [total], [p + "total64"], to=TensorProto.INT64),
        n("Reshape", [p + "total64", one], [p + "end"]),
        n("Sub", [p + "end", p + "tokens"], [p + "past"]),
    ]
    # one KV head (and its query heads) at a time: a third of the view is alive at once
    group = num_heads // kv_heads
    attrs.update(num_heads=group, kv_num_heads=1)
    q_width = num_heads * head_dim
    outs, new = [], {"key": [], "value": []}
    for h in range(kv_heads):
        g = f"{p}{h}."
        bounds = {"q": (h * group * head_dim, (h + 1) * group * head_dim),
                  "k": (q_width + h * head_dim, q_width + (h + 1) * head_dim),
                  "v": (q_width + (kv_heads + h) * head_dim, q_width + (kv_heads + h + 1) * head_dim)}
        for part, (a, b) in bounds.items():
            prefill.append(n("Slice", [p + "qkv", const(f"{g}{part}.start", np.array([a])),
                                       const(f"{g}{part}.end", np.array([b])), axis2],
                             [g + part]))
        prefill.append(n("Concat", [g + "q", g + "k", g + "v"], [g + "qkv"], axis=2))
        heads = (const(f"{g}head.start", np.array([h, 0])), const(f"{g}head.end", np.array([h + 1])))
        for kind, past in (("key", past_k), ("value", past_v)):
            prefill += [n("Concat", [heads[1], p + "past"], [g + kind + ".ends"], axis=0),
                        n("Slice", [past, heads[0], g + kind + ".ends", axes12],
                          [g + kind + ".int8"]),
                        n("Cast", [g + kind + ".int8"], [g + kind], to=f32)]
        prefill.append(n("GroupQueryAttention",
                         [g + "qkv", "", "", g + "key", g + "value", seqlens, total, cos, sin],
                         [g + "out", g + "present_key", g + "present_value"],
                         domain="com.microsoft", **attrs))
        outs.append(g + "out")
        for kind in ("key", "value"):
            x = g + "present_" + kind
            prefill.append(n("Slice", [x, p + "past", p + "end", axis2], [x + ".new"]))
            new[kind].append(x + ".new")
    prefill += [n("Concat", outs, [p + "out"], axis=2),
                n("Mul", [p + "out", out_mul], [p + "attn"])]
    for kind in ("key", "value"):
        x = p + "present_" + kind
        prefill += [n("Concat", new[kind], [x + ".new"], axis=1),
                    n("Round", [x + ".new"], [x + ".round"]),
                    n("Clip", [x + ".round", lo, hi], [x + ".clip"]),
                    n("Cast", [x + ".clip"], [p + "new_" + kind], to=i8)]
    prefill += [n("Identity", [empty], [p + "no_present_key"]),
                n("Identity", [empty], [p + "no_present_value"])]
    prefill_branch = helper.make_graph(prefill, f"prefill_{i}", [], [
        v(p + "attn", f32), v(p + "no_present_key", i8), v(p + "no_present_value", i8),
        v(p + "new_key", i8), v(p + "new_value", i8)], initializer=prefill_consts)

    d = f"kv_decode.{i}."
    decode_consts: list = []
    decode_empty = const(f"kv_decode.empty_{i}", no_rows, decode_consts)
    decode = helper.make_node(node.op_type, list(node.input), [d + "out", d + "key", d + "value"],
                              name=node.name, domain=node.domain)
    decode.attribute.extend(node.attribute)
    decode_branch = helper.make_graph(
        [decode, n("Identity", [decode_empty], [d + "no_new_key"]),
         n("Identity", [decode_empty], [d + "no_new_value"])],
        f"decode_{i}", [], [v(d + "out", f32), v(d + "key", i8), v(d + "value", i8),
                            v(d + "no_new_key", i8), v(d + "no_new_value", i8)],
        initializer=decode_consts)
    return helper.make_node(
        "If", ["kv_prefill.chunk"],
        [out, present_k, present_v, new_rows_output("key", i), new_rows_output("value", i)],
        name=f"attention_{i}", then_branch=prefill_branch, else_branch=decode_branch)


def add_shared(graph, tokens_input: str, num_layers: int, kv_heads: int, head_dim: int) -> None:
    """What every layer's If uses (its condition) and the new rows' graph outputs.

    The condition: more than `IN_PLACE_TOKENS` tokens per row (`tokens_input` is [rows,
    tokens, ...]) is a prefill chunk, which the runner always runs for one row."""
    from onnx import TensorProto, helper, numpy_helper

    graph.initializer.append(numpy_helper.from_array(np.array([IN_PLACE_TOKENS], np.int64),
                                                     "kv_prefill.in_place"))
    cond = [helper.make_node("Shape", [tokens_input], ["kv_prefill.tokens"], start=1, end=2),
            helper.make_node("Greater", ["kv_prefill.tokens", "kv_prefill.in_place"],
                             ["kv_prefill.gt"]),
            helper.make_node("Squeeze", ["kv_prefill.gt"], ["kv_prefill.chunk"])]
    nodes = cond + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    for i in range(num_layers):
        for kind in ("key", "value"):
            graph.output.append(helper.make_tensor_value_info(
                new_rows_output(kind, i), TensorProto.INT8, [1, kv_heads, "chunk", head_dim]))


def mark(model) -> None:
    model.metadata_props.add(key=MARK, value=VERSION)


def is_current(metadata: dict[str, str]) -> bool:
    """Whether an int8 graph with these metadata_props (onnxruntime's
    ``get_modelmeta().custom_metadata_map``) has the current prefill path."""
    return metadata.get(MARK) == VERSION
