"""The BERT graph's pieces: config, weights, the fused-op graph builder (shared by the
builder in ``bert_graph`` and the calibration in ``bert_calibrate``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

from . import QUANTIZATIONS as _KNOWN

MS = "com.microsoft"
# "int8" is the shipped INT8 choice (see docs/local-models-embeddings.md for the measurements).
# int8-bNN: MatMulNBits bits=8, block-wise weight scales along K, int8 compute (accuracy_level 4).
# int8-dyn: DynamicQuantizeMatMul, per-channel int8 weights, per-tensor uint8 activations.
# int8-row: MatMulInteger, per-channel int8 weights, int8 activations scaled per token row.
# int8-sq: int8-row after SmoothQuant (activation outlier channels moved into the weights using
#   per-channel maxima calibrated on CALIBRATION_TEXTS through the fp32 graph); the shipped int8.
# Every INT8 variant stores the word-embedding table as uint8 with block-32 scales
# (GatherBlockQuantized): the table is half of the fp32 file.
QUANTIZATIONS = _KNOWN["embedding"]
DEFAULT_INT8 = "int8-sq"
EMBED_BLOCK = 32
# Default SmoothQuant calibration sentences (int8-sq): short questions and statements like the
# ones a semantic cache sees. Callers can pass their own with build_model(calibration=...).
CALIBRATION_TEXTS = [
    "How do I bake bread at home?", "What is the best way to learn Python?", "Why is the sky blue?",
    "The cat sat on the mat.", "Can you recommend a good laptop for students?", "hi",
    "What are the health benefits of green tea?", "How can I lose weight without going to the gym?",
    "Is it safe to travel to Mexico City right now?", "Which is better, iPhone or Android, and why?",
    "How do I fix a 'permission denied' error when running ./build.sh on Ubuntu 22.04?",
    "What was the cause of the First World War?", "Who will win the 2024 US presidential election?",
    "I want to start a small business selling handmade jewelry online. Where should I begin?",
    "What does E = mc^2 mean?", "How many calories are in a banana?", "Translate 'good morning' into French.",
    "def add(a, b): return a + b", "SELECT name FROM users WHERE age > 30;", "Error 404: page not found",
    "What is the difference between a virus and a bacterium?", "How do I get rid of acne scars?",
    "Why do people believe in conspiracy theories?", "What are some good books to read in 2025?",
    "How does compound interest work, and how can I use it to save for retirement?",
    "My flight was cancelled; am I entitled to a refund?", "What is machine learning?",
    "Can dogs eat grapes?", "What is the capital of Australia?", "How do I change my Gmail password?",
    "Is Quora a good place to ask questions?", "What's the meaning of life???",
    "Summarize the plot of Hamlet in two sentences.", "The quick brown fox jumps over the lazy dog.",
    "How do I prepare for a software engineering interview at Google?", "1 2 3 4 5 6 7 8 9 10",
    "What are the symptoms of diabetes?", "Why is Hillary Clinton so unpopular?",
    "Where can I find cheap flights to India?", "How do I make my own website for free?",
]


class BertConfig:
    """The config.json fields the graph needs."""

    def __init__(self, model_dir: Path) -> None:
        cfg = json.loads((model_dir / "config.json").read_text())
        if cfg.get("model_type", "bert") != "bert":
            raise ValueError(f"not a BERT model: model_type={cfg.get('model_type')!r}")
        self.hidden = int(cfg["hidden_size"])
        self.layers = int(cfg["num_hidden_layers"])
        self.heads = int(cfg["num_attention_heads"])
        self.intermediate = int(cfg["intermediate_size"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.max_positions = int(cfg.get("max_position_embeddings", 512))
        if cfg.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported hidden_act {cfg.get('hidden_act')!r} (only exact gelu)")


def load_weights(model_dir: Path) -> dict[str, np.ndarray]:
    """Read model.safetensors as float32 numpy arrays, without any 'bert.' prefix."""
    path = model_dir / "model.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"no model.safetensors in {model_dir}")
    raw = load_file(str(path))
    return {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in raw.items()
            if v.dtype.kind == "f"}


def _quant_blocks(w_kn: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric uint8 block quantization of W[K, N] along K, in MatMulNBits' [N, blocks, block] layout."""
    k, n = w_kn.shape
    blocks = -(-k // block)
    # MatMulNBits pads a short last block itself; zero rows quantize exactly and add nothing.
    padded = np.zeros((blocks * block, n), np.float32)
    padded[:k] = w_kn
    wb = padded.T.reshape(n, blocks, block)
    lo = np.minimum(wb.min(axis=2), 0.0)
    hi = np.maximum(wb.max(axis=2), 0.0)
    scale = np.maximum((hi - lo) / 255.0, 1e-12).astype(np.float32)
    zp = np.clip(np.round(-lo / scale), 0, 255)
    q = np.clip(np.round(wb / scale[..., None]) + zp[..., None], 0, 255).astype(np.uint8)
    return q, scale.reshape(-1), zp.astype(np.uint8).reshape(-1)


class _Graph:
    """Accumulates nodes and initializers; each helper returns its output name."""

    def __init__(self, quantization: str, act_max: dict[str, np.ndarray] | None = None,
                 alpha: float = 0.5, weight_bits: int = 8) -> None:
        self.q = quantization
        self.weight_max = 2 ** (weight_bits - 1) - 1  # 127, or 63 where u8 x s8 saturates
        self.act_max = act_max or {}
        self.alpha = alpha
        self.taps: dict[str, str] = {}  # matmul hint -> its activation input (for calibration)
        self.shared: dict[str, str] = {}  # values computed once per graph (zero points, shapes, mask)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, domain: str = "", **attrs) -> str:
        out = self.name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, domain=domain, **attrs))
        return out

    def matmul(self, x: str, w_kn: np.ndarray, hint: str) -> str:
        """x @ W[K, N] in the chosen precision (bias is added by the fused op that follows)."""
        k, n = w_kn.shape
        self.taps[hint] = x
        if self.q == "int8-sq":
            return self._matmul_smooth(x, w_kn, hint)
        if self.q == "fp32":
            return self.op("MatMul", [x, self.const(hint + "_w", w_kn)], hint)
        if self.q == "int8-dyn":
            scale = np.maximum(np.abs(w_kn).max(axis=0) / 127.0, 1e-12).astype(np.float32)
            q = np.clip(np.round(w_kn / scale), -127, 127).astype(np.int8)
            return self.op("DynamicQuantizeMatMul", [x, self.const(hint + "_qw", q),
                           self.const(hint + "_s", scale)], hint, domain=MS)
        if self.q == "int8-row":
            return self._matmul_rowwise(x, w_kn, hint)
        block = int(self.q.split("-b")[1])
        q, scale, zp = _quant_blocks(w_kn, block)
        ins = [x, self.const(hint + "_qw", q), self.const(hint + "_s", scale),
               self.const(hint + "_zp", zp)]
        return self.op("MatMulNBits", ins, hint, domain=MS, K=k, N=n, bits=8,
                       block_size=block, accuracy_level=4)


    def smooth_scale(self, hint: str, w_kn: np.ndarray) -> np.ndarray:
        """SmoothQuant factor per input channel: amax_x^a / amax_W_row^(1-a) (calibrated amax_x)."""
        amax = np.maximum(self.act_max[hint], 1e-5)
        wmax = np.maximum(np.abs(w_kn).max(axis=1), 1e-5)
        return np.clip(amax ** self.alpha / wmax ** (1 - self.alpha), 1e-3, 1e3).astype(np.float32)

    def _matmul_smooth(self, x: str, w_kn: np.ndarray, hint: str) -> str:
        """SmoothQuant: (x/s) @ (s*W), activations quantized per token row, weights per column.

        s moves BERT's outlier channels from the activations into the weights, where per-column
        scales absorb them; per-row activation scales keep each token (and so each sentence)
        independent of the rest of the batch. hint ending in "_ao" arrives pre-divided by s
        (folded into the value projection by _layer).
        """
        s = self.smooth_scale(hint, w_kn)
        if not hint.endswith("_ao"):
            x = self.op("Mul", [x, self.const(hint + "_inv_s", 1.0 / s)], hint + "_sm")
        return self._matmul_rowwise(x, w_kn * s[:, None], hint)

    def _matmul_rowwise(self, x: str, w_kn: np.ndarray, hint: str) -> str:
        """int8 x int8 MatMulIntegerToFloat with a scale per token row (activations) and per column (weights).

        One scale per row keeps a token's result independent of the other rows in the batch, and
        BERT's outlier tokens ([CLS], [SEP], punctuation) no longer coarsen every other token.
        The rows are quantized by one QuantizeLinear on a 2-D view (per-axis scale along the
        rows) and dequantized inside the GEMM: 4 full passes over the activations instead of
        the 7 that Mul/Add/Cast + MatMulInteger/Cast/Mul took (measured: benchmarks/results/embed_engine.md).
        """
        k, n = w_kn.shape
        lim = self.weight_max
        wscale = np.maximum(np.abs(w_kn).max(axis=0) / lim, 1e-12).astype(np.float32)
        wq = np.clip(np.round(w_kn / wscale), -lim, lim).astype(np.int8)
        x2 = self.op("Reshape", [x, self.const(hint + "_2d", np.array([-1, k], np.int64))], hint + "_x2")
        amax = self.op("ReduceMax", [self.op("Abs", [x2], hint + "_abs")], hint + "_amax", axes=[-1], keepdims=1)
        # A row of exact zeros would give scale 0 and NaNs: the floor keeps it at zeros.
        scale = self.op("Max", [self.op("Mul", [amax, self.const(hint + "_r127", np.array(1 / 127, np.float32))],
                        hint + "_s"), self.const(hint + "_eps", np.array(1e-10, np.float32))], hint + "_scale")
        flat = self.op("Reshape", [scale, self.const(hint + "_flat", np.array([-1], np.int64))], hint + "_sflat")
        # uint8 with a zero point of 128 (symmetric per row): ORT's fast u8 x s8 VNNI GEMM.
        xq = self.op("QuantizeLinear", [x2, flat, self._row_zero_points()], hint + "_xq", axis=0)
        y = self.op("MatMulIntegerToFloat", [xq, self.const(hint + "_qw", wq), self._one(), self.const(hint + "_ws", wscale),
                    self.const(hint + "_azp", np.array(128, np.uint8))], hint + "_acc", domain=MS)
        y = self.op("Mul", [y, scale], hint + "_y2")
        return self.op("Reshape", [y, self._rows_shape(n)], hint)

    def once(self, key: str, build) -> str:
        """A value the whole graph shares (zero points, shapes, the mask), built on first use."""
        if key not in self.shared:
            self.shared[key] = build()
        return self.shared[key]

    def _one(self) -> str:
        return self.once("one", lambda: self.const("one", np.array(1.0, np.float32)))

    def _ids_shape(self) -> str:
        return self.once("ids_shape", lambda: self.op("Shape", ["input_ids"], "ids_shape"))

    def _row_zero_points(self) -> str:
        """uint8 128 for every token row of the batch (QuantizeLinear's per-axis zero point)."""
        return self.once("zp", lambda: self.op(
            "Expand", [self.const("u8_128", np.array([128], np.uint8)),
                       self.op("ReduceProd", [self._ids_shape()], "rows", keepdims=1)], "row_zp"))

    def _rows_shape(self, n: int) -> str:
        """[batch, seq, n]: the 3-D shape a 2-D [batch*seq, n] GEMM result goes back to."""
        return self.once(f"shape{n}", lambda: self.op(
            "Concat", [self._ids_shape(), self.const(f"n{n}", np.array([n], np.int64))], f"shape{n}", axis=0))


