"""Stored responses for the Responses API's ``previous_response_id`` (``store: true``).

SQLite under ``workspace/.cache/responses/`` (beside the exact cache's ``responses.db``,
which holds replies by cache key; this holds conversations by response id). Each row keeps
the conversation up to and including that response as Chat Completions messages, so a
follow-up is one read and a list concatenation. Rows are scoped by tenant (another key
cannot continue, or even detect, someone else's conversation) and expire after ``TTL_S``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

TTL_S = 24 * 3600          # OpenAI keeps them 30 days; a small box keeps a day
PURGE_EVERY = 200          # writes between sweeps of expired rows
MAX_ROW_BYTES = 8 << 20    # a conversation past this is not stored (the reply still goes out)


class ResponseStore:
    def __init__(self, folder: Path, ttl_s: float = TTL_S):
        folder.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        # one connection, used from the event loop's thread only; WAL + synchronous=NORMAL
        # make a write a few tens of microseconds (no fsync per commit)
        self.db = sqlite3.connect(folder / "store.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, "
                        "tenant TEXT NOT NULL, expires REAL NOT NULL, messages TEXT NOT NULL)")
        self.writes = 0
        self.purge()

    def put(self, response_id: str, tenant: str, messages: list[dict[str, Any]]) -> bool:
        data = json.dumps(messages, separators=(",", ":"), ensure_ascii=False)
        if len(data) > MAX_ROW_BYTES:
            return False
        self.db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                        (response_id, tenant, time.time() + self.ttl_s, data))
        self.writes += 1
        if self.writes % PURGE_EVERY == 0:
            self.purge()
        return True

    def get(self, response_id: str, tenant: str) -> list[dict[str, Any]] | None:
        row = self.db.execute("SELECT messages FROM responses WHERE id = ? AND tenant = ? "
                              "AND expires > ?", (response_id, tenant, time.time())).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:  # a damaged row is a miss, never a crash
            return None

    def purge(self) -> None:
        self.db.execute("DELETE FROM responses WHERE expires <= ?", (time.time(),))

    def close(self) -> None:
        self.db.close()
