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

Where it pays: with one sequence decoding and a short cache. A guessed token costs the
matmuls of one more row and, over an int8 cache, one more pass over every cached key
(onnxruntime's int8 attention dequantizes per query row), so past `max_context` tokens a
run of 7 costs 4x a step (3,000 cached; BENCHMARKS.md) and guessing stops.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Speculation:
    """The settings and running totals of one engine's speculative decoding."""

    max_draft: int = 6  # tokens guessed per run at most (the longest match gives the count)
    min_match: int = 2  # the last tokens that must have occurred before to guess at all
    max_context: int = 1024  # cache positions beyond which a guessed token costs too much
    runs: int = 0  # verification runs made
    drafted: int = 0  # tokens guessed
    accepted: int = 0  # guesses that held

    def drafter(self, prompt_ids: list[int]) -> "NgramDrafter":
        return NgramDrafter(prompt_ids, self.min_match, self.max_draft)

    def record(self, drafted: int, accepted: int) -> None:
        self.runs += 1
        self.drafted += drafted
        self.accepted += accepted


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
        self.extend(prompt_ids)

    def extend(self, tokens) -> None:
        ids, ends = self.ids, self.ends
        for t in tokens:
            ids.append(int(t))
            if len(ids) > 1:
                ends.setdefault((ids[-2], ids[-1]), []).append(len(ids) - 1)

    def sync(self, generated: list[int], prompt_len: int) -> None:
        """Take in the tokens of `generated` (the sequence's own list) not seen yet."""
        self.extend(generated[len(self.ids) - prompt_len:])

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
