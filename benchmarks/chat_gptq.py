"""Could GPTQ make an all-4-bit chat graph as good as the shipped int4-mixed one? (issue #18)

Every matrix at 4 bits decodes ~1.15x faster than the shipped graph, but the GGUF is Q4_1 (a
float offset per block) and MatMulNBits' integer zero point cannot hold it, so a plain 4-bit
re-encoding costs perplexity (BENCHMARKS.md, "#18 session 17"). This script re-encodes the
4-bit matrices with GPTQ instead (error feedback through H = X^T X of each matrix's input),
against the Q4_1-dequantized weights:

1. H from the all-8-bit variant's activations over a calibration text (``--calib``, files);
2. every 4-bit matrix GPTQ-encoded (group 32, integer zero points, each group's scale and
   zero point from ``quantize``'s search on the updated weights), at each ``--damp``;
3. perplexity of each variant on several texts, the calibration register among them.

    python benchmarks/chat_gptq.py --calib docs/*.md --damp 0.01 --damp 1.0

Research only: nothing here is shipped (numpy; builds go to ``--work``).
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import chat_variants  # noqa: E402

ALL_4 = {"head_bits": 4, "block_size_8bit": 64, "eight_bit": []}
ALL_8 = {"weight_bits": 8, "head_bits": 4, "block_size_8bit": 64}


def collect_h(folder: Path, text: str, tokens: int, chunk: int = 512) -> dict[str, np.ndarray]:
    """Mean X^T X of each transformer matrix's input, named as the graph names the matrix."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from clawhost.plugins.quantized_model.embedding import EmbeddingTable

    ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(text).ids[:tokens]
    cfg = json.loads((folder / "chat_config.json").read_text())["config"]
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    inputs = {n.input[1].removesuffix(".qweight"): n.input[0] for n in model.graph.node
              if n.op_type == "MatMulNBits" and n.input[1].startswith("layers.")}
    for x in dict.fromkeys(inputs.values()):
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, None))
    probe = folder / "calib.onnx"  # beside model.onnx.data, which it refers to
    onnx.save(model, str(probe))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    session = ort.InferenceSession(str(probe), so, providers=["CPUExecutionProvider"])
    probe.unlink()
    embed = EmbeddingTable(folder / "model.onnx")
    names = list(dict.fromkeys(inputs.values()))
    sums: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), chunk):
        part = np.array(ids[start:start + chunk], np.int64).reshape(1, -1)
        n = part.shape[1]
        feeds = {"inputs_embeds": embed.lookup(part), "seqlens_k": np.array([n - 1], np.int32),
                 "total_sequence_length": np.array(n, np.int32),
                 "num_logits": np.array([1], np.int64)}
        for i in range(cfg["num_layers"]):
            for kind in ("key", "value"):
                feeds[f"past_{kind}_{i}"] = np.zeros((1, cfg["num_kv_heads"], n, cfg["head_dim"]),
                                                     np.float32)
        for x, out in zip(names, session.run(names, feeds)):
            out = out.reshape(-1, out.shape[-1]).astype(np.float64)
            sums[x] = sums.get(x, 0) + out.T @ out
    return {mat: sums[x] / len(ids) for mat, x in inputs.items()}


def gptq(w: np.ndarray, h: np.ndarray, damp: float, bits: int = 4, block: int = 32):
    """GPTQ (Frantar et al. 2022) with groups of ``block`` columns, no reordering."""
    from clawhost.plugins.quantized_model.quantize import _pack, quantize, unpack4

    w = w.astype(np.float64).copy()
    n, k = w.shape
    h = h.copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h[np.diag_indices(k)] += damp * np.mean(np.diag(h))
    hinv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper factor
    qmax = (1 << bits) - 1
    q = np.zeros((n, k))
    scales, zeros = np.zeros((n, k // block)), np.zeros((n, k // block))
    for b0 in range(0, k, block):
        b1 = b0 + block
        group = quantize(w[:, b0:b1].astype(np.float32), bits, block)
        s = group.scales[:, 0].astype(np.float64)
        z = unpack4(group.zero_points)[:, 0]
        scales[:, b0 // block], zeros[:, b0 // block] = s, z
        part, err = w[:, b0:b1].copy(), np.zeros((n, block))
        for i in range(block):
            col = np.clip(np.round(part[:, i] / s + z), 0, qmax)
            q[:, b0 + i] = col
            e = (part[:, i] - (col - z) * s) / hinv[b0 + i, b0 + i]
            part[:, i:] -= np.outer(e, hinv[b0 + i, b0 + i:b1])
            err[:, i] = e
        w[:, b1:] -= err @ hinv[b0:b1, b1:]
    return _pack(q.reshape(n, k // block, block), scales.astype(np.float32), zeros, bits, block)


def build_gptq(folder: Path, hs: dict[str, np.ndarray], damp: float) -> dict:
    """chat_variants.build of the all-4-bit plan, its 4-bit matrices GPTQ-encoded."""
    from clawhost.plugins.quantized_model import llama_graph

    shipped = llama_graph._Builder.linear

    def linear(self, x, w, name, bits=None):
        if bits is None and isinstance(w, np.ndarray) and name in hs and self.opts.weight_bits == 4:
            w = gptq(w, hs[name], damp, 4, self.opts.block_size)
        return shipped(self, x, w, name, bits)
    llama_graph._Builder.linear = linear
    try:
        return chat_variants.build(folder, ALL_4)
    finally:
        llama_graph._Builder.linear = shipped


def texts(calib: str) -> dict[str, str]:
    import collections
    import email
    import threading

    from clawhost.plugins.quantized_model.quality import PPL_TEXT
    docs = "\n\n".join(inspect.getdoc(m) or "" for m in (collections, threading, email, argparse))
    return {"check text": PPL_TEXT, "calibration": calib[:6000], "stdlib docstrings": docs[:6000]}


def perplexities(folder: Path, named: dict[str, str]) -> dict[str, float]:
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    from clawhost.plugins.quantized_model.quality import perplexity
    from clawhost.plugins.quantized_model.runner import Runner
    engine = ChatEngine.load(folder, threads=2, kv_cache="float32")
    out = {}
    for name, text in named.items():
        ids = engine.encode(text)[:768]
        out[name] = round(perplexity(Runner(engine.model, rows=1, capacity=len(ids)), ids), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calib", nargs="+", required=True, help="calibration text files")
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--damp", type=float, action="append", default=None)
    ap.add_argument("--work", default="/tmp/chat-variants")
    args = ap.parse_args()
    work = Path(args.work)
    calib = "\n\n".join(Path(f).read_text() for f in args.calib)
    named = texts(calib[-6000:])  # the calibration register, not its first tokens
    chat_variants.build(work / "all8", ALL_8)
    chat_variants.build(work / "base", {})
    chat_variants.build(work / "body4", ALL_4)
    hs = collect_h(work / "all8", calib, args.tokens)
    for name in ("base", "all8", "body4"):
        print(json.dumps({"variant": name, **perplexities(work / name, named)}), flush=True)
    for damp in args.damp or [0.01]:
        folder = work / f"gptq_body4_d{damp}"
        build_gptq(folder, hs, damp)
        print(json.dumps({"variant": f"gptq, damp {damp}", **perplexities(folder, named)}),
              flush=True)


if __name__ == "__main__":
    main()
