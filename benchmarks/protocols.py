"""What the inbound protocols cost: Anthropic Messages and OpenAI Responses against Chat
Completions for the same question, the same echo model, in the same run.

    python benchmarks/protocols.py [--quick]

Two measurements:

1. HTTP, server CPU per request: one host (``clawhost run``, echo model from a plugins_dir
   file) loaded by one client process (kept for the run, ``--conc`` connections), each
   endpoint in turn for ``--secs``, many short rounds, the order reversed every other round;
   the server's CPU time, user and system, all threads, from /proc/PID/task/*/schedstat (ns;
   /proc/PID/stat's 10 ms ticks are too coarse for short rounds), over the requests it
   answered. The added CPU of a protocol is its figure minus Chat Completions' of the same
   round; the table gives the median of those differences and their quartiles.
2. In process, the translation alone: validating the protocol's body, building the
   canonical ChatRequest and turning the reply back (the endpoint's own methods, as the
   server calls them), against parsing and validating the ChatRequest and dumping its reply
   (what /v1/chat/completions does with the same question); best of several repeats of a
   median. Responses with ``store: false`` here; the HTTP table has both. Streams: the
   request side as above, then the host's chunks of one answer to SSE bytes.

Prints a markdown table; the added-CPU goal is <= 50 us per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import free_port, write_config

from clawhost.bench.probe import cpu_model, wait_ready

Q = "What is the capital of France? Answer in one word."
SYSTEM = "Be brief."
BODIES = {
    "chat": ("/v1/chat/completions", {
        "model": "echo", "max_tokens": 64, "temperature": 0,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": Q}]}),
    "messages": ("/v1/messages", {
        "model": "echo", "max_tokens": 64, "temperature": 0, "system": SYSTEM,
        "messages": [{"role": "user", "content": Q}]}),
    "responses": ("/v1/responses", {
        "model": "echo", "max_output_tokens": 64, "temperature": 0, "instructions": SYSTEM,
        "input": Q, "store": False}),
    "responses+store": ("/v1/responses", {
        "model": "echo", "max_output_tokens": 64, "temperature": 0, "instructions": SYSTEM,
        "input": Q, "store": True}),
}
STREAMED = {f"{k} stream": (p, {**b, "stream": True}) for k, (p, b) in BODIES.items()
            if k != "responses+store"}
# Anthropic's and the Responses API's streams always end with usage, so they ask the host's
# stream for it (one chunk more): this chat stream asks too, the like-for-like anchor
STREAMED["chat stream+usage"] = ("/v1/chat/completions", {
    **BODIES["chat"][1], "stream": True, "stream_options": {"include_usage": True}})


# A client process kept for the whole run: one line in (url, body, seconds), one line out
# (requests answered). Starting a client per round would cost each round a second of imports
# and make short alternating rounds impossible.
CLIENT = textwrap.dedent('''
    import asyncio, json, sys, time, aiohttp
    conc = int(sys.argv[1])
    async def main():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
            for line in sys.stdin:
                url, body, secs = json.loads(line)
                n = 0
                end = time.perf_counter() + secs
                async def worker():
                    nonlocal n
                    while time.perf_counter() < end:
                        async with s.post(url, json=body) as r:
                            await r.read()
                            assert r.status == 200, r.status
                        n += 1
                await asyncio.gather(*[worker() for _ in range(conc)])
                print(json.dumps({"n": n, "rps": n / secs}), flush=True)
    asyncio.run(main())
''')


def cpu_ns(pid: int) -> int:
    """The server's CPU time, user and system, in ns: every thread's schedstat (the /proc
    stat ticks are 10 ms, too coarse for second-long rounds)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):  # a thread that just ended
            pass
    return total


