"""Speculative decoding by prompt lookup (issue #18), in process: what a verification run
costs against a decode step, and what a stream decoding alone gains on real texts.

- Cost: a decode step (1 token) against a verification run of 2..8 tokens on one row, after
  100 / 1,000 / 3,000 cached tokens (medians of --reps, alternating).
- Gain: each prompt (essays like chat_speed's, and agent-shaped turns: code to edit, JSON to
  return, text to summarise) generated with speculation off and on, alternating, from the
  same engine through the serving path (`SlotBatch`, one slot): tokens/s after the first,
  the tokens compared (they must be the same), how many runs and how many guesses held.

    python benchmarks/speculate.py [--model DIR] [--tokens 200] [--rounds 3] [--out FILE.md]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from long_prompt import emit_report  # noqa: E402
from clawhost.bench.probe import cpu_model  # noqa: E402

ESSAYS = ["the history of bread", "lighthouses", "the water cycle", "volcanoes",
          "the printing press", "honey bees", "the moon landing", "public libraries"]
AGENT = {
    "edit code": "Here is a Python function:\n\ndef add_user(db, name, email):\n    user = "
                 "{'name': name, 'email': email}\n    db.insert(user)\n    return user\n\n"
                 "Rewrite it so that it also stores an 'age' argument.",
    "return JSON": 'Return this JSON with "status" set to "done": {"id": 42, "title": "Buy '
                   'milk", "status": "open", "tags": ["home", "shopping"]}',
    "summarise": "Summarize the following in two sentences: The quarterly report shows revenue "
                 "grew 12% to $4.2 million, driven by the new subscription plan. Costs rose "
                 "8%, mainly from hiring. The company expects growth to continue next quarter.",
    "list steps": "Turn this into a bulleted list: install the package, edit config.yaml, run "
                  "clawhost start, then check clawhost status.",
    "short answer": "What is the capital of France?",
    "tips": "List five tips for writing clear emails.",
}


def cost_table(eng, reps: int) -> list[str]:
    from clawhost.plugins.quantized_model.runner import Runner
    rng = np.random.default_rng(0)
    lines = ["| cached tokens | decode step ms | " + " | ".join(
        f"run of {n}" for n in range(2, 9)) + " |", "|---|---|" + "---|" * 7]
    for past in (100, 1000, 3000):
        ids = [int(x) for x in rng.integers(100, 40000, past)]
        r = Runner(eng.model, rows=1, capacity=past + 64)
        eng.prefill(r, 0, ids)
        t: dict[int, list[float]] = {}
        for _ in range(reps):
            for n in range(1, 9):
                start = time.perf_counter()
                if n == 1:
                    r.decode(np.array([5]), np.array([past], np.int32))
                else:
                    list(r.verify([5] * n, past))
                t.setdefault(n, []).append(time.perf_counter() - start)
        step = statistics.median(t[1])
        lines.append(f"| {past:,} | {step * 1000:.1f} | " + " | ".join(
            f"{statistics.median(t[n]) / step:.2f}×" for n in range(2, 9)) + " |")
        del r
    return lines


def generate(eng, ids: list[int], tokens: int) -> tuple[list[int], float]:
    batch = eng.new_batch(1)
    slot = batch.add(ids, {"max_tokens": tokens, "temperature": 0})
    seq, first = batch.seqs[slot], None
    while slot in batch.seqs:
        if batch.step().get(slot) is not None and first is None:
            first = time.perf_counter()
    took = time.perf_counter() - first
    return seq.ids, (len(seq.ids) - 1) / took if took > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "workspace/models/smollm2-135m-instruct"))
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=15, help="cost table repetitions")
    ap.add_argument("--draft", type=int, default=6)
    ap.add_argument("--out")
    args = ap.parse_args()
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    from clawhost.plugins.quantized_model.kv_calibrate import refresh_if_stale
    refresh_if_stale(Path(args.model))  # a graph from an older build: measure the current one
    eng = ChatEngine.load(args.model, threads=2, kv_cache="int8")
    load0 = os.getloadavg()[0]
    eng.model.warmer.hold()
    try:
        costs = cost_table(eng, args.reps)
    finally:
        eng.model.warmer.release()
    prompts = {f"essay: {e}": f"Write a detailed essay about {e}." for e in ESSAYS} | AGENT
    rows, same = [], True
    for label, text in prompts.items():
        ids = eng.encode_chat([{"role": "user", "content": text}])
        off, on, acc = [], [], []
        for r in range(args.rounds):
            for arm in ("off", "on") if r % 2 == 0 else ("on", "off"):
                eng.speculation = None
                if arm == "on":
                    eng.enable_speculation(args.draft)
                got, rate = generate(eng, ids, args.tokens)
                if arm == "on":
                    on.append(rate)
                    acc.append((eng.speculation.runs, eng.speculation.drafted,
                                eng.speculation.accepted, got))
                else:
                    off.append(rate)
                    plain = got
        same &= all(a[3] == plain for a in acc)
        runs, drafted, accepted, got = acc[-1]
        ratio = statistics.median(on) / statistics.median(off)
        rows.append((label, len(got), statistics.median(off), statistics.median(on), ratio,
                     runs, drafted, accepted))
        print(f"{label}: {ratio:.2f}x", flush=True)
    essays = [r[4] for r in rows if r[0].startswith("essay")]
    agent = [r[4] for r in rows if not r[0].startswith("essay")]
    lines = [f"\n### `benchmarks/speculate.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             "", f"CPU: {cpu_model()}, 2 threads; SmolLM2-135M int4-mixed, int8 KV cache; "
             f"1-minute load {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
             f"guesses of up to {args.draft} tokens.", "",
             "A verification run of n tokens (the last one and n - 1 guessed), as a multiple of "
             "a decode step's time:", "", *costs, "",
             f"Greedy, {args.tokens} tokens at most, {args.rounds} rounds alternating off/on, "
             "medians; the tokens with speculation on were "
             + ("**the same** as off for every prompt." if same else "**not** the same as off."),
             "", "| prompt | tokens | off tok/s | on tok/s | on / off | runs | guessed | held |",
             "|---|---|---|---|---|---|---|---|"]
    for label, n, a, b, ratio, runs, drafted, accepted in rows:
        lines.append(f"| {label} | {n} | {a:.1f} | {b:.1f} | {ratio:.2f}× | {runs} | "
                     f"{drafted} | {accepted} |")
    lines += ["", f"Median on / off: essays **{statistics.median(essays):.2f}×**, agent-shaped "
              f"turns **{statistics.median(agent):.2f}×** (range {min(essays + agent):.2f}–"
              f"{max(essays + agent):.2f}×)."]
    emit_report("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