def _embeddings(g: _Graph, w: dict[str, np.ndarray], eps: float, token_types: bool = False) -> str:
    """Word + position + token type embeddings, then LayerNorm. A sentence embedder has no
    token_type_ids input: type 0 is folded into the position table."""
    table = w["embeddings.word_embeddings.weight"]
    if g.q == "fp32":
        word = g.op("Gather", [g.const("word_emb", table), "input_ids"], "word", axis=0)
    else:
        vocab, hidden = table.shape
        if hidden % EMBED_BLOCK:
            raise ValueError(f"hidden size {hidden} is not a multiple of {EMBED_BLOCK}; use fp32")
        q, scale, zp = _quant_blocks(table.T, EMBED_BLOCK)  # per row, blocks of 32 along hidden
        word = g.op("GatherBlockQuantized",
                    ["qword_emb_data", "input_ids", g.const("word_emb_s", scale.reshape(vocab, -1)),
                     g.const("word_emb_zp", zp.reshape(vocab, -1))],
                    "word", domain=MS, bits=8, block_size=EMBED_BLOCK, gather_axis=0, quantize_axis=1)
        g.inits.append(numpy_helper.from_array(q.reshape(vocab, hidden), "qword_emb_data"))
    types = w["embeddings.token_type_embeddings.weight"]
    pos_table = w["embeddings.position_embeddings.weight"] + types[0]
    seq = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    pos = g.op("Slice", [g.const("pos_emb", pos_table), g.const("zero", np.array([0], np.int64)), seq],
               "pos")
    summed = g.op("Add", [word, pos], "emb_sum")
    if token_types:  # type 0 is already in the position table: add only the difference
        delta = g.op("Gather", [g.const("type_emb", types - types[0]), "token_type_ids"], "types", axis=0)
        summed = g.op("Add", [summed, delta], "emb_types")
    return g.op("LayerNormalization", [summed, g.const("emb_ln_g", w["embeddings.LayerNorm.weight"]),
                g.const("emb_ln_b", w["embeddings.LayerNorm.bias"])], "emb_ln", axis=-1, epsilon=eps)


