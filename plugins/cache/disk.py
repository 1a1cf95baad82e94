"""L2 on disk: one SQLite database in WAL mode under ``<workspace>/.cache/``.

Why SQLite: it ships with Python, WAL lets the worker processes of one host read while one
writes, a transaction torn by ``kill -9`` or a full disk is rolled back on the next open,
and B-tree lookups stay flat from a thousand to millions of rows. Each row carries a
checksum (``record.checksum``); a row that fails it is deleted and treated as a miss. A file
that SQLite itself cannot read is moved aside and recreated.

Reads run inline (a point lookup takes tens of microseconds); writes go through one writer
thread that commits whatever has queued up in one transaction, so the event loop never
waits on fsync. Totals live in a ``meta`` row kept by triggers, so the byte bound holds
across processes without scanning the table.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from clawhost.api import Fault, storage_cause

from .record import Hit, checksum, fresh

log = logging.getLogger("clawhost.cache")
ROW_OVERHEAD = 100  # bytes per row beyond key + value: columns, index entries
SCHEMA_VERSION = 2
# The row id is 64 bits of a hash of the key: a lookup is one walk down the table's B-tree
# (integer-only interior pages, so it stays shallow at millions of rows), with no separate
# key index to walk first. The full key is stored and compared; two keys sharing the 64
# bits simply take turns in one slot.
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries(
  id INTEGER PRIMARY KEY, key TEXT NOT NULL, ns TEXT NOT NULL,
  created REAL NOT NULL, expires REAL NOT NULL, used REAL NOT NULL,
  size INTEGER NOT NULL, sum BLOB NOT NULL, value BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS entries_used ON entries(used);
CREATE INDEX IF NOT EXISTS entries_expires ON entries(expires);
CREATE TABLE IF NOT EXISTS meta(id INTEGER PRIMARY KEY CHECK (id = 1),
  entries INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES (1, 0, 0);
CREATE TRIGGER IF NOT EXISTS entries_ins AFTER INSERT ON entries BEGIN
  UPDATE meta SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_del AFTER DELETE ON entries BEGIN
  UPDATE meta SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_upd AFTER UPDATE OF size ON entries BEGIN
  UPDATE meta SET bytes = bytes - OLD.size + NEW.size WHERE id = 1; END;
"""
UPSERT = ("INSERT INTO entries(id, key, ns, created, expires, used, size, sum, value) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET key = excluded.key, "
          "ns = excluded.ns, "
          "created = excluded.created, expires = excluded.expires, used = excluded.used, "
          "size = excluded.size, sum = excluded.sum, value = excluded.value")
BATCH = 512


