"""Second stage: decide whether a cached question really asks what the new one asks.

Three checks, in order, on the nearest candidates of the same scope:
1. a cosine floor (cheap pre-filter; the index already ranked by cosine);
2. hard rules that reject look-alikes outright: different numbers, a negation on one side
   only, an antonym swapped in ("good" vs "bad"), optionally an unseen name;
3. a logistic model over cosine and the lexical features (``features.NAMES``), whose
   weights ship in ``verifier.json`` (fit by ``clawhost.semantic.train`` on the eval data).
Then an ambiguity check: when two verified candidates with different answers are within
``margin`` cosine of each other, the cache cannot tell which one is meant, so it misses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .features import NAMES, pair_features

WEIGHTS = Path(__file__).with_name("verifier.json")
RULES = {"number": "number_mismatch", "negation": "negation_mismatch", "antonym": "antonym",
         "entity": "entity_mismatch"}
_IDX = {n: i for i, n in enumerate(NAMES)}


@dataclass(frozen=True)
class Candidate:
    entry_id: int
    cos: float
    question: str        # the cached query text
    answer_key: str = ""  # a hash of the cached answer (equal answers are never ambiguous)


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
    threshold: float = 0.75
    rules: tuple[str, ...] = ("number", "negation", "antonym")
    margin: float = 0.01


@dataclass
class Weights:
    mean: list[float]
    scale: list[float]
    coef: list[float]
    bias: float
    info: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "Weights":
        data = json.loads(Path(path).read_text())
        if data.get("features") != list(NAMES):
            raise ValueError(f"{path}: verifier features do not match this version")
        return cls(data["mean"], data["scale"], data["coef"], float(data["bias"]),
                   data.get("info", {}))

    def score(self, feats: list[float]) -> float:
        z = self.bias + sum(c * (f - m) / s for f, m, s, c in
                            zip(feats, self.mean, self.scale, self.coef))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class Verifier:
    def __init__(self, settings: Settings, weights: Weights | None = None) -> None:
        unknown = set(settings.rules) - set(RULES)
        if unknown:
            raise ValueError(f"unknown verifier rule(s) {sorted(unknown)}; known: {sorted(RULES)}")
        self.settings = settings
        self.weights = weights if weights is not None else (
            Weights.load() if settings.verifier else None)
        self._rule_idx = [_IDX[RULES[r]] for r in settings.rules]

    def judge(self, cos: float, question: str, new: str) -> float:
        """Probability-like score in [0, 1]; 0.0 when a hard rule rejects the pair."""
        if not self._rule_idx and self.weights is None:
            return cos
        feats = pair_features(cos, question, new)
        if any(feats[i] > 0 for i in self._rule_idx):
            return 0.0
        return self.weights.score(feats) if self.weights is not None else cos

    def accepts(self, score: float) -> bool:
        if self.weights is None:  # rules only: any score left non-zero passes
            return score > 0.0
        return score >= self.settings.threshold

    def choose(self, new: str, candidates: list[Candidate]) -> Decision:
        """The candidate to serve for ``new`` (best cosine first), or why none is served."""
        s = self.settings
        above = sorted((c for c in candidates if c.cos >= s.min_similarity),
                       key=lambda c: -c.cos)
        if not above:
            best = max((c.cos for c in candidates), default=0.0)
            return Decision(None, best, 0.0, "miss")
        passed = []
        for c in above:
            score = self.judge(c.cos, c.question, new)
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
