"""What each model stage of a semantic-cache lookup costs (issue 19): the query embedding
and one cross-encoder pair, for a question and for a ~55-token statement, per ORT setting,
wall and CPU time, in alternating rounds; and the floor under them (the same int8 GEMMs
alone, AMX u8s8 through MLAS).

    python benchmarks/semantic_stages.py [--rounds 30] [--before-embeddings DIR --before-verifier DIR] [--levers]

``--before-*``: artifacts built by an older graph builder, timed with the arena off (as
they were served). ``--levers``: also the onnxruntime session options that keep the outputs
bit-equal (graph optimisation level, ``session.dynamic_block_base``, memory patterns); the
script checks that every setting gives the same outputs. Appends a table to benchmarks/results/semantic_stages.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import semantic_cache as bench  # noqa: E402
from clawhost.bench.probe import cpu_model  # noqa: E402
from clawhost.engines.ort_session import session_options  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def texts(eval_dir: Path, tok) -> dict[str, object]:
    """A real question, a real statement of 52-60 tokens (two GPTCache texts joined, as
    --lookup asks), and the pair each forms with its stored neighbour."""
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    q, q2 = "How do I reverse a list in Python quickly?", "What is the fastest way to reverse a Python list?"
    i = next(i for i in range(0, len(rows) - 1, 2)
             if 52 <= len(tok.encode(f"{rows[i]['similar']} {rows[i + 1]['similar']}").ids) <= 60)
    s = f"{rows[i]['similar']} {rows[i + 1]['similar']}"
    s2 = f"{rows[i]['origin']} {rows[i + 1]['origin']}"
    return {"question": q, "statement": s, "question pair": (q2, q), "statement pair": (s2, s)}


def feed(tok, item, pair: bool) -> dict:
    e = tok.encode(*item) if pair else tok.encode(item)
    ids = np.array([e.ids], np.int64)
    out = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if pair:
        out["token_type_ids"] = np.array([e.type_ids], np.int64)
    return out


def gemm_floor(tokens: int, layers: int = 6, hidden: int = 384, ff: int = 1536) -> object:
    """A graph of one layer's four int8 GEMMs at M = tokens (uint8 x int8: MLAS's AMX path)."""
    rng = np.random.default_rng(0)
    shapes = [(hidden, 3 * hidden), (hidden, hidden), (hidden, ff), (ff, hidden)]
    nodes, inits, ins, outs = [], [], [], []
    for i, (k, n) in enumerate(shapes):
        ins.append(helper.make_tensor_value_info(f"x{i}", TensorProto.UINT8, [tokens, k]))
        inits.append(numpy_helper.from_array(rng.integers(-127, 127, (k, n)).astype(np.int8), f"w{i}"))
        nodes.append(helper.make_node("MatMulInteger", [f"x{i}", f"w{i}"], [f"y{i}"]))
        outs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.INT32, [tokens, n]))
    m = helper.make_model(helper.make_graph(nodes, "gemms", ins, outs, inits),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m, {f"x{i}": rng.integers(0, 255, (tokens, k)).astype(np.uint8) for i, (k, _) in enumerate(shapes)}


# Session options that leave the outputs bit-equal: (label, threads, tweaks).
LEVERS = [("1 thread, graph optimisation basic", 1, {"level": "basic"}),
          ("1 thread, graph optimisation extended", 1, {"level": "extended"}),
          ("1 thread, memory patterns", 1, {"pattern": True}),
          ("2 threads, memory patterns", 2, {"pattern": True}),
          ("2 threads, dynamic_block_base 4", 2, {"dynamic_block_base": 4})]


def options(n: int, spin: bool, arena: bool, tweak: dict | None = None) -> ort.SessionOptions:
    """The engines' session options, with one lever of ``LEVERS`` changed."""
    so = session_options(n, spin, arena)
    tweak = tweak or {}
    if "level" in tweak:
        so.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                       "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}[tweak["level"]]
    if tweak.get("pattern"):
        so.enable_mem_pattern = True
    if "dynamic_block_base" in tweak:
        so.add_session_config_entry("session.dynamic_block_base", str(tweak["dynamic_block_base"]))
    return so


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embeddings")
    ap.add_argument("--verifier")
    ap.add_argument("--before-embeddings")
    ap.add_argument("--before-verifier")
    ap.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--levers", action="store_true", help="also time session-option variants")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "semantic_stages.md"))
    args = ap.parse_args()
    from tokenizers import Tokenizer
    emb, ver = bench.embeddings_dir(args.embeddings), bench.verifier_dir(args.verifier)
    tok = Tokenizer.from_file(str(emb / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    t = texts(Path(args.eval), tok)
    feeds = {k: feed(tok, v, "pair" in k) for k, v in t.items()}
    ntok = {k: f["input_ids"].shape[1] for k, f in feeds.items()}
    # (label, model folder, threads, spin, arena[, tweaks]) for each stage
    configs = []
    for kind, cur, before in (("embed", emb, args.before_embeddings), ("pair", ver, args.before_verifier)):
        if before:
            configs.append((kind, "before: older graph, arena off, 1 thread", Path(before), 1, False, False))
        configs += [(kind, "arena off, 1 thread", cur, 1, False, False),
                    (kind, "1 thread", cur, 1, False, True),
                    (kind, "2 threads", cur, 2, False, True),
                    (kind, "2 threads spinning", cur, 2, True, True)]
        if args.levers:
            configs += [(kind, label, cur, n, False, True, tweak) for label, n, tweak in LEVERS]
    sessions = [(kind, label, ort.InferenceSession(str(folder / "model.onnx"), options(n, spin, arena, *tweak),
                                                   providers=["CPUExecutionProvider"]))
                for kind, label, folder, n, spin, arena, *tweak in configs]
    for kind, label, s in sessions:  # a setting that changed the outputs would be no lever
        for name in ("statement",) if kind == "embed" else ("statement pair",):
            ref = next(x for k, _, x in sessions if k == kind).run(None, feeds[name])[0]
            if "before" not in label and not np.array_equal(s.run(None, feeds[name])[0], ref):
                print(f"note: {kind} {label!r} does not give bit-equal outputs")
    floors = {}
    for name in ("question", "statement", "question pair", "statement pair"):
        m, f = gemm_floor(ntok[name])
        floors[name] = (ort.InferenceSession(m.SerializeToString(), session_options(1, False, True),
                                             providers=["CPUExecutionProvider"]), f)
    wall: dict = {}
    cpu: dict = {}
    load0 = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    for _ in range(args.rounds):  # a new order each round: no setting always follows another
        for k in rng.permutation(len(sessions)):
            kind, label, s = sessions[k]
            names = ("question", "statement") if kind == "embed" else ("question pair", "statement pair")
            for name in names:
                for _ in range(3):
                    t0, c0 = time.perf_counter(), time.process_time()
                    s.run(None, feeds[name])
                    wall.setdefault((label, name), []).append(time.perf_counter() - t0)
                    cpu.setdefault((label, name), []).append(time.process_time() - c0)
        for name, (s, f) in floors.items():
            c0 = time.process_time()
            s.run(None, f)
            cpu.setdefault(("floor", name), []).append((time.process_time() - c0) * 6)  # six layers
    load1 = os.getloadavg()[0]
    ms = lambda xs: 1e3 * float(np.median(xs))  # noqa: E731
    lines = [f"## Stage costs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_model()}; "
             f"load average {load0:.1f} → {load1:.1f}; {args.rounds} alternating rounds of 3 runs", "",
             f"Tokens: question {ntok['question']}, statement {ntok['statement']}, question pair "
             f"{ntok['question pair']}, statement pair {ntok['statement pair']}.", "",
             "| setting | question embed | statement embed | question pair | statement pair |",
             "|---|---|---|---|---|"]
    labels = list(dict.fromkeys(label for _, label, _ in sessions))
    for label in labels:
        cells = []
        for name in ("question", "statement", "question pair", "statement pair"):
            if (label, name) in wall:
                cells.append(f"{ms(wall[(label, name)]):.2f} ({ms(cpu[(label, name)]):.2f} CPU)")
            else:
                cells.append("")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| floor: the six layers' int8 GEMMs alone (AMX), 1 thread, CPU | " +
                 " | ".join(f"{ms(cpu[('floor', n)]):.2f}" for n in
                            ("question", "statement", "question pair", "statement pair")) + " |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    with open(args.out, "a") as fh:
        fh.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
