"""Sampling settings and the per-sequence token picker (numpy only)."""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr

# Tokens whose probability is below e^-20 (2e-9) of the best one's are never sampled: the
# softmax then runs over a few hundred candidates instead of the whole 49k vocabulary
# (~40 us instead of ~300 us per token, which matters when a batch samples 8 rows a step).
# The mass dropped is at most vocab * 2e-9 = 1e-4.
_CUTOFF = 20.0
# top-p sorts the best 64 candidates first, then the best 2,048: at temperature 1 the cutoff
# leaves ~20,000 candidates (sorting them all took 2-4 ms a row), the nucleus a few dozen
_NUCLEUS_TRIES = (64, 2048)


class SamplingParams(BaseModel):
    """How one sequence is decoded. ``temperature == 0`` means greedy."""

    max_tokens: int | None = Field(None, ge=1, description="None: up to the context length")
    temperature: float = Field(0.0, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0: no top-k cut")
    seed: int | None = None
    stop: list[str] = Field(default_factory=list, description="stop strings (not included)")
    # the serving side's response headers, for facts only the engine knows (prefix reuse)
    _headers: dict[str, str] | None = PrivateAttr(default=None)
    # structured output: the grammar this sequence's tokens must follow
    # (a `constrained.Constraint`: ``mask(logits)`` before a pick, ``accept(token)`` after)
    _constraint: Any = PrivateAttr(default=None)


class Sampler:
    def __init__(self, params: SamplingParams):
        self.p = params
        self.rng = np.random.default_rng(params.seed)
        self.constraint = params._constraint

    def pick(self, logits: np.ndarray) -> int:
        if self.constraint is None:
            return self._pick(logits)
        token = self._pick(self.constraint.mask(logits))
        self.constraint.accept(token)
        return token

    def _pick(self, logits: np.ndarray) -> int:
        p = self.p
        if p.temperature == 0.0 or p.top_k == 1:
            return int(np.argmax(logits))
        best = float(logits.max())
        idx = np.flatnonzero(logits >= best - _CUTOFF * p.temperature)
        if p.top_k and idx.shape[0] > p.top_k:
            idx = idx[np.argpartition(logits[idx], -p.top_k)[-p.top_k:]]
        probs = logits[idx].astype(np.float64)  # exp((x - best) / T), in place
        probs -= best
        probs /= p.temperature
        np.exp(probs, out=probs)
        if p.top_p < 1.0:
            order = _nucleus(probs, p.top_p)
            probs, idx = probs[order], idx[order]
        cdf = np.cumsum(probs)
        j = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
        return int(idx[min(j, len(idx) - 1)])


def _nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
    """Positions in `probs` of the most likely candidates whose share of the mass first
    reaches `top_p`, most likely first, ties in position order (a stable sort's).

    Sorts the best n first (`_NUCLEUS_TRIES`): when the nucleus ends strictly above the
    least of them, no candidate left out could belong to it or come before one in it, so
    this is the full sort's prefix. Otherwise the full sort. The prefix sums are the same
    either way; only the total's rounding may differ from a sum in sorted order (~1e-16)."""
    total = probs.sum()
    for n in _NUCLEUS_TRIES:
        if len(probs) <= n:
            break
        top = np.argpartition(probs, -n)[-n:]
        top.sort()  # position order, so the stable sort below breaks ties as the full one
        top = top[np.argsort(-probs[top], kind="stable")]
        keep = int(np.searchsorted(np.cumsum(probs[top]) / total, top_p)) + 1
        if keep < n and probs[top[keep - 1]] > probs[top[-1]]:
            return top[:keep]
    order = np.argsort(-probs, kind="stable")
    return order[:int(np.searchsorted(np.cumsum(probs[order]) / total, top_p)) + 1]
