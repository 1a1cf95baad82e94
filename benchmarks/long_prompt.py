"""One long prompt (issue #18) against clawhost and llama.cpp's llama-server, same client.

Starts both servers (clawhost with a config whose models are prepared; llama-server through
/work/shared/bench/llamacpp.sh, 2 threads, 8192 context, 1 slot), then alternates requests:
each is a ~7,000-token chat prompt with a fresh nonce at its very start (no response cache,
semantic cache or prompt-prefix cache can answer it), temperature 0, `--max-tokens` answer
tokens, not streamed. Per request: the server's RSS before (idle), the peak while it runs
(sampled every 20 ms), and after (`--settle` seconds after the reply), the whole-request
time, the prompt tokens the server counted, and the load average. Medians per server.

    python benchmarks/long_prompt.py --config config.yaml --rounds 3 [--out FILE.md]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from clawhost.bench.probe import cpu_model, wait_ready  # noqa: E402,F401 - chat_speed imports wait_ready from here

ROOT = Path(__file__).resolve().parents[1]
LLAMACPP = Path("/work/shared/bench/llamacpp.sh")
WORDS = ("the agent reads a file plans a tool call checks the result and writes a note about "
         "memory budgets caches streams tokens servers prompts answers").split()


def prompt_text(words: int, nonce: int) -> str:
    import random
    rng = random.Random(nonce)
    return f"Request {nonce}. " + " ".join(rng.choice(WORDS) for _ in range(words)) + \
        "\nSummarise the text above in one sentence."


def rss_tree(proc: psutil.Process) -> int:
    """RSS of a server and its children (clawhost may run a preparation child)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def post(url: str, body: dict, headers: dict[str, str], timeout: float = 1800) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json", **headers})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def config_on_port(config: str, port: int, prefix_cache_mb: float = 0,
                   kv_cache_mb: float = 0, batcher_s: float = 0) -> Path:
    """The config with its own port and an absolute workspace (it is written elsewhere)."""
    import yaml
    src = Path(config).resolve()
    data = yaml.safe_load(src.read_text())
    data["workspace"] = str((src.parent / data.get("workspace", "./workspace")).resolve())
    data.setdefault("server", {})["port"] = port
    qm = data["plugins"].setdefault("quantized_model", {}) or {}
    data["plugins"]["quantized_model"] = qm
    if prefix_cache_mb:
        qm["prefix_cache_mb"] = prefix_cache_mb
    if kv_cache_mb:
        qm["kv_cache_mb"] = kv_cache_mb
    if batcher_s and isinstance(data["plugins"].get("batcher"), dict):
        # the batcher drops a sequence whose first token comes more than stream_idle_s
        # after it was queued, and its reader gives up after batch_timeout_s + queue
        # timeout without a token: a 7k-token prefill on a loaded 2-core box takes longer
        data["plugins"]["batcher"].update(stream_idle_s=batcher_s, batch_timeout_s=batcher_s)
    out = Path("/tmp") / f"long_prompt_{port}.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def start_clawhost(cfg: Path, port: int, model: str, log: str) -> subprocess.Popen:
    """``clawhost run`` on `cfg` (from config_on_port), its stderr to `log`, once `model` is ready."""
    claw = subprocess.Popen([sys.executable, "-m", "clawhost", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    wait_ready(f"http://127.0.0.1:{port}/readyz", 900, model, interval=0.5)
    return claw


def measure(name: str, base: str, model: str, proc: psutil.Process, words: int,
            max_tokens: int, settle: float) -> dict:
    time.sleep(settle)
    before = rss_tree(proc)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_tree(proc))
            time.sleep(0.02)
    t = threading.Thread(target=sample, daemon=True)
    load = os.getloadavg()[0]
    nonce = time.time_ns() % 10**9
    t.start()
    started = time.perf_counter()
    try:
        reply = post(base + "/v1/chat/completions",
                     {"model": model, "temperature": 0, "max_tokens": max_tokens,
                      "messages": [{"role": "user", "content": prompt_text(words, nonce)}]},
                     {"cache-control": "no-cache, no-store"})
    except urllib.error.HTTPError as exc:  # recorded, not fatal: a refusal is a result too
        reply = {"error": f"{exc.code} {exc.read()[:300]!r}"}
    wall = time.perf_counter() - started
    done.set()
    t.join()
    time.sleep(settle)
    after = rss_tree(proc)
    usage = reply.get("usage", {})
    row = {"server": name, "prompt_tokens": usage.get("prompt_tokens"),
           "completion_tokens": usage.get("completion_tokens"), "wall_s": round(wall, 2),
           "rss_before_mb": round(before / 2**20), "rss_peak_mb": round(peak[0] / 2**20),
           "rss_after_mb": round(after / 2**20), "load_1m": round(load, 2),
           **({"error": reply["error"]} if "error" in reply else {})}
    print(json.dumps(row), flush=True)
    return row


def first_token(base: str, model: str, messages: list[dict], max_tokens: int) -> tuple[float, str, dict]:
    """Stream a chat request: seconds to the first content chunk, the whole text, headers."""
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(
        {"model": model, "temperature": 0, "max_tokens": max_tokens, "stream": True,
         "messages": messages}).encode(), headers={"content-type": "application/json",
                                                   "cache-control": "no-cache, no-store"})
    started = time.perf_counter()
    ttft, text = None, []
    with urllib.request.urlopen(req, timeout=1800) as r:
        headers = dict(r.headers)
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            delta = json.loads(line[5:])["choices"]
            piece = delta[0].get("delta", {}).get("content") if delta else None
            if piece:
                ttft = ttft or time.perf_counter() - started
                text.append(piece)
    return ttft or float("nan"), "".join(text), headers


