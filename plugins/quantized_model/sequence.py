"""One decoding sequence: sampled tokens -> text deltas, stop strings, finish reasons.

Text is produced incrementally with the "prefix offset" method: decode a short window of
recent tokens and emit only what is new, holding back an incomplete UTF-8 character (a
trailing U+FFFD) until the next token completes it. Stop strings are matched on text; the
tail that could still become a stop string is held back, so a stop string split across
tokens never leaks into the stream.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .sampling import Sampler, SamplingParams


@dataclass
class TokenEvent:
    """One decode step of one sequence: the token, the new text, and why it ended (if so)."""

    token_id: int  # the step's last token
    text: str
    finish_reason: str | None = None  # None while going, "stop" or "length" at the end
    # every token of the step in order (more than one when speculative guesses held)
    token_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.token_ids:
            self.token_ids = [self.token_id]


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    text: str
    finish_reason: str
    usage: Usage
    token_ids: list[int] = field(default_factory=list)


class Sequence:
    """Turns sampled tokens into `TokenEvent`s; `max_tokens` must already be resolved."""

    def __init__(self, tokenizer, prompt_ids: list[int], params: SamplingParams,
                 max_tokens: int, stop_ids: set[int]):
        self.tok, self.params, self.stop_ids = tokenizer, params, stop_ids
        self.sampler = Sampler(params)
        self.prompt_len = len(prompt_ids)
        self.max_tokens = max_tokens
        self.ids: list[int] = []
        self._prefix = self._read = 0  # window start / end of already-decoded tokens
        self.text = ""  # all text decoded so far (before any stop string)
        self.emitted = 0  # characters of self.text already handed out
        self.finish_reason: str | None = None

    @property
    def length(self) -> int:
        """Tokens in the KV cache once the last sampled token has been fed back."""
        return self.prompt_len + len(self.ids)

    def advance(self, logits: np.ndarray) -> TokenEvent:
        token = self.sampler.pick(logits)
        self.ids.append(token)
        if token in self.stop_ids:
            return self._finish(token, "stop")
        self._decode_tail()
        for s in self.params.stop:
            at = self.text.find(s, max(0, self.emitted - len(s) + 1))
            if at >= 0:
                self.text = self.text[:at]
                return self._finish(token, "stop")
        if len(self.ids) >= self.max_tokens:
            return self._finish(token, "length")
        hold = max((_overlap(self.text, s) for s in self.params.stop), default=0)
        return TokenEvent(token, self._take(len(self.text) - hold))

    def advance_draft(self, logits: Iterable[np.ndarray], draft: list[int]) -> TokenEvent:
        """Sample the logits after draft[:i], i = 0, 1, ..., in order while the samples equal
        the draft: one event for all the tokens taken (speculate.py says why it is exact)."""
        taken, text = [], []
        for i, row in enumerate(logits):
            ev = self.advance(row)
            taken.append(ev.token_id)
            text.append(ev.text)
            if ev.finish_reason is not None or i == len(draft) or ev.token_id != draft[i]:
                break
        return TokenEvent(ev.token_id, "".join(text), ev.finish_reason, taken)

    def _decode_tail(self) -> None:
        window = self.ids[self._prefix:]
        before = self.tok.decode(self.ids[self._prefix:self._read]) if self._read > self._prefix else ""
        now = self.tok.decode(window)
        if len(now) > len(before) and not now.endswith("\ufffd"):
            self.text += now[len(before):]
            self._prefix, self._read = self._read, len(self.ids)

    def _take(self, upto: int) -> str:
        if upto <= self.emitted:
            return ""
        piece, self.emitted = self.text[self.emitted:upto], upto
        return piece

    def _finish(self, token: int, reason: str) -> TokenEvent:
        self.finish_reason = reason
        return TokenEvent(token, self._take(len(self.text)), reason)

    def result(self) -> ChatResult:
        return ChatResult(self.text, self.finish_reason or "length",
                          Usage(self.prompt_len, len(self.ids)), list(self.ids))


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `stop`."""
    for k in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:k]):
            return k
    return 0
