"""The SQLite L2 under faults: damaged rows and files, a cache dir that cannot be written,
a full disk, the byte bound, and a writer killed with SIGKILL mid-write."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import aiohttp
import pytest

from clawhost.plugins.cache.disk import DiskStore
from clawhost.plugins.cache.record import Hit
from clawhost.testing import EchoModel
from clawhost.plugins.cache import STATE as CACHE_STATE
from sqlite_disk import disk_full, disk_has_room


def ask(text):
    return {"model": "echo", "temperature": 0, "messages": [{"role": "user", "content": text}]}


async def post(url, body):
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json=body) as r:
            data = await r.json()
            return r.status, r.headers.get("x-clawhost-cache"), data


def content(body):
    return body["choices"][0]["message"]["content"]


async def fill(clawhost_host, clawhost_server, ws, texts):
    host = await clawhost_host(EchoModel(), config={"workspace": str(ws), "plugins": {"cache": {}}})
    url = await clawhost_server(host)
    for t in texts:
        await post(url, ask(t))
    await host.stop()
    return ws / ".cache" / "responses.db"


async def restart(clawhost_host, clawhost_server, ws, **opts):
    model = EchoModel()
    host = await clawhost_host(model, config={"workspace": str(ws), "plugins": {"cache": opts}})
    return model, host, await clawhost_server(host)


async def test_damaged_rows_are_never_served(clawhost_host, clawhost_server, tmp_path):
    ws = tmp_path / "ws"
    db = await fill(clawhost_host, clawhost_server, ws, ["one", "two", "three"])
    con = sqlite3.connect(db)
    rows = {json.loads(v)["choices"][0]["message"]["content"]: (k, v)
            for k, v in con.execute("SELECT key, value FROM entries")}
    key, value = rows["one"]
    con.execute("UPDATE entries SET value = ? WHERE key = ?",
                (value.replace(b"one", b"eno"), key))  # a flipped payload
    key, _ = rows["three"]
    con.execute("UPDATE entries SET key = ? WHERE key = ?", (key[::-1], key))  # a moved row
    con.commit()
    con.close()
    model, host, url = await restart(clawhost_host, clawhost_server, ws)
    for text, state in (("one", "miss"), ("two", "hit-l2"), ("three", "miss")):
        st, got, body = await post(url, ask(text))
        assert (st, got, content(body)) == (200, state, text)
    assert model.calls == 2 and host.state[CACHE_STATE].l2.corrupt_rows == 2
    host.state[CACHE_STATE].l2.flush()
    con = sqlite3.connect(db)  # the damaged rows were dropped, then stored afresh
    assert con.execute("SELECT count(*) FROM entries").fetchone()[0] == 3


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
async def test_a_damaged_db_file_is_recreated(clawhost_host, clawhost_server, tmp_path, damage,
                                              caplog):
    ws = tmp_path / "ws"
    texts = [f"entry {i} " + "pad " * 50 for i in range(300)]
    db = await fill(clawhost_host, clawhost_server, ws, texts)
    raw = db.read_bytes()
    assert len(raw) > 40_000
    if damage == "garbage":
        db.write_bytes(os.urandom(len(raw)))
    else:
        db.write_bytes(raw[: len(raw) // 3])
    caplog.set_level(logging.WARNING, "clawhost.cache")
    model, host, url = await restart(clawhost_host, clawhost_server, ws)
    served = 0
    for t in texts[::10] + texts[-5:]:
        st, state, body = await post(url, ask(t))
        assert st == 200 and content(body) == t  # whatever the cache had, answers are right
        served += state == "hit-l2"
    st, state, _ = await post(url, ask(texts[-1]))
    assert state == "hit-l1"
    l2 = host.state[CACHE_STATE].l2
    if damage == "garbage":
        assert l2.recreated == 1 and served == 0
    assert l2.usable and any(p.name.startswith("responses.db.corrupt-") for p in db.parent.iterdir()) \
        or served > 0
    await host.stop()
    model, host, url = await restart(clawhost_host, clawhost_server, ws)
    assert (await post(url, ask(texts[-1])))[1] == "hit-l2"  # the new file works


async def test_unwritable_cache_dir_still_answers(clawhost_host, clawhost_server, tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    caplog.set_level(logging.WARNING, "clawhost.cache")
    model, host, url = await restart(clawhost_host, clawhost_server, tmp_path / "ws",
                                     l2={"path": str(blocker / "responses.db")})
    results = [await post(url, ask("hello")) for _ in range(3)]
    assert [r[0] for r in results] == [200] * 3
    assert [content(r[2]) for r in results] == ["hello"] * 3
    assert [r[1] for r in results] == ["miss", "hit-l1", "hit-l1"]  # L2 off, L1 still serves
    assert not host.state[CACHE_STATE].l2.usable
    assert sum("unusable" in r.message for r in caplog.records) == 1
    model, host, url = await restart(clawhost_host, clawhost_server, tmp_path / "ws2",
                                     l1={"enabled": False},
                                     l2={"path": str(blocker / "responses.db")})
    assert [(await post(url, ask("x")))[1] for _ in range(2)] == ["miss", "miss"]


async def test_full_disk_drops_writes_with_one_warning(clawhost_host, clawhost_server, tmp_path,
                                                       caplog):
    caplog.set_level(logging.WARNING, "clawhost.cache")
    model, host, url = await restart(clawhost_host, clawhost_server, tmp_path / "ws")
    l2 = host.state[CACHE_STATE].l2
    disk_full(l2._writer)
    for i in range(20):
        st, _, body = await post(url, ask(f"big {i} " + "x" * 5000))
        assert st == 200
    l2.flush()
    assert l2.write_errors >= 1 and l2.dropped >= 1
    assert sum("write failed" in r.message for r in caplog.records) == 1
    assert (await post(url, ask("big 3 " + "x" * 5000)))[1] == "hit-l1"


def test_l2_byte_bound_evicts_least_recently_used(tmp_path):
    store = DiskStore(tmp_path / "c.db", max_bytes=200_000)
    assert store.open()
    value = b"v" * 1000
    for i in range(600):
        store.put(f"{i:064x}", Hit(value, 1.0, 1e12, ""), now=float(i))
        if i == 100:
            store.touch(f"{0:064x}", 10_000.0)  # key 0 was used recently
    assert store.flush()
    st = store.stats()
    assert st["bytes"] <= 200_000 and 100 < st["entries"] < 200
    assert store.lookup(f"{0:064x}", 2.0) is not None
    assert store.lookup(f"{599:064x}", 2.0) is not None
    assert store.lookup(f"{5:064x}", 2.0) is None
    con = sqlite3.connect(tmp_path / "c.db")  # the trigger-kept totals match the table
    assert con.execute("SELECT count(*), sum(size) FROM entries").fetchone() == (
        st["entries"], st["bytes"])
    store.close()


CHILD = textwrap.dedent("""
    import json, sys, time
    from clawhost.plugins.cache.disk import DiskStore
    from clawhost.plugins.cache.record import Hit
    store = DiskStore(sys.argv[1], max_bytes=1 << 30)
    assert store.open()
    for i in range(int(sys.argv[2])):
        value = json.dumps({"i": i, "pad": "x" * (i % 700)}).encode()
        store.put(f"{i:064x}", Hit(value, 1.0, 1e12, ""), now=1.0)
        if i == 500:
            print("writing", flush=True)
        if i % 100 == 0:
            time.sleep(0.001)  # let the writer commit as it goes, so the kill lands mid-stream
    store.flush()
    print("done", flush=True)