def turns(name: str, base: str, model: str, proc: psutil.Process, words: int,
          max_tokens: int, settle: float, restart=None) -> dict:
    """Two turns over one long system prompt: the second turn's time to first token shows
    whether the first turn's prefix KV was reused. With `restart` (a callable that restarts
    the server and returns its new process), the second turn is asked once more after it."""
    time.sleep(settle)
    nonce = time.time_ns() % 10**9
    msgs = [{"role": "system", "content": prompt_text(words, nonce)},
            {"role": "user", "content": "Summarise the text above in one sentence."}]
    t1, answer, _ = first_token(base, model, msgs, max_tokens)
    rss1 = rss_tree(proc)
    msgs += [{"role": "assistant", "content": answer},
             {"role": "user", "content": "Now name three words it uses most."}]
    t2, _, headers = first_token(base, model, msgs, max_tokens)
    row = {"server": name, "ttft1_s": round(t1, 2), "ttft2_s": round(t2, 2),
           "ratio": round(t2 / t1, 3), "rss_after_turn1_mb": round(rss1 / 2**20),
           "rss_after_turn2_mb": round(rss_tree(proc) / 2**20),
           "prefix_header": headers.get("x-clawhost-prefix-cache"),
           "load_1m": round(os.getloadavg()[0], 2)}
    if restart is not None:
        proc = restart()
        time.sleep(settle)
        t3, _, headers = first_token(base, model, msgs, max_tokens)
        row |= {"ttft_restart_s": round(t3, 2), "restart_ratio": round(t3 / t1, 3),
                "rss_after_restart_turn_mb": round(rss_tree(proc) / 2**20),
                "restart_header": headers.get("x-clawhost-prefix-cache")}
    print(json.dumps(row), flush=True)
    return row




def emit_report(text: str, out: str | None) -> None:
    """Print a markdown section, and append it to `out` when given."""
    print(text)
    if out:
        with open(out, "a") as fh:
            fh.write(text)


