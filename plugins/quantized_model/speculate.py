"""Prompt-lookup speculative decoding: guess the next tokens from an earlier occurrence of the
last ones, and check every guess in one graph run.

Why: a decode step reads all the weights for one token. Text repeats itself, and agents'
answers repeat their inputs (tool arguments, JSON, code, names); when the last few tokens
occurred before, what followed them then is a good guess for what follows now. Feeding
the last token and n guessed ones through the graph at once costs about 1 + n/5 decode
steps at short context on SmolLM2 int4 (the weights are read once for all of them) and
yields every guess that holds plus one more token. The same idea as
transformers' ``prompt_lookup_num_tokens``, vLLM's ngram speculator and llama.cpp's
``--spec-type ngram-*``.

Exact: position i's logits are sampled with the sequence's own sampler, in order, and the
step stops at the first sample that differs from guess i. A sample equal to the guess is
kept with the probability the sampler gives it and a different one is the sampler's own
pick, so the tokens are distributed as without speculation (greedy: the same tokens, up
to the float rounding of a several-token run against a one-token one).

How many to guess: each sequence keeps a running estimate of how often its guesses hold
(`Acceptance`), and sends the number of guesses that maximises the expected tokens per unit
of time, none when even one would not pay (below ~1 in 5 holding). Essays hold 15–90% of
guesses depending on the text; at the low end a fixed guess of 2–6 tokens costs a few per
cent by the measured run costs (single timed rounds are too noisy to show it; BENCHMARKS.md,
#18 session 14). A guess left unsent is
still checked against the token the plain step produces, so the estimate recovers for free
when the text starts repeating.

Where it pays: with one sequence decoding. A guessed token costs the matmuls of one more
row and, over an int8 cache, one more pass over every cached key (onnxruntime's int8
attention dequantizes per query row), so it costs more the longer the cache: a fifth of a
step at 200 cached tokens, ~0.38 from 1,000 and ~0.48 at 7,000 (`GUESS_COST`). The guess
length takes that in, so deep in a long agent prompt a stream guesses only while its
guesses hold often enough (from ~75% at 7,000 cached), as when it copies tool arguments
or names from the prompt.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# a guessed token's cost as a share of a decode step, by cached tokens: one run of 1 + n
# tokens against a plain step at the same depth (SmolLM2 int4, int8 KV, 2 threads, AVX-512;
# BENCHMARKS.md, #18 session 14); straight lines in between, flat past the last
GUESS_COST = ((200, 0.20), (1000, 0.38), (3000, 0.38), (7000, 0.48))
_COST_AT, _COST = (np.array(column, np.float64) for column in zip(*GUESS_COST))  # once, not per step


@dataclass
class Speculation:
    """The settings and running totals of one engine's speculative decoding."""

    max_draft: int = 6  # tokens guessed per run at most (the longest match gives the count)
    min_match: int = 2  # the last tokens that must have occurred before to guess at all
    max_context: int | None = None  # cache positions past which it never guesses (None: no limit)
    runs: int = 0  # verification runs made
    drafted: int = 0  # tokens guessed
    accepted: int = 0  # guesses that held

    def drafter(self, prompt_ids: list[int]) -> "NgramDrafter":
        return NgramDrafter(prompt_ids, self.min_match, self.max_draft)

    def allows(self, length: int) -> bool:
        """May a sequence with `length` tokens (cached, or after its guess) guess at all?"""
        return self.max_context is None or length <= self.max_context

    @staticmethod
    def guess_cost(cached: int) -> float:
        """A guessed token's cost, as a share of a decode step, over `cached` tokens."""
        return float(np.interp(cached, _COST_AT, _COST))

    def record(self, drafted: int, accepted: int) -> None:
        self.runs += 1
        self.drafted += drafted
        self.accepted += accepted


