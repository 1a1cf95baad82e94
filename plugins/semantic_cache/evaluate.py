"""Calibration: run the live cache's decision code over labelled question pairs.

``a`` is the cached question, ``b`` the new one. Each pair is its own scope, so the
verifier sees exactly one candidate, as it would for a lone similar entry in the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .verifier import Candidate, Verifier


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    duplicate: bool
    kind: str = ""   # optional: what sort of pair (case, typo, direction ...), for per-kind figures


def load_pairs(path: Path) -> list[Pair]:
    """Read ``{"a", "b", "duplicate"}`` JSON lines; a bad line is a one-line error."""
    pairs = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                pairs.append(Pair(str(row["a"]), str(row["b"]), bool(row["duplicate"]),
                                  str(row.get("kind") or "")))
            except KeyError as exc:
                raise ValueError(f"{path}:{n}: missing key {exc}; each line needs "
                                 f"{{\"a\", \"b\", \"duplicate\"}}") from None
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: expected a JSON object {{\"a\", \"b\", "
                                 f"\"duplicate\"}}: {exc}") from None
    if not pairs:
        raise ValueError(f"{path}: no pairs")
    return pairs


def held_back(*texts: str, percent: int = 30) -> bool:
    """The fixed hash split: True for the part kept out of training (for reporting)."""
    h = int(hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:8], 16)
    return h % 100 < percent


@dataclass
class Embedded:
    """The pairs' vectors (a = cached, b = new) and their cosines, and the artifact folder
    they came from (token-alignment verifiers read token vectors from the same model)."""
    a: np.ndarray
    b: np.ndarray
    cos: np.ndarray
    folder: Path | None = None


def embed_pairs(embed, pairs: list[Pair], folder: Path | None = None) -> Embedded:
    a = np.asarray(embed([p.a for p in pairs]), np.float32)
    b = np.asarray(embed([p.b for p in pairs]), np.float32)
    return Embedded(a, b, np.einsum("ij,ij->i", a, b), folder)


def ready(verifier: Verifier, emb: Embedded) -> Verifier:
    """The verifier the live cache would run with these vectors: token-alignment weights
    get their token encoder from the same artifact, or fall back to the lexical weights."""
    return verifier.attach(emb.folder) if verifier.needs_tokens else verifier


@dataclass
class Figures:
    pairs: int
    duplicates: int
    hits: int
    correct: int
    precision: float
    recall: float
    false_hit_rate: float  # wrong hits / non-duplicate pairs

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def figures(pairs: list[Pair], hit: np.ndarray) -> Figures:
    y = np.array([p.duplicate for p in pairs])
    hits, correct = int(hit.sum()), int((hit & y).sum())
    neg = int((~y).sum())
    return Figures(len(pairs), int(y.sum()), hits, correct,
                   correct / hits if hits else 1.0,
                   correct / int(y.sum()) if y.any() else 0.0,
                   (hits - correct) / neg if neg else 0.0)


def scores(verifier: Verifier, pairs: list[Pair], emb: Embedded) -> np.ndarray:
    """The verifier's score per pair (0 below the cosine floor or when a rule rejects)."""
    floor = verifier.settings.floor
    verifier = ready(verifier, emb)
    return np.array([verifier.judge(float(c), p.a, p.b, emb.a[i], emb.b[i]) if c >= floor
                     else 0.0 for i, (p, c) in enumerate(zip(pairs, emb.cos))])


def decide(verifier: Verifier, pairs: list[Pair], emb: Embedded) -> np.ndarray:
    """Hit or not per pair, through ``Verifier.choose`` (the live code path)."""
    verifier = ready(verifier, emb)
    return np.array([verifier.choose(p.b, [Candidate(0, float(c), p.a, "x", emb.a[i])],
                                     emb.b[i]).entry_id == 0
                     for i, (p, c) in enumerate(zip(pairs, emb.cos))])


def grid(lo: float, hi: float, configured: float | None) -> list[float]:
    """Thresholds every 0.01 from ``lo`` to ``hi``, plus the configured one itself, so the
    row of the settings in use is always on the curve (0.935 fell between 0.92 and 0.94)."""
    points = {round(float(t), 2) for t in np.arange(lo, hi + 1e-9, 0.01)}
    if configured is not None:
        points.add(round(float(configured), 4))
    return sorted(points)