def server_args(ap: argparse.ArgumentParser, clawhost_port: int, llama_port: int) -> None:
    """The options every clawhost-vs-llama-server benchmark takes."""
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--clawhost-port", type=int, default=clawhost_port)
    ap.add_argument("--clawhost-model", default="smollm2-135m-instruct")
    ap.add_argument("--llama-port", type=int, default=llama_port)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, 8797, 8099)
    ap.add_argument("--words", type=int, default=6900, help="prompt words (~1 token each)")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=3.0, help="idle seconds around a request")
    ap.add_argument("--skip-llama", action="store_true")
    ap.add_argument("--out", help="append a markdown section here")
    ap.add_argument("--turns", action="store_true", help="instead: two turns over one long "
                    "system prompt, time to first token of each (prefix reuse)")
    ap.add_argument("--restart", action="store_true", help="with --turns: restart each server "
                    "after the second turn and ask it again (clawhost reads the prefix from disk)")
    ap.add_argument("--prefix-cache-mb", type=float, default=0, help="clawhost's prefix_cache_mb")
    ap.add_argument("--kv-cache-mb", type=float, default=0, help="clawhost's kv_cache_mb")
    # 0 by default: the batcher waits on a long prefill's progress (a chunk is a step), so the
    # default config answers a 7k prompt even when its prefill outlasts both 60 s timeouts
    ap.add_argument("--batcher-s", type=float, default=0, help="set the batcher's "
                    "stream_idle_s and batch_timeout_s to this (0: the config's own)")
    args = ap.parse_args()

    servers: list[tuple[str, str, str, psutil.Process]] = []
    started: list[subprocess.Popen | int] = []
    try:
        cfg = config_on_port(args.config, args.clawhost_port, args.prefix_cache_mb,
                             args.kv_cache_mb, args.batcher_s)
        claw = start_clawhost(cfg, args.clawhost_port, args.clawhost_model,
                              "/tmp/long_prompt_clawhost.log")
        started.append(claw)
        claw_url = f"http://127.0.0.1:{args.clawhost_port}"
        servers.append(("clawhost", claw_url, args.clawhost_model, psutil.Process(claw.pid)))
        restarters = {}

        def renew(name: str, proc: psutil.Process) -> psutil.Process:
            """The restarted server's process, for the next rounds too."""
            i = next(i for i, srv in enumerate(servers) if srv[0] == name)
            servers[i] = (*servers[i][:3], proc)
            return proc

        def restart_clawhost() -> psutil.Process:
            old = started.pop(0)
            old.terminate()
            old.wait(60)
            new = start_clawhost(cfg, args.clawhost_port, args.clawhost_model,
                                 "/tmp/long_prompt_clawhost.log")
            started.insert(0, new)
            return renew("clawhost", psutil.Process(new.pid))
        restarters["clawhost"] = restart_clawhost
        if not args.skip_llama:
            try:  # an old server on the port would answer for the new one, which then dies
                urllib.request.urlopen(f"http://127.0.0.1:{args.llama_port}/health", timeout=2)
                raise SystemExit(f"port {args.llama_port} is taken; pass --llama-port")
            except OSError:
                pass
            out = subprocess.run(["bash", str(LLAMACPP), "server", str(args.llama_port), "1"],
                                 capture_output=True, text=True, check=True).stdout
            pid = int(out.split()[-1])
            started.append(pid)
            base = f"http://127.0.0.1:{args.llama_port}"
            wait_ready(base + "/health", 120, interval=0.5)
            servers.append(("llama-server", base, "smollm2", psutil.Process(pid)))

            def restart_llama() -> psutil.Process:
                old = psutil.Process(started.pop())
                old.terminate()
                old.wait(30)
                out = subprocess.run(["bash", str(LLAMACPP), "server", str(args.llama_port), "1"],
                                     capture_output=True, text=True, check=True).stdout
                started.append(int(out.split()[-1]))
                wait_ready(base + "/health", 120, interval=0.5)
                return renew("llama-server", psutil.Process(started[-1]))
            restarters["llama-server"] = restart_llama
        with urllib.request.urlopen(claw_url + "/readyz") as r:
            facts = json.load(r)
        print(json.dumps({"clawhost_kv_cache": facts.get("kv_cache")}), flush=True)
        # one short warm-up each: first-request costs (ORT thread pools, prepacking) are
        # not what the issue is about
        for name, base, model, proc in servers:
            post(base + "/v1/chat/completions", {"model": model, "max_tokens": 4, "messages": [
                {"role": "user", "content": "hello"}]}, {"cache-control": "no-cache, no-store"})
        rows = []
        for _ in range(args.rounds):
            for server in servers:
                extra = {"restart": restarters[server[0]]} if args.turns and args.restart else {}
                rows.append((turns if args.turns else measure)(
                    *server, args.words, args.max_tokens, args.settle, **extra))
    finally:
        for s in started:  # each on its own: one that fails to stop must not leave the other
            try:
                if isinstance(s, subprocess.Popen):
                    s.terminate()
                    s.wait(30)
                else:  # llama-server finishes its current task before it honours SIGTERM
                    proc = psutil.Process(s)
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except psutil.TimeoutExpired:
                        proc.kill()
            except (ProcessLookupError, psutil.NoSuchProcess, subprocess.TimeoutExpired) as exc:
                print(f"stopping {s}: {exc}", file=sys.stderr)
    (report_turns if args.turns else report)(rows, args)


