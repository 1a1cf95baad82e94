"""Does a decode step cost more in a larger KV buffer? (issue #18, session 20)

The runner rounds a row's cache up to CAPACITY_STEP positions and shrinks it after a long
sequence. This times decode steps at one short length (the prompt below, ~40 tokens, plus 20)
in buffers of several capacities, in turn, for each KV cache type, with the core warmer
held as a serving batch holds it. Medians of `--rounds` rounds of 20 steps, ms per step.

    python benchmarks/decode_capacity.py [--capacities 256,2048,8192] [--rounds 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from clawhost.bench.probe import cpu_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "workspace/models/smollm2-135m-instruct"))
    ap.add_argument("--capacities", default="256,2048,8192")
    ap.add_argument("--kv", default="int8,float32", help="KV cache types, comma-separated")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    from clawhost.plugins.quantized_model.runner import Runner
    print(f"{cpu_model()}; load {os.getloadavg()[0]:.2f}")
    for kv in args.kv.split(","):
        eng = ChatEngine.load(Path(args.model), threads=2, kv_cache=kv)
        ids = eng.encode_chat([{"role": "user", "content": "Write an essay about bread."}])
        runners = {}
        for cap in map(int, args.capacities.split(",")):
            runners[cap] = Runner(eng.model, rows=1, capacity=cap)
            runners[cap].grow(cap)
            eng.prefill(runners[cap], 0, ids)
        times: dict[int, list[float]] = {c: [] for c in runners}
        length = np.array([len(ids) + 20], np.int32)
        with eng.model.warmer.held():
            for _ in range(args.rounds):
                for cap, runner in runners.items():
                    start = time.perf_counter()
                    for _ in range(20):
                        runner.decode(np.array([100]), length)
                    times[cap].append((time.perf_counter() - start) / 20 * 1e3)
        row = ", ".join(f"capacity {c}: {statistics.median(t):.3f} ms" for c, t in times.items())
        print(f"{kv} cache, {len(ids) + 20} tokens: {row}")


if __name__ == "__main__":
    main()
