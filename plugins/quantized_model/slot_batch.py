"""Slot-based batched decoding: sequences join and leave while the others keep decoding.

Active sequences always occupy KV rows ``0..n-1`` of one buffer, so a step is a single
graph run over ``n`` rows; GroupQueryAttention's ``seqlens_k`` lets every row have its own
length. Removing a sequence moves the last row into the hole (one row's valid prefix is
copied, nothing else). Not thread-safe: drive a batch from one thread.
"""
from __future__ import annotations

import numpy as np

from .runner import Runner
from .sampling import SamplingParams
from .sequence import Sequence, TokenEvent


class SlotBatch:
    """Up to `max_slots` sequences decoding together. See `ChatEngine.new_batch`."""

    def __init__(self, engine, max_slots: int):
        if max_slots < 1:
            raise ValueError("max_slots must be at least 1")
        self.engine = engine
        self.max_slots = max_slots
        self.runner = Runner(engine.model, rows=max_slots, capacity=256)
        self.rows: list[int] = []  # rows[r] = slot id decoding in KV row r
        self.seqs: dict[int, Sequence] = {}
        self.pending: dict[int, np.ndarray] = {}  # slot -> logits to sample its next token from

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def free_slots(self) -> int:
        return self.max_slots - len(self.rows)

    def add(self, prompt_ids: list[int], sampling: SamplingParams | dict | None = None) -> int:
        """Prefill one prompt into a free slot and return the slot id.

        Raises `ContextLengthError` when prompt + max_tokens exceed the context, and
        RuntimeError when every slot is taken. The first token comes from the next `step()`."""
        params = self.engine.sampling(sampling)
        seq = self.engine.new_sequence(prompt_ids, params)
        if not self.rows or len(self.rows) < self.max_slots:
            slot = min(set(range(self.max_slots)) - set(self.rows))
        else:
            raise RuntimeError(f"all {self.max_slots} slots are busy")
        row = len(self.rows)
        self.runner.grow(seq.prompt_len + seq.max_tokens)
        logits = self.engine.prefill(self.runner, row, list(prompt_ids))
        self.rows.append(slot)
        self.seqs[slot] = seq
        self.pending[slot] = logits.copy()
        return slot

    def step(self) -> dict[int, TokenEvent]:
        """Sample one token for every active slot and run one decode step for all of them.

        A slot whose event has a ``finish_reason`` is freed at once (``remove`` on it is a
        no-op afterwards)."""
        if not self.rows:
            return {}
        events = {slot: self.seqs[slot].advance(self.pending[slot]) for slot in self.rows}
        for slot, ev in events.items():
            if ev.finish_reason is not None:
                self.remove(slot)
        if self.rows:
            tokens = np.array([self.seqs[s].ids[-1] for s in self.rows], np.int64)
            lengths = np.array([self.seqs[s].length - 1 for s in self.rows], np.int32)
            logits = self.runner.decode(tokens, lengths)
            for r, slot in enumerate(self.rows):
                self.pending[slot] = logits[r].copy()
        return events

    def remove(self, slot: int) -> None:
        """Free `slot` now (finished, or its client went away). Unknown slots are ignored."""
        if slot not in self.seqs:
            return
        r = self.rows.index(slot)
        last = len(self.rows) - 1
        if r != last:
            moved = self.rows[last]
            self.runner.move_row(last, r, self.seqs[moved].length)
            self.rows[r] = moved
        self.rows.pop()
        self.seqs.pop(slot)
        self.pending.pop(slot, None)

    def sequence(self, slot: int) -> Sequence:
        return self.seqs[slot]
