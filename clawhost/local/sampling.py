"""Sampling settings and the per-sequence token picker (numpy only)."""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

# top-p sorts only this many best candidates first (a full sort of 49k logits costs ~3 ms);
# it widens to the whole vocabulary when they do not reach top_p
_TOP_P_FIRST = 512


class SamplingParams(BaseModel):
    """How one sequence is decoded. ``temperature == 0`` means greedy."""

    max_tokens: int | None = Field(None, ge=1, description="None: up to the context length")
    temperature: float = Field(0.0, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0: no top-k cut")
    seed: int | None = None
    stop: list[str] = Field(default_factory=list, description="stop strings (not included)")


class Sampler:
    def __init__(self, params: SamplingParams):
        self.p = params
        self.rng = np.random.default_rng(params.seed)

    def pick(self, logits: np.ndarray) -> int:
        p = self.p
        if p.temperature == 0.0 or p.top_k == 1:
            return int(np.argmax(logits))
        if p.top_k:
            idx = np.argpartition(logits, -p.top_k)[-p.top_k:]
        elif p.top_p < 1.0:
            k = min(_TOP_P_FIRST, logits.shape[0])
            idx = np.argpartition(logits, -k)[-k:]
        else:
            idx = None
        z = (logits if idx is None else logits[idx]).astype(np.float64) / p.temperature
        if p.top_p < 1.0:
            order = np.argsort(-z)
            z, idx = z[order], idx[order]
            probs = np.exp(z - z[0])
            full = probs.sum()
            if idx.shape[0] < logits.shape[0] and not p.top_k:
                rest = np.exp(logits.astype(np.float64) / p.temperature - z[0] * 1.0).sum()
                if probs.sum() / rest < p.top_p:  # the first candidates are not enough
                    idx = np.argsort(-logits)
                    z = logits[idx].astype(np.float64) / p.temperature
                    probs = np.exp(z - z[0])
                    full = probs.sum()
            keep = int(np.searchsorted(np.cumsum(probs) / full, p.top_p)) + 1
            probs, idx = probs[:keep], idx[:keep]
        else:
            probs = np.exp(z - z.max())
        cdf = np.cumsum(probs)
        j = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
        j = min(j, len(cdf) - 1)
        return int(j if idx is None else idx[j])
