"""How firm is the shipped verifier threshold's QQP margin? Held-back QQP precision and recall
at thresholds around the shipped one, with bootstrap intervals (held-back rows resampled),
and what each threshold does to paraphrase_dev, the own check sets and GPTCache.

    python benchmarks/semantic_threshold.py [--thresholds 0.92,0.935,0.95] [--resamples 2000]
                                            [--twin-rows 10000] [--no-gptcache]

Scores are computed once per pair; a pair is a hit at threshold t when the normalised-exact
tier matches it or its verifier score is at least t (the structure's "serve" scores 1, its
"reject" 0, so only the cross-encoder's pairs move). The shipped threshold's row is checked
against the live lookup path (``Verifier.choose``) before anything is printed.
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
from semantic_quality import ROOT  # noqa: E402
from clawhost.plugins.semantic_cache import evaluate  # noqa: E402
from clawhost.plugins.semantic_cache.embedder import Embedder  # noqa: E402


def scored(opts: dict, path: Path, emb: Embedder) -> tuple[list, np.ndarray, np.ndarray]:
    """(pairs, normalised-exact hit, verifier score) per pair; the shipped threshold's hits
    are checked against the live decision."""
    pairs = evaluate.load_pairs(path)
    ep = evaluate.embed_pairs(emb.embed_sync, pairs, emb.folder)
    o = bench.options(embedding_path="unused", **opts)
    exact = evaluate.normalized(pairs, o.normalize_fillers)
    verifier = bench.verifier_for(opts)
    sc = evaluate.scores(verifier, pairs, ep)
    live = bench.live_hits(opts, pairs, ep)
    if not np.array_equal(live, exact | (sc >= verifier.threshold)):
        raise SystemExit(f"{path.name}: scores do not reproduce the live decision")
    return pairs, exact, sc


def boot(y: np.ndarray, always: np.ndarray, sc: np.ndarray, ts: list[float], n: int,
         rows: int | None = None, seed: int = 0) -> dict:
    """Per threshold: precision and recall on the rows, and their 2.5/50/97.5 percentiles over
    ``n`` resamples of ``rows`` rows (default: as many as there are; more stands for a
    larger twin file of the same kind), the same resamples for every threshold."""
    idx = np.random.default_rng(seed).integers(0, len(y), (n, rows or len(y)))
    yb = y[idx]
    out = {}
    for t in ts:
        hit = always | (sc >= t)
        hb = hit[idx]
        hits, correct = hb.sum(1), (hb & yb).sum(1)
        prec, rec = correct / np.maximum(hits, 1), correct / yb.sum(1)
        out[t] = {"precision": round(float((hit & y).sum() / max(hit.sum(), 1)), 4),
                  "recall": round(float((hit & y).sum() / y.sum()), 4), "hits": int(hit.sum()),
                  "precision_ci": [round(float(q), 4) for q in np.percentile(prec, [2.5, 50, 97.5])],
                  "recall_ci": [round(float(q), 4) for q in np.percentile(rec, [2.5, 50, 97.5])],
                  "p(precision>=0.89)": round(float((prec >= 0.89).mean()), 3),
                  "p(recall>=0.30)": round(float((rec >= 0.30).mean()), 3),
                  "p(both)": round(float(((prec >= 0.89) & (rec >= 0.30)).mean()), 3)}
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--thresholds", default="0.92,0.925,0.93,0.935,0.94,0.945,0.95,0.96")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--no-gptcache", action="store_true")
    ap.add_argument("--twin-rows", default="",
                    help="also resample this many rows (comma-separated sizes): a twin file of "
                    "another size drawn like the held-back rows")
    ap.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    args = ap.parse_args()
    ts = [float(t) for t in args.thresholds.split(",")]
    folder, eval_dir = bench.embeddings_dir(None), Path(args.eval)
    opts = {"verifier_path": str(bench.verifier_dir(None))}
    bench.VOCAB_FROM.append(folder)
    emb = Embedder.from_folder(folder, threads=2)
    t0 = time.time()
    shipped = bench.verifier_for(opts).threshold
    out: dict = {"shipped_threshold": shipped, "resamples": args.resamples}
    pairs, exact, sc = scored(opts, eval_dir / "qqp_dev.jsonl", emb)
    held = np.array([evaluate.held_back(p.a, p.b) for p in pairs])
    y = np.array([p.duplicate for p in pairs])
    out["qqp_held_back"] = boot(y[held], exact[held], sc[held], ts, args.resamples)
    for rows in filter(None, args.twin_rows.split(",")):
        out[f"qqp_twin_{rows}_rows"] = boot(y[held], exact[held], sc[held], ts, args.resamples,
                                            int(rows))
    for name, path in (("paraphrase_dev", eval_dir / "paraphrase_dev.jsonl"),
                       ("own", ROOT / "benchmarks" / "data" / "paraphrase_own.jsonl"),
                       ("own2", ROOT / "benchmarks" / "data" / "paraphrase_own2.jsonl"),
                       ("own3", ROOT / "benchmarks" / "data" / "paraphrase_own3.jsonl")):
        pairs, exact, sc = scored(opts, path, emb)
        y = np.array([p.duplicate for p in pairs])
        out[name] = {t: {"duplicates_hit": int(((exact | (sc >= t)) & y).sum()),
                         "near_misses_served": int(((exact | (sc >= t)) & ~y).sum())}
                     for t in ts}
    if not args.no_gptcache:
        out["gptcache"] = {}
        for t in ts:
            ok, bad, miss, *_ = await bench.gptcache(emb, folder, eval_dir, verifier_threshold=t,
                                                     **opts)
            out["gptcache"][t] = {"correct": ok, "wrong": bad, "misses": miss}
    out["seconds"] = round(time.time() - t0)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
