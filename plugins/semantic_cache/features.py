"""Cheap lexical checks on a (cached question, new question) pair.

Sentence embeddings score look-alike questions as near-identical: "good" vs "bad",
"men" vs "women", "2016" vs "2017", "ECE" vs "EEE", "how" vs "why", a dropped "not".
These features expose exactly those differences to the verifier. Pure Python, a few
microseconds per pair; run only on candidates that already passed the cosine floor.
The word lists they read are ``wordlists.FEATURE_*`` and words are folded by
``stemming.stem`` (the rules' stemmer too); both are frozen with the verifier's weights.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .stemming import stem
from .wordlists import FEATURE_ANTONYMS, FEATURE_NEGATIONS, FEATURE_STOP, FEATURE_WH

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_'.-]*[A-Za-z0-9]|[A-Za-z]|\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
NAMES = ("cos", "jaccard", "unmatched", "unmatched_frac", "number_mismatch",
         "entity_mismatch", "negation_mismatch", "antonym", "wh_mismatch", "length_ratio",
         "cos_x_jaccard")


class Parsed:
    """The facts about one text that the pair features compare."""

    __slots__ = ("tokens", "content", "numbers", "entities", "negated", "wh", "lower")

    def __init__(self, text: str) -> None:
        raw = _TOKEN.findall(text)
        lower = [t.lower() for t in raw]
        self.lower = frozenset(lower)
        self.tokens = len(raw)
        self.content = frozenset(stem(t) for t in lower
                                 if t not in FEATURE_STOP and t not in FEATURE_NEGATIONS)
        self.numbers = frozenset(n.replace(",", "") for n in _NUMBER.findall(text))
        # Capitalised or mixed-case tokens after the first: names, products, acronyms.
        self.entities = frozenset(t.lower() for i, t in enumerate(raw)
                                  if i > 0 and t[0].isupper() and t.lower() not in FEATURE_STOP)
        self.negated = sum(1 for t in lower if t in FEATURE_NEGATIONS or t.endswith("n't")) % 2
        self.wh = next((t for t in lower if t in FEATURE_WH), "")


@lru_cache(maxsize=4096)
def parse(text: str) -> Parsed:
    return Parsed(text)


def pair_features(cos: float, cached: str, new: str) -> list[float]:
    """The verifier's inputs, in ``NAMES`` order, for one candidate pair."""
    a, b = parse(cached), parse(new)
    union = a.content | b.content
    inter = a.content & b.content
    jac = len(inter) / len(union) if union else 1.0
    only = len(union) - len(inter)
    # An entity counts as missing only if the other side lacks it in any casing.
    ents = sum(1 for e in a.entities if e not in b.lower) + sum(1 for e in b.entities
                                                               if e not in a.lower)
    anto = 0.0
    for w in a.lower - b.lower:
        if FEATURE_ANTONYMS.get(w, frozenset()) & (b.lower - a.lower):
            anto = 1.0
            break
    short, long_ = sorted((max(a.tokens, 1), max(b.tokens, 1)))
    return [cos, jac, float(min(only, 8)), only / max(len(union), 1),
            float(a.numbers != b.numbers), float(min(ents, 4)), float(a.negated != b.negated),
            anto, float(a.wh != b.wh), short / long_, cos * jac]
