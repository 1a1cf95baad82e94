"""Every pair's decision, to gate a rule change pair for pair (issue 19): paraphrase_dev, every
own check set, any extra sets, QQP and GPTCache, through the live lookup code.

    python benchmarks/semantic_gate.py OUT.json [EXTRA.jsonl ...]   # ~10 min on 2 cores
    python benchmarks/semantic_gate.py --diff BEFORE.json AFTER.json

Run it on the commit before (a worktree with its own editable venv) and on the change, then
``--diff``: each pair whose decision moved, and each set whose totals did. ``--vectors FILE``
keeps the embeddings by text between runs (only while the embedding model stays the same).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import semantic_cache as bench  # noqa: E402
from clawhost.plugins.semantic_cache import evaluate  # noqa: E402
from clawhost.plugins.semantic_cache.embedder import Embedder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def diff(before: Path, after: Path) -> None:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    for name in a.keys() & b.keys():
        for i, (x, y) in enumerate(zip(a[name]["d"], b[name]["d"])):
            if x != y:
                text_a, text_b, dup, kind = a[name]["rows"][i]
                print(f"{name}:{i} {kind} {'duplicate' if dup else 'near-miss'} {x} -> {y} | "
                      f"{text_a} || {text_b}")
    for name in sorted(a.keys() & b.keys()):
        if (ta := totals(name, a[name])) != (tb := totals(name, b[name])):
            print(f"TOTAL {name}: {ta} -> {tb}")


def totals(name: str, d: dict) -> tuple[int, int]:
    """(duplicates hit, near-misses served); GPTCache: (right, wrong)."""
    if name == "gptcache":
        return d["d"].count(0), d["d"].count(1)
    return (sum(1 for r, v in zip(d["rows"], d["d"]) if r[2] and v),
            sum(1 for r, v in zip(d["rows"], d["d"]) if not r[2] and v))


async def run(out: Path, extra: list[Path], eval_dir: Path, vectors: Path | None) -> None:
    folder = bench.embeddings_dir(None)
    opts = {"verifier_path": str(bench.verifier_dir(None))}
    bench.VOCAB_FROM.append(folder)
    emb = Embedder.from_folder(folder, threads=2)
    memo: dict[str, np.ndarray] = {}
    if vectors and vectors.is_file():  # plain arrays (no pickle): the texts and their vectors
        with np.load(vectors) as kept:
            memo = dict(zip(kept["texts"].tolist(), kept["vectors"]))

    def embed(texts: list[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in memo))
        if todo:
            memo.update(zip(todo, np.asarray(emb.embed_sync(todo), np.float32)))
        return np.stack([memo[t] for t in texts])

    owns = sorted(ROOT.glob("benchmarks/data/paraphrase_own*.jsonl"),
                  key=lambda f: int(f.stem.removeprefix("paraphrase_own") or 1))
    files = [("dev", eval_dir / "paraphrase_dev.jsonl")] + \
        [(f.stem.removeprefix("paraphrase_"), f) for f in owns + extra] + \
        [("qqp", eval_dir / "qqp_dev.jsonl")]
    res = {}
    for name, path in files:
        pairs = evaluate.load_pairs(path)
        hit = bench.live_hits(opts, pairs, evaluate.embed_pairs(embed, pairs, emb.folder))
        res[name] = {"rows": [[p.a, p.b, bool(p.duplicate), p.kind] for p in pairs],
                     "d": [bool(h) for h in hit]}
    if vectors:
        with open(vectors, "wb") as fh:
            np.savez(fh, texts=np.array(list(memo), dtype=str), vectors=np.stack(list(memo.values())))
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    decided = []  # 0 right, 1 wrong, 2 miss
    with tempfile.TemporaryDirectory() as tmp:
        cache = bench.new_cache(Path(tmp), emb, folder, **opts)
        for i, r in enumerate(rows):
            await cache.store(bench.chat(r["origin"]), bench.Reply(body=bench.answer(i)))
        for i, r in enumerate(rows):
            reply = await cache.lookup(bench.chat(r["similar"]))
            decided.append(2 if reply is None else
                           0 if reply.body["choices"][0]["message"]["content"] == str(i) else 1)
        cache.close()
    res["gptcache"] = {"rows": [[r["origin"], r["similar"], True, "gptcache"] for r in rows],
                       "d": decided}
    out.write_text(json.dumps(res))
    for name in ("dev", "qqp", "gptcache"):
        print(name, totals(name, res[name]))
    own = [totals(n, d) for n, d in res.items() if n.startswith("own")]
    print("own sets", tuple(map(sum, zip(*own))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--diff", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--vectors", type=Path, help="an .npz of embeddings by text, kept between runs")
    ap.add_argument("out", nargs="?", type=Path)
    ap.add_argument("extra", nargs="*", type=Path, help="more check sets (JSON lines)")
    args = ap.parse_args()
    if args.diff:
        diff(*args.diff)
    elif args.out:
        asyncio.run(run(args.out, args.extra, args.eval, args.vectors))
    else:
        ap.error("give OUT.json, or --diff BEFORE AFTER")


if __name__ == "__main__":
    main()
