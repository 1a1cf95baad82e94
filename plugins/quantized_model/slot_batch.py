"""Slot-based batched decoding: sequences join and leave while the others keep decoding.

Active sequences always occupy KV rows ``0..n-1`` of one buffer, so a step is a single
graph run over ``n`` rows; GroupQueryAttention's ``seqlens_k`` lets every row have its own
length. Removing a sequence moves the last row into the hole (one row's valid prefix is
copied, nothing else). Not thread-safe: drive a batch from one thread.

Long prompts are prefilled in chunks interleaved with the others' decode steps: `add` runs
the first chunk (all of a short prompt), each `step` one more chunk of the prefilling
sequence with the fewest tokens left, so no single call takes longer than a chunk plus a
decode step (before, a 7,000-token prompt was one call of a minute and more, past the
batcher's 60 s guard, and stalled every other stream). A row still prefilling rides along
in the decode steps with a placeholder token written at its next free position, which its
next chunk overwrites; its logits are ignored.

A sequence decoding alone may take several tokens a step (speculative decoding, when the
engine has it on): its drafter guesses what follows from earlier text, one graph run checks
the guesses, and the step's one event carries every token that held (speculate.py).

Memory follows the live sequences, not the largest ever seen: each one reserves its
``prompt + max_tokens`` of KV from the engine's `KVBudget` before its prefill; a row's pages
go back to the OS when its sequence leaves; the capacity shrinks when the longest one
leaves and the whole cache is dropped when the batch empties (the batcher keeps one batch
per model for the host's lifetime).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .runner import CAPACITY_STEP, Runner
from .sampling import SamplingParams
from .sequence import Sequence, TokenEvent
from .speculate import NgramDrafter
from .memory import release_free_memory

if TYPE_CHECKING:
    from .prefix_cache import KeptPrefix

PREFIX_HEADER = "x-clawhost-prefix-cache"


def prefix_note(prefix: KeptPrefix | None) -> str:
    """The header's value: "miss", "hit N tokens" (kept in memory) or "hit N tokens from disk"."""
    if prefix is None:
        return "miss"
    return f"hit {prefix.tokens} tokens" + (" from disk" if prefix.tier == "disk" else "")