def _residual_ln(g: _Graph, y: str, bias: np.ndarray, skip: str, gamma: np.ndarray, beta: np.ndarray,
                 eps: float, hint: str) -> str:
    """LayerNorm(y + bias + skip) as Add, Add, LayerNormalization.

    Not the fused com.microsoft SkipLayerNormalization: its CPU kernel took 10x the time of
    LayerNormalization on the same [32, 14, 384] input (ORT 1.32), a quarter of the whole graph.
    """
    y = g.op("Add", [y, g.const(hint + "_b", bias)], hint + "_bias")
    y = g.op("Add", [y, skip], hint + "_res")
    return g.op("LayerNormalization", [y, g.const(hint + "_g", gamma), g.const(hint + "_beta", beta)], hint,
                axis=-1, epsilon=eps)


def _attention(g: _Graph, qkv: str, bias: np.ndarray, cfg: BertConfig, hint: str) -> str:
    """Self-attention over a packed [B, S, 3H] projection, from plain MatMul/Softmax ops.

    The 1/sqrt(head_dim) factor is already folded into the query weights. Measured faster
    than com.microsoft.MultiHeadAttention for short sentences (benchmarks/results/embed_engine.md).
    One Transpose puts every head of q, k and v side by side ([B, 3*heads, S, d]); the
    scores read k transposed inside the GEMM (FusedMatMul transB) instead of through a
    Transpose of k, which took 8% of a 60-token run (ORT 1.32, one thread).
    """
    h, heads = cfg.hidden, cfg.heads
    x = g.op("Add", [qkv, g.const(hint + "_b", bias)], hint + "_bias")
    x = g.op("Reshape", [x, g.const(hint + "_4d", np.array([0, 0, 3 * heads, h // heads], np.int64))], hint + "_4d")
    x = g.op("Transpose", [x], hint + "_t", perm=[0, 2, 1, 3])  # [B, 3*heads, S, d]
    q, k, v = (f"{hint}_{t}" for t in "qkv")
    split = g.const(hint + "_split", np.array([heads] * 3, np.int64))
    g.nodes.append(helper.make_node("Split", [x, split], [q, k, v], name=hint + "_split", axis=1))
    scores = g.op("FusedMatMul", [q, k], hint + "_qk", domain=MS, transB=1, alpha=1.0)
    probs = g.op("Softmax", [g.op("Add", [scores, _mask_bias(g)], hint + "_masked")], hint + "_p", axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [probs, v], hint + "_ctx")], hint + "_ct", perm=[0, 2, 1, 3])
    return g.op("Reshape", [ctx, g.const(hint + "_3d", np.array([0, 0, h], np.int64))], hint)


def _mask_bias(g: _Graph) -> str:
    """0 for real tokens, -10000 for padding, shaped [B, 1, 1, S] to add to every head's scores."""
    def build() -> str:
        maskf = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
        neg = g.op("Mul", [g.op("Sub", [maskf, g.const("f_one", np.array(1.0, np.float32))], "mask_m1"),
                   g.const("f_1e4", np.array(10000.0, np.float32))], "mask_neg")
        return g.op("Unsqueeze", [neg, g.const("ax12", np.array([1, 2], np.int64))], "mask_bias")
    return g.once("mask", build)


def _layer(g: _Graph, w: dict[str, np.ndarray], i: int, x: str, cfg: BertConfig) -> str:
    p = f"encoder.layer.{i}."
    h = cfg.hidden
    # HF Linear stores [out, in]; MatMul wants [in, out].
    qkv_w = np.concatenate([w[p + f"attention.self.{t}.weight"].T for t in ("query", "key", "value")], 1)
    qkv_b = np.concatenate([w[p + f"attention.self.{t}.bias"] for t in ("query", "key", "value")])
    qkv_w[:, :h] /= np.sqrt(h // cfg.heads)  # attention's score scaling, folded into the queries
    qkv_b[:h] /= np.sqrt(h // cfg.heads)
    if g.q == "int8-sq":  # fold attention-out smoothing into the value columns (exact: attention is linear in V)
        s_ao = g.smooth_scale(f"l{i}_ao", w[p + "attention.output.dense.weight"].T)
        qkv_w[:, 2 * h:] /= s_ao
        qkv_b[2 * h:] /= s_ao
    attn = _attention(g, g.matmul(x, qkv_w, f"l{i}_qkv"), qkv_b, cfg, f"l{i}_attn")
    out = g.matmul(attn, w[p + "attention.output.dense.weight"].T, f"l{i}_ao")
    x = _residual_ln(g, out, w[p + "attention.output.dense.bias"], x, w[p + "attention.output.LayerNorm.weight"],
                     w[p + "attention.output.LayerNorm.bias"], cfg.eps, f"l{i}_ln1")
    ff = g.matmul(x, w[p + "intermediate.dense.weight"].T, f"l{i}_ff1")
    ff = g.op("BiasGelu", [ff, g.const(f"l{i}_ff1_b", w[p + "intermediate.dense.bias"])], f"l{i}_gelu",
              domain=MS)
    ff = g.matmul(ff, w[p + "output.dense.weight"].T, f"l{i}_ff2")
    return _residual_ln(g, ff, w[p + "output.dense.bias"], x, w[p + "output.LayerNorm.weight"],
                        w[p + "output.LayerNorm.bias"], cfg.eps, f"l{i}_ln2")


def _pool(g: _Graph, x: str) -> str:
    """Masked mean pooling as one batched MatMul, then L2 normalisation.

    The division by the token count is skipped: normalisation cancels any positive scale.
    """
    maskf = g.op("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    mrow = g.op("Unsqueeze", [maskf, g.const("ax1", np.array([1], np.int64))], "mask_row")
    summed = g.op("MatMul", [mrow, x], "pool_sum")  # [B,1,S] @ [B,S,H] -> [B,1,H]
    summed = g.op("Squeeze", [summed, g.const("ax1b", np.array([1], np.int64))], "pool")
    norm = g.op("ReduceL2", [summed], "norm", axes=[-1], keepdims=1)
    norm = g.op("Max", [norm, g.const("tiny", np.array(1e-12, np.float32))], "norm_safe")
    return g.op("Div", [summed, norm], "sentence_embedding_raw")


def _assemble(g: _Graph, w: dict[str, np.ndarray], cfg: BertConfig, extra_out: list[str] = (),
              head: tuple[np.ndarray, np.ndarray] | None = None) -> onnx.ModelProto:
    """The sentence-embedding graph; with ``head`` (weight [H], bias [1]) a pair scorer
    instead: token_type_ids in, ``score`` = sigmoid(head . unit pooled vector) out."""
    x = _embeddings(g, w, cfg.eps, token_types=head is not None)
    for i in range(cfg.layers):
        x = _layer(g, w, i, x, cfg)
    pooled = _pool(g, x)
    names = ("input_ids", "attention_mask") + (("token_type_ids",) if head is not None else ())
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in names]
    if head is None:
        g.nodes.append(helper.make_node("Identity", [pooled], ["sentence_embedding"], name="out"))
        out = [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", cfg.hidden])]
    else:
        logit = g.op("Add", [g.op("MatMul", [pooled, g.const("head_w", head[0].reshape(-1, 1))], "head"),
                             g.const("head_b", head[1].reshape(1))], "logit")
        logit = g.op("Squeeze", [logit, g.const("ax_last", np.array([1], np.int64))], "logit_1d")
        g.nodes.append(helper.make_node("Sigmoid", [logit], ["score"], name="out"))
        out = [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])]
    out += [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in extra_out]
    graph = helper.make_graph(g.nodes, "bert_sentence_embedding", ins, out, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                              producer_name="clawhost.engines.bert_graph")
    model.ir_version = 8
    return model
