"""Stored responses for the Responses API's ``previous_response_id`` (``store: true``).

SQLite under ``workspace/.cache/responses/`` (beside the exact cache's ``responses.db``,
which holds replies by cache key; this holds conversations by response id). Each row keeps
the conversation up to and including that response as Chat Completions messages, so a
follow-up is one read and a list concatenation. Rows are scoped by tenant (another key
cannot continue, or even detect, someone else's conversation) and expire after ``TTL_S``.

Writes are batched: a response is readable at once (from memory) and reaches SQLite with
the others of the next ``FLUSH_AFTER_S``, in one transaction. A commit per response cost
more CPU than the whole translation of the request; a hard kill loses at most that
fraction of a second of stored conversations, a clean stop (``close``) none.

Expired rows are deleted at most once every ``PURGE_EVERY_S``, through an index on their
expiry. (A sweep every 200 writes scanned the whole table: at 20,000 rows it cost more per
stored response than the write itself, and it grew with the table.)
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from pydantic_core import to_json

TTL_S = 24 * 3600          # OpenAI keeps them 30 days; a small box keeps a day
PURGE_EVERY_S = 60.0       # seconds between sweeps of expired rows
MAX_ROW_BYTES = 8 << 20    # a conversation past this is not stored (the reply still goes out)
FLUSH_AFTER_S = 0.1        # how long a write may wait for others to share its commit
FLUSH_AT = 256             # ... or how many may wait


class ResponseStore:
    def __init__(self, folder: Path, ttl_s: float = TTL_S):
        folder.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        # one connection, used from the event loop's thread only; WAL + synchronous=NORMAL
        # make a commit cheap (no fsync per commit), batching makes them rare
        self.db = sqlite3.connect(folder / "store.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, "
                        "tenant TEXT NOT NULL, expires REAL NOT NULL, messages TEXT NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS responses_expires ON responses (expires)")
        self.pending: dict[str, tuple[str, str, float, str]] = {}  # id -> its row, unwritten
        self._timer: asyncio.TimerHandle | None = None
        self.purged = 0.0  # when expired rows were last deleted (time.monotonic)
        self.purge()

    def put(self, response_id: str, tenant: str, messages: list[dict[str, Any]]) -> bool:
        data = to_json(messages).decode()  # json.dumps with these arguments costs 3x
        if len(data) > MAX_ROW_BYTES:
            return False
        self.pending[response_id] = (response_id, tenant, time.time() + self.ttl_s, data)
        if len(self.pending) >= FLUSH_AT:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER_S, self.flush)
            except RuntimeError:  # no event loop (a script, a test): write through
                self.flush()
        return True

    def flush(self) -> None:
        """Write what is pending, in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.pending:
            return
        rows, self.pending = list(self.pending.values()), {}
        with self.db:  # BEGIN ... COMMIT (ROLLBACK on an error)
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)
        if time.monotonic() - self.purged >= PURGE_EVERY_S:
            self.purge()

    def get(self, response_id: str, tenant: str) -> list[dict[str, Any]] | None:
        row = self.pending.get(response_id)
        if row is not None:
            found = row[3] if row[1] == tenant and row[2] > time.time() else None
        else:
            hit = self.db.execute("SELECT messages FROM responses WHERE id = ? AND tenant = ? "
                                  "AND expires > ?", (response_id, tenant, time.time())).fetchone()
            found = hit[0] if hit is not None else None
        if found is None:
            return None
        try:
            return json.loads(found)
        except ValueError:  # a damaged row is a miss, never a crash
            return None

    def purge(self) -> int:
        """Delete the expired rows (the index finds them); how many there were."""
        self.purged = time.monotonic()
        return self.db.execute("DELETE FROM responses WHERE expires <= ?",
                               (time.time(),)).rowcount

    def close(self) -> None:
        self.flush()
        self.db.close()
