"""The per-step work outside onnxruntime, this checkout's against a baseline's, in lock step
(issue #18, session 11).

Loads the chat engine twice in one process: arm A from a baseline checkout's
`plugins/quantized_model` (copied into a temporary package, e.g. main's), arm B from this
checkout. Both share one onnxruntime session and one core warmer, so the graph's run is
the same; only the Python and numpy work around it differs. Each round both arms open a
`SlotBatch` of the same size with the same prompts and sampling settings (greedy, seeded
temperature, top-p/top-k), and then step in turn, the order alternating by step, so each
step of one arm has a step of the other within milliseconds of it under the same load.
Every step's tokens must be the same in both arms (counted as mismatches): greedy ones
and seeded samples alike.

Reports per arm and batch size the medians of the whole step, of onnxruntime's run inside
it, and of the rest (step minus run, per step), with `--parts` also of rescore, embedding
lookup, `Sequence.advance` and `Sampler.pick` (wrapped in both arms alike).

    python benchmarks/step_work.py --base /work/main --rounds 4
    python benchmarks/step_work.py --base . --rounds 4      # control: both arms the same code
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from clawhost.bench.probe import cpu_model  # noqa: E402

PROMPTS = ["Write a detailed essay about the history of Rome.",
           "Explain how a bicycle works, in detail.",
           "Tell me a long story about a dragon and a knight.",
           "Describe the water cycle for a school class.",
           "List ten facts about octopuses and explain each one.",
           "What is the difference between a virus and a bacterium?"]
# greedy twice, and common client settings: 4-row batches take all four in turn, 1-row
# batches greedy (or `--sampling`'s)
SAMPLING = [{"temperature": 0}, {"temperature": 0}, {"temperature": 0.8, "seed": 7},
            {"temperature": 1.0, "top_p": 0.95, "seed": 3}]
PARTS = ("rescore", "lookup", "advance", "pick")


def baseline_engine(base: Path):
    """ChatEngine of `base`'s quantized_model, imported as its own package (`qm_base`)."""
    tmp = Path(tempfile.mkdtemp(prefix="step-work-"))
    shutil.copytree(base / "plugins" / "quantized_model", tmp / "qm_base",
                    ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(tmp))
    import qm_base.chat_engine
    return qm_base.chat_engine.ChatEngine


class Clock:
    """Times onnxruntime's runs and the wrapped parts of the step in progress."""

    def __init__(self):
        self.t: dict[str, float] = {}

    def wrap(self, owner, name: str, key: str) -> None:
        inner = getattr(owner, name)
        t = self.t

        def timed(*a, **k):
            start = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                t[key] = t.get(key, 0.0) + time.perf_counter() - start
        setattr(owner, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, required=True, help="checkout whose quantized_model is arm A")
    ap.add_argument("--model", default=str(ROOT / "workspace/models/smollm2-135m-instruct"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=120, help="steps per round and batch size")
    ap.add_argument("--rows", default="4,1", help="batch sizes, comma-separated")
    ap.add_argument("--parts", action="store_true", help="also time rescore, lookup, advance, pick")
    ap.add_argument("--sampling", help='1-row batches: SamplingParams JSON, e.g. \'{"temperature": 1, "top_p": 0.95}\' (seeded by round)')
    args = ap.parse_args()
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    old = baseline_engine(args.base.resolve())
    a = old.load(args.model, threads=2, kv_cache="int8")
    b = ChatEngine.load(args.model, threads=2, kv_cache="int8", warm_cores=False)
    b.model.session, b.model.warmer = a.model.session, a.model.warmer  # one run for both
    clock = Clock()
    clock.wrap(a.model.session, "run_with_iobinding", "ort")  # the instance: both arms
    if args.parts:
        for eng in (a, b):
            mod = sys.modules[type(eng).__module__.rsplit(".", 1)[0] + ".sequence"]
            clock.wrap(eng.model, "rescore", "rescore")
            clock.wrap(eng.model.embed, "lookup", "lookup")
            clock.wrap(mod.Sequence, "advance", "advance")
            clock.wrap(mod.Sampler, "pick", "pick")
    keys = ("step", "ort") + (PARTS if args.parts else ())
    res: dict[int, dict] = {}
    loads, mismatches = [], 0
    for r in range(args.rounds):
        for rows in [int(x) for x in args.rows.split(",")]:
            arms = {}
            for name, eng in (("A", a), ("B", b)):
                batch = eng.new_batch(rows)
                for i in range(rows):
                    s = (SAMPLING[(r + i) % len(SAMPLING)] if rows > 1
                         else json.loads(args.sampling) | {"seed": r} if args.sampling else SAMPLING[0])
                    ids = eng.encode_chat([{"role": "user", "content": PROMPTS[(r + i) % len(PROMPTS)]}])
                    batch.add(ids, {"max_tokens": args.tokens + 1, **s})
                arms[name] = batch
            first = {n: {k: e.token_id for k, e in bt.step().items()} for n, bt in arms.items()}
            mismatches += first["A"] != first["B"]
            d = res.setdefault(rows, {n: {k: [] for k in keys} for n in "AB"} | {"ratio": []})
            for i in range(args.tokens):
                got, took = {}, {}
                for n in ("A", "B") if (i + r) % 2 == 0 else ("B", "A"):
                    clock.t.clear()
                    start = time.perf_counter()
                    got[n] = {k: e.token_id for k, e in arms[n].step().items()}
                    took[n] = time.perf_counter() - start
                    d[n]["step"].append(took[n])
                    for k in keys[1:]:
                        d[n][k].append(clock.t.get(k, 0.0))
                d["ratio"].append(took["A"] / took["B"])
                mismatches += got["A"] != got["B"]
                if not got["A"]:
                    break
            for bt in arms.values():
                for slot in list(bt.seqs):
                    bt.remove(slot)
            loads.append(os.getloadavg()[0])
    print(f"{cpu_model()}; 1-minute load {min(loads):.2f}-{max(loads):.2f}; A = {args.base}, "
          f"B = {ROOT}; steps whose tokens differ: {mismatches}")
    for rows, d in res.items():
        print(f"rows={rows}, {len(d['ratio'])} steps per arm (medians, ms):")
        for n in "AB":
            m = {k: statistics.median(v) * 1e3 for k, v in d[n].items()}
            rest = statistics.median([(s - o) * 1e3 for s, o in zip(d[n]["step"], d[n]["ort"])])
            print(f"  {n}: step {m['step']:.2f}, onnxruntime {m['ort']:.2f}, rest {rest:.3f}"
                  + "".join(f", {k} {m[k]:.3f}" for k in PARTS if k in m))
        q = statistics.quantiles(d["ratio"], n=4)
        print(f"  step time A/B per step: median {statistics.median(d['ratio']):.4f} "
              f"(quartiles {q[0]:.3f}-{q[2]:.3f})")


if __name__ == "__main__":
    main()