class Acceptance:
    """How often one sequence's guesses hold, per guessed position reached: the chance that
    guess i+1 holds given guess i did. Recent guesses weigh most (the text changes)."""

    DECAY = 0.85  # each observation's weight shrinks by this per later observation
    MARGIN = 1.03  # guess only when the expected speed-up is at least this

    def __init__(self, prior: float = 0.5, weight: float = 2.0):
        self.hits, self.trials = prior * weight, weight

    @property
    def rate(self) -> float:
        return self.hits / self.trials

    def observe(self, sent: int, held: int) -> None:
        """A run that sent `sent` guesses of which the first `held` held."""
        reached = min(held + 1, sent)  # positions checked: the held ones and the first miss
        self.hits = self.hits * self.DECAY + held
        self.trials = self.trials * self.DECAY + reached

    def best_length(self, available: int, cost: float) -> int:
        """The guess length with the most expected tokens per step's time, (1 + p + p² + …
        + pⁿ) / (1 + n·cost); 0 when no length beats a plain step by MARGIN."""
        p, best, best_gain, expected = self.rate, 0, self.MARGIN, 1.0
        term = 1.0
        for n in range(1, available + 1):
            term *= p
            expected += term
            gain = expected / (1 + n * cost)
            if gain > best_gain:
                best, best_gain = n, gain
        return best


class NgramDrafter:
    """Guesses for one sequence from its own tokens (prompt, then what it generated).

    Keeps, for every pair of consecutive tokens, where it ended (the most recent last), so a
    guess costs a dict lookup and a few comparisons, not a scan of the sequence."""

    CANDIDATES = 8  # most recent earlier occurrences of the last pair compared per guess

    def __init__(self, prompt_ids: list[int], min_match: int = 2, max_draft: int = 6,
                 max_match: int = 8):
        self.ids: list[int] = []
        self.ends: dict[tuple[int, int], list[int]] = {}
        self.min_match, self.max_draft, self.max_match = max(min_match, 2), max_draft, max_match
        self.acceptance = Acceptance()
        self.unsent: list[int] = []  # a guess not sent: checked against the next real token
        self.extend(prompt_ids)

    def extend(self, tokens) -> None:
        ids, ends = self.ids, self.ends
        for t in tokens:
            ids.append(int(t))
            if len(ids) > 1:
                ends.setdefault((ids[-2], ids[-1]), []).append(len(ids) - 1)

    def sync(self, generated: list[int], prompt_len: int) -> None:
        """Take in the tokens of `generated` (the sequence's own list) not seen yet; an unsent
        guess is scored against the first of them."""
        new = generated[len(self.ids) - prompt_len:]
        if self.unsent and new:
            self.acceptance.observe(1, int(new[0] == self.unsent[0]))
        self.unsent = []
        self.extend(new)

    def guess(self, limit: int, guess_cost: float) -> list[int]:
        """The guesses worth sending now (maybe none), at most `limit`, when a guessed token
        costs `guess_cost` of a step. A guess found but not worth sending is kept to be scored
        by the next `sync`."""
        draft = self.draft(limit)
        send = self.acceptance.best_length(len(draft), guess_cost)
        if draft and not send:
            self.unsent = draft
        return draft[:send]

    def draft(self, limit: int) -> list[int]:
        """Up to `limit` guessed next tokens: what followed the longest earlier match of the
        sequence's end (at least `min_match` tokens; the most recent one on a tie), as many
        as the match is long (a repeat that runs into the end continues with itself).
        Empty when nothing matches."""
        ids = self.ids
        n = len(ids)
        if limit < 1 or n < 3:
            return []
        found = self.ends.get((ids[-2], ids[-1]))
        if not found:
            return []
        best, at = 0, -1
        for e in reversed(found[-self.CANDIDATES - 1:]):
            if e >= n - 1:  # the end itself
                continue
            m = 2
            while m < self.max_match and e - m >= 0 and ids[e - m] == ids[n - 1 - m]:
                m += 1
            if m > best:
                best, at = m, e
                if m == self.max_match:
                    break
        if best < self.min_match:
            return []
        out: list[int] = []
        for j in range(min(best, self.max_draft, limit)):
            # past the end, the guess repeats itself: the match says the text has a period
            src = at + 1 + j
            out.append(ids[src] if src < n else out[src - n])
        return out
