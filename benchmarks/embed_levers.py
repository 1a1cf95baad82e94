"""Levers for one lookup's model runs on this box (issue 19, session 10), each group in one
process with its setups in alternating blocks: the embedding and one cross-encoder pair on
one or two ORT threads, called directly or through ``asyncio.to_thread`` (as the cache
does); the embedding's int8 kinds; ``session.set_denormal_as_zero``.

    python benchmarks/embed_levers.py threads [--rounds 5]
    python benchmarks/embed_levers.py kinds DIR...   # folders built by build_bert_onnx(kind)
    python benchmarks/embed_levers.py denormals

The prepared models come from the benchmark's workspace (``semantic_cache.py``'s lookup).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import numpy as np
from embed_then_now import ANCHOR, STATEMENT, engine, timed_blocks

from clawhost.engines.cross_encoder import RerankEngine
from clawhost.engines.embed_engine import EmbedEngine

# A reworded STATEMENT: a ~110-token pair, what the cross-encoder reads for a statement.
REWORDED = ("GPTCache keeps the answers of large language models so that a similar question "
            "asked later is served from the cache rather than by calling the model again, "
            "saving money and latency on repeated prompts; old entries can be evicted by "
            "least recent use.")


def embed_cases(engines: dict) -> dict:
    """Each engine on the anchor and on the statement, called directly."""
    return {f"{name}, {t}": (lambda e=e, x=x: e.embed([x]), False)
            for name, e in engines.items() for t, x in (("anchor", ANCHOR), ("statement", STATEMENT))}


def workspace_models() -> tuple[Path, Path]:
    import semantic_cache
    return semantic_cache.embeddings_dir(None), semantic_cache.verifier_dir(None)


def threads_cases() -> dict:
    emb_dir, ver_dir = workspace_models()
    embs = {t: EmbedEngine.load(emb_dir, threads=t) for t in (1, 2)}
    pairs = {t: RerankEngine.load(ver_dir, threads=t) for t in (1, 2)}
    scores = {t: float(p.score([(REWORDED, STATEMENT)])[0]) for t, p in pairs.items()}
    print(f"pair score on 1 / 2 threads: {scores[1]!r} / {scores[2]!r}")
    cases = {}
    for t, e in embs.items():
        for name, text in (("anchor", ANCHOR), ("statement", STATEMENT)):
            for hop in (False, True):
                cases[f"embed {name}, {t} thread(s), {'to_thread' if hop else 'direct'}"] = (
                    lambda e=e, x=text: e.embed([x]), hop)
    for t, p in pairs.items():
        cases[f"cross-encoder pair, {t} thread(s), to_thread"] = (
            lambda p=p: p.score([(REWORDED, STATEMENT)]), True)
    return cases


def kinds_cases(folders: list[Path]) -> dict:
    emb_dir, _ = workspace_models()
    engines = {"shipped (int8-sq)": engine(emb_dir, 1, True)}
    engines.update({f.name: engine(f, 1, True) for f in folders})
    ref = engines["shipped (int8-sq)"].embed([ANCHOR, STATEMENT])
    for name, e in engines.items():
        cos = (e.embed([ANCHOR, STATEMENT]) * ref).sum(1)
        print(f"{name}: cosine to the shipped vectors {cos.round(5).tolist()}")
    return embed_cases(engines)


def denormal_cases() -> dict:
    emb_dir, _ = workspace_models()
    engines = {"shipped settings": engine(emb_dir, 1, True),
               "set_denormal_as_zero": engine(emb_dir, 1, True,
                                              config={"session.set_denormal_as_zero": "1"})}
    a, b = (e.embed([ANCHOR, STATEMENT]) for e in engines.values())
    print(f"largest vector difference: {float(np.abs(a - b).max())}")
    return embed_cases(engines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("group", choices=("threads", "kinds", "denormals"))
    ap.add_argument("folders", nargs="*", type=Path, help="with kinds: built embedding folders")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    cases = {"threads": threads_cases, "denormals": denormal_cases}.get(
        args.group, lambda: kinds_cases(args.folders))()
    load0 = os.getloadavg()[0]
    res = asyncio.run(timed_blocks(cases, args.rounds, args.n))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load {load0:.1f} → "
          f"{os.getloadavg()[0]:.1f}; {args.rounds} rounds × {args.n} calls\n")
    print("| setup | wall p50 ms | CPU p50 ms |\n|---|---|---|")
    for k, (w, c) in res.items():
        print(f"| {k} | {statistics.median(w):.2f} | {statistics.median(c):.2f} |")


if __name__ == "__main__":
    main()