""")


def test_kill_9_while_writing_serves_no_corrupted_entry(tmp_path):
    db, n = tmp_path / "crash.db", 10_000
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(n)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    import time
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    store = DiskStore(db, max_bytes=1 << 30)
    assert store.open()
    served = bad = 0
    for i in range(n):
        hit = store.lookup(f"{i:064x}", 2.0)
        if hit is None:
            continue
        served += 1
        bad += json.loads(hit.value) != {"i": i, "pad": "x" * (i % 700)}
    assert bad == 0 and store.corrupt_rows == 0
    assert 0 < served < n or served == n  # some writes committed before the kill
    store.put(f"{n:064x}", Hit(b"{}", 1.0, 1e12, ""), now=1.0)  # and it still writes
    assert store.flush() and store.lookup(f"{n:064x}", 2.0) is not None
    store.close()


WORKER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from clawhost.host import Host
    from clawhost.testing import EchoModel, make_config
    from clawhost.types import ChatRequest, ModelRequest

    async def main():
        host = Host(make_config(Path(sys.argv[1]), {"plugins": {"cache": {}}}),
                    extra_plugins=[("echo", EchoModel())])
        await host.start()
        body = ChatRequest.model_validate({"model": "echo", "temperature": 0,
            "messages": [{"role": "user", "content": sys.argv[2]}]})
        await host.handle(ModelRequest("chat", body))
        await host.stop()
    asyncio.run(main())
""")


async def test_worker_processes_share_l2(clawhost_host, clawhost_server, tmp_path):
    ws = tmp_path / "ws"
    model, host, url = await restart(clawhost_host, clawhost_server, ws)
    assert (await post(url, ask("from the parent")))[1] == "miss"
    host.state[CACHE_STATE].l2.flush()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER, str(ws),
                                                "from another worker")
    assert await proc.wait() == 0
    st, state, body = await post(url, ask("from another worker"))
    assert (st, state, content(body)) == (200, "hit-l2", "from another worker")
    assert model.calls == 1


async def test_a_full_disk_is_a_readiness_fact_said_once_when_it_starts_and_once_when_it_ends(
        clawhost_host, clawhost_server, tmp_path, caplog):
    caplog.set_level(logging.WARNING, "clawhost.cache")
    model, host, url = await restart(clawhost_host, clawhost_server, tmp_path / "ws")
    l2 = host.state[CACHE_STATE].l2
    disk_full(l2._writer)
    for i in range(10):
        assert (await post(url, ask(f"full {i} " + "x" * 5000)))[0] == 200
    l2.flush()
    fact = host.readiness()["cache"]["l2_write_fault"]
    assert fact.startswith("disk full")
    assert not any("no transaction is active" in r.message for r in caplog.records)
    disk_has_room(l2._writer)
    for i in range(10):
        assert (await post(url, ask(f"room {i} " + "x" * 5000)))[0] == 200
    l2.flush()
    assert "cache" not in host.readiness()
    messages = [r.message for r in caplog.records]
    assert sum("write failed" in m for m in messages) == 1
    assert sum("works again" in m for m in messages) == 1
