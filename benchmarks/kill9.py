"""kill -9 the host while it serves and stores, restart it, and check every cached answer.

Each cycle: start ``clawhost run`` (echo model + the exact cache with its SQLite L2), send
distinct deterministic requests from 8 concurrent clients, SIGKILL the process mid-load,
restart it on the same workspace, then ask every question answered so far again. An answer
that comes back from the cache (``hit-l2``) must be exactly the one first given; anything
else is *mismatched*. SQLite's integrity check must pass after every kill.

    python benchmarks/kill9.py --cycles 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from clawhost.bench.probe import free_port, wait_ready

ECHO = "from clawhost.testmodel import EchoModel\n_model = EchoModel()\n" \
       "clawhost_register_models = _model.clawhost_register_models\n" \
       "clawhost_infer = _model.clawhost_infer\n"


def start(ws: Path, config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "clawhost", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)




async def ask(s: aiohttp.ClientSession, url: str, q: str) -> tuple[str, str]:
    body = {"model": "echo", "temperature": 0, "messages": [{"role": "user", "content": q}]}
    async with s.post(url + "/v1/chat/completions", json=body) as r:
        data = await r.json()
        return data["choices"][0]["message"]["content"], r.headers.get("x-clawhost-cache", "")


async def load(url: str, cycle: int, answered: dict, seconds: float) -> None:
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession() as s:
        async def client(c: int) -> None:
            i = 0
            while time.monotonic() < stop:
                q = f"cycle {cycle} client {c} question {i} " + "words " * (i % 40)
                try:
                    text, _ = await ask(s, url, q)
                except (aiohttp.ClientError, KeyError, asyncio.TimeoutError):
                    return  # the host was killed under us
                answered[q] = text
                i += 1
        await asyncio.gather(*(client(c) for c in range(8)))


async def verify(url: str, answered: dict) -> dict:
    out = {"checked": 0, "hits": 0, "mismatched": 0}
    async with aiohttp.ClientSession() as s:
        for q, first in answered.items():
            text, tier = await ask(s, url, q)
            out["checked"] += 1
            if tier.startswith("hit"):
                out["hits"] += 1
                if text != first:
                    out["mismatched"] += 1
    return out


async def cycle_once(ws: Path, config: Path, url: str, n: int, answered: dict) -> dict:
    proc = start(ws, config)
    await asyncio.to_thread(wait_ready, url + "/readyz", 30)
    task = asyncio.create_task(load(url, n, answered, seconds=5.0))
    await asyncio.sleep(0.5 + (n % 5) * 0.4)  # kill at a different point of each cycle
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    await task
    db = ws / ".cache" / "responses.db"
    con = sqlite3.connect(db)
    ok = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    proc = start(ws, config)
    try:
        await asyncio.to_thread(wait_ready, url + "/readyz", 30)
        result = await verify(url, answered)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"cycle": n, "integrity_ok": ok, **result}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--out")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pl").mkdir()
        (root / "pl" / "echo.py").write_text(ECHO)
        port = free_port()
        ws = root / "ws"
        config = root / "config.yaml"
        config.write_text(json.dumps({
            "workspace": str(ws), "plugins_dir": str(root / "pl"),
            "server": {"port": port},
            # L1 off: every hit after a restart is read back from the file the kill hit
            "plugins": {"cache": {"l1": {"enabled": False}}, "echo": {}}}))
        url = f"http://127.0.0.1:{port}"
        answered: dict[str, str] = {}
        rows = [await cycle_once(ws, config, url, n, answered) for n in range(args.cycles)]
    lines = ["| cycle | integrity | answers checked | served from cache | mismatched |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['cycle']} | {'ok' if r['integrity_ok'] else 'FAILED'} | {r['checked']} | "
              f"{r['hits']} | {r['mismatched']} |" for r in rows]
    total = sum(r["mismatched"] for r in rows)
    bad = sum(not r["integrity_ok"] for r in rows)
    lines.append(f"\n{args.cycles} kill -9 cycles: {bad} failed integrity checks, {total} "
                 "mismatched answers")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
