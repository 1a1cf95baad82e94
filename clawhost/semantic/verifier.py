"""Second stage: decide whether a cached question really asks what the new one asks.

Three checks, in order, on the nearest candidates of the same scope:
1. a cosine floor (cheap pre-filter; the index already ranked by cosine);
2. hard rules that reject look-alikes outright: different numbers, a negation on one side
   only, an antonym swapped in ("good" vs "bad"), optionally an unseen name;
3. a logistic model over cosine, the lexical features (``features.NAMES``) and, when the
   weights carry them, the embedding interaction terms |u-v| and u*v (SBERT-classifier
   style: one 2*dim dot product per candidate). The weights ship in ``verifier.json`` plus
   ``verifier_pair.npz`` (plain float arrays, no pickle), fit by ``clawhost.semantic.train``.
Then an ambiguity check: when two verified candidates with different answers are within
``margin`` cosine of each other, the cache cannot tell which one is meant, so it misses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .features import NAMES, pair_features

# Two shipped weight sets: lexical features only (the default), and the same plus the
# embedding interaction terms (opt-in: ``verifier_weights: interaction``; MiniLM vectors).
LEXICAL_WEIGHTS = Path(__file__).with_name("verifier.json")
INTERACTION_WEIGHTS = Path(__file__).with_name("verifier_interaction.json")
WEIGHT_SETS = {"lexical": LEXICAL_WEIGHTS, "interaction": INTERACTION_WEIGHTS}
RULES = {"number": "number_mismatch", "negation": "negation_mismatch", "antonym": "antonym",
         "entity": "entity_mismatch"}
_IDX = {n: i for i, n in enumerate(NAMES)}


@dataclass(frozen=True)
class Candidate:
    entry_id: int
    cos: float
    question: str        # the cached query text
    answer_key: str = ""  # a hash of the cached answer (equal answers are never ambiguous)
    vec: Any = None      # the cached query's unit vector (numpy), for the interaction terms


@dataclass(frozen=True)
class Decision:
    entry_id: int | None
    similarity: float = 0.0
    score: float = 0.0
    reason: str = "miss"   # hit | miss (nothing above the floor) | rejected | ambiguous


@dataclass
class Settings:
    min_similarity: float = 0.80
    verifier: bool = True
    threshold: float | None = None   # None: the threshold shipped with the weights
    rules: tuple[str, ...] = ("number", "negation", "antonym")
    margin: float = 0.01
    weights: str = "lexical"         # a WEIGHT_SETS name or a path to a weights JSON


@dataclass
class Weights:
    mean: list[float]
    scale: list[float]
    coef: list[float]
    bias: float
    info: dict = field(default_factory=dict)
    # Interaction terms, folded so that z += |u-v| @ diff + (u*v) @ prod (standardisation
    # already divided in and its offset added to ``bias``); None for lexical-only weights.
    diff: Any = None
    prod: Any = None

    @classmethod
    def load(cls, path: Path | str = LEXICAL_WEIGHTS) -> "Weights":
        path = Path(path)
        data = json.loads(path.read_text())
        if data.get("features") != list(NAMES):
            raise ValueError(f"{path}: verifier features do not match this version")
        w = cls(data["mean"], data["scale"], data["coef"], float(data["bias"]),
                data.get("info", {}))
        if data.get("pair_terms"):
            import numpy as np  # only when the interaction terms are in use
            with np.load(path.parent / data["pair_terms"], allow_pickle=False) as z:
                w.diff, w.prod = z["diff"].astype(np.float32), z["prod"].astype(np.float32)
        return w

    @property
    def needs_vectors(self) -> bool:
        return self.diff is not None

    @property
    def dim(self) -> int | None:
        return None if self.diff is None else int(self.diff.shape[0])

    def score(self, feats: list[float], u: Any = None, v: Any = None) -> float:
        z = self.bias + sum(c * (f - m) / s for f, m, s, c in
                            zip(feats, self.mean, self.scale, self.coef))
        if self.diff is not None:
            if u is None or v is None:
                raise ValueError("these verifier weights need the two query vectors")
            import numpy as np
            z += float(np.abs(u - v) @ self.diff + (u * v) @ self.prod)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class Verifier:
    def __init__(self, settings: Settings, weights: Weights | None = None) -> None:
        unknown = set(settings.rules) - set(RULES)
        if unknown:
            raise ValueError(f"unknown verifier rule(s) {sorted(unknown)}; known: {sorted(RULES)}")
        self.settings = settings
        self.weights = weights if weights is not None else (
            Weights.load(WEIGHT_SETS.get(settings.weights, settings.weights))
            if settings.verifier else None)
        self.threshold = settings.threshold if settings.threshold is not None else float(
            (self.weights.info.get("threshold", 0.75) if self.weights else 0.75))
        self._rule_idx = [_IDX[RULES[r]] for r in settings.rules]

    def for_dim(self, dim: int) -> "Verifier":
        """This verifier, or the lexical-only one if the interaction terms need another dim."""
        w = self.weights
        if w is None or w.dim is None or w.dim == dim:
            return self
        return Verifier(self.settings, Weights.load(LEXICAL_WEIGHTS))

    def judge(self, cos: float, question: str, new: str, u: Any = None, v: Any = None) -> float:
        """Probability-like score in [0, 1]; 0.0 when a hard rule rejects the pair.

        ``u``/``v`` are the cached and new query vectors (needed by interaction weights)."""
        if not self._rule_idx and self.weights is None:
            return cos
        feats = pair_features(cos, question, new)
        if any(feats[i] > 0 for i in self._rule_idx):
            return 0.0
        return self.weights.score(feats, u, v) if self.weights is not None else cos

    def accepts(self, score: float) -> bool:
        if self.weights is None:  # rules only: any score left non-zero passes
            return score > 0.0
        return score >= self.threshold

    def choose(self, new: str, candidates: list[Candidate], vec: Any = None) -> Decision:
        """The candidate to serve for ``new`` (best cosine first), or why none is served.

        ``vec`` is the new query's vector; candidates carry theirs. Ranking stays by cosine
        and the margin compares cosines: re-ranking by the verifier's score, or a margin on
        scores, served more wrong answers on the GPTCache set (benchmarks/results)."""
        s = self.settings
        above = sorted((c for c in candidates if c.cos >= s.min_similarity),
                       key=lambda c: -c.cos)
        if not above:
            best = max((c.cos for c in candidates), default=0.0)
            return Decision(None, best, 0.0, "miss")
        passed = []
        for c in above:
            score = self.judge(c.cos, c.question, new, c.vec, vec)
            if self.accepts(score):
                passed.append((c, score))
        if not passed:
            return Decision(None, above[0].cos, 0.0, "rejected")
        top, score = passed[0]
        for other, _ in passed[1:]:
            if top.cos - other.cos >= s.margin:
                break
            if other.answer_key != top.answer_key or not top.answer_key:
                return Decision(None, top.cos, score, "ambiguous")
        return Decision(top.entry_id, top.cos, score, "hit")
