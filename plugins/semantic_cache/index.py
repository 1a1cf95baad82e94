"""The semantic index: per-scope vector blocks in memory, entries persisted in sqlite.

Vectors live in memory (one float32 block per scope, grown by doubling) for the search;
sqlite under ``<workspace>/.cache/semantic/index.sqlite`` keeps every entry (vector as raw
float32 bytes, answer as JSON) so the index survives restarts. No pickle anywhere.
Bounded by entries and bytes with LRU eviction, and by a TTL per entry. A scope that
grows past ``ann_min_entries`` also gets an HNSW graph (hnswlib, optional dependency)
built off the event loop; brute force serves it until the graph is ready.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clawhost.api import Fault, storage_cause

log = logging.getLogger("clawhost.semantic")
SEARCH_EF = 128  # HNSW search breadth (see _build_ann)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY, scope TEXT NOT NULL, query TEXT NOT NULL, answer TEXT NOT NULL,
  answer_key TEXT NOT NULL, vec BLOB NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
  used REAL NOT NULL, bytes INTEGER NOT NULL);
"""


@dataclass(slots=True)
class Entry:
    scope: str
    query: str
    answer_key: str
    created: float
    expires: float
    nbytes: int


class _Block:
    """The vectors of one scope: rows [0, n) of ``vecs`` are live, ``ids[r]`` their entry ids."""

    def __init__(self, dim: int) -> None:
        self.vecs = np.empty((16, dim), np.float32)
        self.ids = np.empty(16, np.int64)
        self.n = 0
        self.ann: Any = None          # hnswlib.Index once built
        self.building = False
        self.pending: list[tuple[str, int, np.ndarray | None]] = []  # ops while building

    def add(self, entry_id: int, vec: np.ndarray) -> int:
        if self.n == len(self.ids):
            self.vecs = np.concatenate([self.vecs, np.empty_like(self.vecs)])
            self.ids = np.concatenate([self.ids, np.empty_like(self.ids)])
        self.vecs[self.n], self.ids[self.n] = vec, entry_id
        self.n += 1
        return self.n - 1


