"""The semantic cache's quality figures for issue 19 in one run, through the live lookup code:
paraphrase_dev and every own check set per kind, QQP held-back, GPTCache (GPTCache's way).

    python benchmarks/semantic_quality.py [--verifier DIR] [--embeddings DIR] [OPTION=VALUE ...]

Each OPTION=VALUE is a semantic_cache option (JSON value) set on the shipped default; what a
change to the default costs or wins shows here without editing the code. Much faster than
``semantic_cache.py`` (one setting, no latency runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import semantic_cache as bench  # noqa: E402
from clawhost.plugins.semantic_cache import evaluate  # noqa: E402
from clawhost.plugins.semantic_cache.embedder import Embedder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def kinds(opts: dict, path: Path, emb: Embedder) -> dict:
    pairs = evaluate.load_pairs(path)
    hit = bench.live_hits(opts, pairs, evaluate.embed_pairs(emb.embed_sync, pairs, emb.folder))
    dup = {}
    for p, h in zip(pairs, hit):
        d = dup.setdefault(p.kind or "all", [0, 0])
        d[0] += int(h)
        d[1] += 1
    return {"duplicates_hit": int(sum(h for p, h in zip(pairs, hit) if p.duplicate)),
            "duplicates": sum(p.duplicate for p in pairs),
            "near_misses_served": int(sum(h for p, h in zip(pairs, hit) if not p.duplicate)),
            "near_misses": sum(not p.duplicate for p in pairs),
            "kinds": {k: f"{a}/{n}" for k, (a, n) in dup.items()}}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embeddings")
    ap.add_argument("--verifier")
    ap.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    ap.add_argument("set", nargs="*", help="OPTION=VALUE (JSON) on top of the shipped default")
    args = ap.parse_args()
    folder, eval_dir = bench.embeddings_dir(args.embeddings), Path(args.eval)
    opts = {"verifier_path": str(bench.verifier_dir(args.verifier))}
    for item in args.set:
        key, _, value = item.partition("=")
        opts[key] = json.loads(value)
    bench.VOCAB_FROM.append(folder)
    emb = Embedder.from_folder(folder, threads=2)
    t0 = time.time()
    out = {"settings": {k: v for k, v in opts.items()}}
    out["paraphrase_dev"] = kinds(opts, eval_dir / "paraphrase_dev.jsonl", emb)
    out["own"] = kinds(opts, ROOT / "benchmarks" / "data" / "paraphrase_own.jsonl", emb)
    owns = sorted(ROOT.glob("benchmarks/data/paraphrase_own?*.jsonl"),
                  key=lambda f: int(f.stem.removeprefix("paraphrase_own")))
    for name in (f.stem.removeprefix("paraphrase_") for f in owns):
        out[name] = kinds(opts, ROOT / "benchmarks" / "data" / f"paraphrase_{name}.jsonl", emb)
    pairs = evaluate.load_pairs(eval_dir / "qqp_dev.jsonl")
    hit = bench.live_hits(opts, pairs, evaluate.embed_pairs(emb.embed_sync, pairs, emb.folder))
    held = np.array([evaluate.held_back(p.a, p.b) for p in pairs])
    f = evaluate.figures([p for p, m in zip(pairs, held) if m], hit[held])
    out["qqp_held_back"] = {"precision": round(f.precision, 4), "recall": round(f.recall, 4),
                            "hits": f.hits}
    ok, bad, miss, _, _, held_gc, _ = await bench.gptcache(emb, folder, eval_dir, **opts)
    out["gptcache"] = {"correct": ok, "wrong": bad, "misses": miss, "held_back": held_gc}
    out["seconds"] = round(time.time() - t0)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
