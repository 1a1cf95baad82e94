"""What each stemmer candidate does on the semantic cache's real vocabulary (issue 19, session 11).

    python benchmarks/semantic_stemmers.py [--eval ../shared/eval] [--json OUT]
    python benchmarks/semantic_stemmers.py --time [--rounds 9]

Until session 11 two hand-written stemmers did one job: ``word_match.stem`` (the structural
rules of ``contrast``) and ``features._stem`` (the lexical pair features under the trained
weights). The first now serves both (``stemming.stem``); the second is kept below as it was,
to measure against. For each candidate (those two and, when PyStemmer is installed,
Snowball's English stemmer) this prints, over the words of the eval
files, the three own check sets and the training data:
- the word pairs each one folds together that another does not (counts and examples);
- the pairs (eval and training rows) whose lexical features change if that candidate fed
  the features, and whose structural verdict changes if it fed the rules.
``--time``: the rules + features time per pair (``Comparer.compare`` and ``pair_features``,
text parses not cached, word stems as warm as in serving), session 10's two stemmers against
the one stemmer, alternating rounds in one run; medians per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from clawhost.plugins.semantic_cache import contrast, features, question, word_match  # noqa: E402
from clawhost.plugins.semantic_cache import stemming  # noqa: E402
from clawhost.plugins.semantic_cache.evaluate import load_pairs  # noqa: E402
from clawhost.plugins.semantic_cache.wordlists import SYNONYMS  # noqa: E402


def _old_features(word: str) -> str:
    """session 10's features._stem."""
    for end in ("ing", "es", "s", "ed"):
        if len(word) > len(end) + 3 and word.endswith(end):
            return word[: -len(end)]
    return word


def _snowball():
    """Snowball's English stemmer (PyStemmer, the Snowball project's C library), if installed:
    measured in session 11, not adopted (BENCHMARKS.md "Issue 19, session 11: one stemmer")."""
    try:
        import Stemmer
    except ImportError:
        return None
    return Stemmer.Stemmer("english").stemWord


# "rules" is the one stemmer now (session 10's word_match.stem, moved to stemming.stem).
CANDIDATES = {"rules": stemming.stem, "features": _old_features, "snowball": _snowball()}
CANDIDATES = {k: v for k, v in CANDIDATES.items() if v is not None}


def texts_and_pairs(eval_dir: Path) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    sets: dict[str, list[tuple[str, str]]] = {}
    for name, path in (("paraphrase_dev", eval_dir / "paraphrase_dev.jsonl"),
                       ("own", ROOT / "benchmarks/data/paraphrase_own.jsonl"),
                       ("own2", ROOT / "benchmarks/data/paraphrase_own2.jsonl"),
                       ("own3", ROOT / "benchmarks/data/paraphrase_own3.jsonl"),
                       ("qqp", eval_dir / "qqp_dev.jsonl")):
        sets[name] = [(p.a, p.b) for p in load_pairs(path)]
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    sets["gptcache"] = [(r["origin"], r["similar"]) for r in rows]
    texts = sorted({t for pairs in sets.values() for p in pairs for t in p})
    return texts, sets


def use(stemmer, rules=None) -> None:
    """Feed the features from ``stemmer`` and the rules from ``rules`` (default the same)."""
    rules = rules or stemmer
    features.stem = stemmer
    features.parse.cache_clear()
    contrast.stem = rules
    word_match.stem = rules  # what same_word_stems reads
    word_match.SYNONYM_STEMS = {w: frozenset(rules(x) for x in g) for w, g in SYNONYMS.items()}
    word_match.same_word_stems.cache_clear()


def folds(words: list[str], stemmer) -> set[frozenset[str]]:
    groups = defaultdict(set)
    for w in words:
        groups[stemmer(w)].add(w)
    return {frozenset((x, y)) for g in groups.values() if len(g) > 1
            for x in g for y in g if x < y}


SETUPS = {"two stemmers (session 10)": (_old_features, stemming.stem),
          "one stemmer": (stemming.stem, stemming.stem)}


