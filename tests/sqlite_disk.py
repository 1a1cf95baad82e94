"""A full disk for a SQLite file without filling one: its pages capped where they stand."""

from __future__ import annotations

import sqlite3

NO_CAP = 1073741823  # SQLite's own largest max_page_count


def disk_full(con: sqlite3.Connection) -> None:
    """From now on a write that needs another page fails with SQLITE_FULL."""
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count = {pages}")


def disk_has_room(con: sqlite3.Connection) -> None:
    """Space again."""
    con.execute(f"PRAGMA max_page_count = {NO_CAP}")
