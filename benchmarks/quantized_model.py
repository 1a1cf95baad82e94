"""End-to-end benchmark of the quantized_model plugin over HTTP, with the real packaged models.

What it measures (medians), with the default models (smollm2-135m-instruct,
all-minilm-l6-v2, and the rerank model minilm-l6-qqp-verifier) served by a real
`clawhost run` process:
- cold start with prepared artifacts: process spawn until /readyz answers 200 (target <= 3 s);
- RSS of the host with the models loaded, after a warm-up of chat + embeddings (<= 350 MB);
- embeddings through the host: one short sentence, and 32 sentences per request;
- chat through the host: time to first token, decode tok/s seen by a streaming client,
  whole-answer latency; /healthz latency while a long generation runs;
- anchors in the same run: the same engines called in-process (no HTTP, no host).

    python benchmarks/quantized_model.py [--workspace DIR] [--runs 5] [--out benchmarks/results/quantized_model.md]

The workspace keeps prepared artifacts between runs (`clawhost model prepare` runs first if
they are missing; its time is reported but is not part of the cold start).
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
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from clawhost.bench.probe import free_port, get, rss_mb  # noqa: E402,F401  (shared with clawhost bench)
CHAT, EMBED = "smollm2-135m-instruct", "all-minilm-l6-v2"
VERIFIER = "minilm-l6-qqp-verifier"  # the semantic cache's cross-encoder, a third default model
SHORT = "How do I bake bread?"
PROMPT = "Write a short story about a robot who learns to paint."


def write_config(workspace: Path, port: int) -> Path:
    cfg = Path(tempfile.mkdtemp(prefix="qm-bench-")) / "config.yaml"
    cfg.write_text(f"workspace: {workspace}\nlog_level: warning\nserver:\n  port: {port}\n"
                   "plugins:\n  quantized_model: {}\n")
    return cfg


def ensure_prepared(cfg: Path) -> dict[str, float]:
    took = {}
    listing = subprocess.run([sys.executable, "-m", "clawhost", "model", "list", "--config", str(cfg)],
                             capture_output=True, text=True, check=True).stdout
    for model in (EMBED, CHAT, VERIFIER):
        block = listing.split(model, 1)[1].splitlines()[1] if model in listing else ""
        if "prepared," in block:
            continue
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "clawhost", "model", "prepare", model, "--config",
                        str(cfg)], check=True)
        took[model] = time.perf_counter() - t0
    return took


def start_host(cfg: Path, port: int) -> tuple[subprocess.Popen, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "clawhost", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        status, facts = get(f"http://127.0.0.1:{port}/readyz", timeout=1)
        if status == 200:
            took = time.perf_counter() - t0
            bad = {m: s for m, s in facts["models"].items() if s != "ready"}
            if bad:
                raise SystemExit(f"models not ready: {bad}")
            return proc, took
        if proc.poll() is not None:
            raise SystemExit("the host exited during startup")
        time.sleep(0.01)


def stop_host(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


def bench_http(port: int, runs: int) -> dict:
    import threading

    from openai import OpenAI
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    out: dict = {}
    sentences = [f"Question number {i}: how do I fix my bike's flat tyre?" for i in range(32)]
    client.embeddings.create(model=EMBED, input=SHORT)
    single = []
    for _ in range(50):
        t0 = time.perf_counter()
        client.embeddings.create(model=EMBED, input=SHORT, extra_body={"cache": {"no-cache": True}})
        single.append(time.perf_counter() - t0)
    out["embed_single_ms"] = statistics.median(single) * 1e3
    batch = []
    for _ in range(max(5, runs)):
        t0 = time.perf_counter()
        client.embeddings.create(model=EMBED, input=sentences)
        batch.append(time.perf_counter() - t0)
    out["embed_batch32_per_s"] = 32 / statistics.median(batch)

    ttft, decode, total, tokens = [], [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        first = last = None
        n = 0
        stream = client.chat.completions.create(
            model=CHAT, messages=[{"role": "user", "content": PROMPT}], max_tokens=128,
            temperature=0, stream=True, stream_options={"include_usage": True})
        text = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                now = time.perf_counter()
                first = first or now
                last = now
                text.append(chunk.choices[0].delta.content)
            if chunk.usage:
                n = chunk.usage.completion_tokens
        ttft.append(first - t0)
        total.append(time.perf_counter() - t0)
        tokens.append(n)
        if n > 1 and last > first:
            decode.append((n - 1) / (last - first))
    out["chat_ttft_ms"] = statistics.median(ttft) * 1e3
    out["chat_decode_tok_s"] = statistics.median(decode) if decode else 0.0
    out["chat_total_s"] = statistics.median(total)
    out["chat_tokens"] = statistics.median(tokens)
    out["chat_sample"] = "".join(text)[:160].replace("\n", " ")

    # health checks while a long generation runs
    done = threading.Event()

    def long_generation():
        client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": PROMPT}],
                                       max_tokens=256, temperature=0,
                                       extra_body={"cache": {"no-cache": True}})
        done.set()
    threading.Thread(target=long_generation, daemon=True).start()
    time.sleep(0.2)
    health = []
    while not done.is_set() and len(health) < 200:
        t0 = time.perf_counter()
        get(f"http://127.0.0.1:{port}/healthz")
        health.append(time.perf_counter() - t0)
        time.sleep(0.01)
    done.wait(120)
    out["healthz_during_generation_ms"] = statistics.median(health) * 1e3 if health else None
    out["healthz_during_generation_max_ms"] = max(health) * 1e3 if health else None
    return out


def bench_direct(workspace: Path) -> dict:
    """Anchor: both engines in-process, same artifacts, no HTTP, no host."""
    code = f"""
