"""Benchmark the exact-match cache (issue 3). One command, all figures side by side:

    python benchmarks/cache.py [--rows 1000000] [--out benchmarks/results/cache.md]

- in-process L1 hit: the whole ``clawhost_lookup`` (key + L1 + decode + Reply) and L1.get alone;
- in-process L2 (SQLite) hit with L1 off: the whole lookup, and DiskStore.lookup alone;
- HTTP hit through the full host (a server process) vs a bare aiohttp handler returning the
  same bytes (another server process, same client): p50 latency, and throughput at 16
  concurrent keep-alive connections;
- L2 lookup p50 at 1,000 entries vs ``--rows`` entries (random keys);
- kill -9 while writing 10,000 entries (5 trials): corrupted entries served must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import datetime
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clawhost.plugins.cache.disk import UPSERT, DiskStore, row_for  # noqa: E402
from clawhost.plugins.cache.record import Hit  # noqa: E402

CHAT = {"model": "echo", "temperature": 0,
        "messages": [{"role": "system", "content": "You are a terse assistant."},
                     {"role": "user", "content": "What is the capital of France? Answer in one word."}]}


def p50_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


async def atimed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return out


# -- in-process hits ----------------------------------------------------------------------
async def in_process(workdir: Path) -> dict:
    from clawhost.plugins.cache.manager import ResponseCache
    from clawhost.plugins.cache import Options
    from clawhost.types import ChatRequest, ModelRequest, Reply
    from clawhost import streaming
    body = ChatRequest.model_validate(CHAT)
    reply = Reply(streaming.chat_completion("echo", "Paris.", usage=streaming.usage(20, 2)))
    res = {}
    for layer, opts in (("l1", Options(l2={"backend": "none"})),
                        ("l2", Options(l1={"enabled": False}, l2={"path": str(workdir / "inproc.db")}))):
        cache = ResponseCache(opts, workdir)
        await cache.start()
        await cache.store(ModelRequest("chat", body), reply)
        if cache.l2 is not None:
            cache.l2.flush()

        async def lookup():
            r = await cache.lookup(ModelRequest("chat", body))
            assert r is not None and r.source == layer

        for _ in range(200):
            await lookup()
        res[f"{layer}_lookup_us"] = p50_us(await atimed(lookup, 5000))
        key = next(iter(cache.l1._items)) if layer == "l1" else None
        if layer == "l1":
            res["l1_get_us"] = p50_us(timed(lambda: cache.l1.get(key, time.time()), 20000))
        else:
            req = ModelRequest("chat", body)
            await cache.lookup(req)
            k = req.notes["cache_key"]
            res["l2_get_us"] = p50_us(timed(lambda: cache.l2.lookup(k, time.time()), 5000))
        from clawhost.cache_keys import exact_key
        res["key_us"] = p50_us(timed(lambda: exact_key(ModelRequest("chat", body)), 5000))
        await cache.close()
    return res


# -- HTTP: the full host vs a bare aiohttp handler ------------------------------------------
def serve(mode: str, port: int, workdir: str) -> None:
    """Child process: serve the host (cache + EchoModel) or a bare handler on ``port``."""
    from aiohttp import web
    if mode == "bare":
        from clawhost import streaming
        payload = json.dumps(streaming.chat_completion("echo", CHAT["messages"][-1]["content"],
                                                       usage=streaming.usage(20, 2))).encode()

        async def handler(request):
            await request.read()
            return web.Response(body=payload, headers={"Content-Type": "application/json"})
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
        return
    from clawhost.host import Host
    from clawhost.server import make_app
    from clawhost.testing import EchoModel, make_config
    plugins = {"cache": {}} if mode == "host" else {}  # nocache: EchoModel answers every time
    cfg = make_config(Path(workdir) / f"ws-{mode}", {"plugins": plugins})
    host = Host(cfg, extra_plugins=[("echo", EchoModel())])

    async def main():
        await host.start()
        runner = web.AppRunner(make_app(host), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()
    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def drive(url: str, seconds: float, concurrency: int) -> dict:
    import aiohttp
    payload = json.dumps(CHAT).encode()
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def one():
            async with s.post(url, data=payload, headers=headers) as r:
                await r.read()
                return r.headers.get("x-clawhost-cache")
        for _ in range(200):
            state = await one()
        lat = await atimed(one, 1500)
        done = 0
        stop_at = time.perf_counter() + seconds

        async def worker():
            nonlocal done
            while time.perf_counter() < stop_at:
                await one()
                done += 1
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return {"p50_us": p50_us(lat), "rps": done / (time.perf_counter() - t0), "state": state,
                "requests": 200 + 1500 + done}


def http(workdir: Path, seconds: float, rounds: int = 3) -> dict:
    """All servers up at once; measured in alternating rounds so load drifts hit each alike."""
    modes = ("bare", "host", "nocache")
    ports = {m: free_port() for m in modes}
    procs = [subprocess.Popen([sys.executable, __file__, "--serve", m, "--port", str(ports[m]),
                               "--workdir", str(workdir)]) for m in modes]
    try:
        for m in modes:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", ports[m]), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
        time.sleep(0.5)
        import psutil
        runs = {m: [] for m in modes}
        for _ in range(rounds):
            for proc, m in zip(procs, modes):
                cpu0 = sum(psutil.Process(proc.pid).cpu_times()[:2])
                run = asyncio.run(drive(f"http://127.0.0.1:{ports[m]}/v1/chat/completions",
                                        seconds / rounds, 16))
                # server CPU per request: what throughput at saturation depends on, and far
                # less sensitive to other load on a shared box than requests/s
                run["cpu_us"] = (sum(psutil.Process(proc.pid).cpu_times()[:2]) - cpu0) \
                    / run["requests"] * 1e6
                runs[m].append(run)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    res = {m: {"p50_us": statistics.median(r["p50_us"] for r in runs[m]),
               "rps": statistics.median(r["rps"] for r in runs[m]),
               "cpu_us": statistics.median(r["cpu_us"] for r in runs[m]),
               "state": runs[m][-1]["state"]} for m in modes}
    res["cpu_ratio"] = res["bare"]["cpu_us"] / res["host"]["cpu_us"]
    res["throughput_ratio"] = statistics.median(
        h["rps"] / b["rps"] for h, b in zip(runs["host"], runs["bare"]))
    return res


# -- L2 lookups: 1,000 vs many entries --------------------------------------------------------
def build(path: Path, rows: int, value: bytes) -> list[str]:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = DiskStore(path, max_bytes=1 << 40)
    assert store.open()
    con, keys, batch = store._writer, [], []
    now = time.time()
    con.execute("BEGIN")
    for i in range(rows):
        key = f"{random.getrandbits(256):064x}"
        keys.append(key)
        batch.append(row_for(key, Hit(value, now, now + 1e7, ""), now))
        if len(batch) >= 50_000:
            con.executemany(UPSERT, batch)
            batch = []
    con.executemany(UPSERT, batch)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return keys


def l2_scaling(workdir: Path, rows: int) -> dict:
    from clawhost import streaming
    value = json.dumps(streaming.chat_completion("echo", "Paris.", usage=streaming.usage(20, 2))).encode()
    res = {}
    for n in (1000, rows):
        path = workdir / f"scale-{n}.db"
        t0 = time.perf_counter()
        keys = build(path, n, value)
        built = time.perf_counter() - t0
        store = DiskStore(path, max_bytes=1 << 40)
        store.open()
        now = time.time()
        probe = random.sample(keys, min(len(keys), 5000))
        for k in probe[:500]:
            store.lookup(k, now)
        it = itertools.cycle(probe)
        lat = timed(lambda: store.lookup(next(it), now), 5000)
        res[n] = {"p50_us": p50_us(lat), "build_s": built, "db_mb": path.stat().st_size / 2**20}
        store.close()
        path.unlink()
    res["ratio"] = res[rows]["p50_us"] / res[1000]["p50_us"]
    return res


# -- kill -9 mid-write ----------------------------------------------------------------------
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[3])
from clawhost.plugins.cache.disk import DiskStore
from clawhost.plugins.cache.record import Hit
store = DiskStore(sys.argv[1], max_bytes=1 << 30)
assert store.open()
for i in range(int(sys.argv[2])):
    value = json.dumps({"i": i, "pad": "x" * (i % 700)}).encode()
    store.put(f"{i:064x}", Hit(value, 1.0, 1e12, ""), now=1.0)
    if i == 100:
        print("writing", flush=True)
    if i % 100 == 0:
        time.sleep(0.001)
store.flush()
print("done", flush=True)
"""