class SemanticIndex:
    def __init__(self, path: Path | None, dim: int, fingerprint: str, max_entries: int,
                 max_bytes: int, ann_min_entries: int = 8192, ann: bool = True) -> None:
        self.dim, self.max_entries, self.max_bytes = dim, max_entries, max_bytes
        self.ann_min_entries = ann_min_entries
        self.ann_enabled = ann and _hnswlib() is not None
        self.blocks: dict[str, _Block] = {}
        self.rows: dict[int, int] = {}                # entry id -> row in its scope's block
        self.entries: dict[int, Entry] = {}
        self.lru: OrderedDict[int, None] = OrderedDict()  # oldest use first
        self.bytes = 0
        self.evicted = self.expired = 0
        self._next_id = 1
        self._lock = threading.Lock()
        # a write that fails (disk full, read-only) is said once, and the entry stays out of
        # memory too: the index and its file agree, they never drift apart
        self.writes = Fault(log, f"semantic index {path or ':memory:'}: write")
        self.db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._load(fingerprint)

    # -- persistence -------------------------------------------------------------------
    def _load(self, fingerprint: str) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='embedder'").fetchone()
        if row is None or row[0] != fingerprint:  # vectors from another embedder mean nothing
            self.db.execute("DELETE FROM entries")
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('embedder', ?)", (fingerprint,))
            self.db.commit()
            return
        now = time.time()
        self.db.execute("DELETE FROM entries WHERE expires <= ?", (now,))
        self.db.commit()
        cur = self.db.execute("SELECT id, scope, query, answer_key, vec, created, expires, bytes "
                              "FROM entries ORDER BY used")
        for eid, scope, query, akey, blob, created, expires, nbytes in cur:
            vec = np.frombuffer(blob, np.float32)
            if vec.shape != (self.dim,):
                continue
            self._insert_memory(eid, Entry(scope, query, akey, created, expires, nbytes), vec)
            self._next_id = max(self._next_id, eid + 1)
        self._evict()

    def close(self) -> None:
        self.db.commit()
        self.db.close()

    # -- writes ------------------------------------------------------------------------
    def _insert_memory(self, eid: int, entry: Entry, vec: np.ndarray) -> None:
        block = self.blocks.get(entry.scope)
        if block is None:
            block = self.blocks[entry.scope] = _Block(self.dim)
        self.rows[eid] = block.add(eid, vec)
        self.entries[eid] = entry
        self.lru[eid] = None
        self.bytes += entry.nbytes
        with self._lock:  # the graph may be finishing in its build thread
            if block.ann is not None:
                self._ann_add_to(block.ann, eid, vec)
                return
            if block.building:
                block.pending.append(("add", eid, vec))
                return
        if self.ann_enabled and block.n >= self.ann_min_entries:
            self._start_ann(block)

    def add(self, scope: str, query: str, vec: np.ndarray, answer: dict, ttl: float,
            now: float | None = None, commit: bool = True) -> int | None:
        """Store one entry; evicts least-recently-used ones past the bounds. Returns its id,
        or None when the file cannot take it (then memory does not either)."""
        now = time.time() if now is None else now
        text, akey = self.answer_key(answer)
        vec = np.ascontiguousarray(vec, np.float32).reshape(self.dim)
        nbytes = vec.nbytes + len(text) + len(query.encode()) + len(scope) + 96
        eid = self._next_id
        self._next_id += 1
        entry = Entry(scope, query, akey, now, now + ttl, nbytes)
        if not self._write("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (eid, scope, query, text, akey, vec.tobytes(), now, now + ttl, now,
                            nbytes), commit):
            return None
        self._insert_memory(eid, entry, vec)
        self._evict()
        if commit:
            self._commit()
        return eid

    def _write(self, sql: str, params: tuple, commit: bool = True) -> bool:
        """One statement (and its commit): False, rolled back and said once, when the file
        cannot take it."""
        try:
            self.db.execute(sql, params)
            if commit:
                self.db.commit()
        except sqlite3.OperationalError as exc:
            self._failed(exc)
            return False
        if commit:
            self.writes.clear()
        return True

    def _commit(self) -> bool:
        try:
            self.db.commit()
        except sqlite3.OperationalError as exc:
            self._failed(exc)
            return False
        self.writes.clear()
        return True

    def _failed(self, exc: sqlite3.Error) -> None:
        try:
            self.db.rollback()
        except sqlite3.Error:
            pass
        self.writes.set(storage_cause(exc), "new entries are not cached until it clears")

    @staticmethod
    def answer_key(answer: dict) -> tuple[str, str]:
        """(the answer's JSON, a hash of what it says): equal answers are never ambiguous.

        The hash covers the choices' messages/texts only: ids and timestamps differ per reply.
        """
        text = json.dumps(answer, separators=(",", ":"))
        choices = answer.get("choices")
        said = ([c.get("message", c.get("text")) for c in choices if isinstance(c, dict)]
                if isinstance(choices, list) else answer)
        digest = hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()[:16]
        return text, digest

    def refresh(self, eid: int, ttl: float, now: float | None = None) -> None:
        """The same question stored again with the same answer: extend it, do not copy it."""
        now = time.time() if now is None else now
        entry = self.entries[eid]
        entry.expires = now + ttl
        self.lru.move_to_end(eid)
        self._write("UPDATE entries SET expires=?, used=? WHERE id=?", (now + ttl, now, eid))

    def remove(self, eid: int) -> None:
        entry = self.entries.pop(eid, None)
        if entry is None:
            return
        block = self.blocks[entry.scope]
        row, last = self.rows.pop(eid), block.n - 1
        if row != last:  # move the last row into the hole
            moved = int(block.ids[last])
            block.vecs[row], block.ids[row] = block.vecs[last], moved
            self.rows[moved] = row
        block.n -= 1
        with self._lock:
            if block.ann is not None:
                block.ann.mark_deleted(eid)
            elif block.building:
                block.pending.append(("del", eid, None))
        if block.n == 0 and not block.building:
            del self.blocks[entry.scope]
        self.lru.pop(eid, None)
        self.bytes -= entry.nbytes
        # not committed here (eviction batches them); if the file cannot take it, the row
        # stays on disk and is dropped again when it expires or is loaded past the bounds
        self._write("DELETE FROM entries WHERE id=?", (eid,), commit=False)

    def _evict(self) -> None:
        while self.lru and (len(self.lru) > self.max_entries or self.bytes > self.max_bytes):
            self.remove(next(iter(self.lru)))
            self.evicted += 1

    def purge_expired(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        dead = [eid for eid, e in self.entries.items() if e.expires <= now]
        for eid in dead:
            self.remove(eid)
        self.expired += len(dead)
        self._commit()
        return len(dead)

    # -- reads -------------------------------------------------------------------------
    def search(self, scope: str, vec: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest live entries of ``scope``: (entry id, cosine), best first."""
        block = self.blocks.get(scope)
        if block is None or block.n == 0:
            return []
        ann = block.ann
        if ann is not None:
            try:
                labels, dist = ann.knn_query(vec.reshape(1, -1), k=min(k, block.n))
                return [(int(l), 1.0 - float(d)) for l, d in zip(labels[0], dist[0])
                        if int(l) in self.entries]
            except RuntimeError:  # hnswlib found fewer than k live neighbours: scan instead
                pass
        sims = block.vecs[:block.n] @ vec
        if block.n > k:
            top = np.argpartition(sims, -k)[-k:]
            top = top[np.argsort(-sims[top])]
        else:
            top = np.argsort(-sims)
        return [(int(block.ids[r]), float(sims[r])) for r in top]

    def vector(self, eid: int) -> np.ndarray:
        """The stored unit vector of a live entry (a view into its scope's block)."""
        return self.blocks[self.entries[eid].scope].vecs[self.rows[eid]]

    def answer(self, eid: int) -> dict | None:
        row = self.db.execute("SELECT answer FROM entries WHERE id=?", (eid,)).fetchone()
        return json.loads(row[0]) if row else None

    def touch(self, eid: int, now: float | None = None) -> None:
        """Mark a hit: most recently used, in memory and on disk (LRU survives restarts)."""
        self.lru.move_to_end(eid)
        self._write("UPDATE entries SET used=? WHERE id=?", (time.time() if now is None else now, eid))

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> int:
        """Forget every entry, in memory and on disk; returns how many there were. A graph
        still being built attaches to a block that is no longer listed, and is dropped."""
        n = len(self.entries)
        with self._lock:
            self.blocks.clear()
        self.rows.clear()
        self.entries.clear()
        self.lru.clear()
        self.bytes = 0
        self.db.execute("DELETE FROM entries")
        self.db.commit()
        return n

    # -- the optional HNSW graph for large scopes --------------------------------------
    def _start_ann(self, block: _Block) -> None:
        block.building = True
        vecs, ids = block.vecs[:block.n].copy(), block.ids[:block.n].copy()
        threading.Thread(target=self._build_ann, args=(block, vecs, ids), daemon=True).start()

    def _build_ann(self, block: _Block, vecs: np.ndarray, ids: np.ndarray) -> None:
        hnswlib = _hnswlib()
        ann = hnswlib.Index(space="ip", dim=self.dim)
        ann.init_index(max_elements=max(2 * len(ids), 1024), ef_construction=100, M=16,
                       allow_replace_deleted=True)
        ann.set_num_threads(1)  # leave a core to the event loop and the models
        ann.add_items(vecs, ids)
        # ef 128: at 100,000 MiniLM vectors the 4 nearest agree with brute force 98.8% of the
        # time (ef 64: 97.3%) for 0.25 ms more a search (issue 19, benchmarks/semantic_cache.py)
        ann.set_ef(SEARCH_EF)
        self._finish_ann(block, ann)

    def _finish_ann(self, block: _Block, ann) -> None:
        with self._lock:  # replay what happened to the scope while the graph was built
            for op, eid, vec in block.pending:
                if op == "add":
                    self._ann_add_to(ann, eid, vec)
                else:
                    ann.mark_deleted(eid)
            block.pending.clear()
            block.ann, block.building = ann, False

    @staticmethod
    def _ann_add_to(ann, eid: int, vec: np.ndarray) -> None:
        if ann.get_current_count() >= ann.get_max_elements():
            ann.resize_index(2 * ann.get_max_elements())
        ann.add_items(vec.reshape(1, -1), np.array([eid]), replace_deleted=True)


def _hnswlib():
    try:
        import hnswlib
    except ImportError:
        return None
    return hnswlib


def file_figures(path: Path, clear: bool = False) -> dict[str, int]:
    """Entries and bytes of an index file no host has open (``clawhost semantic-cache``);
    with ``clear``, the entries are deleted too (the figures are from before)."""
    if not Path(path).exists():
        return {"entries": 0, "bytes": 0}
    db = sqlite3.connect(str(path))
    try:
        n, nbytes = db.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM entries").fetchone()
        if clear:
            db.execute("DELETE FROM entries")
            db.commit()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path} is not a semantic cache index: {exc}") from None
    finally:
        db.close()
    return {"entries": int(n), "bytes": int(nbytes)}
