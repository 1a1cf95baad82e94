"""Build a fused BERT sentence-embedding ONNX graph straight from safetensors weights (no torch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

MS = "com.microsoft"
# "int8" is the shipped INT8 choice (see docs/local-models-embeddings.md for the measurements).
# int8-bNN: MatMulNBits bits=8, block-wise weight scales along K, int8 compute (accuracy_level 4).
# int8-dyn: DynamicQuantizeMatMul, per-channel int8 weights, per-tensor uint8 activations.
# int8-row: MatMulInteger, per-channel int8 weights, int8 activations scaled per token row.
# int8-sq: int8-row after SmoothQuant (activation outlier channels moved into the weights using
#   per-channel maxima calibrated on CALIBRATION_TEXTS through the fp32 graph); the shipped int8.
# Every INT8 variant stores the word-embedding table as uint8 with block-32 scales
# (GatherBlockQuantized): the table is half of the fp32 file.
QUANTIZATIONS = ("fp32", "int8", "int8-b32", "int8-b64", "int8-b128", "int8-dyn", "int8-row", "int8-sq")
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
    return {k.removeprefix("bert."): v.astype(np.float32) for k, v in raw.items()
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
                 alpha: float = 0.5) -> None:
        self.q = quantization
        self.act_max = act_max or {}
        self.alpha = alpha
        self.taps: dict[str, str] = {}  # matmul hint -> its activation input (for calibration)
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
        """int8 x int8 MatMulInteger with a scale per token row (activations) and per column (weights).

        One scale per row keeps a token's result independent of the other rows in the batch, and
        BERT's outlier tokens ([CLS], [SEP], punctuation) no longer coarsen every other token.
        """
        wscale = np.maximum(np.abs(w_kn).max(axis=0) / 127.0, 1e-12).astype(np.float32)
        wq = np.clip(np.round(w_kn / wscale), -127, 127).astype(np.int8)
        amax = self.op("ReduceMax", [self.op("Abs", [x], hint + "_abs")], hint + "_amax", axes=[-1], keepdims=1)
        scale = self.op("Max", [amax, self.const(hint + "_eps", np.array(1e-8, np.float32))], hint + "_amaxs")
        inv = self.op("Div", [self.const(hint + "_127", np.array(127.0, np.float32)), scale], hint + "_inv")
        # uint8 with a fixed zero point of 128 (symmetric per row): ORT's fast u8 x s8 VNNI GEMM.
        # v in [-127, 127]: Cast truncates, so adding 128.5 rounds to nearest in one pass.
        xs = self.op("Mul", [x, inv], hint + "_xs")
        xq = self.op("Cast", [self.op("Add", [xs, self.const(hint + "_128f", np.array(128.5, np.float32))],
                     hint + "_xz")], hint + "_xq", to=TensorProto.UINT8)
        acc = self.op("MatMulInteger", [xq, self.const(hint + "_qw", wq),
                      self.const(hint + "_azp", np.array(128, np.uint8))], hint + "_acc")
        y = self.op("Cast", [acc], hint + "_accf", to=TensorProto.FLOAT)
        y = self.op("Mul", [y, self.const(hint + "_ws", wscale / 127.0)], hint + "_yw")
        return self.op("Mul", [y, scale], hint)


def _embeddings(g: _Graph, w: dict[str, np.ndarray], eps: float) -> str:
    """Word + position (+ token type 0, folded into the position table) embeddings, then LayerNorm."""
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
    pos_table = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    seq = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    pos = g.op("Slice", [g.const("pos_emb", pos_table), g.const("zero", np.array([0], np.int64)), seq],
               "pos")
    summed = g.op("Add", [word, pos], "emb_sum")
    return g.op("LayerNormalization", [summed, g.const("emb_ln_g", w["embeddings.LayerNorm.weight"]),
                g.const("emb_ln_b", w["embeddings.LayerNorm.bias"])], "emb_ln", axis=-1, epsilon=eps)


def _layer(g: _Graph, w: dict[str, np.ndarray], i: int, x: str, mask: str, cfg: BertConfig) -> str:
    p = f"encoder.layer.{i}."
    h = cfg.hidden
    # HF Linear stores [out, in]; MatMul wants [in, out].
    qkv_w = np.concatenate([w[p + f"attention.self.{t}.weight"].T for t in ("query", "key", "value")], 1)
    qkv_b = np.concatenate([w[p + f"attention.self.{t}.bias"] for t in ("query", "key", "value")])
    if g.q == "int8-sq":  # fold attention-out smoothing into the value columns (exact: MHA is linear in V)
        s_ao = g.smooth_scale(f"l{i}_ao", w[p + "attention.output.dense.weight"].T)
        qkv_w[:, 2 * h:] /= s_ao
        qkv_b[2 * h:] /= s_ao
    qkv = g.matmul(x, qkv_w, f"l{i}_qkv")
    split = g.const(f"l{i}_split", np.array([h, h, h], np.int64))
    q, k, v = (f"l{i}_{t}" for t in "qkv")
    g.nodes.append(helper.make_node("Split", [qkv, split], [q, k, v], name=f"l{i}_split", axis=-1))
    attn = g.op("MultiHeadAttention", [q, k, v, g.const(f"l{i}_qkv_b", qkv_b), mask], f"l{i}_mha",
                domain=MS, num_heads=cfg.heads)
    out = g.matmul(attn, w[p + "attention.output.dense.weight"].T, f"l{i}_ao")
    x = g.op("SkipLayerNormalization", [out, x, g.const(f"l{i}_ln1_g", w[p + "attention.output.LayerNorm.weight"]),
             g.const(f"l{i}_ln1_b", w[p + "attention.output.LayerNorm.bias"]),
             g.const(f"l{i}_ao_b", w[p + "attention.output.dense.bias"])], f"l{i}_ln1", domain=MS,
             epsilon=cfg.eps)
    ff = g.matmul(x, w[p + "intermediate.dense.weight"].T, f"l{i}_ff1")
    ff = g.op("BiasGelu", [ff, g.const(f"l{i}_ff1_b", w[p + "intermediate.dense.bias"])], f"l{i}_gelu",
              domain=MS)
    ff = g.matmul(ff, w[p + "output.dense.weight"].T, f"l{i}_ff2")
    return g.op("SkipLayerNormalization", [ff, x, g.const(f"l{i}_ln2_g", w[p + "output.LayerNorm.weight"]),
                g.const(f"l{i}_ln2_b", w[p + "output.LayerNorm.bias"]),
                g.const(f"l{i}_ff2_b", w[p + "output.dense.bias"])], f"l{i}_ln2", domain=MS,
                epsilon=cfg.eps)


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


def _assemble(g: _Graph, w: dict[str, np.ndarray], cfg: BertConfig, extra_out: list[str] = ()) -> onnx.ModelProto:
    x = _embeddings(g, w, cfg.eps)
    mask = g.op("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)
    for i in range(cfg.layers):
        x = _layer(g, w, i, x, mask, cfg)
    pooled = _pool(g, x)
    g.nodes.append(helper.make_node("Identity", [pooled], ["sentence_embedding"], name="out"))
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
           for n in ("input_ids", "attention_mask")]
    out = [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", cfg.hidden])]
    out += [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in extra_out]
    graph = helper.make_graph(g.nodes, "bert_sentence_embedding", ins, out, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                              producer_name="clawhost.local.bert_graph")
    model.ir_version = 8
    return model


def calibrate(model_dir: Path, w: dict[str, np.ndarray], cfg: BertConfig, texts: list[str],
              batch: int = 32) -> dict[str, np.ndarray]:
    """Per-input-channel max |x| of every MatMul input of the fp32 graph over texts' real tokens.

    Padded positions are left out: they are not part of any sentence and would skew the maxima.
    """
    import onnxruntime as ort
    from tokenizers import Tokenizer

    g = _Graph("fp32")
    model = _assemble(g, w, cfg)
    taps = dict(g.taps)
    for t in taps.values():
        model.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep tapped names
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    enc = [e.ids[:128] for e in tok.encode_batch(list(texts))]
    names = list(taps)
    amax = {h: np.zeros(0, np.float32) for h in names}
    for start in range(0, len(enc), batch):
        chunk = enc[start:start + batch]
        width = max(map(len, chunk))
        ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros_like(ids)
        for r, row in enumerate(chunk):
            ids[r, :len(row)], mask[r, :len(row)] = row, 1
        outs = sess.run([taps[h] for h in names], {"input_ids": ids, "attention_mask": mask})
        valid = mask.astype(bool)
        for h, o in zip(names, outs):
            m = np.abs(o[valid]).max(axis=0)
            amax[h] = m if amax[h].size == 0 else np.maximum(amax[h], m)
    return amax


def build_model(model_dir: Path, quantization: str = "fp32", calibration: list[str] | None = None,
                alpha: float = 0.5) -> onnx.ModelProto:
    """Return the ONNX model (inputs input_ids/attention_mask int64, output sentence_embedding)."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; choose one of {', '.join(QUANTIZATIONS)}")
    q = DEFAULT_INT8 if quantization == "int8" else quantization
    model_dir = Path(model_dir)
    cfg, w = BertConfig(model_dir), load_weights(model_dir)
    act_max = None
    if q == "int8-sq":
        act_max = calibrate(model_dir, w, cfg, calibration or CALIBRATION_TEXTS)
    return _assemble(_Graph(q, act_max, alpha), w, cfg)