def sweep(verifier: Verifier, pairs: list[Pair], emb: Embedded,
          always: np.ndarray | None = None) -> list[tuple[float, Figures]]:
    """Figures over thresholds: the verifier threshold, or the cosine floor without one.

    Pairs the structural comparison serves (score 1.0) are hits at every threshold, as in
    the live cache: the threshold only moves the pairs the learned score judges, and
    ``always`` (the normalised-exact tier's hits) are hits at every threshold too."""
    always = np.zeros(len(pairs), bool) if always is None else always
    if verifier.weights is not None:
        sc = scores(verifier, pairs, emb)
        return [(t, figures(pairs, always | (sc >= t)))
                for t in grid(0.30, 0.99, verifier.threshold)]
    low = replace_floor(verifier, 0.0)
    rules_ok = scores(low, pairs, emb) > 0
    served = np.array([low.structural(float(c), p.a, p.b) == "serve"
                       for p, c in zip(pairs, emb.cos)], bool)
    return [(t, figures(pairs, always | served | ((emb.cos >= t) & rules_ok)))
            for t in grid(0.50, 0.99, verifier.settings.min_similarity)]


def replace_floor(verifier: Verifier, floor: float) -> Verifier:
    out = Verifier(replace(verifier.settings, min_similarity=floor), verifier.weights)
    out.tokens, out.comparer = verifier.tokens, verifier.comparer
    return out


def normalized(pairs: list[Pair], fillers: bool = True) -> np.ndarray:
    """Pairs the normalised-exact tier answers before any embedding (same key)."""
    from .normalize import exact_key
    return np.array([bool(exact_key(p.a, fillers)) and exact_key(p.a, fillers) == exact_key(
        p.b, fillers) for p in pairs], bool)


def by_kind(pairs: list[Pair], hit: np.ndarray) -> dict[str, dict]:
    """Per ``kind``: duplicates hit (share) or near-misses served (count)."""
    out: dict[str, dict] = {}
    for kind in dict.fromkeys(p.kind for p in pairs if p.kind):
        idx = [i for i, p in enumerate(pairs) if p.kind == kind]
        dup = sum(pairs[i].duplicate for i in idx)
        hits = int(sum(bool(hit[i]) for i in idx))
        right = int(sum(bool(hit[i]) and pairs[i].duplicate for i in idx))
        out[kind] = {"pairs": len(idx), "duplicates": dup, "hits": hits,
                     "duplicates_hit": right, "near_misses_served": hits - right,
                     "hit_rate": round(right / dup, 4) if dup else None}
    return out


def cost_of(curve: list[tuple[float, Figures]], configured: float,
            pick: tuple[float, Figures] | None) -> float | None:
    """Recall the suggested threshold gives up (negative: gains) against the configured one."""
    now = next((f for t, f in curve if abs(t - configured) < 1e-9), None)
    return None if pick is None or now is None else round(now.recall - pick[1].recall, 4)


def suggest(curve: list[tuple[float, Figures]], target: float) -> tuple[float, Figures] | None:
    """The lowest threshold whose precision reaches ``target`` with at least one hit."""
    ok = [(t, f) for t, f in curve if f.hits and f.precision >= target]
    return max(ok, key=lambda tf: (tf[1].recall, -tf[0])) if ok else None


def store_and_ask(verifier: Verifier, stored_vecs: np.ndarray, stored_text: list[str],
                  ask_vecs: np.ndarray, ask_text: list[str], k: int = 4) -> tuple[int, int, int]:
    """GPTCache's benchmark: store every origin (answer = its row), ask every paraphrase.

    Returns (correct hits, wrong hits, misses); row ``i`` of ``ask`` belongs to stored row i.
    """
    ok = bad = miss = 0
    sims = ask_vecs @ stored_vecs.T
    for i in range(len(ask_text)):
        top = np.argsort(-sims[i])[:k]
        cands = [Candidate(int(j), float(sims[i, j]), stored_text[j], str(j), stored_vecs[j])
                 for j in top]
        d = verifier.choose(ask_text[i], cands, ask_vecs[i])
        if d.entry_id is None:
            miss += 1
        elif d.entry_id == i:
            ok += 1
        else:
            bad += 1
    return ok, bad, miss

