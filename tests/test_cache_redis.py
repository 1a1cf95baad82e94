"""The Redis L2 against a real redis-server started here: a fleet sharing entries, damaged
values, namespaced clears, and Redis going away and coming back mid-run."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from clawhost.testing import EchoModel
from redis_server import REDIS, RedisServer
from test_cache_l2 import ask, post  # the same chat call, and the tier that answered
from clawhost.plugins.cache import STATE as CACHE_STATE

pytestmark = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (apt-get install -y redis-server)")


async def redis_host(clawhost_host, clawhost_server, server, **opts):
    model = EchoModel()
    l2 = {"backend": "redis", "url": server.url, "retry_s": 0.2, "timeout_s": 0.3}
    host = await clawhost_host(model, config={"plugins": {"cache": {"l2": l2, **opts}}})
    return model, host, await clawhost_server(host)


async def test_a_fleet_shares_entries_through_redis(clawhost_host, clawhost_server, redis_server):
    m1, h1, u1 = await redis_host(clawhost_host, clawhost_server, redis_server)
    m2, h2, u2 = await redis_host(clawhost_host, clawhost_server, redis_server)
    assert (await post(u1, ask("shared")))[1] == "miss"
    await h1.state[CACHE_STATE].l2.flush()
    st, state, body = await post(u2, ask("shared"))
    assert (st, state) == (200, "hit-l2") and body["choices"][0]["message"]["content"] == "shared"
    assert (await post(u2, ask("shared")))[1] == "hit-l1"
    assert m1.calls == 1 and m2.calls == 0
    stats = await h2.state[CACHE_STATE].stats()
    assert stats["l2"]["entries"] == 1 and stats["hits"]["l2"] == 1


async def test_damaged_values_and_namespaced_clear(clawhost_host, clawhost_server, redis_server):
    import redis.asyncio as aioredis
    model, host, url = await redis_host(clawhost_host, clawhost_server, redis_server,
                                        l1={"enabled": False})
    await post(url, ask("a"))
    await post(url, {**ask("b"), "cache": {"namespace": "proj"}})
    cache = host.state[CACHE_STATE]
    await cache.l2.flush()
    client = aioredis.Redis.from_url(redis_server.url)
    names = sorted(n.decode() for n in await client.keys("clawhost:cache:*"))
    assert len(names) == 2 and names[0].startswith("clawhost:cache::")
    assert (await client.ttl(names[0])) > 80_000  # Redis keeps the expiry itself
    await client.set(names[0], b"CHC1 not a record")
    st, state, body = await post(url, ask("a"))
    assert (st, state) == (200, "miss") and body["choices"][0]["message"]["content"] == "a"
    assert cache.l2.corrupt_rows == 1
    assert (await cache.clear("proj")) == {"l1": 0, "l2": 1}
    assert (await post(url, {**ask("b"), "cache": {"namespace": "proj"}}))[1] == "miss"
    await client.aclose()


async def test_redis_restart_mid_run(clawhost_host, clawhost_server, redis_server, caplog):
    caplog.set_level(logging.INFO, "clawhost.cache")
    model, host, url = await redis_host(clawhost_host, clawhost_server, redis_server,
                                        l1={"enabled": False})
    cache = host.state[CACHE_STATE]
    await post(url, ask("before"))
    await cache.l2.flush()
    assert (await post(url, ask("before")))[1] == "hit-l2"
    redis_server.stop()
    t0 = time.monotonic()
    for i in range(30):
        st, state, body = await post(url, ask(f"during {i % 3}"))
        assert (st, state) == (200, "miss")
        assert body["choices"][0]["message"]["content"] == f"during {i % 3}"
    await cache.l2.flush()
    assert time.monotonic() - t0 < 10  # no request waited for a dead Redis for long
    down = [r for r in caplog.records if "unreachable" in r.message]
    assert len(down) == 1 and cache.l2.down
    redis_server.start()  # same port, empty
    await asyncio.sleep(0.3)
    states = []
    for _ in range(3):
        states.append((await post(url, ask("after")))[1])
        await cache.l2.flush()
    assert states == ["miss", "hit-l2", "hit-l2"] and not cache.l2.down
    assert sum("is back after" in r.message for r in caplog.records) == 1
    assert len([r for r in caplog.records if "unreachable" in r.message]) == 1


async def test_redis_down_from_the_start(clawhost_host, clawhost_server, tmp_path, caplog):
    caplog.set_level(logging.WARNING, "clawhost.cache")
    nobody = RedisServer(tmp_path)  # a free port with nothing listening
    model, host, url = await redis_host(clawhost_host, clawhost_server, nobody)
    assert sum("unreachable" in r.message for r in caplog.records) == 1  # said at boot
    for _ in range(5):
        st, state, body = await post(url, ask("anyone?"))
        assert st == 200 and body["choices"][0]["message"]["content"] == "anyone?"
    assert state == "hit-l1" and model.calls == 1
    assert sum("unreachable" in r.message for r in caplog.records) == 1