def http_rounds(secs: float, rounds: int, conc: int,
                only: list[str] | None = None) -> dict[str, list[dict]]:
    """Every endpoint (or those in ``only``, with their anchors) for ``secs`` per round, the
    order alternating between rounds, the server's CPU time per answered request each time."""
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = write_config(Path(d), {"echo": {}}, port)
        proc = subprocess.Popen([sys.executable, "-m", "clawhost", "run", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(conc)], text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/readyz", 20)

            def run(path: str, body: dict, seconds: float) -> dict:
                before = cpu_ns(proc.pid)
                client.stdin.write(json.dumps([base + path, body, seconds]) + "\n")
                client.stdin.flush()
                res = json.loads(client.stdout.readline())
                res["cpu_us"] = (cpu_ns(proc.pid) - before) / res["n"] / 1e3
                return res

            paths = {**BODIES, **STREAMED}
            if only:
                # each with its like-for-like anchor: chat, or the chat stream asking for usage
                keep = set(only) | {"chat stream+usage" if "stream" in n else "chat" for n in only}
                paths = {k: v for k, v in paths.items() if k in keep}
            for path, body in paths.values():  # warm-up: first calls, caches, the store
                run(path, body, 0.5)
            out: dict[str, list[dict]] = {k: [] for k in paths}
            for i in range(rounds):
                order = list(paths) if i % 2 == 0 else list(reversed(paths))
                for name in order:
                    out[name].append(run(*paths[name], secs))
            return out
        finally:
            client.stdin.close()
            client.wait(timeout=30)
            proc.terminate()
            proc.wait(timeout=30)


async def translation(n: int, repeats: int) -> dict[str, float]:
    """Median microseconds per request of each inbound path's own work, no HTTP, no model."""
    from clawhost import streaming
    from clawhost.host import Host
    from clawhost.protocols import Inbound
    from clawhost.protocols import anthropic_messages as am
    from clawhost.protocols import openai_responses as orr
    from clawhost.testing import EchoModel, make_config

    with tempfile.TemporaryDirectory() as d:
        host = Host(make_config(Path(d) / "ws"), extra_plugins=[("echo", EchoModel())])
        await host.start()
        chat_model = host.body_models["chat"]
        use = streaming.usage(12, 1)
        reply = streaming.chat_completion("echo", "Paris", usage=use)
        raw = {k: json.dumps(b).encode() for k, (_, b) in BODIES.items()}

        from clawhost.types import ModelRequest, Reply
        reply_obj = Reply(reply)
        endpoints = {"messages": am.Messages(), "responses": orr.Responses()}
        models = {"messages": am.MessagesRequest, "responses": orr.ResponsesRequest}

        async def chat():
            body = chat_model.model_validate(json.loads(raw["chat"]))
            request = ModelRequest(kind="chat", body=body, tenant="default", headers={},
                                   disconnected=asyncio.Event())
            return json.dumps(reply), request

        def protocol(name):
            # what protocol_endpoint does around Host.handle: parse, validate, translate in,
            # translate the reply out, dump it
            ep, model = endpoints[name], models[name]

            async def run():
                data = json.loads(raw[name])
                body = model.model_validate(data)
                inbound = Inbound(host=host, headers={}, tenant="default", raw=data)
                request = await ep.to_request(body, inbound)
                return json.dumps(await ep.reply(body, request, reply_obj, inbound))
            return run

        messages, responses = protocol("messages"), protocol("responses")

        # streams: the host's chunks for the same answer (echo's replay: role, text, finish,
        # usage) to SSE bytes, as stream_out does for chat and each endpoint's stream() does
        stream_req = ModelRequest(kind="chat", body=chat_model.model_validate(
            {**BODIES["chat"][1], "stream": True, "stream_options": {"include_usage": True}}))
        chunks = [c async for c in streaming.replay(stream_req, reply)]

        async def agen():
            for c in chunks:
                yield c

        # with the request side too, as for the plain paths: parse, validate, translate
        raw_stream = {k: json.dumps({**b, "stream": True}).encode() for k, (_, b) in BODIES.items()}

        async def chat_stream():
            body = chat_model.model_validate(json.loads(raw_stream["chat"]))
            ModelRequest(kind="chat", body=body, tenant="default", headers={},
                         disconnected=asyncio.Event())
            return [streaming.sse(c) async for c in agen()] + [streaming.sse("[DONE]")]

        def protocol_stream(name):
            ep, model = endpoints[name], models[name]

            async def run():
                data = json.loads(raw_stream[name])
                body = model.model_validate(data)
                inbound = Inbound(host=host, headers={}, tenant="default", raw=data)
                request = await ep.to_request(body, inbound)
                writer = ep.stream(body, request, inbound)  # driven as sse_response.stream_events does
                return [writer.chunk(c) async for c in agen()] + [writer.end()]
            return run

        out = {}
        for name, fn in (("chat", chat), ("messages", messages), ("responses", responses),
                         ("chat stream", chat_stream),
                         ("messages stream", protocol_stream("messages")),
                         ("responses stream", protocol_stream("responses"))):
            best = float("inf")
            for _ in range(repeats):
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    await fn()
                    times.append(time.perf_counter() - t)
                best = min(best, statistics.median(times) * 1e6)
            out[name] = best
        await host.stop()
    return out




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, help="HTTP rounds (alternating order)")
    ap.add_argument("--secs", type=float, help="seconds per endpoint per round")
    ap.add_argument("--conc", type=int, default=8, help="concurrent client connections")
    ap.add_argument("--http-only", action="store_true", help="skip the in-process table")
    ap.add_argument("--only", help="HTTP endpoints to measure, comma-separated (e.g. "
                    "'responses stream,responses+store'), each with its like-for-like anchor "
                    "(chat, or chat stream+usage)")
    args = ap.parse_args()
    only = [n.strip() for n in args.only.split(",")] if args.only else None
    if only and set(only) - {*BODIES, *STREAMED}:
        ap.error(f"--only: unknown endpoint(s) {sorted(set(only) - {*BODIES, *STREAMED})}; "
                 f"known: {', '.join([*BODIES, *STREAMED])}")
    secs, rounds = (1.0, 4) if args.quick else (1.5, 12)
    secs, rounds, conc = args.secs or secs, args.rounds or rounds, args.conc
    load_before = os.getloadavg()[0]
    micro = {} if args.http_only else asyncio.run(
        translation(2000 if args.quick else 5000, 3 if args.quick else 5))
    http = http_rounds(secs, rounds, conc, only)
    print(f"# protocol benchmarks: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{cpu_model()}, {os.cpu_count()} cores, load {load_before:.2f} -> "
          f"{os.getloadavg()[0]:.2f} (shared box)\n")
    print("| inbound path | translation in process, us | added vs chat, us |")
    print("|---|---|---|")
    for name in micro:
        base = "chat stream" if name.endswith("stream") else "chat"
        added = "" if name == base else f"{micro[name] - micro[base]:+.1f}"
        print(f"| {name} | {micro[name]:.1f} | {added} |")
    print(f"\nHTTP, echo model, {conc} concurrent, {rounds} rounds of {secs:g} s each, alternating\n")
    print("| endpoint | req/s (median) | server CPU/request, us (median; quartiles) | "
          "added CPU vs chat, us (median of per-round differences; quartiles) | "
          "added vs chat stream+usage |")
    print("|---|---|---|---|---|")
    for name, runs in http.items():
        base = "chat stream" if "stream" in name else "chat"
        cpu = [r["cpu_us"] for r in runs]
        added = "" if name == base or base not in http else _added(runs, http[base])
        like = (_added(runs, http["chat stream+usage"])
                if name.endswith(" stream") and name != "chat stream" else "")
        print(f"| {name} | {statistics.median(r['rps'] for r in runs):,.0f} | "
              f"{statistics.median(cpu):.0f} ({_quartiles(cpu, '.0f')}) | {added} | {like} |")


def _added(runs: list[dict], anchor: list[dict]) -> str:
    diffs = [r["cpu_us"] - b["cpu_us"] for r, b in zip(runs, anchor)]
    return f"**{statistics.median(diffs):+.0f}** ({_quartiles(diffs, '+.0f')})"


def _quartiles(values: list[float], fmt: str) -> str:
    if len(values) < 4:
        return ", ".join(format(v, fmt) for v in values)
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:{fmt}} .. {q[2]:{fmt}}"

if __name__ == "__main__":
    main()
