"""KV cache element types (issue #18): perplexity on a long text and memory per type.

For float32, float16 and int8 caches of one prepared chat model, each in its own process:
perplexity of the first `--tokens` tokens of a long English text (default: the GPL-3 text
from /usr/share/common-licenses, ~8k tokens), KV bytes per token, and the engine's RSS
before / peak / after one `--prompt`-token prompt in a 4-slot batch.

    python benchmarks/kv_cache.py --model workspace/models/smollm2-135m-instruct [--out FILE.md]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from clawhost.bench.probe import cpu_model  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from long_prompt import emit_report  # noqa: E402

TEXT = "/usr/share/common-licenses/GPL-3"


def one(model: str, dtype: str, tokens: int, prompt: int) -> dict:
    import psutil

    from clawhost.plugins.quantized_model.chat_engine import ChatEngine, SamplingParams
    from clawhost.plugins.quantized_model.memory import release_free_memory
    from clawhost.plugins.quantized_model.quality import perplexity
    from clawhost.plugins.quantized_model.runner import Runner

    from clawhost.plugins.quantized_model.kv_calibrate import ensure_graph, refresh_if_stale
    ensure_graph(Path(model), dtype)
    if dtype == "int8":
        refresh_if_stale(Path(model))  # a graph from an older build: measure the current one
    eng = ChatEngine.load(model, threads=2, kv_cache=dtype)
    text = Path(TEXT).read_text()
    ids = eng.encode(text)[:tokens]
    t = time.perf_counter()
    ppl = perplexity(Runner(eng.model, rows=1, capacity=len(ids)), ids)
    ppl_s = time.perf_counter() - t
    release_free_memory()
    proc = psutil.Process()
    batch = eng.new_batch(4)
    slot = batch.add(eng.encode_chat([{"role": "user", "content": "hi"}]),
                     SamplingParams(max_tokens=4, temperature=0))
    while slot in batch.seqs:
        batch.step()
    release_free_memory()
    before = proc.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.01)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    long_ids = (eng.encode(text) * 2)[:prompt]
    t = time.perf_counter()
    slot = batch.add(long_ids, SamplingParams(max_tokens=16, temperature=0))
    while slot in batch.seqs:
        batch.step()
    wall = time.perf_counter() - t
    done.set()
    th.join()
    return {"kv_cache": dtype, "bytes_per_token": eng.kv_bytes_per_token,
            "perplexity": round(ppl, 4), "ppl_tokens": len(ids), "ppl_s": round(ppl_s, 1),
            "rss_before_mb": round(before / 2**20), "rss_peak_mb": round(peak[0] / 2**20),
            "rss_after_mb": round(proc.memory_info().rss / 2**20),
            "prompt_s": round(wall, 1), "load_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a prepared chat model folder")
    ap.add_argument("--tokens", type=int, default=4000, help="perplexity text tokens")
    ap.add_argument("--prompt", type=int, default=7000, help="long prompt tokens")
    ap.add_argument("--types", default="float32,float16,int8")
    ap.add_argument("--out")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.model, args.one, args.tokens, args.prompt)))
        return
    rows = []
    for dtype in args.types.split(","):
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--one", dtype,
                              "--tokens", str(args.tokens), "--prompt", str(args.prompt)],
                             capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    ref = next((r for r in rows if r["kv_cache"] == "float32"), rows[0])
    lines = [f"\n### `benchmarks/kv_cache.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             "", f"CPU: {cpu_model()}, 2 threads; load {min(r['load_1m'] for r in rows):.1f}–"
             f"{max(r['load_1m'] for r in rows):.1f}. Perplexity of the first "
             f"{ref['ppl_tokens']:,} tokens of {TEXT}; RSS of the engine alone (no host) around "
             f"one {args.prompt:,}-token prompt in a 4-slot batch.", "",
             "| KV cache | bytes/token | perplexity | vs float32 | RSS before / peak / after MB | prompt s |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kv_cache']} | {r['bytes_per_token']:,} | {r['perplexity']} | "
                     f"{100 * (r['perplexity'] / ref['perplexity'] - 1):+.2f}% | "
                     f"{r['rss_before_mb']} / {r['rss_peak_mb']} / {r['rss_after_mb']} | "
                     f"{r['prompt_s']} |")
    text = "\n".join(lines) + "\n"
    emit_report(text, args.out)


if __name__ == "__main__":
    main()
