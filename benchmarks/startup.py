"""Warm start-up time: `clawhost start` until it returns (``/readyz`` 200), per code tree, in
alternating rounds, with each model's load time and the import time of the CLI.

Each ``--python`` is the interpreter of a venv with one clawhost installed (e.g. this tree's,
and another with the code before a change: the anchor). Every round runs each of them once,
in turn, on the same config and prepared models, measuring:
- ``start_s``: wall time of ``clawhost start`` (CLI import, spawning the host, its imports,
  loading every model, the first ``/readyz`` 200): what a user waits for;
- ``ready_after_s``: the host's own figure (`clawhost status`: process start to ready);
- each model's ``loaded in`` from the host's log;
- ``import_cli_s``: ``python -c "import clawhost.cli"``, and ``import_server_s``:
  ``import clawhost.server`` (what the host imports before it loads anything).
Prints one JSON line per measurement, then medians per interpreter.

    python benchmarks/startup.py --config config.yaml --rounds 7 \\
        --python /path/to/anchor-venv/bin/python --python .venv/bin/python
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from long_prompt import config_on_port  # noqa: E402

LOADED = re.compile(r"INFO clawhost\.quantized_model: (\S+): loaded in ([0-9.]+)s")


def timed(cmd: list[str], **kw) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    return time.perf_counter() - started


def one_start(python: str, cfg: Path, log: Path) -> dict:
    """Start, read the host's figures, stop. The log is read from where it ended before."""
    at = log.stat().st_size if log.exists() else 0
    claw = [python, "-m", "clawhost"]
    row = {"start_s": timed(claw + ["start", "--config", str(cfg)], cwd="/")}
    status = subprocess.run(claw + ["status", "--json", "--config", str(cfg)],
                            capture_output=True, text=True, check=True, cwd="/")
    row["ready_after_s"] = json.loads(status.stdout).get("ready_after_s")
    subprocess.run(claw + ["stop", "--config", str(cfg)], check=True, cwd="/",
                   stdout=subprocess.DEVNULL)
    with open(log, "rb") as fh:
        fh.seek(at)
        for model, secs in LOADED.findall(fh.read().decode(errors="replace")):
            row[f"load_{model}_s"] = float(secs)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--python", action="append", required=True,
                    help="an interpreter with clawhost installed (repeat: the first is the anchor)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--port", type=int, default=18790)
    ap.add_argument("--imports", type=int, default=5, help="import-time runs per round")
    args = ap.parse_args()
    cfg = config_on_port(args.config, args.port)
    import yaml
    log = Path(yaml.safe_load(cfg.read_text())["workspace"]) / "logs" / "clawhost.log"
    rows: dict[str, list[dict]] = {p: [] for p in args.python}
    print(json.dumps({"cpu": _cpu(), "load_1m_start": os.getloadavg()[0]}), flush=True)
    for r in range(args.rounds):
        order = args.python if r % 2 == 0 else args.python[::-1]
        for py in order:
            row = one_start(py, cfg, log)
            row["import_cli_s"] = statistics.median(
                timed([py, "-c", "import clawhost.cli"], cwd="/") for _ in range(args.imports))
            row["import_server_s"] = statistics.median(
                timed([py, "-c", "import clawhost.server"], cwd="/") for _ in range(args.imports))
            row.update(python=py, round=r, load_1m=os.getloadavg()[0])
            rows[py].append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"load_1m_end": os.getloadavg()[0]}))
    for py, got in rows.items():
        keys = [k for k in got[0] if k.endswith("_s")]
        med = {k: round(statistics.median(x[k] for x in got if x.get(k) is not None), 3)
               for k in keys}
        print(json.dumps({"python": py, "rounds": len(got), "median": med,
                          "start_s_range": [round(min(x["start_s"] for x in got), 2),
                                            round(max(x["start_s"] for x in got), 2)]}))


def _cpu() -> str:
    from clawhost.bench.probe import cpu_model
    return cpu_model()


if __name__ == "__main__":
    main()