import json, statistics, time
from pathlib import Path
from clawhost.engines.embed_engine import EmbedEngine
e = EmbedEngine.load(Path({str(workspace / 'models' / EMBED)!r}), threads=2)
e.embed([{SHORT!r}])
t = []
for _ in range(50):
    t0 = time.perf_counter(); e.embed([{SHORT!r}]); t.append(time.perf_counter() - t0)
s = [f"Question number {{i}}: how do I fix my bike's flat tyre?" for i in range(32)]
b = []
for _ in range(5):
    t0 = time.perf_counter(); e.embed(s); b.append(time.perf_counter() - t0)
from clawhost.plugins.quantized_model.chat_engine import ChatEngine
c = ChatEngine.load(Path({str(workspace / 'models' / CHAT)!r}), threads=2)
ids = c.encode_chat([{{"role": "user", "content": {PROMPT!r}}}])
c.generate(ids, {{"max_tokens": 4, "temperature": 0}}).complete()
rates, ttft = [], []
for _ in range(3):
    t0 = time.perf_counter(); first = None; n = 0
    for ev in c.generate(ids, {{"max_tokens": 128, "temperature": 0}}).events():
        n += 1
        if first is None:
            first = time.perf_counter()
    last = time.perf_counter()
    ttft.append(first - t0); rates.append((n - 1) / (last - first))