def report_turns(rows: list[dict], args) -> None:
    lines = [f"\n### Second turn over the same long system prompt, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
             f"CPU: {cpu_model()}; clawhost prefix_cache_mb {args.prefix_cache_mb:g}, "
             f"kv_cache_mb {args.kv_cache_mb or 'default'}; medians of {args.rounds}.\n",
             "| server | TTFT turn 1 s | TTFT turn 2 s | turn 2 / turn 1 | RSS after turn 2 MB "
             "| turn 2 after a restart s | / turn 1 | its header |",
             "|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["server"] for r in rows):
        mine = [r for r in rows if r["server"] == name]
        med = {k: statistics.median(r[k] for r in mine) if k in mine[0] else float("nan")
               for k in ("ttft1_s", "ttft2_s", "ratio", "rss_after_turn2_mb", "ttft_restart_s",
                         "restart_ratio")}
        lines.append(f"| {name} | {med['ttft1_s']:.2f} | {med['ttft2_s']:.2f} | "
                     f"{med['ratio']:.3f} | {med['rss_after_turn2_mb']:.0f} | "
                     f"{med['ttft_restart_s']:.2f} | {med['restart_ratio']:.3f} | "
                     f"{mine[0].get('restart_header') or ''} |")
    text = "\n".join(lines) + "\n"
    emit_report(text, args.out)


def report(rows: list[dict], args) -> None:
    lines = [f"\n### Long prompt, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
             f"CPU: {cpu_model()}, {os.cpu_count()} cores (shared with other work; 1-min load "
             f"during the requests {min(r['load_1m'] for r in rows)}-"
             f"{max(r['load_1m'] for r in rows)}). {args.rounds} alternating rounds, "
             f"max_tokens {args.max_tokens}, greedy, fresh nonce per request; medians. "
             "clawhost: default config" + (f", batcher stream_idle_s/batch_timeout_s "
                                            f"{args.batcher_s:g}" if args.batcher_s else "")
             + ".\n",
             "| server | prompt tokens | whole request s | RSS before MB | peak MB | after MB |",
             "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["server"] for r in rows):
        mine = [r for r in rows if r["server"] == name and "error" not in r]
        if not mine:
            lines.append(f"| {name} | every request failed: {rows[0].get('error')} | | | | |")
            continue
        med = {k: statistics.median(r[k] for r in mine)
               for k in ("wall_s", "rss_before_mb", "rss_peak_mb", "rss_after_mb")}
        lines.append(f"| {name} | {mine[0]['prompt_tokens']} | {med['wall_s']:.1f} | "
                     f"{med['rss_before_mb']:.0f} | {med['rss_peak_mb']:.0f} | "
                     f"{med['rss_after_mb']:.0f} |")
    lines.append("\nEach request: " + "; ".join(
        f"{r['server']} {r['wall_s']} s, {r['rss_before_mb']}/{r['rss_peak_mb']}/"
        f"{r['rss_after_mb']} MB, load {r['load_1m']}" for r in rows) + "\n")
    text = "\n".join(lines)
    emit_report(text, args.out)


if __name__ == "__main__":
    main()