def slot(key: str) -> int:
    """The row id of a key: 64 bits of its hash, as SQLite's signed integer."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big",
                          signed=True)


def row_for(key: str, hit: Hit, used: float) -> tuple:
    return (slot(key), key, hit.namespace, hit.created, hit.expires, used,
            len(hit.value) + len(key) + ROW_OVERHEAD,
            checksum(key, hit.created, hit.expires, hit.value), hit.value)


def connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses no commit
        (version,) = con.execute("PRAGMA user_version").fetchone()
        if version != SCHEMA_VERSION:  # an older layout: it is only a cache, start afresh
            con.executescript("BEGIN IMMEDIATE; DROP TABLE IF EXISTS entries; "
                              "DROP TABLE IF EXISTS meta; "
                              f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        con.executescript(SCHEMA)
        con.execute("SELECT entries, bytes FROM meta WHERE id = 1").fetchone()
    except BaseException:
        con.close()
        raise
    return con


class DiskStore:
    """The SQLite L2. Sync methods for the CLI; ``get``/``put`` for the request path."""

    name = "l2"

    def __init__(self, path: Path, max_bytes: int, skew: float = 60.0):
        self.path, self.max_bytes, self.skew = Path(path), max_bytes, skew
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the writer's transactions vs. recreating the file
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._inode: int | None = None
        self._recreate_needed = False
        self.usable = False
        self.corrupt_rows = self.recreated = self.write_errors = self.dropped = 0
        self._warned: set[str] = set()
        self.writes = Fault(log, f"disk cache {self.path}: write")

    # -- opening, and recovering from a broken file -------------------------------------
    def open(self) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._connect()
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as exc:  # not a database / malformed: start afresh
                self._move_aside(str(exc))
                self._connect()
        except (OSError, sqlite3.Error) as exc:
            self._warn("open", f"disk cache {self.path} is unusable ({exc}); "
                               "running without L2")
            self.usable = False
            return False
        self.usable = True
        return True

    def _connect(self) -> None:
        self._reader = connect(self.path)
        self._writer = connect(self.path)
        self._inode = os.stat(self.path).st_ino

    def _close_conns(self) -> None:
        for con in (self._reader, self._writer):
            if con is not None:
                try:
                    con.close()
                except sqlite3.Error:
                    pass
        self._reader = self._writer = None

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self._warn(f"aside-{stamp}", f"disk cache {self.path} is damaged ({why}); "
                                     f"moved aside and recreated")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            try:
                p.replace(p.with_name(f"{p.name}.corrupt-{stamp}-{os.getpid()}"))
            except FileNotFoundError:
                pass
        self.recreated += 1

    def _recreate(self, why: str) -> None:
        """Reopen; if the file is still the one that failed, move it aside first."""
        with self._lock:
            self._recreate_needed = False
            self._close_conns()
            try:
                same = os.stat(self.path).st_ino == self._inode
            except OSError:
                same = False
            try:
                if same:
                    self._move_aside(why)
                self._connect()
                self.usable = True
            except (OSError, sqlite3.Error) as exc:
                self._close_conns()
                self.usable = False
                self._warn("reopen", f"disk cache {self.path} cannot be recreated ({exc})")

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:  # once per kind of trouble, not once per request
            self._warned.add(kind)
            log.warning(message)

    # -- reads ----------------------------------------------------------------------------
    def lookup(self, key: str, now: float, max_age: float | None = None) -> Hit | None:
        if self._recreate_needed:
            self._recreate("the writer found it damaged")
        if not self.usable or self._reader is None:
            return None
        try:
            row = self._reader.execute(
                "SELECT key, ns, created, expires, sum, value FROM entries WHERE id = ?",
                (slot(key),)).fetchone()
        except sqlite3.OperationalError as exc:  # busy, I/O: a miss this time
            self._warn("read", f"disk cache read failed ({exc}); treating as a miss")
            return None
        except sqlite3.DatabaseError as exc:
            self._recreate(str(exc))
            return None
        if row is None:
            return None
        rkey, ns, created, expires, digest, value = row
        if not (isinstance(value, bytes) and isinstance(rkey, str)
                and digest == checksum(rkey, created, expires, value)):
            self.corrupt_rows += 1
            self._warn("row", f"disk cache {self.path}: damaged entries found; "
                              "they are dropped, never served")
            self._enqueue(("del", slot(key)))
            return None
        if rkey != key:  # another key holds this slot (a 64-bit collision): a miss
            return None
        hit = Hit(value, created, expires, ns)
        return hit if fresh(hit, now, self.skew, max_age) else None

    async def get(self, key: str, now: float, max_age: float | None = None,
                  namespace: str = "") -> Hit | None:
        return self.lookup(key, now, max_age)

    def get_entry(self, key: str) -> dict[str, Any] | None:
        """A row with its metadata (``clawhost cache get``), whatever its age."""
        if not self.usable or self._reader is None:
            return None
        try:
            row = self._reader.execute("SELECT ns, created, expires, used, sum, value "
                                       "FROM entries WHERE id = ? AND key = ?",
                                       (slot(key), key)).fetchone()
        except sqlite3.Error as exc:
            return {"key": key, "error": str(exc)}
        if row is None:
            return None
        ns, created, expires, used, digest, value = row
        hit = Hit(value, created, expires, ns)
        ok = isinstance(value, bytes) and digest == checksum(key, created, expires, value)
        return {"key": key, "namespace": ns, "created": created, "expires": expires,
                "used": used, "bytes": len(value or b""), "checksum_ok": ok,
                "value": hit.value if ok else None}

    # -- writes ---------------------------------------------------------------------------
    def put(self, key: str, hit: Hit, now: float) -> None:
        self._enqueue(("put", row_for(key, hit, now)))

    def touch(self, key: str, now: float) -> None:
        self._enqueue(("touch", key, now))

    def _enqueue(self, item: tuple) -> None:
        if not self.usable:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="clawhost-cache-l2",
                                            daemon=True)
            self._thread.start()
        self._queue.put(item)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed (tests, shutdown)."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(("sync", done))
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item[0] == "stop" for item in batch)
            self.write(batch, time.time())
            for item in batch:
                if item[0] in ("sync", "stop"):
                    item[1].set()
            if stop:
                return

    def write(self, batch: list[tuple], now: float) -> None:
        """Apply puts/touches/deletes in one transaction, then evict down to the budget."""
        rows = [i[1] for i in batch if i[0] == "put"]
        touches = [(i[2], slot(i[1]), i[1]) for i in batch if i[0] == "touch"]
        dels = [(i[1],) for i in batch if i[0] == "del"]
        if not (rows or touches or dels):
            return
        with self._lock:
            con = self._writer
            if con is None or self._recreate_needed:
                self.dropped += len(rows)
                return
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    # deletes first: a delete is queued for a damaged row that was read
                    # before, a put in the same batch is newer and must survive it
                    con.executemany("DELETE FROM entries WHERE id = ?", dels)
                    con.executemany(UPSERT, rows)
                    con.executemany("UPDATE entries SET used = ? WHERE id = ? AND key = ?",
                                    touches)
                    self._evict(con, now)
                    con.execute("COMMIT")
                except BaseException:
                    if con.in_transaction:  # SQLite may have rolled back itself (disk full):
                        con.execute("ROLLBACK")  # a second one would hide the real cause
                    raise
            except sqlite3.OperationalError as exc:  # full disk, read-only, busy: drop it
                self.write_errors += 1
                self.dropped += len(rows)
                self.writes.set(storage_cause(exc), "new entries are dropped until it clears")
                return
            except sqlite3.DatabaseError:
                self.write_errors += 1
                self._recreate_needed = True  # the loop thread reopens it on its next read
                return
        self.writes.clear()

    @property
    def write_fault(self) -> str | None:
        """Why writes fail right now (a readiness fact), or None."""
        return self.writes.cause

    def _evict(self, con: sqlite3.Connection, now: float) -> None:
        (used,) = con.execute("SELECT bytes FROM meta WHERE id = 1").fetchone()
        if used <= self.max_bytes:
            return
        con.execute("DELETE FROM entries WHERE expires <= ?", (now,))
        low = int(self.max_bytes * 0.9)  # evict a little extra so we don't evict every write
        while True:
            count, used = con.execute("SELECT entries, bytes FROM meta WHERE id = 1").fetchone()
            if used <= low or count <= 0:
                return
            need = int((used - low) / max(1, used // count)) + 1  # rows, at the average size
            gone = con.execute("DELETE FROM entries WHERE id IN (SELECT id FROM entries "
                               "ORDER BY used LIMIT ?)", (min(need, 4096),)).rowcount
            if gone <= 0:
                return

    # -- maintenance ------------------------------------------------------------------------
    def clear(self, namespace: str | None = None) -> int:
        if not self.usable or self._writer is None:
            return 0
        with self._lock:
            if namespace is None:
                return self._writer.execute("DELETE FROM entries").rowcount
            return self._writer.execute("DELETE FROM entries WHERE ns = ?",
                                        (namespace,)).rowcount

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": "disk", "path": str(self.path), "usable": self.usable,
                               "max_bytes": self.max_bytes, "corrupt_rows": self.corrupt_rows,
                               "recreated": self.recreated, "write_errors": self.write_errors,
                               "write_fault": self.write_fault, "dropped": self.dropped}
        if self.usable and self._reader is not None:
            try:
                n, b = self._reader.execute("SELECT entries, bytes FROM meta WHERE id = 1").fetchone()
                out.update(entries=n, bytes=b)
            except sqlite3.Error as exc:
                out["error"] = str(exc)
        return out

    def close(self) -> None:
        if self._thread is not None:
            done = threading.Event()
            self._queue.put(("stop", done))
            done.wait(10.0)
            self._thread = None
        self._close_conns()
        self.usable = False
