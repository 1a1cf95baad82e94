"""Host core figures: start-up to /readyz, idle RSS, HTTP overhead vs bare aiohttp, handle().

    python benchmarks/host.py [--quick]

Prints a markdown table. The HTTP comparison runs both servers in this run, one after the
other, loaded by the same client process (aiohttp, keep-alive, fixed concurrency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BODY = {"model": "echo", "messages": [{"role": "user", "content": "hello there"}]}

from clawhost.bench.probe import wait_ready  # noqa: E402
from clawhost.testmodel import PLUGIN_FILE as ECHO_PLUGIN  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, plugins: dict, port: int) -> Path:
    (tmp / "pl").mkdir(exist_ok=True)
    (tmp / "pl" / "echo.py").write_text(ECHO_PLUGIN)
    import yaml
    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump({"workspace": "ws", "plugins_dir": "pl",
                                   "server": {"port": port}, "plugins": plugins}, sort_keys=False))
    return cfg


def cli(*args: str, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clawhost", *args], capture_output=True,
                          text=True, check=check)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def startup_and_rss(plugins: dict, runs: int) -> tuple[list[float], list[float]]:
    times, rss = [], []
    with tempfile.TemporaryDirectory() as d:
        cfg = str(write_config(Path(d), plugins, free_port()))
        for _ in range(runs):
            t = time.perf_counter()
            cli("start", "--config", cfg)
            times.append(time.perf_counter() - t)
            pid = int((Path(d) / "ws" / "clawhost.pid").read_text())
            time.sleep(1.0)  # idle: let start-up garbage settle
            rss.append(rss_mb(pid))
            cli("stop", "--config", cfg)
    return times, rss


LOAD = textwrap.dedent('''
    import asyncio, json, sys, time, aiohttp
    url, body, conc, secs = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    async def main():
        n, lat = 0, []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
            end = time.perf_counter() + secs
            async def worker():
                nonlocal n
                while time.perf_counter() < end:
                    t = time.perf_counter()
                    async with s.post(url, json=body) as r:
                        await r.read()
                        assert r.status == 200, r.status
                    lat.append(time.perf_counter() - t); n += 1
            await asyncio.gather(*[worker() for _ in range(conc)])
        lat.sort()
        print(json.dumps({"rps": n / secs, "n": n, "p50_ms": lat[len(lat) // 2] * 1e3}))
    asyncio.run(main())
''')


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, secs: float, pid: int, conc: int = 16) -> dict:
    """Requests/s and p50 seen by the client, and the server's CPU time per request (the
    steadier figure on a shared box: it does not count time the server spent waiting)."""
    before = cpu_s(pid)
    out = subprocess.run([sys.executable, "-c", LOAD, url, json.dumps(BODY), str(conc), str(secs)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    res["cpu_us"] = (cpu_s(pid) - before) / res["n"] * 1e6
    return res


BARE = textwrap.dedent('''
    import json, sys
    from aiohttp import web
    from clawhost import streaming
    async def handler(request):
        body = await request.json()
        text = body["messages"][-1]["content"]
        return web.Response(body=json.dumps(streaming.chat_completion(body["model"], text,
            usage=streaming.usage(2, 2))), content_type="application/json")
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
''')


def http_side_by_side(secs: float, rounds: int) -> list[tuple[dict, dict]]:
    results = []
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        cfg = str(write_config(Path(d), {"echo": {}}, port))
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)])
        cli("start", "--config", cfg)
        try:
            wait_ready(f"http://127.0.0.1:{port}/healthz", 10)
            time.sleep(0.5)
            pid = int((Path(d) / "ws" / "clawhost.pid").read_text())
            for _ in range(rounds):  # alternate, so drift in machine load hits both
                a = load(f"http://127.0.0.1:{bare_port}/v1/chat/completions", secs, bare.pid)
                b = load(f"http://127.0.0.1:{port}/v1/chat/completions", secs, pid)
                results.append((a, b))
        finally:
            cli("stop", "--config", cfg, check=False)
            bare.terminate()
    return results


async def handle_overhead(n: int) -> dict:
    from clawhost.host import Host
    from clawhost.testing import EchoModel, make_config
    from clawhost.types import ChatRequest, ModelRequest
    out = {}
    with tempfile.TemporaryDirectory() as d:
        host = Host(make_config(Path(d) / "ws"), extra_plugins=[("echo", EchoModel())])
        await host.start()
        body = ChatRequest.model_validate(BODY)
        echo = host.chain.impls("clawhost_infer")[0].function
        for label, fn in (("handle", lambda r: host.handle(r)), ("model alone", echo)):
            times = []
            for i in range(n):
                req = ModelRequest(kind="chat", body=body)
                req.model, req.host = host.models["echo"], host
                t = time.perf_counter()
                await fn(req)
                times.append(time.perf_counter() - t)
            out[label] = statistics.median(times[n // 10:]) * 1e6
        await host.stop()
    out["overhead"] = out["handle"] - out["model alone"]
    return out


def fmt(values, spec: str = ".0f") -> str:
    return ", ".join(format(v, spec) for v in values)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs, secs, rounds = (3, 3, 2) if args.quick else (7, 8, 3)
    from clawhost.pluginmanager import discover
    installed = discover()
    default_no_models = {n: {} for n in ("monitor", "cache", "semantic_cache", "batcher",
                                         "connection_pool")
                         if n in installed and installed[n].error is None}
    starts, rss = startup_and_rss(default_no_models, runs)
    http = http_side_by_side(secs, rounds)
    overhead = asyncio.run(handle_overhead(20000))
    ratios = [b["rps"] / a["rps"] for a, b in http]
    print(f"# host benchmarks: {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()},"
          f" {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}\n")
    print("| figure | median | all runs | target / anchor |\n|---|---|---|---|")
    print(f"| `clawhost start` until /readyz 200, default plugins, no local models | "
          f"{statistics.median(starts):.2f} s | {', '.join(f'{t:.2f}' for t in starts)} | "
          "<= 1.0 s; OpenClaw gateway readyz p50 1.46 s |")
    print(f"| idle RSS, same host | {statistics.median(rss):.1f} MB | "
          f"{', '.join(f'{r:.1f}' for r in rss)} | <= 60 MB |")
    print(f"| HTTP req/s, bare aiohttp handler | {statistics.median(a['rps'] for a, _ in http):.0f} | "
          f"{fmt(a['rps'] for a, _ in http)} | anchor |")
    print(f"| HTTP req/s, through clawhost (echo model) | {statistics.median(b['rps'] for _, b in http):.0f} | "
          f"{fmt(b['rps'] for _, b in http)} | |")
    print(f"| ratio clawhost / bare | {statistics.median(ratios):.2f} | "
          f"{', '.join(f'{r:.2f}' for r in ratios)} | >= 0.50 |")
    cpu = [a["cpu_us"] / b["cpu_us"] for a, b in http]
    print(f"| server CPU per request, bare / clawhost | "
          f"{statistics.median(a['cpu_us'] for a, _ in http):.0f} / "
          f"{statistics.median(b['cpu_us'] for _, b in http):.0f} us | | |")
    print(f"| capacity ratio by CPU, clawhost / bare | {statistics.median(cpu):.2f} | "
          f"{fmt(cpu, '.2f')} | >= 0.50 |")
    print(f"| HTTP p50 latency bare / clawhost (16 conc.) | {statistics.median(a['p50_ms'] for a, _ in http):.2f} / "
          f"{statistics.median(b['p50_ms'] for _, b in http):.2f} ms | | |")
    print(f"| `Host.handle` p50, echo model | {overhead['handle']:.1f} us | model alone "
          f"{overhead['model alone']:.1f} us | |")
    print(f"| `Host.handle` overhead p50 (handle - model) | {overhead['overhead']:.1f} us | | <= 50 us |")


if __name__ == "__main__":
    main()
