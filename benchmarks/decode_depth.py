"""Single-stream decode after a long context (issue #18): clawhost's engine against
llama-bench's ``tg64 @ d<N>`` in the same run, alternating rounds.

Agents decode after long system prompts, where attention over the cache, not the weights,
is most of a step. For each depth the engine prefills that many tokens into one row (the
int8 KV cache, as served), then times 64 decode steps with its core warmer held (as a
serving batch does); llama-bench runs ``-p 0 -n 64 -d <depth>`` (its f16 cache). Medians of
the rounds, tok/s, and their ratio.

    python benchmarks/decode_depth.py [--depths 0,1000,3000,7000] [--rounds 3] [--out FILE.md]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from chat_speed import ANCHOR, GGUF  # noqa: E402
from long_prompt import emit_report  # noqa: E402
from clawhost.bench.probe import cpu_model  # noqa: E402


def engine_round(eng, depth: int, steps: int = 64) -> float:
    from clawhost.plugins.quantized_model.runner import Runner
    ids = [int(x) for x in np.random.default_rng(depth).integers(100, 40000, max(depth, 1))]
    r = Runner(eng.model, rows=1, capacity=depth + steps + 1)
    if depth:
        eng.prefill(r, 0, ids)
    token = np.array([ids[-1]], np.int64)
    with eng.model.warmer.held():
        start = time.perf_counter()
        for i in range(steps):
            r.decode(token, np.array([depth + i], np.int32))
        took = time.perf_counter() - start
    return steps / took


def llama_round(depth: int) -> float:
    out = subprocess.run([str(ANCHOR / "build/bin/llama-bench"), "-m", str(GGUF), "-t", "2",
                          "-p", "0", "-n", "64", "-d", str(depth), "-r", "1", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)[0]["avg_ts"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "workspace/models/smollm2-135m-instruct"))
    ap.add_argument("--depths", default="0,1000,3000,7000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="append a markdown section here")
    args = ap.parse_args()
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    eng = ChatEngine.load(args.model, threads=2, kv_cache="int8")
    engine_round(eng, 0, 8)  # warm-up: prepacking, the thread pool
    depths = [int(d) for d in args.depths.split(",")]
    got: dict[tuple[str, int], list[float]] = {}
    loads = []
    for r in range(args.rounds):
        for depth in depths:
            order = [("clawhost", lambda: engine_round(eng, depth)), ("llama-bench", lambda: llama_round(depth))]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                got.setdefault((name, depth), []).append(fn())
                loads.append(os.getloadavg()[0])
                print(json.dumps({"server": name, "depth": depth, "tok_s": round(got[(name, depth)][-1], 1),
                                  "load_1m": round(loads[-1], 2)}), flush=True)
    lines = [f"\n### `benchmarks/decode_depth.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
             f"CPU: {cpu_model()}, 2 threads each; 1-minute load {min(loads):.1f}-{max(loads):.1f}; "
             f"{args.rounds} alternating rounds, medians; clawhost int8 KV, llama.cpp f16 KV.\n",
             "| cached tokens | clawhost tok/s | llama-bench tg64 tok/s | ratio |", "|---|---|---|---|"]
    for depth in depths:
        a, b = (statistics.median(got[(n, depth)]) for n in ("clawhost", "llama-bench"))
        lines.append(f"| {depth:,} | {a:.1f} | {b:.1f} | {a / b:.2f}× |")
    emit_report("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
