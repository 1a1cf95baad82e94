"""KV of recent long prompt prefixes, so a next turn over the same long system prompt or
document prefills only its new tokens.

When a sequence whose prompt had at least `min_tokens` leaves its slot, the keys and values
of its prompt's first ``256 * k`` positions are copied out of the batch's row (before the row
is cleared) into their own lazily committed buffers. A new prompt looks for the longest
stored prefix it starts with, at multiples of 256 positions (a ChatML conversation renders
earlier turns the same way, so turn 2 starts with turn 1's prompt). Entries are evicted
least recently used: to stay within ``prefix_cache_mb``, and whenever a live stream needs
the KV budget they share (`KVBudget.reserve` asks the cache to make room first), so cached
prefixes never refuse a request.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .kv_budget import KVBudget
from .runner import kv_buffer

BLOCK = 256  # prefix lengths are multiples of this: few keys to try, few entries per prompt


class KeptPrefix(Protocol):
    """A prompt prefix's KV found for a new prompt, in memory (`Entry`) or on disk
    (`prefix_store.DiskPrefix`)."""

    tokens: int  # positions it fills, from the start
    tier: str  # "memory" or "disk" (the response header says which)

    def copy_into(self, kv: list[np.ndarray], row: int) -> bool:
        """Write it into row `row` of the cache; False when it could not be read."""
        ...


@dataclass
class Entry:
    tokens: int
    kv: list[np.ndarray]  # per layer and kind: [kv_heads, tokens, head_dim]
    nbytes: int
    tier = "memory"

    def copy_into(self, kv: list[np.ndarray], row: int) -> bool:
        """Write the kept keys and values into row `row` of the cache."""
        for buf, saved in zip(kv, self.kv):
            buf[row, :, :self.tokens] = saved
        return True


def _key(ids: list[int], n: int) -> bytes:
    return hashlib.blake2b(np.asarray(ids[:n], np.int64).tobytes(), digest_size=16).digest()


class PrefixCache:
    def __init__(self, budget: KVBudget, bytes_per_token: int, limit_bytes: int,
                 min_tokens: int = 1024):
        self.budget, self.per_token = budget, bytes_per_token
        self.limit, self.min_tokens = limit_bytes, max(min_tokens, BLOCK)
        self.entries: OrderedDict[bytes, Entry] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0
        self.reused_tokens = 0  # prompt tokens not prefilled thanks to a hit
        # the budget's own (re-entrant) lock: `KVBudget.reserve` calls `make_room` holding
        # it and `store` calls the budget holding ours; one lock cannot be taken in two orders
        self._lock = budget._lock
        budget.evictors.append(self.make_room)

    def lookup(self, ids: list[int]) -> Entry | None:
        """The longest stored prefix of `ids`, leaving at least one token to prefill (its
        logits start the answer)."""
        with self._lock:
            for n in range((len(ids) - 1) // BLOCK * BLOCK, self.min_tokens - 1, -BLOCK):
                entry = self.entries.get(_key(ids, n))
                if entry is not None:
                    self.entries.move_to_end(_key(ids, n))
                    self.hits += 1
                    self.reused_tokens += entry.tokens
                    return entry
            self.misses += 1
            return None

    def store(self, ids: list[int], kv: list[np.ndarray], row: int) -> None:
        """Keep the first multiple of BLOCK positions of `ids` from row `row` of `kv`."""
        n = len(ids) // BLOCK * BLOCK
        if n < self.min_tokens:
            return
        key = _key(ids, n)
        nbytes = n * self.per_token
        with self._lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return
            if nbytes > self.limit:
                return
            while self.entries and self.bytes + nbytes > self.limit:
                self._drop_oldest()
            if not self.budget.hold(nbytes):  # live streams have the memory: they come first
                return
            copies = []
            for buf in kv:
                out = kv_buffer((buf.shape[1], n, buf.shape[3]), buf.dtype)  # int8 stays int8
                out[:] = buf[row, :, :n]
                copies.append(out)
            self.entries[key] = Entry(n, copies, nbytes)
            self.bytes += nbytes

    def make_room(self, nbytes: int) -> None:
        """Drop entries, oldest first, until `nbytes` are freed or none is left."""
        with self._lock:
            freed = 0
            while self.entries and freed < nbytes:
                freed += self._drop_oldest()

    def _drop_oldest(self) -> int:
        _, entry = self.entries.popitem(last=False)
        self.bytes -= entry.nbytes
        self.budget.unhold(entry.nbytes)
        return entry.nbytes  # its buffers are unmapped with the last reference

    def facts(self) -> dict:
        return {"entries": len(self.entries), "mb": round(self.bytes / 2**20, 1),
                "limit_mb": round(self.limit / 2**20, 1), "hits": self.hits,
                "misses": self.misses}