class SlotBatch:
    """Up to `max_slots` sequences decoding together. See `ChatEngine.new_batch`."""

    def __init__(self, engine, max_slots: int):
        if max_slots < 1:
            raise ValueError("max_slots must be at least 1")
        self.engine = engine
        self.max_slots = max_slots
        self.runner = Runner(engine.model, rows=max_slots, capacity=CAPACITY_STEP)
        self.rows: list[int] = []  # rows[r] = slot id in KV row r (decoding or prefilling)
        self.seqs: dict[int, Sequence] = {}
        self.pending: dict[int, np.ndarray] = {}  # slot -> prompt done: its first token's logits
        self.reserved: dict[int, int] = {}  # slot -> KV bytes reserved from engine.budget
        self.prompts: dict[int, list[int]] = {}  # slot -> prompt (prefilling, or for the cache)
        self.filled: dict[int, int] = {}  # slot -> prompt tokens in its row, while prefilling
        self.warm = False  # holding the session's CoreWarmer (while any row is in use)
        self.drafters: dict[int, NgramDrafter] = {}  # slot -> its guesser (speculation on)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def free_slots(self) -> int:
        return self.max_slots - len(self.rows)

    def add(self, prompt_ids: list[int], sampling: SamplingParams | dict | None = None) -> int:
        """Start one prompt in a free slot (its first chunk now) and return the slot id.

        Raises `ContextLengthError` when prompt + max_tokens exceed the context,
        `KVBudgetError` when their KV cache does not fit the memory budget, and RuntimeError
        when every slot is taken. The first token comes from the `step()` that runs the
        last chunk (the next one for a prompt of one chunk), before any decode run."""
        params = self.engine.sampling(sampling)
        seq = self.engine.new_sequence(prompt_ids, params)
        if len(self.rows) >= self.max_slots:
            raise RuntimeError(f"all {self.max_slots} slots are busy")
        slot = min(set(range(self.max_slots)) - set(self.rows))
        ids = list(prompt_ids)
        # looked up before reserving: the reservation may evict this very entry to make
        # room, and holding it keeps its arrays until they are copied into the row
        prefix = self._lookup(ids)
        need = seq.prompt_len + seq.max_tokens
        reserved = self.engine.budget.reserve(need, self.engine.kv_bytes_per_token)
        row = len(self.rows)
        try:
            if self.runner.capacity == 0:  # dropped when the batch last emptied
                self.runner.grow(need)
            else:
                self.runner.grow(need, self._lengths())
        except BaseException:
            self.engine.budget.release(reserved)
            raise
        if not self.warm:  # the first sequence in: keep the pool's cores awake (runner.py)
            self.engine.model.warmer.hold()
            self.warm = True
        self.rows.append(slot)
        self.seqs[slot] = seq
        self.reserved[slot] = reserved
        self.prompts[slot] = ids
        self.filled[slot] = 0
        spec = self.engine.speculation
        if spec is not None and spec.allows(seq.prompt_len):
            self.drafters[slot] = spec.drafter(ids)
        if prefix is not None and prefix.copy_into(self.runner.kv, row):
            self.filled[slot] = prefix.tokens
        headers = getattr(params, "_headers", None)  # the request's response headers
        if headers is not None and self.engine.keeps_prefixes:
            headers[PREFIX_HEADER] = prefix_note(prefix if self.filled[slot] else None)
        del prefix
        try:
            self._prefill_chunk(slot)
        except BaseException:
            self.remove(slot)
            raise
        return slot

    def _lookup(self, ids: list[int]) -> KeptPrefix | None:
        """The longest kept prefix of `ids`: in memory (a `prefix_cache.Entry`), else on
        disk (a `prefix_store.DiskPrefix`), else None."""
        cache, store = self.engine.prefix_cache, self.engine.prefix_store
        entry = cache.lookup(ids) if cache is not None else None
        if entry is None and store is not None:
            entry = store.lookup(ids)
        return entry

    def _prefill_chunk(self, slot: int) -> None:
        ids, done = self.prompts[slot], self.filled[slot]
        piece = ids[done:done + self.engine.prefill_chunk(self.runner.capacity)]
        row = self.rows.index(slot)
        logits = self.runner.prefill(row, piece, past=done)
        done += len(piece)
        if self.engine.prefix_store is not None:
            # the blocks this chunk completed, now: a few ms per chunk instead of the whole
            # prompt's write (75 ms for 7k tokens) before its answer's last token, and a
            # client that gives up during a long prefill leaves what was done for its retry
            self.engine.prefix_store.save(ids, self.runner.kv, row, upto=done)
        if done < len(ids):
            self.filled[slot] = done
            return
        del self.filled[slot]
        self.pending[slot] = logits  # a fresh array per prefill: no copy needed
        if not self.engine.keeps_prefixes:
            del self.prompts[slot]

    def _filled(self, slot: int) -> int:
        """Positions of `slot`'s row that hold keys."""
        return self.filled.get(slot, self.seqs[slot].length)

    def _lengths(self) -> list[int]:
        """Positions holding keys, per KV row (what a reallocation must keep)."""
        out = [0] * self.runner.rows
        for r, slot in enumerate(self.rows):
            out[r] = self._filled(slot)
        return out

    def _settle(self) -> None:
        """Fit the cache to who is left: drop it when nobody is, shrink it when the longest
        sequence left (by a CAPACITY_STEP or more), and hand freed heap back to the OS."""
        if not self.rows:
            if self.warm:
                self.engine.model.warmer.release()
                self.warm = False
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
        """One token for every decoding slot, and one prefill chunk for a slot still
        prefilling (the fewest tokens left first).

        A slot whose prompt is done (in `add`, or by a chunk) gets its first token at once,
        with no decode run in between: a single short request's first token costs its
        prefill and nothing more. The others feed their last token in one decode run over
        all rows and get the next one from its logits. A slot whose event has a
        ``finish_reason`` is freed at once (``remove`` on it is a no-op afterwards). Slots
        still prefilling have no event."""
        if not self.rows:
            return {}
        events = {slot: self._sample(slot, self.pending.pop(slot)) for slot in list(self.pending)}
        self._free_finished(events)
        if not events and not self.filled and len(self.rows) == 1:
            guessed = self._speculative_step(self.rows[0])
            if guessed is not None:
                return guessed
        feed = [s for s in self.rows if s not in self.filled and s not in events]
        if feed:
            # rows stay contiguous, one graph run for everyone: a prefilling row gets a
            # placeholder at its next position (its next chunk overwrites it), a slot that
            # just got its first token feeds it now and again next step (the same key)
            tokens = np.array([self.seqs[s].ids[-1] if s not in self.filled else 0
                               for s in self.rows], np.int64)
            lengths = np.array([self.seqs[s].length - 1 if s not in self.filled
                                else self.filled[s] for s in self.rows], np.int32)
            logits = self.runner.decode(tokens, lengths)
            fed = set(feed)
            for r, slot in enumerate(self.rows):
                if slot in fed:
                    events[slot] = self._sample(slot, logits[r])
        if self.filled:  # the one with the fewest tokens left: short prompts get out first
            slot = min(self.filled, key=lambda s: len(self.prompts[s]) - self.filled[s])
            self._prefill_chunk(slot)
            if slot in self.pending:  # its prompt is done: its first token now
                events[slot] = self._sample(slot, self.pending.pop(slot))
        self._free_finished(events)
        return events

    def _speculative_step(self, slot: int) -> dict[int, TokenEvent] | None:
        """The step of a slot decoding alone, when its drafter has a guess: its last token
        and the guess in one run, every token that holds in one event. None: no guess
        (too long a cache, nothing matched, no room left), so a plain step."""
        drafter, seq, spec = self.drafters.get(slot), self.seqs[slot], self.engine.speculation
        if drafter is None or spec is None or not spec.allows(seq.length + spec.max_draft):
            return None
        drafter.sync(seq.ids, seq.prompt_len)
        # no guess past max_tokens: the run writes keys at positions the budget reserved
        draft = drafter.guess(seq.max_tokens - len(seq.ids) - 1, spec.guess_cost(seq.length))
        if not draft:
            return None
        event = seq.advance_draft(self.runner.verify([seq.ids[-1], *draft], seq.length - 1),
                                  draft)
        taken = event.token_ids
        held = next((i for i, (a, b) in enumerate(zip(taken, draft)) if a != b),
                    min(len(taken), len(draft)))
        spec.record(len(draft), held)
        drafter.acceptance.observe(len(draft), held)
        events = {slot: event}
        self._free_finished(events)
        return events

    def _sample(self, slot: int, logits: np.ndarray) -> TokenEvent:
        """The one place a slot's logits become its next token (sampling, stop rules)."""
        return self.seqs[slot].advance(logits)

    def _free_finished(self, events: dict[int, TokenEvent]) -> None:
        for slot, ev in events.items():
            if ev.finish_reason is not None:
                self.remove(slot)

    def remove(self, slot: int) -> None:
        """Free `slot` now (finished, or its client went away). Unknown slots are ignored."""
        if slot not in self.seqs:
            return
        r = self.rows.index(slot)
        # its reservation first: the prefix it leaves behind may need that room
        self.engine.budget.release(self.reserved.pop(slot, 0))
        if slot not in self.filled and slot in self.prompts:  # before the row is reused
            if self.engine.prefix_cache is not None:  # (the disk's blocks went as prefilled)
                self.engine.prefix_cache.store(self.prompts[slot], self.runner.kv, r)
        last = len(self.rows) - 1
        if r != last:
            moved = self.rows[last]
            self.runner.move_row(last, r, self._filled(moved))
            self.rows[r] = moved
        self.runner.clear_row(last)  # its keys were copied down, or belong to the leaver
        self.rows.pop()
        self.seqs.pop(slot)
        self.pending.pop(slot, None)
        self.prompts.pop(slot, None)
        self.filled.pop(slot, None)
        self.drafters.pop(slot, None)
        self._settle()

    def sequence(self, slot: int) -> Sequence:
        return self.seqs[slot]
