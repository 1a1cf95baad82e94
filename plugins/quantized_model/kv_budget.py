"""The KV cache memory the chat models may hold at once, shared by every batch and thread.

A stream reserves ``(prompt + max_tokens) * kv_bytes_per_token`` before its prefill and gives
it back when it leaves its slot. What it reserves is what it can commit: the KV buffers are
lazily committed mappings (`runner.kv_buffer`), so an idle slot or an unwritten position
costs nothing, and a freed row goes back to the OS at once. Transient costs are not counted:
a prefill chunk's attention scratch (heads x chunk x capacity floats, freed after each
layer) and the copy while a batch's capacity grows.
"""
from __future__ import annotations

import threading
from typing import Callable


class KVBudgetError(RuntimeError):
    """A stream's KV cache does not fit: now (``transient``, others hold it) or ever."""

    def __init__(self, message: str, transient: bool):
        super().__init__(message)
        self.transient = transient


def mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.1f} MB"


class KVBudget:
    """Bytes of KV cache reserved by live streams against a limit (None: no limit)."""

    def __init__(self, limit_bytes: int | None = None, name: str = "kv_cache_mb"):
        self.limit = limit_bytes
        self.name = name  # the setting an operator changes, named in refusals
        self.used = 0  # bytes: live streams' reservations plus evictable cached prefixes
        self.held = 0  # of which evictable (`hold`)
        self.streams = 0
        # callables freeing at least N evictable bytes if they can (prefix caches); re-entrant
        # lock: they call `unhold` while `reserve` holds it
        self.evictors: list[Callable[[int], None]] = []
        self._lock = threading.RLock()

    def tokens(self, bytes_per_token: int) -> int | None:
        """How many tokens of one model's KV the whole budget holds (None: unlimited)."""
        return None if self.limit is None else self.limit // bytes_per_token

    def reserve(self, tokens: int, bytes_per_token: int) -> int:
        """Take `tokens` worth of KV or raise `KVBudgetError`; returns the bytes to release."""
        need = tokens * bytes_per_token
        with self._lock:
            for evict in self.evictors:  # cached prefixes make way for live streams
                if self.limit is None or self.used + need <= self.limit:
                    break
                evict(self.used + need - self.limit)
            if self.limit is not None and self.used + need > self.limit:
                if need > self.limit:
                    raise KVBudgetError(
                        f"{tokens} tokens of KV cache ({mb(need)}) exceed {self.name} "
                        f"{self.limit / 2**20:g} (it holds {self.limit // bytes_per_token} tokens); "
                        f"shorten the prompt or max_tokens", transient=False)
                raise KVBudgetError(
                    f"{tokens} tokens of KV cache ({mb(need)}) do not fit now: {self.streams} "
                    f"other stream(s) hold {mb(self.used - self.held)} of {self.name} "
                    f"{self.limit / 2**20:g}; retry shortly", transient=True)
            self.used += need
            self.streams += 1
        return need

    def hold(self, nbytes: int) -> bool:
        """Take `nbytes` for an evictable cache if they are free now (never evicts)."""
        with self._lock:
            if self.limit is not None and self.used + nbytes > self.limit:
                return False
            self.used += nbytes
            self.held += nbytes
            return True

    def unhold(self, nbytes: int) -> None:
        with self._lock:
            self.used = max(0, self.used - nbytes)
            self.held = max(0, self.held - nbytes)

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.used = max(0, self.used - nbytes)
            self.streams = max(0, self.streams - 1)
