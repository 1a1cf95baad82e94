"""connection_pool benchmark: overhead, proxied throughput, pooling, and failover under faults.

    python benchmarks/connection_pool.py            # all four, side by side, one run
    python benchmarks/connection_pool.py --quick    # fewer requests, for a sanity check

Three processes, so the load generator never shares the host's event loop:
  upstream   fake OpenAI providers on loopback (tests/fake_upstream.py) that answer at once:
             "fast" (always fine) and "flaky" (30% of requests fail with 429 or 500);
  host       clawhost serving connection_pool with providers fast (pooled), fresh (a new
             connection per request) and flaky (fallback: fast/m1);
  this one   the load generator (aiohttp client, keep-alive to clawhost / the upstream).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clawhost.bench.probe import wait_ready

ROOT = Path(__file__).resolve().parents[1]
BODY = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
DEADLINE = 5.0


# -- the two server roles ---------------------------------------------------------------------
async def run_upstream() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_upstream import FakeUpstream
    fast, flaky = FakeUpstream("fast"), FakeUpstream("flaky", fail_rate=0.3, seed=7)
    await fast.start()
    await flaky.start()
    print(json.dumps({"fast": fast.url, "flaky": flaky.url}), flush=True)
    await asyncio.Event().wait()


async def run_host(config_path: str) -> None:
    from clawhost.host import Host
    from clawhost.server import serve
    host = Host.from_file(config_path)
    await serve(host, on_listening=lambda port: print(json.dumps({"port": port}), flush=True))


def host_config(fast: str, flaky: str, workspace: str) -> str:
    quick = {"connect": 2, "first_byte": 5, "idle": 5, "total": DEADLINE}
    def prov(url, **kw):
        return {"base_url": url + "/v1", "api_key": "${BENCH_KEY}", "models": ["m1"],
                "max_concurrency": 256, "timeouts": quick, **kw}
    cfg = {"workspace": workspace, "log_level": "warning",
           "server": {"host": "127.0.0.1", "port": 0, "max_inflight": 4096},
           "plugins": {"connection_pool": {
               "deadline": DEADLINE,
               "providers": {"fast": prov(fast), "fresh": prov(fast, reuse_connections=False),
                             "flaky": prov(flaky, retries={"attempts": 2, "backoff_base": 0.02,
                                                           "backoff_max": 0.2},
                                           cooldown={"failures": 5, "seconds": 1})},
               "fallbacks": {"flaky/m1": ["fast/m1"]}}}}
    return json.dumps(cfg)   # JSON is YAML


def spawn(*args: str, env=None) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                            env=env, text=True)
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"benchmark: {' '.join(args)} did not start")
    return proc, json.loads(line)


# -- load generation --------------------------------------------------------------------------
def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def sequential(session, url: str, model: str, n: int) -> list[float]:
    out = []
    body = json.dumps({**BODY, "model": model})
    for _ in range(n):
        t = time.perf_counter()
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
            await r.read()
            assert r.status == 200, r.status
        out.append(time.perf_counter() - t)
    return out


async def load(session, url: str, model: str, *, concurrency: int, total: int | None = None,
               seconds: float | None = None, timeout: float | None = None):
    """(latencies, statuses, elapsed, answers past the deadline); by count or for a duration."""
    import aiohttp
    body = json.dumps({**BODY, "model": model})
    lat, statuses, slow = [], [], []
    left = [total if total is not None else 10**9]
    stop_at = time.perf_counter() + (seconds or 1e9)
    to = aiohttp.ClientTimeout(total=timeout) if timeout else None

    async def worker():
        while left[0] > 0 and time.perf_counter() < stop_at:
            left[0] -= 1
            t = time.perf_counter()
            try:
                async with session.post(url, data=body, timeout=to,
                                        headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    statuses.append(r.status)
                    took = time.perf_counter() - t
                    if took > DEADLINE:   # who answered, for the report
                        slow.append((round(took, 3), r.status, r.headers.get("x-clawhost-provider"),
                                     r.headers.get("x-clawhost-fallback")))
            except asyncio.TimeoutError:
                statuses.append("timeout")
                continue
            lat.append(took)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat, statuses, time.perf_counter() - t0, slow


async def measure(args, host_url: str, ups: dict, pids: dict) -> dict:
    import aiohttp
    import psutil
    procs = {k: psutil.Process(pid) for k, pid in pids.items()}
    procs["load"] = psutil.Process()

    def cpu(which: str = "host") -> float:
        t = procs[which].cpu_times()
        return t.user + t.system
    n_seq = 300 if args.quick else 2000
    secs = 2.0 if args.quick else 6.0
    n_flaky = 2000 if args.quick else 10_000
    conn = aiohttp.TCPConnector(limit=0)
    res: dict = {}
    async with aiohttp.ClientSession(connector=conn) as s:
        via, direct = host_url + "/v1/chat/completions", ups["fast"] + "/v1/chat/completions"
        await sequential(s, via, "fast/m1", 200)        # warm up both paths
        await sequential(s, direct, "m1", 200)
        d, v = [], []
        for _ in range(n_seq):                        # alternate: the box's noise hits both
            d += await sequential(s, direct, "m1", 1)
            v += await sequential(s, via, "fast/m1", 1)
        res["pair_overhead_p50_ms"] = statistics.median(b - a for a, b in zip(d, v)) * 1e3
        res["direct_p50_ms"], res["via_p50_ms"] = pct(d, .5) * 1e3, pct(v, .5) * 1e3
        res["direct_p99_ms"], res["via_p99_ms"] = pct(d, .99) * 1e3, pct(v, .99) * 1e3
        res["overhead_p50_ms"] = res["via_p50_ms"] - res["direct_p50_ms"]

        for name, url, model in (("direct", direct, "m1"), ("via", via, "fast/m1"),
                                 ("fresh", via, "fresh/m1")):
            c0 = {k: cpu(k) for k in procs}
            lat, st, el, _ = await load(s, url, model, concurrency=args.concurrency, seconds=secs)
            ok = sum(1 for x in st if x == 200)
            for k in procs:   # CPU seconds each process spent per request, in us
                res[f"{name}_{k}_cpu_us"] = (cpu(k) - c0[k]) / max(len(st), 1) * 1e6
            res[f"{name}_rps"] = ok / el
            res[f"{name}_load_p50_ms"] = pct(lat, .5) * 1e3
            res[f"{name}_errors"] = len(st) - ok
        fresh_seq = await sequential(s, via, "fresh/m1", n_seq // 2)
        pooled_seq = await sequential(s, via, "fast/m1", n_seq // 2)
        res["fresh_p50_ms"], res["pooled_p50_ms"] = pct(fresh_seq, .5) * 1e3, pct(pooled_seq, .5) * 1e3

        lat, st, el, slow = await load(s, via, "flaky/m1", concurrency=args.concurrency,
                                 total=n_flaky, timeout=DEADLINE + 2)
        ok = sum(1 for x in st if x == 200)
        res.update(flaky_n=len(st), flaky_ok=ok, flaky_success=ok / len(st),
                   flaky_timeouts=sum(1 for x in st if x == "timeout"),
                   flaky_past_deadline=sum(1 for x in lat if x > DEADLINE),
                   flaky_p50_ms=pct(lat, .5) * 1e3, flaky_p99_ms=pct(lat, .99) * 1e3,
                   flaky_max_ms=max(lat) * 1e3, flaky_rps=len(st) / el, flaky_slow=slow)
        async with s.get(host_url + "/readyz") as r:
            res["readyz"] = (await r.json()).get("remote_providers")
    return res


async def in_process(cfg_path: str, fast: str, n: int) -> dict:
    """The plugin and request loop alone: Host.handle in this process vs a bare aiohttp call."""
    import aiohttp

    from clawhost.host import Host
    from clawhost.types import ChatRequest, ModelRequest
    host = Host.from_file(cfg_path)
    await host.start()
    data = json.dumps({**BODY, "model": "m1"}).encode()
    try:
        async with aiohttp.ClientSession() as s:
            async def bare():
                async with s.post(fast + "/v1/chat/completions", data=data,
                                  headers={"Content-Type": "application/json"}) as r:
                    return json.dumps(json.loads(await r.read()))

            async def via():
                body = ChatRequest.model_validate({**BODY, "model": "fast/m1"})
                return json.dumps((await host.handle(ModelRequest(kind="chat", body=body))).body)

            d, v = [], []
            for i in range(n + 200):
                for f, out in ((bare, d), (via, v)):
                    t = time.perf_counter()
                    await f()
                    if i >= 200:   # warm-up
                        out.append(time.perf_counter() - t)
    finally:
        await host.stop()
    return {"inproc_bare_p50_us": pct(d, .5) * 1e6, "inproc_via_p50_us": pct(v, .5) * 1e6}


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def report(res: dict, args) -> str:
    load1 = os.getloadavg()
    r = res
    lines = [
        f"## Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- machine: {machine()}; load average before: {args.load_before}, after: "
        f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}",
        f"- command: `python benchmarks/connection_pool.py{' --quick' if args.quick else ''}`;"
        f" load concurrency {args.concurrency}; upstream, host and load generator in 3 processes",
        "",
        "| measure | direct to upstream | through clawhost | target |",
        "|---|---|---|---|",
        f"| latency p50, 1 client (ms) | {r['direct_p50_ms']:.3f} | {r['via_p50_ms']:.3f} | |",
        f"| latency p99, 1 client (ms) | {r['direct_p99_ms']:.3f} | {r['via_p99_ms']:.3f} | |",
        f"| **overhead p50 (ms)** | | **{r['overhead_p50_ms']:.3f}** | <= 0.5 |",
        f"| requests/s, {args.concurrency} clients | {r['direct_rps']:.0f} | **{r['via_rps']:.0f}** | >= 1,500 |",
        f"| latency p50 under load (ms) | {r['direct_load_p50_ms']:.2f} | {r['via_load_p50_ms']:.2f} | |",
        f"| overhead p50 of back-to-back pairs (ms) | | {r['pair_overhead_p50_ms']:.3f} | |",
        f"| in one process, p50 (us): bare aiohttp call vs Host.handle + plugin | "
        f"{r['inproc_bare_p50_us']:.0f} | {r['inproc_via_p50_us']:.0f} "
        f"(+{r['inproc_via_p50_us'] - r['inproc_bare_p50_us']:.0f}) | |",
        f"| CPU per request (us): host | | {r['via_host_cpu_us']:.0f} | |",
        f"| CPU per request (us): upstream + load generator | {r['direct_upstream_cpu_us']:.0f} + "
        f"{r['direct_load_cpu_us']:.0f} | {r['via_upstream_cpu_us']:.0f} + {r['via_load_cpu_us']:.0f} | |",
        f"| requests/s 2 cores could carry, from CPU per request (all 3 processes) | "
        f"{2e6 / (r['direct_upstream_cpu_us'] + r['direct_load_cpu_us']):.0f} | "
        f"{2e6 / (r['via_host_cpu_us'] + r['via_upstream_cpu_us'] + r['via_load_cpu_us']):.0f} | >= 1,500 |",
        "",
        "| pooled session vs a new connection per request | pooled | new connection | ratio |",
        "|---|---|---|---|",
        f"| latency p50, 1 client (ms) | {r['pooled_p50_ms']:.3f} | {r['fresh_p50_ms']:.3f} | "
        f"{r['fresh_p50_ms'] / r['pooled_p50_ms']:.2f}x slower |",
        f"| requests/s, {args.concurrency} clients | {r['via_rps']:.0f} | {r['fresh_rps']:.0f} | "
        f"{r['via_rps'] / max(r['fresh_rps'], 1e-9):.2f}x more |",
        f"| host CPU per request (us) | {r['via_host_cpu_us']:.0f} | {r['fresh_host_cpu_us']:.0f} | "
        f"{r['fresh_host_cpu_us'] / r['via_host_cpu_us']:.2f}x more |",
        "",
        f"| upstream failing 30% (429/500), fallback fast/m1, deadline {DEADLINE:g}s | value | target |",
        "|---|---|---|",
        f"| requests | {r['flaky_n']} | 10,000 |",
        f"| succeeded | {r['flaky_ok']} ({100 * r['flaky_success']:.2f}%) | >= 99.9% |",
        f"| past the deadline / client timeouts | {r['flaky_past_deadline']} / {r['flaky_timeouts']} | 0 |",
        f"| latency p50 / p99 / max (ms) | {r['flaky_p50_ms']:.2f} / {r['flaky_p99_ms']:.2f} / "
        f"{r['flaky_max_ms']:.1f} | |",
        f"| requests/s | {r['flaky_rps']:.0f} | |",
        "",
        f"Past the deadline (s, status, provider, fallback): {r['flaky_slow'] or 'none'}.",
        "",
        f"Errors under load: direct {r['direct_errors']}, via {r['via_errors']}, fresh {r['fresh_errors']}."
        f" Providers at the end: {r['readyz']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=["upstream", "host"])
    ap.add_argument("--config")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--write", metavar="MD", help="append the report to this markdown file")
    args = ap.parse_args()
    if args.role == "upstream":
        return asyncio.run(run_upstream())
    if args.role == "host":
        return asyncio.run(run_host(args.config))
    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    procs = []
    try:
        up, ups = spawn("--role", "upstream")
        procs.append(up)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(host_config(ups["fast"], ups["flaky"], str(Path(tmp) / "ws")))
            env = {**os.environ, "BENCH_KEY": "sk-bench-not-a-real-key"}
            host, info = spawn("--role", "host", "--config", str(cfg), env=env)
            procs.append(host)
            host_url = f"http://127.0.0.1:{info['port']}"
            wait_ready(host_url + "/readyz", 10)
            res = asyncio.run(measure(args, host_url, ups, {"host": host.pid, "upstream": up.pid}))
            os.environ["BENCH_KEY"] = env["BENCH_KEY"]
            res.update(asyncio.run(in_process(str(cfg), ups["fast"], 300 if args.quick else 2000)))
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    text = report(res, args)
    print(text)
    if args.write:
        with open(args.write, "a") as f:
            f.write(text + "\n")




if __name__ == "__main__":
    main()
