"""Slot-based batched decoding: sequences join and leave while the others keep decoding.

Active sequences always occupy KV rows ``0..n-1`` of one buffer, so a step is a single
graph run over ``n`` rows; GroupQueryAttention's ``seqlens_k`` lets every row have its own
length. Removing a sequence moves the last row into the hole (one row's valid prefix is
copied, nothing else). Not thread-safe: drive a batch from one thread.

Memory follows the live sequences, not the largest ever seen: each one reserves its
``prompt + max_tokens`` of KV from the engine's `KVBudget` before its prefill; a row's pages
go back to the OS when its sequence leaves; the capacity shrinks when the longest one
leaves (a decode step costs in proportion to it) and the whole cache is dropped when the
batch empties (the batcher keeps one batch per model for the host's lifetime).
"""
from __future__ import annotations

import numpy as np

from .runner import CAPACITY_STEP, Runner
from .sampling import SamplingParams
from .sequence import Sequence, TokenEvent
from .workers import release_free_memory


class SlotBatch:
    """Up to `max_slots` sequences decoding together. See `ChatEngine.new_batch`."""

    def __init__(self, engine, max_slots: int):
        if max_slots < 1:
            raise ValueError("max_slots must be at least 1")
        self.engine = engine
        self.max_slots = max_slots
        self.runner = Runner(engine.model, rows=max_slots, capacity=CAPACITY_STEP)
        self.rows: list[int] = []  # rows[r] = slot id decoding in KV row r
        self.seqs: dict[int, Sequence] = {}
        self.pending: dict[int, np.ndarray] = {}  # slot -> logits to sample its next token from
        self.reserved: dict[int, int] = {}  # slot -> KV bytes reserved from engine.budget

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def free_slots(self) -> int:
        return self.max_slots - len(self.rows)

    def add(self, prompt_ids: list[int], sampling: SamplingParams | dict | None = None) -> int:
        """Prefill one prompt into a free slot and return the slot id.

        Raises `ContextLengthError` when prompt + max_tokens exceed the context,
        `KVBudgetError` when their KV cache does not fit the memory budget, and RuntimeError
        when every slot is taken. The first token comes from the next `step()`."""
        params = self.engine.sampling(sampling)
        seq = self.engine.new_sequence(prompt_ids, params)
        if not self.rows or len(self.rows) < self.max_slots:
            slot = min(set(range(self.max_slots)) - set(self.rows))
        else:
            raise RuntimeError(f"all {self.max_slots} slots are busy")
        need = seq.prompt_len + seq.max_tokens
        reserved = self.engine.budget.reserve(need, self.engine.kv_bytes_per_token)
        row = len(self.rows)
        try:
            if self.runner.capacity == 0:  # dropped when the batch last emptied
                self.runner.grow(need)
            else:
                self.runner.grow(need, self._lengths())
            logits = self.engine.prefill(self.runner, row, list(prompt_ids))
        except BaseException:
            self.engine.budget.release(reserved)
            self.runner.clear_row(row)
            self._settle()
            raise
        self.rows.append(slot)
        self.seqs[slot] = seq
        self.reserved[slot] = reserved
        self.pending[slot] = logits.copy()
        return slot

    def _lengths(self) -> list[int]:
        """Positions holding keys, per KV row (what a reallocation must keep)."""
        out = [0] * self.runner.rows
        for r, slot in enumerate(self.rows):
            out[r] = self.seqs[slot].length
        return out

    def _settle(self) -> None:
        """Fit the cache to who is left: drop it when nobody is, shrink it when the longest
        sequence left (by a CAPACITY_STEP or more), and hand freed heap back to the OS."""
        if not self.rows:
            if self.runner.capacity:
                # a long prompt's prefill leaves heap behind (scratch freed below glibc's
                # mmap threshold); short ones leave little, and a trim costs a few ms
                trim = self.runner.capacity > 4 * CAPACITY_STEP
                self.runner.release()
                if trim:
                    release_free_memory()
            return
        need = max(s.prompt_len + s.max_tokens for s in self.seqs.values())
        fit = -(-need // CAPACITY_STEP) * CAPACITY_STEP
        if fit < self.runner.capacity:
            self.runner.resize(fit, self._lengths())

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
        self.runner.clear_row(last)  # its keys were copied down, or belong to the leaver
        self.rows.pop()
        self.seqs.pop(slot)
        self.pending.pop(slot, None)
        self.engine.budget.release(self.reserved.pop(slot, 0))
        self._settle()

    def sequence(self, slot: int) -> Sequence:
        return self.seqs[slot]