def crash(workdir: Path, n: int = 10_000, trials: int = 5) -> list[dict]:
    out = []
    for t in range(trials):
        db = workdir / f"crash-{t}.db"
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(n), str(ROOT)],
                                stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()
        time.sleep(0.02 + 0.05 * t)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        store = DiskStore(db, max_bytes=1 << 30)
        opened = store.open()
        served = bad = 0
        for i in range(n):
            hit = store.lookup(f"{i:064x}", 2.0)
            if hit is not None:
                served += 1
                bad += json.loads(hit.value) != {"i": i, "pad": "x" * (i % 700)}
        store.put(f"{n:064x}", Hit(b"{}", 1.0, 1e12, ""), now=1.0)
        writes_after = store.flush() and store.lookup(f"{n:064x}", 2.0) is not None
        out.append({"opened": opened, "committed": served, "corrupted_served": bad,
                    "rows_failing_checksum": store.corrupt_rows, "writes_after": writes_after})
        store.close()
    return out


def report(r: dict, args) -> str:
    ip, h, sc = r["inproc"], r["http"], r["scale"]
    big = args.rows
    lines = [
        "# cache benchmark (issue 3)", "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}",
        f"- load average before / after: {r['load_before']} / {r['load_after']}",
        f"- command: `python benchmarks/cache.py --rows {big}`", "",
        "| figure | measured (p50) | target |", "|---|---|---|",
        f"| L1 hit, whole `clawhost_lookup` (key + L1 + decode + Reply) | {ip['l1_lookup_us']:.1f} µs | ≤ 20 µs |",
        f"| of which the key (canonical JSON + sha256) | {ip['key_us']:.1f} µs | |",
        f"| L1.get alone | {ip['l1_get_us']:.2f} µs | |",
        f"| L2 (SQLite) hit, whole lookup, L1 off | {ip['l2_lookup_us']:.1f} µs | ≤ 300 µs |",
        f"| DiskStore.lookup alone | {ip['l2_get_us']:.1f} µs | |",
        f"| HTTP hit through the full host ({h['host']['state']}), 1 connection | {h['host']['p50_us']:.0f} µs | ≤ 1 ms |",
        f"| HTTP, bare aiohttp handler, same bytes | {h['bare']['p50_us']:.0f} µs | anchor |",
        f"| throughput, host / bare (16 connections; median of 3 alternating rounds) | {h['host']['rps']:.0f} / {h['bare']['rps']:.0f} req/s = {h['throughput_ratio']:.0%} | ≥ 50% |",
        f"| server CPU per request, bare / host: capacity of the host vs bare | {h['bare']['cpu_us']:.0f} / {h['host']['cpu_us']:.0f} µs = {h['cpu_ratio']:.0%} | ≥ 50% |",
        f"| for reference: the host without the cache plugin, EchoModel answering | {h['nocache']['p50_us']:.0f} µs, {h['nocache']['rps']:.0f} req/s = {h['nocache']['rps'] / h['bare']['rps']:.0%} of bare, {h['nocache']['cpu_us']:.0f} µs CPU/request | |",
        f"| L2 lookup at 1,000 entries | {sc[1000]['p50_us']:.1f} µs | anchor |",
        f"| L2 lookup at {big:,} entries ({sc[big]['db_mb']:.0f} MB, built in {sc[big]['build_s']:.0f} s) | {sc[big]['p50_us']:.1f} µs = {sc['ratio']:.2f}x | ≤ 2x |",
        "", "kill -9 while writing 10,000 entries (one trial per row; writer thread, WAL, synchronous=NORMAL):", "",
        "| trial | db opened | committed before the kill | corrupted served | rows failing checksum | writes after |",
        "|---|---|---|---|---|---|"]
    for i, c in enumerate(r["crash"]):
        lines.append(f"| {i + 1} | {c['opened']} | {c['committed']} | {c['corrupted_served']} | "
                     f"{c['rows_failing_checksum']} | {c['writes_after']} |")
    lines += ["", f"Server CPU per request: a cache hit costs {h['host']['cpu_us'] - h['nocache']['cpu_us']:+.0f} µs "
              "against the same host answering with EchoModel (no cache plugin); the gap to the bare "
              f"handler ({h['nocache']['cpu_us'] - h['bare']['cpu_us']:.0f} µs) is the host core: body "
              "parsing and validation, the plugin chain, serialising the reply. req/s figures swing "
              "with the load of other jobs on this shared 2-core box; CPU per request is steadier."]
    lines += ["", "HTTP figures include the aiohttp client in this process (same client for both "
              "servers); the servers run in their own processes. The machine is shared (2 cores): "
              "quote medians, re-run for final figures.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=6.0,
                    help="throughput time per server, split over 3 alternating rounds")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/cache.md"))
    ap.add_argument("--serve", choices=["host", "bare", "nocache"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve, args.port, args.workdir)
    r = {"load_before": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    with tempfile.TemporaryDirectory(prefix="clawhost-cache-bench-") as tmp:
        work = Path(tmp)
        r["inproc"] = asyncio.run(in_process(work))
        print(json.dumps(r["inproc"], indent=1), flush=True)
        r["http"] = http(work, args.seconds)
        print(json.dumps(r["http"], indent=1), flush=True)
        r["crash"] = crash(work)
        print(json.dumps(r["crash"], indent=1), flush=True)
        r["scale"] = l2_scaling(work, args.rows)
        print(json.dumps(r["scale"], indent=1, default=str), flush=True)
    r["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(r, args)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