def build_bert_onnx(model_dir: Path, out_dir: Path, quantization: str,
                    calibration: list[str] | None = None) -> dict:
    """Write model.onnx, tokenizer.json and embed_config.json into out_dir; return facts about them."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "tokenizer.json").exists():
        raise FileNotFoundError(f"no tokenizer.json in {model_dir}")
    model = build_model(model_dir, quantization, calibration)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "model.onnx.partial"
    onnx.save(model, str(tmp))
    tmp.replace(out_dir / "model.onnx")  # atomic: an interrupted build leaves no half model.onnx
    shutil.copyfile(model_dir / "tokenizer.json", out_dir / "tokenizer.json")
    cfg = BertConfig(model_dir)
    st_cfg = model_dir / "sentence_bert_config.json"
    max_len = json.loads(st_cfg.read_text()).get("max_seq_length", 0) if st_cfg.exists() else 0
    max_len = min(int(max_len or cfg.max_positions), cfg.max_positions)
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists():
        shutil.copyfile(pooling, out_dir / "pooling_config.json")
    ops: dict[str, int] = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    facts = {"quantization": DEFAULT_INT8 if quantization == "int8" else quantization,
             "dim": cfg.hidden, "max_length": max_len, "max_positions": cfg.max_positions,
             "layers": cfg.layers, "pooling": "mean", "normalized": True,
             "onnx_bytes": (out_dir / "model.onnx").stat().st_size, "ops": ops}
    (out_dir / "embed_config.json").write_text(json.dumps(facts, indent=2))
    return facts
