"""Two clawhost configurations against each other and llama-server over HTTP, rounds alternating.

Each variant is a host of its own (the second on a hard-linked copy of the workspace's
models: two hosts cannot share one workspace), both started once; llama-server has 4 slots.
Each round runs chat_speed.py's `http_round` (time to first token, a 128-token answer, four
at once) on every server, the order rotated by one each round. Prints JSON lines, medians
and ratios to llama-server. A variant is JSON: ``{"name": ..., "quantized_model": {...}}``,
the options laid over config.yaml's ``quantized_model`` section.

    python benchmarks/chat_ab.py --a '{"name": "warm"}' \\
        --b '{"name": "cold", "quantized_model": {"warm_cores": false}}' --rounds 5
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from chat_speed import http_round, stream  # noqa: E402
from long_prompt import LLAMACPP, start_clawhost, wait_ready  # noqa: E402


def variant_config(src: Path, port: int, workspace: Path, options: dict) -> Path:
    data = yaml.safe_load(src.read_text())
    data["workspace"] = str(workspace)
    data.setdefault("server", {})["port"] = port
    qm = data["plugins"].get("quantized_model") or {}
    data["plugins"]["quantized_model"] = {**qm, **options}
    out = Path(tempfile.gettempdir()) / f"chat_ab_{port}.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--a", default='{"name": "a"}')
    ap.add_argument("--b", default='{"name": "b"}')
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--ports", default="8831,8832,8833", help="host a, host b, llama-server")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    args = ap.parse_args()
    src = Path(args.config).resolve()
    workspace = (src.parent / yaml.safe_load(src.read_text()).get("workspace", "./workspace")).resolve()
    ports = [int(p) for p in args.ports.split(",")]
    copy = Path(tempfile.mkdtemp(prefix="chat_ab_ws_"))
    shutil.copytree(workspace / "models", copy / "models", copy_function=os.link)
    started: list = []
    try:
        servers = []
        for spec, port, ws in ((json.loads(args.a), ports[0], workspace),
                               (json.loads(args.b), ports[1], copy)):
            cfg = variant_config(src, port, ws, spec.get("quantized_model", {}))
            started.append(start_clawhost(cfg, port, args.model,
                                          str(Path(tempfile.gettempdir()) / f"chat_ab_{port}.log")))
            servers.append((spec["name"], f"http://127.0.0.1:{port}", args.model))
        out = subprocess.run(["bash", str(LLAMACPP), "server", str(ports[2]), "4"],
                             capture_output=True, text=True, check=True).stdout
        started.append(int(out.split()[-1]))
        wait_ready(f"http://127.0.0.1:{ports[2]}/health", 120, interval=0.5)
        servers.append(("llama-server", f"http://127.0.0.1:{ports[2]}", "smollm2"))
        for _, base, model in servers:  # warm-up
            stream(base, model, "hello", 4)
        rows = []
        for r in range(args.rounds):
            for server in servers[r % 3:] + servers[:r % 3]:
                rows.append(http_round(*server, args.tokens))
        loads = [x["load_1m"] for x in rows]
        print(f"1-minute load {min(loads):.1f}-{max(loads):.1f}")
        for key in ("decode_tok_s", "aggregate4_tok_s", "ttft_ms"):
            med = {n: statistics.median(x[key] for x in rows if x["server"] == n) for n, _, _ in servers}
            print(key, json.dumps({n: [round(v, 1), round(v / med["llama-server"], 3)]
                                   for n, v in med.items()}))
    finally:
        for s in started:
            try:
                proc = psutil.Process(s.pid if isinstance(s, subprocess.Popen) else s)
                proc.terminate()
                proc.wait(15)
            except (psutil.NoSuchProcess, psutil.TimeoutExpired):
                pass
        shutil.rmtree(copy, ignore_errors=True)


if __name__ == "__main__":
    main()