print(json.dumps({{"embed_single_ms": statistics.median(t) * 1e3, "embed_batch32_per_s": 32 / statistics.median(b),
                  "chat_decode_tok_s": statistics.median(rates), "chat_ttft_ms": statistics.median(ttft) * 1e3}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {cpu}, {len(os.sched_getaffinity(0))} cores available"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default=str(ROOT / "workspace"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quantized_model.md"))
    args = ap.parse_args()
    workspace = Path(args.workspace).resolve()
    port = free_port()
    cfg = write_config(workspace, port)
    prep = ensure_prepared(cfg)
    load_before = os.getloadavg()
    starts, rss_ready = [], []
    for _ in range(args.runs):
        proc, took = start_host(cfg, port)
        starts.append(took)
        rss_ready.append(rss_mb(proc.pid))
        stop_host(proc)
    proc, _ = start_host(cfg, port)
    try:
        http = bench_http(port, args.runs)
        rss_warm = rss_mb(proc.pid)
    finally:
        stop_host(proc)
    direct = bench_direct(workspace)
    load_after = os.getloadavg()
    fig = {"cold_start_s": statistics.median(starts), "cold_starts": starts,
           "rss_ready_mb": statistics.median(rss_ready), "rss_warm_mb": rss_warm,
           "http": http, "direct": direct, "prepare_s": prep}
    print(json.dumps(fig, indent=2))
    write_report(Path(args.out), fig, load_before, load_after, args.runs)


def write_report(path: Path, f: dict, before, after, runs: int) -> None:
    h, d = f["http"], f["direct"]
    ok = lambda good: "yes" if good else "NO"  # noqa: E731
    lines = [
        "# quantized_model: end to end over HTTP", "",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. "
        f"Machine: {machine()}. Load average before/after: "
        f"{before[0]:.2f}/{after[0]:.2f} (shared box: figures are noisy).", "",
        f"Command: `python benchmarks/quantized_model.py --runs {runs}`. Models: `{CHAT}` (int4-mixed), "
        f"`{EMBED}` (int8) and the rerank model `{VERIFIER}` (int8), the plugin's default options, one `clawhost run` process. Medians.", "",
        "| figure | measured | target | met |", "|---|---|---|---|",
        f"| cold start with prepared artifacts, spawn -> /readyz 200 | {f['cold_start_s']:.2f} s "
        f"(runs: {', '.join(f'{s:.2f}' for s in f['cold_starts'])}) | <= 3 s | {ok(f['cold_start_s'] <= 3)} |",
        f"| host RSS, the three default models loaded (idle) | {f['rss_ready_mb']:.0f} MB | <= 350 MB | "
        f"{ok(f['rss_ready_mb'] <= 350)} |",
        f"| host RSS after chat + embedding traffic | {f['rss_warm_mb']:.0f} MB | <= 350 MB | "
        f"{ok(f['rss_warm_mb'] <= 350)} |",
        f"| embeddings, 1 short sentence, over HTTP | {h['embed_single_ms']:.2f} ms | | |",
        f"| embeddings, 32 sentences per request, over HTTP | {h['embed_batch32_per_s']:.0f} sentences/s | | |",
        f"| chat, time to first token (streaming, ~20-token prompt) | {h['chat_ttft_ms']:.0f} ms | | |",
        f"| chat, decode seen by the client | {h['chat_decode_tok_s']:.0f} tok/s | | |",
        f"| chat, whole answer ({h['chat_tokens']:.0f} tokens) | {h['chat_total_s']:.2f} s | | |",
        f"| /healthz while a 256-token generation runs (median / max) | "
        f"{h['healthz_during_generation_ms'] or 0:.1f} / {h['healthz_during_generation_max_ms'] or 0:.1f} ms | | |",
        "", "Anchor measured in the same run (same artifacts, engine called in-process, no HTTP):", "",
        "| figure | in-process | over HTTP | HTTP + host overhead |", "|---|---|---|---|",
        f"| embeddings, 1 short sentence | {d['embed_single_ms']:.2f} ms | {h['embed_single_ms']:.2f} ms | "
        f"{h['embed_single_ms'] - d['embed_single_ms']:+.2f} ms |",
        f"| embeddings, batch 32 | {d['embed_batch32_per_s']:.0f}/s | {h['embed_batch32_per_s']:.0f}/s | "
        f"x{d['embed_batch32_per_s'] / max(h['embed_batch32_per_s'], 1e-9):.2f} |",
        f"| chat, time to first token | {d['chat_ttft_ms']:.0f} ms | {h['chat_ttft_ms']:.0f} ms | "
        f"{h['chat_ttft_ms'] - d['chat_ttft_ms']:+.0f} ms |",
        f"| chat, decode | {d['chat_decode_tok_s']:.0f} tok/s | {h['chat_decode_tok_s']:.0f} tok/s | "
        f"x{d['chat_decode_tok_s'] / max(h['chat_decode_tok_s'], 1e-9):.2f} |",
        "", f"Greedy sample (first 160 chars): {h['chat_sample']!r}", "",
    ]
    if f["prepare_s"]:
        lines.append("Preparation in this run (not part of the cold start): " + ", ".join(
            f"{m} {s:.0f} s" for m, s in f["prepare_s"].items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    notes = ""  # hand-written notes below the measured part survive a rerun
    if path.exists() and "\n## Notes" in path.read_text():
        notes = "\n## Notes" + path.read_text().split("\n## Notes", 1)[1]
    path.write_text("\n".join(lines) + "\n" + notes)


if __name__ == "__main__":
    main()
