"""Fault-injection benchmark for connection_pool (issue 22): availability under mixed faults.

    python benchmarks/faults.py                 # 3,000 requests, 32 at a time
    python benchmarks/faults.py --quick         # 300, for a sanity check
    python benchmarks/faults.py --write benchmarks/results/faults.md

Two fake OpenAI providers on loopback (tests/fake_upstream.py) each fail 30% of the calls
they get, with one of: 500, 503, connection reset, a stall past the first-byte timeout,
garbage JSON, garbage SSE, a stream cut off cleanly after its first event (a plain reply
without a finish reason). clawhost (in this process, served over HTTP on loopback) has both
as providers, each the other's fallback, the exact cache in front of them, and a recorder on
``clawhost_store``. The client sends a mix of streamed and plain chat requests, each with a
prompt of its own (no cache hits), with bounded concurrency, a timeout per request and a
bound on the whole run; it stops by itself.

It counts: answers whole (200, the full text, a finish reason; streams end with [DONE]);
cut-off answers presented as complete (a fragment with a 200 / [DONE]); cut-off answers
stored (what the host passed to clawhost_store that is not the whole answer); the
in-flight gauge at the end and the lowest it read during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

FAULTS = ["500", "503", "reset", "stall_first:2", "garbage_json", "garbage_sse", "cutoff"]
FULL = "Hello from the fake upstream."


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Model name"))
    except (OSError, StopIteration, subprocess.SubprocessError):
        return platform.processor() or "unknown"


class StoreCheck:
    """Sees every reply the host hands to the caches; counts those that are not whole."""

    def __init__(self):
        self.stored = 0
        self.cut = 0

    def clawhost_store(self, request, reply):
        self.stored += 1
        choice = ((reply.body or {}).get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content")
        if text != FULL or choice.get("finish_reason") != "stop":
            self.cut += 1


def host_config(a: str, b: str, workspace: str, attempts: int) -> dict:
    def prov(url: str) -> dict:
        # first_byte well under the stall, so a stall is a timeout, retried
        return {"base_url": url + "/v1", "api_key": "${BENCH_KEY}", "models": ["m1"],
                "max_concurrency": 64,
                "timeouts": {"connect": 1, "first_byte": 0.5, "idle": 0.5, "total": 5},
                "retries": {"attempts": attempts, "backoff_base": 0.05, "backoff_max": 0.5}}
    return {"workspace": workspace, "log_level": "error",
            "plugins": {"cache": {"policy": "all"},
                        "connection_pool": {
                            "deadline": 15,
                            "providers": {"a": prov(a), "b": prov(b)},
                            "fallbacks": {"a/m1": ["b/m1"], "b/m1": ["a/m1"]}}}}


async def one(session, url: str, i: int, stream: bool, timeout: float) -> tuple[str, float]:
    """('ok' | 'cut_presented' | 'error:<why>', seconds) for request i."""
    import aiohttp
    body = {"model": "a/m1" if i % 4 < 2 else "b/m1", "temperature": 0,
            "messages": [{"role": "user", "content": f"question {i}"}]}
    t = time.perf_counter()
    try:
        async with session.post(url + "/v1/chat/completions", json={**body, "stream": stream},
                                timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            if not stream:
                data = await r.json()
                took = time.perf_counter() - t
                if r.status != 200:
                    return f"error:{r.status}", took
                choice = data["choices"][0]
                whole = choice["message"]["content"] == FULL and choice.get("finish_reason")
                return ("ok" if whole else "cut_presented"), took
            events = []
            async for line in r.content:
                if line.startswith(b"data: "):
                    raw = line[6:].strip().decode()
                    events.append(raw if raw == "[DONE]" else json.loads(raw))
            took = time.perf_counter() - t
            if r.status != 200:
                return f"error:{r.status}", took
            if any(isinstance(e, dict) and "error" in e for e in events):
                return "error:in-band", took
            text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events
                           if isinstance(e, dict) and e.get("choices"))
            finished = any(isinstance(e, dict) and e.get("choices")
                           and e["choices"][0].get("finish_reason") for e in events)
            if events[-1:] == ["[DONE]"]:
                return ("ok" if text == FULL and finished else "cut_presented"), took
            return "error:no-done", took
    except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
        return f"error:{type(exc).__name__}", time.perf_counter() - t


async def run(n: int, concurrency: int, timeout: float, bound: float, attempts: int) -> dict:
    import aiohttp
    from fake_upstream import FakeUpstream

    from clawhost.plugins.connection_pool import STATE
    from clawhost.testing import make_config
    from clawhost.host import Host
    from clawhost.hookspecs import hookimpl
    from aiohttp import web
    from clawhost.server import make_app

    StoreCheck.clawhost_store = hookimpl(StoreCheck.clawhost_store)
    ups = [FakeUpstream("a", fail_rate=0.3, fault_mix=FAULTS, seed=11),
           FakeUpstream("b", fail_rate=0.3, fault_mix=FAULTS, seed=23)]
    for u in ups:
        await u.start()
    os.environ.setdefault("BENCH_KEY", "bench-key-not-secret")
    check = StoreCheck()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = host_config(ups[0].url, ups[1].url, str(Path(tmp) / "ws"), attempts)
        host = Host(make_config(Path(tmp) / "ws", cfg), extra_plugins=[("store-check", check)])
        await host.start()
        runner = web.AppRunner(make_app(host), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        pool = host.state[STATE]
        lowest = [0]
        highest = [0]

        async def watch():   # the in-flight gauge, sampled through the run
            while True:
                for v in pool.figures()["inflight"].values():
                    lowest[0] = min(lowest[0], v)
                    highest[0] = max(highest[0], v)
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        results: list[tuple[str, float]] = []
        todo = iter(range(n))
        t0 = time.perf_counter()

        async def worker(session):
            for i in todo:
                results.append(await one(session, url, i, stream=i % 2 == 1, timeout=timeout))

        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
                async with asyncio.timeout(bound):
                    await asyncio.gather(*(worker(s) for _ in range(concurrency)))
        except TimeoutError:
            pass   # bounded: what did not finish counts as failed below
        elapsed = time.perf_counter() - t0
        await asyncio.sleep(0.2)   # let closed streams settle before reading the gauge
        watcher.cancel()
        figs = pool.figures()
        trips = {name: p.breaker.trips for name, p in pool.providers.items()}
        await runner.cleanup()
        await host.stop()
    for u in ups:
        await u.stop()
    kinds: dict[str, int] = {}
    for kind, _ in results:
        kinds[kind] = kinds.get(kind, 0) + 1
    lat = sorted(t for _, t in results)
    injected: dict[str, int] = {}
    for u in ups:
        for f, c in u.injected.items():
            injected[f] = injected.get(f, 0) + c
    upstream_calls = sum(len(u.requests) for u in ups)
    return {"requests": n, "attempts": attempts, "finished": len(results), "ok": kinds.get("ok", 0),
            "success": kinds.get("ok", 0) / n, "outcomes": kinds,
            "cut_presented": kinds.get("cut_presented", 0), "stored": check.stored,
            "cut_stored": check.cut, "inflight_end": figs["inflight"],
            "inflight_lowest": lowest[0], "inflight_highest": highest[0],
            "upstream_calls": upstream_calls, "faults_injected": injected,
            "fault_share": sum(injected.values()) / max(1, upstream_calls),
            "retries": figs["retries_total"], "breaker_trips": trips,
            "p50_ms": lat[len(lat) // 2] * 1e3 if lat else None,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * .99))] * 1e3 if lat else None,
            "max_ms": lat[-1] * 1e3 if lat else None, "elapsed_s": elapsed}


def report(r: dict, load: tuple) -> str:
    ok = "✅" if r["success"] >= 0.999 else "❌"
    zero = lambda v: "✅" if not v else "❌"  # noqa: E731
    gauge = all(v == 0 for v in r["inflight_end"].values()) and r["inflight_lowest"] >= 0
    return "\n".join([
        f"## Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores (shared); Python "
        f"{platform.python_version()}; load average before/after: {load[0]:.2f} / "
        f"{os.getloadavg()[0]:.2f}",
        f"- {r['requests']} requests (half streamed), retries.attempts {r['attempts']} per "
        f"provider, {r['elapsed_s']:.1f} s; "
        f"{r['upstream_calls']} upstream calls, {r['fault_share']:.1%} of them faulted: "
        + ", ".join(f"{k} {v}" for k, v in sorted(r["faults_injected"].items())),
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        f"| answers whole | {r['ok']} / {r['requests']} = {r['success']:.2%} | ≥ 99.9% | {ok} |",
        f"| cut-off answers presented as complete | {r['cut_presented']} | 0 | "
        f"{zero(r['cut_presented'])} |",
        f"| cut-off answers stored (of {r['stored']} stored) | {r['cut_stored']} | 0 | "
        f"{zero(r['cut_stored'])} |",
        f"| in-flight gauge at the end (lowest / highest seen) | {r['inflight_end']} "
        f"({r['inflight_lowest']} / {r['inflight_highest']}) | 0, never < 0 | "
        f"{'✅' if gauge else '❌'} |",
        f"| latency p50 / p99 / max | {r['p50_ms']:.0f} / {r['p99_ms']:.0f} / "
        f"{r['max_ms']:.0f} ms | | |",
        f"| retries, breaker trips | {r['retries']}, {r['breaker_trips']} | | |",
        f"| outcomes | {r['outcomes']} | | |",
        ""])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    ap.add_argument("--bound", type=float, default=600.0, help="whole run, seconds")
    ap.add_argument("--attempts", type=int, default=3,
                    help="retries per provider (the plugin's default, 3)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", metavar="MD", help="append the report to this markdown file")
    args = ap.parse_args()
    n = 300 if args.quick else args.requests
    load = os.getloadavg()
    res = asyncio.run(run(n, args.concurrency, args.timeout, args.bound, args.attempts))
    text = report(res, load)
    print(text)
    print(json.dumps(res))
    if args.write:
        with open(args.write, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
