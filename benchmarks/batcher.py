"""Batcher benchmark over HTTP through the full host: unbatched and batched, side by side, one run.

Two `clawhost run` processes on the same prepared workspace, up at once but driven one at a
time, alternating round by round (the shared box's load drifts): `quantized_model` alone, and
`batcher` + `quantized_model`.

- embeddings: 32 concurrent clients, one sentence per request, closed loop, --duration s in all:
  throughput and latency; the "batch time" anchor is one 32-sentence request on the same host;
- generation: 1 stream, then 4 concurrent streams, 64 tokens each (greedy): aggregate tok/s,
  TTFT of each stream;
- overload (batched host only): open-loop chat arrivals at 10x the measured capacity for
  --overload-s s: server RSS, how fast 429/503 answer, whether every admitted request completes.

    python benchmarks/batcher.py [--workspace DIR] [--duration 10] [--overload-s 30] \
        [--out benchmarks/results/batcher.md]

Prepared artifacts are reused from the workspace (`clawhost model prepare` runs if missing).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quantized_model import CHAT, EMBED, ensure_prepared, free_port, get, rss_mb  # noqa: E402

from clawhost.bench.load import embeddings, one_stream  # noqa: E402  (shared with clawhost bench)
from clawhost.bench.probe import pct, sentences  # noqa: E402

PROMPT = "Write a short story about a robot who learns to paint."
STORY = [f"Write a short story about a {a} who learns to {b}." for a, b in
         (("robot", "paint"), ("cat", "sing"), ("farmer", "fly"), ("child", "code"))]
BATCHER = {"max_batch_size": 32, "max_wait_ms": 5, "max_slots": 4, "max_queue": 32,
           "queue_timeout_ms": 2000}


def write_config(workspace: Path, port: int, batched: bool) -> Path:
    plugins = {"batcher": BATCHER} if batched else {}
    plugins["quantized_model"] = {"prepare_on_start": False}
    cfg = Path(tempfile.mkdtemp(prefix="batcher-bench-")) / "config.yaml"
    cfg.write_text(json.dumps({"workspace": str(workspace), "log_level": "warning",
                               "server": {"port": port, "max_inflight": 1024},
                               "plugins": plugins}))
    return cfg


def start(cfg: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "clawhost", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        status, facts = get(f"http://127.0.0.1:{port}/readyz", timeout=1)
        if status == 200 and all(s == "ready" for s in facts["models"].values()):
            return proc
        if proc.poll() is not None:
            raise SystemExit("the host exited during startup")
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the host did not become ready in 120 s")


async def batch_time(http, url: str) -> float:
    """The anchor: one request of 32 sentences through the same host (median of 5)."""
    took = []
    for _ in range(5):
        t1 = time.perf_counter()
        async with http.post(f"{url}/v1/embeddings", json={"model": EMBED, "input": sentences(32)}) as r:
            await r.read()
        took.append(time.perf_counter() - t1)
    return statistics.median(took)


async def gen_round(http, url: str) -> dict:
    s = await one_stream(http, url, PROMPT)
    many = await asyncio.gather(*(one_stream(http, url, p) for p in STORY))
    span = max(m["end"] for m in many) - min(m["start"] for m in many)
    dspan = max(m["end"] for m in many) - min(m["first"] for m in many)
    return {"single": s["n"] / (s["end"] - s["start"]),
            "single_decode": (s["n"] - 1) / (s["end"] - s["first"]),
            "agg4": sum(m["n"] for m in many) / span,
            "agg4_decode": sum(m["n"] - 1 for m in many) / dspan,
            "ttfts": [m["ttft"] for m in many]}


async def overload(http, url: str, pid: int, rate: float, seconds: float, tokens: int = 16) -> dict:
    import psutil
    proc = psutil.Process(pid)
    rss0 = proc.memory_info().rss / 1e6
    rss = [rss0]
    results: list[tuple[int, float]] = []
    body = {"model": CHAT, "messages": [{"role": "user", "content": "Say hello in one line."}],
            "max_tokens": tokens, "temperature": 0}

    async def call() -> None:
        t0 = time.perf_counter()
        try:
            async with http.post(f"{url}/v1/chat/completions", json=body) as r:
                await r.read()
                results.append((r.status, time.perf_counter() - t0))
        except Exception:  # noqa: BLE001 - counted as a hang/failure
            results.append((0, time.perf_counter() - t0))

    tasks = []
    t_start = time.perf_counter()
    next_sample = t_start
    k = 0
    while (now := time.perf_counter()) - t_start < seconds:
        due = t_start + k / rate
        if now >= due:
            tasks.append(asyncio.ensure_future(call()))
            k += 1
            continue
        if now >= next_sample:
            rss.append(proc.memory_info().rss / 1e6)
            next_sample = now + 0.5
        await asyncio.sleep(min(due - now, 0.005))
    sent = len(tasks)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    rss.append(proc.memory_info().rss / 1e6)
    by = {}
    for status, _ in results:
        by[status] = by.get(status, 0) + 1
    reject = [t for s, t in results if s in (429, 503)]
    r429 = [t for s, t in results if s == 429]
    ok = [t for s, t in results if s == 200]
    return {"rate": rate, "sent": sent, "statuses": by, "ok_p50_s": pct(ok, 50),
            "ok_p99_s": pct(ok, 99), "r429_p99_ms": pct(r429, 99) * 1e3,
            "reject_p99_ms": pct(reject, 99) * 1e3, "rss_start_mb": rss0, "rss_max_mb": max(rss),
            "rss_end_mb": rss[-1], "failed_other": sum(v for s, v in by.items()
                                                       if s not in (200, 429, 503))}


async def bench(urls: dict[str, str], pid: int, duration: float, rounds: int,
                overload_s: float) -> dict:
    """Both hosts are up; the phases alternate between them round by round (load drifts)."""
    import aiohttp
    out: dict = {m: {"embed": [], "gen": []} for m in urls}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=300)) as http:
        for url in urls.values():  # warm-up: first-run allocations, thread pools
            for _ in range(3):
                await one_stream(http, url, "hi", 8)
                async with http.post(f"{url}/v1/embeddings", json={"model": EMBED,
                                                                   "input": sentences(32)}) as r:
                    await r.read()
        for _ in range(rounds):
            for mode, url in urls.items():
                out[mode]["embed"].append(await embeddings(http, url, duration / rounds))
        for mode, url in urls.items():
            out[mode]["batch32_ms"] = await batch_time(http, url) * 1e3
        for _ in range(rounds):
            for mode, url in urls.items():
                out[mode]["gen"].append(await gen_round(http, url))
        capacity = statistics.median(g["agg4"] for g in out["batched"]["gen"]) / 16
        out["batched"]["overload"] = await overload(http, urls["batched"], pid, 10 * capacity,
                                                    overload_s)
    return out


def summarize(raw: dict) -> dict:
    res = {}
    for mode, r in raw.items():
        lat = [x for e in r["embed"] for x in e["lat"]]
        gen = r["gen"]
        res[mode] = {
            "embed": {"req_per_s": statistics.median(e["req_per_s"] for e in r["embed"]),
                      "rounds_req_per_s": [round(e["req_per_s"], 1) for e in r["embed"]],
                      "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
                      "errors": sum(e["errors"] for e in r["embed"]), "requests": len(lat),
                      "batch32_ms": r["batch32_ms"]},
            "gen": {"single_tok_s": statistics.median(g["single"] for g in gen),
                    "agg4_tok_s": statistics.median(g["agg4"] for g in gen),
                    "agg4_over_single_rounds": [round(g["agg4"] / g["single"], 2) for g in gen],
                    "single_decode_tok_s": statistics.median(g["single_decode"] for g in gen),
                    "agg4_decode_tok_s": statistics.median(g["agg4_decode"] for g in gen),
                    "ttft4_max_s": max(t for g in gen for t in g["ttfts"]),
                    "ttft4_median_s": statistics.median(t for g in gen for t in g["ttfts"])},
            "rss_mb": r["rss_mb"]}
        if "overload" in r:
            res[mode]["overload"] = r["overload"]
    return res


def engine_anchor(workspace: Path, threads: int = 2) -> dict:
    """The ceiling batching can reach: the embedding engine alone, in this process, sentences/s
    at batch sizes 1..32 (interleaved, median of 5), on the same sentences as the HTTP phase."""
    from clawhost.engines.embed_engine import EmbedEngine
    engine = EmbedEngine.load(workspace / "models" / EMBED, threads=threads)
    texts = sentences(32)
    for t in texts:
        engine.embed([t])
    rates: dict[int, list[float]] = {n: [] for n in (1, 4, 8, 16, 32)}
    for _ in range(5):
        for n in rates:
            t0 = time.perf_counter()
            for i in range(0, 32, n):
                engine.embed(texts[i:i + n])
            rates[n].append(32 / (time.perf_counter() - t0))
    return {n: statistics.median(r) for n, r in rates.items()}


def mode_workspace(workspace: Path, mode: str) -> Path:
    """A workspace of its own per host (one host per workspace), sharing the prepared models."""
    ws = workspace.parent / f"{workspace.name}-{mode}"
    ws.mkdir(exist_ok=True)
    link = ws / "models"
    if not link.exists():
        link.symlink_to((workspace / "models").resolve(), target_is_directory=True)
    return ws


def run_all(workspace: Path, duration: float, rounds: int, overload_s: float) -> dict:
    procs, urls = {}, {}
    try:
        for mode in ("unbatched", "batched"):
            port = free_port()
            procs[mode] = start(write_config(mode_workspace(workspace, mode), port,
                                             mode == "batched"), port)
            urls[mode] = f"http://127.0.0.1:{port}"
        raw = asyncio.run(bench(urls, procs["batched"].pid, duration, rounds, overload_s))
        anchor = engine_anchor(workspace)  # both hosts idle now
        for mode, proc in procs.items():
            raw[mode]["rss_mb"] = rss_mb(proc.pid)
        res = summarize(raw)
        res["engine_sentences_per_s"] = anchor
        return res
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)


def report(res: dict, args) -> str:
    u, b = res["unbatched"], res["batched"]
    eu, eb, gu, gb, ov = u["embed"], b["embed"], u["gen"], b["gen"], b["overload"]
    eng = res["engine_sentences_per_s"]
    batch_ms = 32 / eng[32] * 1e3  # one full batch in the engine, measured in this run
    p99_bound = BATCHER["max_wait_ms"] + 2 * batch_ms
    load = os.getloadavg()
    lines = [
        "# batcher benchmark", "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (shared box: noisy)",
        f"- models: {EMBED}, {CHAT} (INT8, prepared by quantized_model); over HTTP through "
        f"`clawhost run`; batcher options {json.dumps(BATCHER)}",
        f"- command: `python benchmarks/batcher.py --duration {args.duration:g} "
        f"--overload-s {args.overload_s:g} --rounds {args.rounds}`; both hosts run at once and "
        f"each phase alternates between them round by round (medians of the rounds)", "",
        "| what | unbatched | batched | ratio | target |", "|---|---|---|---|---|",
        f"| embeddings, 32 clients: req/s | {eu['req_per_s']:.0f} | {eb['req_per_s']:.0f} | "
        f"{eb['req_per_s'] / eu['req_per_s']:.2f}x | >= 1.6x |",
        f"| embeddings p50 / p99 ms | {eu['p50_ms']:.1f} / {eu['p99_ms']:.1f} | "
        f"{eb['p50_ms']:.1f} / {eb['p99_ms']:.1f} | | p99 <= {p99_bound:.0f} "
        f"(max_wait {BATCHER['max_wait_ms']} + 2 x engine batch-32 time {batch_ms:.0f}) |",
        f"| one 32-sentence request (batch time) ms | {eu['batch32_ms']:.1f} | {eb['batch32_ms']:.1f} | | |",
        f"| anchor: the engine alone in-process, sentences/s at batch 1 / 32 | {eng[1]:.0f} | "
        f"{eng[32]:.0f} | {eng[32] / eng[1]:.2f}x | the ceiling for coalescing |",
        f"| generation: 1 stream tok/s (wall, incl. prefill) | {gu['single_tok_s']:.1f} | "
        f"{gb['single_tok_s']:.1f} | | anchor |",
        f"| generation: 4 streams aggregate tok/s (wall) | {gu['agg4_tok_s']:.1f} | "
        f"{gb['agg4_tok_s']:.1f} | {gb['agg4_tok_s'] / gb['single_tok_s']:.2f}x single "
        f"(unbatched {gu['agg4_tok_s'] / gu['single_tok_s']:.2f}x) | >= 2.2x |",
        f"| generation: decode-only tok/s, 1 / 4 streams | {gu['single_decode_tok_s']:.1f} / "
        f"{gu['agg4_decode_tok_s']:.1f} | {gb['single_decode_tok_s']:.1f} / {gb['agg4_decode_tok_s']:.1f} "
        f"| {gb['agg4_decode_tok_s'] / gb['single_decode_tok_s']:.2f}x | |",
        f"| TTFT of 4 concurrent streams, median / max s | {gu['ttft4_median_s']:.2f} / "
        f"{gu['ttft4_max_s']:.2f} | {gb['ttft4_median_s']:.2f} / {gb['ttft4_max_s']:.2f} | | <= 1 s |",
        f"| host RSS after these, MB | {u['rss_mb']:.0f} | {b['rss_mb']:.0f} | | |", "",
        f"Overload (batched host), chat with 16-token answers at {ov['rate']:.0f} req/s "
        f"(10x the capacity measured above) for {args.overload_s:g} s: {ov['sent']} sent; "
        f"statuses {ov['statuses']}; 429 p99 {ov['r429_p99_ms']:.1f} ms, all rejections (429/503) "
        f"p99 {ov['reject_p99_ms']:.1f} ms; admitted answers p50 {ov['ok_p50_s']:.2f} s, p99 "
        f"{ov['ok_p99_s']:.2f} s; failures other than 429/503: {ov['failed_other']}; server RSS "
        f"{ov['rss_start_mb']:.0f} MB at the start, {ov['rss_max_mb']:.0f} MB at most, "
        f"{ov['rss_end_mb']:.0f} MB at the end.", "",
        "Engine alone, sentences/s by batch size: " + ", ".join(
            f"{n}: {r:.0f}" for n, r in eng.items()) + ".", "",
        "Continuous batching (iteration-level, Orca-style) is what landed for generation.", "",
        "```json", json.dumps(res, indent=1, default=float), "```", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/batcher-bench/ws"))
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--overload-s", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per phase")
    ap.add_argument("--max-batch-size", type=int, default=BATCHER["max_batch_size"],
                    help="the batched host's embedding max_batch_size")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    BATCHER["max_batch_size"] = args.max_batch_size
    args.workspace.mkdir(parents=True, exist_ok=True)
    ensure_prepared(write_config(args.workspace, free_port(), False))
    res = run_all(args.workspace, args.duration, args.rounds, args.overload_s)
    text = report(res, args)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
