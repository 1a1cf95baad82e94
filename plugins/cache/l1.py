"""L1: an in-memory LRU of encoded reply bodies, bounded by bytes and by entry count.

Values are kept as the encoded bytes (not dicts) so the byte bound is exact and a hit hands
out a fresh object that no later stage can mutate inside the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

ENTRY_OVERHEAD = 200  # bytes: the key string, the tuple and the OrderedDict node, roughly


@dataclass(slots=True)
class Entry:
    value: bytes
    created: float
    expires: float
    namespace: str
    size: int
    touched: float = 0.0  # when L2 last heard this entry was used (for L2's LRU)


class L1:
    """LRU with a byte budget, an entry budget, and per-entry expiry (wall-clock seconds)."""

    def __init__(self, max_bytes: int, max_entries: int, skew: float = 60.0):
        self.max_bytes, self.max_entries, self.skew = max_bytes, max_entries, skew
        self._items: OrderedDict[str, Entry] = OrderedDict()
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, now: float, max_age: float | None = None) -> Entry | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        # created in the future means the clock went back: we cannot trust the age, drop it
        if now >= entry.expires or now < entry.created - self.skew:
            self._remove(key)
            return None
        if max_age is not None and now - entry.created > max_age:
            return None
        self._items.move_to_end(key)
        return entry

    def put(self, key: str, value: bytes, created: float, expires: float, namespace: str,
            touched: float = 0.0) -> bool:
        size = len(value) + len(key) + len(namespace) + ENTRY_OVERHEAD
        if size > self.max_bytes or self.max_entries <= 0:
            return False
        if key in self._items:
            self._remove(key)
        self._items[key] = Entry(value, created, expires, namespace, size, touched)
        self.bytes += size
        while self.bytes > self.max_bytes or len(self._items) > self.max_entries:
            _, old = self._items.popitem(last=False)
            self.bytes -= old.size
            self.evictions += 1
        return True

    def _remove(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old.size

    def clear(self, namespace: str | None = None) -> int:
        if namespace is None:
            n = len(self._items)
            self._items.clear()
            self.bytes = 0
            return n
        doomed = [k for k, e in self._items.items() if e.namespace == namespace]
        for k in doomed:
            self._remove(k)
        return len(doomed)
