"""Long pairs and the cross-encoder (issue 19, session 9): two ways to spend less on the
~110-token pairs that ~60-token statements make, measured against the full cross-encoder.

    python benchmarks/semantic_long.py [--embeddings DIR] [--verifier DIR]

1. **Prescreen** (shipped, ``prescreen`` option): the embedding-interaction weights
   (``verifier_interaction.json``, fit on the training split) score each pair the
   cross-encoder would judge; below the cut it is rejected without the model. The cut is
   chosen on *training* rows only (QQP and GPTCache outside the held-back 30%): the highest
   of a grid at which the cross-encoder accepts none of the training pairs under it. The
   held-back rows and the --lookup statements are shown, not used.
2. **Compaction** (measured, not shipped): the two texts aligned word by word (difflib),
   the inside of every shared run longer than ``2 * context + 3`` words cut from both.

Pairs: QQP (each row), GPTCache (each paraphrase with its own origin), and the 450
statements of ``semantic_cache.py --lookup`` with their nearest stored text (brute force
over the real stored texts). Appends a report to benchmarks/results/semantic_long.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import semantic_cache as bench  # noqa: E402
from clawhost.bench.probe import cpu_model  # noqa: E402
from clawhost.engines.cross_encoder import RerankEngine  # noqa: E402
from clawhost.plugins.semantic_cache import Options, evaluate  # noqa: E402
from clawhost.plugins.semantic_cache.contrast import Comparer  # noqa: E402
from clawhost.plugins.semantic_cache.embedder import Embedder  # noqa: E402
from clawhost.plugins.semantic_cache.features import pair_features  # noqa: E402
from clawhost.plugins.semantic_cache.lexicon import vocabulary_of  # noqa: E402
from clawhost.plugins.semantic_cache.verifier import INTERACTION_WEIGHTS, Weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRID = (0.03, 0.05, 0.08, 0.10, 0.15, 0.20, 0.30)
_WORD, _EDGE = re.compile(r"\S+"), re.compile(r"^\W+|\W+$")


def compact(a: str, b: str, context: int = 3, min_cut: int = 3) -> tuple[str, str]:
    """(a, b) without the inside of shared word runs longer than 2 * context + min_cut."""
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    ka, kb = [_EDGE.sub("", w.lower()) or w for w in wa], [_EDGE.sub("", w.lower()) or w for w in wb]
    drop_a: set[int] = set()
    drop_b: set[int] = set()
    for i, j, n in SequenceMatcher(None, ka, kb, autojunk=False).get_matching_blocks():
        head = 0 if (i == 0 and j == 0) else context  # a shared start needs no left context
        tail = 0 if (i + n == len(wa) and j + n == len(wb)) else context
        if n and n - head - tail >= min_cut:
            drop_a.update(range(i + head, i + n - tail))
            drop_b.update(range(j + head, j + n - tail))
    if not drop_a or len(drop_a) == len(wa) or len(drop_b) == len(wb):
        return a, b
    return (" ".join(w for k, w in enumerate(wa) if k not in drop_a),
            " ".join(w for k, w in enumerate(wb) if k not in drop_b))


def pairs_of(emb: Embedder, eval_dir: Path) -> dict[str, list[dict]]:
    stored, asked = bench.lookup_sets(eval_dir)
    S = bench.embed_cached(emb, stored)
    out: dict[str, list[dict]] = {"statements": []}
    for (length, cls), texts in asked.items():
        if length != "statement":
            continue
        for t, v in zip(texts, bench.embed_cached(emb, texts)):
            top = int(np.argmax(S @ v))
            out["statements"].append({"cls": cls, "cached": stored[top], "new": t, "u": S[top], "v": v})
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    out["gptcache"] = [{"cached": r["origin"], "new": r["similar"], "dup": True} for r in rows]
    out["qqp"] = [{"cached": p.a, "new": p.b, "dup": p.duplicate}
                  for p in evaluate.load_pairs(eval_dir / "qqp_dev.jsonl")]
    for name in ("gptcache", "qqp"):
        U = bench.embed_cached(emb, [r["cached"] for r in out[name]])
        V = bench.embed_cached(emb, [r["new"] for r in out[name]])
        for r, u, v in zip(out[name], U, V):
            r["u"], r["v"] = u, v
            r["held"] = evaluate.held_back(r["cached"], r["new"])
    return out


def score_all(data: dict, ce: RerankEngine, cmp: Comparer, screen: Weights, floor: float) -> None:
    for rs in data.values():
        for r in rs:
            r["cos"] = float(r["u"] @ r["v"])
            r["verdict"] = cmp.compare(r["cached"], r["new"]).kind
            r["screen"] = screen.score(pair_features(r["cos"], r["cached"], r["new"]), r["u"], r["v"])
            # what the cross-encoder would be asked: above the floor, not decided by structure
            r["judged"] = r["cos"] >= floor and r["verdict"] == "unsure"
            r["tokens"] = len(ce.tokenizer.encode(r["cached"], r["new"]).ids)
        scores = ce.score([(r["cached"], r["new"]) for r in rs])
        for r, s in zip(rs, scores):
            r["ce"] = float(s)


def prescreen_table(data: dict, thr: float) -> tuple[list[str], float]:
    train = [r for name in ("qqp", "gptcache") for r in data[name] if r["judged"] and not r["held"]]
    held = [r for name in ("qqp", "gptcache") for r in data[name] if r["judged"] and r["held"]]
    st = [r for r in data["statements"] if r["judged"]]
    lines = ["| cut | training pairs skipped | training accepts lost | held-back skipped | "
             "held-back accepts lost (true dup.) | statements skipped (of 450) |",
             "|---|---|---|---|---|---|"]
    chosen = 0.0
    for cut in GRID:
        def lost(rs):
            return [r for r in rs if r["screen"] < cut and r["ce"] >= thr]
        t_lost, h_lost = lost(train), lost(held)
        if not t_lost:
            chosen = cut
        lines.append(f"| {cut:.2f} | {sum(r['screen'] < cut for r in train)} of {len(train)} | "
                     f"{len(t_lost)} of {sum(r['ce'] >= thr for r in train)} | "
                     f"{sum(r['screen'] < cut for r in held)} of {len(held)} | {len(h_lost)} "
                     f"({sum(r['dup'] for r in h_lost)}) | "
                     f"{sum(r['screen'] < cut for r in st)} |")
    return lines, chosen


def compaction_table(data: dict, ce: RerankEngine, thr: float) -> list[str]:
    lines = ["| context words | pairs | tokens p50 whole → compacted (sum ratio) | accepts whole → "
             "compacted | changed decisions | true / false accepts (QQP) |", "|---|---|---|---|---|---|"]
    sets = {"statements (--lookup)": [r for r in data["statements"] if r["judged"]],
            "GPTCache": [r for r in data["gptcache"] if r["judged"]],
            "QQP, pairs of ≥ 30 words": [r for r in data["qqp"] if r["judged"] and
                                         len(r["cached"].split()) + len(r["new"].split()) >= 30]}
    for context in (2, 3, 5):
        for name, rs in sets.items():
            pairs = [compact(r["cached"], r["new"], context) for r in rs]
            tokens = [len(ce.tokenizer.encode(a, b).ids) for a, b in pairs]
            new, old = ce.score(pairs) >= thr, np.array([r["ce"] >= thr for r in rs])
            y = np.array([r["dup"] for r in rs]) if name.startswith("QQP") else None
            tf = "" if y is None else (f"{int((old & y).sum())} / {int((old & ~y).sum())} → "
                                       f"{int((new & y).sum())} / {int((new & ~y).sum())}")
            lines.append(f"| {context}, {name} | {len(rs)} | {np.median([r['tokens'] for r in rs]):.0f} → "
                         f"{np.median(tokens):.0f} ({sum(tokens) / sum(r['tokens'] for r in rs):.2f}) | "
                         f"{int(old.sum())} → {int(new.sum())} | {int((old != new).sum())} | {tf} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embeddings")
    ap.add_argument("--verifier")
    ap.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "semantic_long.md"))
    args = ap.parse_args()
    folder, eval_dir = bench.embeddings_dir(args.embeddings), Path(args.eval)
    emb = Embedder.from_folder(folder, threads=2)
    ce = RerankEngine.load(bench.verifier_dir(args.verifier), 2)
    thr, floor = float(ce.info["threshold"]), Options().min_similarity
    data = pairs_of(emb, eval_dir)
    score_all(data, ce, Comparer(vocabulary_of(folder), True), Weights.load(INTERACTION_WEIGHTS), floor)
    table, chosen = prescreen_table(data, thr)
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu_model()}: "
             f"cross-encoder threshold {thr}, cosine floor {floor}", "",
             "### Prescreen: interaction score below the cut → rejected without the cross-encoder", "",
             "Pairs the cross-encoder would judge (cosine ≥ floor, structure unsure); an accept "
             f"is a cross-encoder score ≥ {thr}.", ""] + table + [
             "", f"Highest cut with no training accept lost: **{chosen:.2f}** (shipped: "
             f"{Options().prescreen:.2f}).", "",
             "### Compaction: shared runs cut from long pairs before the cross-encoder", ""]
    lines += compaction_table(data, ce, thr) + [""]
    with open(args.out, "a") as fh:
        fh.write("\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
