"""The protocol endpoints' server CPU now against an earlier revision, side by side.

    python benchmarks/protocols_against.py REV [--rounds 24] [--secs 1] [ENDPOINT ...]

Two hosts run at once, one from this checkout and one from ``REV`` (its ``clawhost/``
extracted with ``git archive`` into a temporary folder and imported ahead of the installed
package), both serving the echo model. One client process loads each (host, endpoint) pair
in turn, the order reversed every other round; each host's CPU per request comes from
schedstat, as in ``protocols.py``. Printed per host: each endpoint's added CPU against the
first endpoint named (its anchor, measured in the same rounds); then, per endpoint, this
checkout's CPU minus ``REV``'s, round by round. Medians, quartiles in brackets. On a busy
box the added CPU of both hosts moves with the load; the difference between them, measured
in the same rounds, is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import free_port, write_config
from protocols import BODIES, CLIENT, STREAMED, cpu_ns, wait_ready

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = {**BODIES, **STREAMED}


def quartiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) >= 4 else [min(values), 0, max(values)]
    return f"{q[0]:+.0f} .. {q[2]:+.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rev", help="the git revision to compare against (e.g. main, 7b5c9b0)")
    ap.add_argument("endpoints", nargs="*", default=["chat stream+usage", "responses stream"],
                    help=f"the anchor first; known: {', '.join(ENDPOINTS)}")
    ap.add_argument("--rounds", type=int, default=24)
    ap.add_argument("--secs", type=float, default=1.0)
    ap.add_argument("--conc", type=int, default=8)
    args = ap.parse_intermixed_args()
    unknown = [n for n in args.endpoints if n not in ENDPOINTS]
    if unknown or len(args.endpoints) < 2:
        ap.error(f"name an anchor and at least one endpoint of: {', '.join(ENDPOINTS)}")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        old_src = Path(d) / "src"
        old_src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.rev, "clawhost"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive, check=True)
        hosts: dict[str, tuple[subprocess.Popen, str]] = {}
        for tag in (args.rev, "this"):
            port = free_port()
            (Path(d) / tag).mkdir()
            cfg = write_config(Path(d) / tag, {"echo": {}}, port)
            env = dict(os.environ)
            if tag != "this":  # ahead of the editable install (cwd is not the checkout)
                env["PYTHONPATH"] = str(old_src)
            proc = subprocess.Popen([sys.executable, "-m", "clawhost", "run", "--config",
                                     str(cfg)], cwd=d, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            hosts[tag] = (proc, f"http://127.0.0.1:{port}")
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(args.conc)], text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            for _, base in hosts.values():
                wait_ready(base + "/readyz", 20)

            def run(tag: str, name: str, secs: float) -> float:
                proc, base = hosts[tag]
                path, body = ENDPOINTS[name]
                before = cpu_ns(proc.pid)
                client.stdin.write(json.dumps([base + path, body, secs]) + "\n")
                client.stdin.flush()
                n = json.loads(client.stdout.readline())["n"]
                return (cpu_ns(proc.pid) - before) / n / 1e3

            pairs = [(tag, name) for tag in hosts for name in args.endpoints]
            for pair in pairs:  # warm-up
                run(*pair, 0.5)
            cpu: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
            for i in range(args.rounds):
                for pair in (pairs if i % 2 == 0 else pairs[::-1]):
                    cpu[pair].append(run(*pair, args.secs))
        finally:
            client.stdin.close()
            client.wait(timeout=30)
            for proc, _ in hosts.values():
                proc.terminate()
                proc.wait(timeout=30)
    anchor = args.endpoints[0]
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, this checkout against "
          f"{args.rev}, {args.rounds} rounds of {args.secs:g} s, load {load_before:.2f} -> "
          f"{os.getloadavg()[0]:.2f}\n")
    print(f"| endpoint | {args.rev}: CPU/request, us | this: CPU/request, us | "
          f"{args.rev}: added vs {anchor} | this: added vs {anchor} | this - {args.rev} |")
    print("|---|---|---|---|---|---|")
    old, new = hosts
    for name in args.endpoints:
        cells = [f"{statistics.median(cpu[tag, name]):.0f}" for tag in (old, new)]
        for tag in (old, new):
            diffs = [a - b for a, b in zip(cpu[tag, name], cpu[tag, anchor])]
            cells.append("" if name == anchor else
                         f"**{statistics.median(diffs):+.0f}** ({quartiles(diffs)})")
        diffs = [a - b for a, b in zip(cpu[new, name], cpu[old, name])]
        cells.append(f"{statistics.median(diffs):+.0f} ({quartiles(diffs)})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
