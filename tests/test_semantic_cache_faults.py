"""The semantic index when its disk fails: the index and its file agree, the fault is said
once when it starts and once when it clears, and it is a readiness fact meanwhile."""

from __future__ import annotations

import logging

import numpy as np

from clawhost.plugins.semantic_cache import STATE
from test_semantic_cache import ask, make_host
from sqlite_disk import disk_full, disk_has_room
from test_semantic_cache_index import body, open_index, unit


def test_a_full_disk_keeps_the_index_and_its_file_in_agreement(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "clawhost.semantic")
    rng = np.random.default_rng(1)
    ix = open_index(tmp_path / "i.sqlite")
    ix.add("s", "first", unit(rng)[0], body("a"), ttl=60)
    disk_full(ix.db)
    added = [ix.add("s", f"q{i}", unit(rng)[0], body("x" * 4000), ttl=60) for i in range(30)]
    on_disk = ix.db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
    assert None in added and len(ix) == on_disk  # no drift: memory holds what the file holds
    assert ix.writes.cause.startswith("disk full")
    disk_has_room(ix.db)
    assert ix.add("s", "later", unit(rng)[0], body("b"), ttl=60) is not None
    assert ix.writes.cause is None and len(ix) == on_disk + 1
    messages = [r.message for r in caplog.records]
    assert sum("write failed" in m for m in messages) == 1
    assert sum("works again" in m for m in messages) == 1


async def test_an_index_that_cannot_be_opened_is_said_once_and_not_retried_per_request(
        clawhost_host, caplog):
    caplog.set_level(logging.WARNING, "clawhost.semantic")
    host, echo, _ = await make_host(clawhost_host)
    cache = host.state[STATE]
    cache.folder.parent.mkdir(parents=True, exist_ok=True)
    cache.folder.write_text("a file where the index folder should be")
    for i in range(5):
        _, reply = await ask(host, f"question number {i}?")
        assert reply.source == "model"  # answers keep coming, uncached
    assert echo.calls == 5
    assert host.readiness()["semantic_cache"]["index_fault"]
    assert sum("open failed" in r.message for r in caplog.records) == 1