def timing(sets: dict[str, list[tuple[str, str]]], rounds: int) -> dict:
    """Rules + features time per pair, the two setups in alternating rounds: questions (the
    paraphrase sets and 2,000 QQP rows) and statements (GPTCache's ~30-60-word rows). Each
    round clears the text parses (a lookup parses a new question) but not the word stems
    (serving stems the same words over and over: both setups keep a word cache)."""
    comparer = contrast.Comparer(None)
    kinds = {"questions": [p for s in ("paraphrase_dev", "own", "own2", "own3") for p in sets[s]]
             + sets["qqp"][:2000], "statements": sets["gptcache"]}
    per: dict[str, dict[str, list[float]]] = {n: {k: [] for k in kinds} for n in SETUPS}
    for setup in SETUPS.values():  # a warm-up round each: word caches as in serving
        use(*setup)
        for pairs in kinds.values():
            for a, b in pairs:
                comparer.compare(a, b), features.pair_features(0.9, a, b)
    for r in range(rounds):
        for name in (list(SETUPS) if r % 2 == 0 else list(SETUPS)[::-1]):
            use(*SETUPS[name])
            for kind, pairs in kinds.items():
                features.parse.cache_clear()
                question.parse.cache_clear()
                t0 = time.perf_counter()
                for a, b in pairs:
                    comparer.compare(a, b)
                    features.pair_features(0.9, a, b)
                per[name][kind].append((time.perf_counter() - t0) / len(pairs) * 1e6)
    base = list(SETUPS)[0]
    out = {"rounds": rounds, "load": [round(x, 2) for x in os.getloadavg()],
           "cpu": _cpu(), "us_per_pair_median": {}, "ratio_median": {}}
    for name in SETUPS:
        out["us_per_pair_median"][name] = {k: round(statistics.median(v), 1)
                                           for k, v in per[name].items()}
    for kind in kinds:
        out["ratio_median"][kind] = round(statistics.median(
            x / y for x, y in zip(per["one stemmer"][kind], per[base][kind])), 3)
    return out


def _cpu() -> str:
    import subprocess
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                 if ln.startswith("Model name")), "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--examples", type=int, default=25)
    ap.add_argument("--time", action="store_true", help="per-pair time, before/after")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    texts, sets = texts_and_pairs(Path(args.eval))
    if args.time:
        out = timing(sets, args.rounds)
        print(json.dumps(out, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
        return
    rule_words = sorted({w for t in texts for w in question.parse(t).content})
    feat_words = sorted({t.lower() for x in texts for t in features._TOKEN.findall(x)})
    out: dict = {"texts": len(texts), "rule_words": len(rule_words),
                 "feature_words": len(feat_words), "words": {}, "pairs": {}}
    for where, words in (("rules", rule_words), ("features", feat_words)):
        f = {n: folds(words, s) for n, s in CANDIDATES.items()}
        for x in CANDIDATES:
            for y in CANDIDATES:
                if x != y:
                    only = sorted(tuple(sorted(p)) for p in f[x] - f[y])
                    out["words"][f"{where}: folded by {x}, not by {y}"] = {
                        "count": len(only), "examples": [" / ".join(p) for p in
                                                         only[::max(1, len(only) // args.examples)]]}
    # pair-level: features and verdicts under each candidate
    comparer = contrast.Comparer(None)
    feats: dict[str, dict] = {}
    verdicts: dict[str, dict] = {}
    for name, stemmer in CANDIDATES.items():
        use(stemmer)
        feats[name] = {s: [tuple(features.pair_features(0.9, a, b)) for a, b in pairs]
                       for s, pairs in sets.items()}
        verdicts[name] = {s: [comparer.compare(a, b) for a, b in pairs]
                          for s, pairs in sets.items()}
    use(stemming.stem)
    for cand in CANDIDATES:
        for base, what in (("features", feats), ("rules", verdicts)):
            if cand == base:
                continue
            row = {}
            for s, pairs in sets.items():
                diff = [k for k, (x, y) in enumerate(zip(what[base][s], what[cand][s])) if x != y]
                ex = [f"{pairs[k][0]!r} / {pairs[k][1]!r}: {_show(what[base][s][k])} -> "
                      f"{_show(what[cand][s][k])}" for k in diff[:3]]
                row[s] = {"changed": len(diff), "of": len(pairs), "examples": ex}
            out["pairs"][f"{base} -> {cand}"] = row
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


def _show(x) -> str:
    if isinstance(x, tuple):
        return f"jaccard {x[1]:.2f} unmatched {x[2]:.0f}"
    return f"{x.kind}/{x.why}" if x.why else x.kind


if __name__ == "__main__":
    main()
