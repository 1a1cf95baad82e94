"""The normalised-exact tier: stored questions by (scope, ``normalize.exact_key``).

It sits on the semantic index's entries (same scope hash, same TTL, same LRU bounds), so it
needs no storage of its own: a map from key to entry ids, rebuilt from the index at start
and kept up to date on store. Ids of entries the index has since evicted, expired or
replaced are dropped when met. A key whose live entries hold different answers is
ambiguous, as in the semantic tier: the cache cannot tell which answer is current.
"""

from __future__ import annotations

from typing import Any

from .normalize import exact_key


class NormalizedKeys:
    def __init__(self, fillers: bool = True) -> None:
        self.fillers = fillers
        self._ids: dict[tuple[str, str], list[int]] = {}

    def key(self, scope: str, query: str) -> tuple[str, str] | None:
        k = exact_key(query, self.fillers)
        return (scope, k) if k else None

    def rebuild(self, index: Any) -> None:
        self._ids.clear()
        for eid, entry in sorted(index.entries.items()):
            self.add(entry.scope, entry.query, eid)

    def add(self, scope: str, query: str, eid: int) -> None:
        k = self.key(scope, query)
        if k is not None:
            self._ids.setdefault(k, []).append(eid)

    def live(self, index: Any, scope: str, query: str) -> list[int]:
        """Ids of the stored entries with this key, oldest first (stale ids dropped)."""
        k = self.key(scope, query)
        ids = self._ids.get(k) if k is not None else None
        if not ids:
            return []
        live = []
        for eid in ids:
            entry = index.entries.get(eid)
            if entry is None or entry.scope != scope or self.key(scope, entry.query) != k:
                continue  # evicted, expired, or the id now names another entry
            live.append(eid)
        if live != ids:
            if live:
                self._ids[k] = live
            else:
                del self._ids[k]
        return live

    def find(self, index: Any, scope: str, query: str, now: float,
             max_age: float | None) -> tuple[int | None, str]:
        """(entry id, "hit") or (None, "miss" | "ambiguous")."""
        live = self.live(index, scope, query)
        usable = [eid for eid in live if index.entries[eid].expires > now and (
            max_age is None or now - index.entries[eid].created <= max_age)]
        if not usable:
            return None, "miss"
        if len({index.entries[eid].answer_key for eid in usable}) > 1:
            return None, "ambiguous"
        return usable[-1], "hit"

    def __len__(self) -> int:
        return len(self._ids)
