"""Shared limits in fleet mode: hosts served on loopback, one real redis-server, one fake
upstream that counts what it receives. Several hosts configured for one limit send the limit
together, not a multiple of it, including while Redis is away and after it returns."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from clawhost.api import fleet_of
from clawhost.bench.probe import overshoot
from clawhost.errors import ConfigError
from clawhost.plugins.connection_pool import STATE
from clawhost.testing import make_config
from test_connection_pool import KEY, MSGS, provider, upstreams  # noqa: F401

BODY = {"model": "a/m1", "messages": MSGS}


def fleet(server, name: str) -> dict:
    return {"url": server.url, "name": name, "heartbeat_s": 0.1, "stale_after_s": 2.0,
            "timeout_s": 1.0, "retry_max_s": 0.2}


@pytest.fixture
async def fleet_hosts(clawhost_host, clawhost_server, monkeypatch):
    monkeypatch.setenv("CP_TEST_KEY", KEY)

    async def make(server, count: int, providers: dict, **pool) -> list[tuple]:
        out = []
        for i in range(count):
            cfg = {"plugins": {"connection_pool": {"providers": providers, "deadline": 20,
                                                   **pool}}}
            if server is not None:
                cfg["fleet"] = fleet(server, f"box-{i}")
            host = await clawhost_host(config=cfg)
            out.append((host, await clawhost_server(host)))
        if server is not None:  # every host has seen every other
            for _ in range(200):
                if all(fleet_of(h).hosts_seen() == count for h, _ in out):
                    break
                await asyncio.sleep(0.02)
        return out

    return make


async def until(read, want, timeout: float = 3.0) -> bool:
    """``await read()`` becomes ``want`` (releases reach Redis just after the reply)."""
    for _ in range(int(timeout / 0.05)):
        if await read() == want:
            return True
        await asyncio.sleep(0.05)
    return False


async def post(session, url, body=BODY):
    async with session.post(url + "/v1/chat/completions", json=body) as r:
        return r.status, await r.json()


async def fire(urls: list[str], each: int, body=BODY) -> list[tuple[int, dict]]:
    """``each`` requests to every host at once."""
    async with aiohttp.ClientSession() as s:
        return await asyncio.gather(*(post(s, u, body) for u in urls for _ in range(each)))


def refusals_only(results, what: str) -> None:
    """Every request was answered, or refused by the limit itself (429 naming it)."""
    for status, body in results:
        assert status in (200, 429), body
        if status == 429:
            assert f"{what} limit reached" in body["error"]["message"], body


async def test_three_hosts_share_one_rpm(redis_server, upstreams, fleet_hosts):
    up = await upstreams()
    hosts = await fleet_hosts(redis_server, 3, {"a": provider(up.url, rpm=6,
                                                                limit_mode="reject")})
    t0 = time.monotonic()
    results = await fire([u for _, u in hosts], 5)
    refill = int((time.monotonic() - t0) / 10)  # 6 per minute: one more each 10 s
    refusals_only(results, "requests-per-minute")
    ok = sum(s == 200 for s, _ in results)
    assert 6 <= len(up.requests) == ok <= 6 + refill  # each host alone would send 18
    assert overshoot(up.times, 6) == 0
    # the shared key lives in the fleet's namespace, and expires when idle
    link = fleet_of(hosts[0][0])
    assert await link.redis.pttl(link.key("limits", "a", "rpm")) > 0


async def test_alone_each_host_has_the_whole_limit(upstreams, fleet_hosts):
    """The control for the test above: without fleet mode nothing is shared (nor imported)."""
    up = await upstreams()
    hosts = await fleet_hosts(None, 2, {"a": provider(up.url, rpm=3, limit_mode="reject")})
    results = await fire([u for _, u in hosts], 4)
    assert sum(s == 200 for s, _ in results) == len(up.requests) == 6
    assert overshoot(up.times, 3) == 3  # the measure the fleet tests use sees it
    assert all(h.state[STATE].shared is None for h, _ in hosts)


async def test_model_limits_alone(upstreams, fleet_hosts):
    up = await upstreams()
    [(host, url)] = await fleet_hosts(None, 1, {"a": provider(
        up.url, rpm=5, limit_mode="reject", model_limits={"m1": {"rpm": 2}})})
    results = await fire([url], 4)
    assert sorted(s for s, _ in results) == [200, 200, 429, 429]
    assert "model 'a/m1': requests-per-minute" in next(
        b for s, b in results if s == 429)["error"]["message"]
    # the refused calls gave back what they had reserved of the provider's budget
    results = await fire([url], 4, {**BODY, "model": "a/m2"})
    assert sorted(s for s, _ in results) == [200, 200, 200, 429] and len(up.requests) == 5


async def test_model_limits_are_shared_beside_the_provider(redis_server, upstreams,
                                                           fleet_hosts):
    up = await upstreams()
    hosts = await fleet_hosts(redis_server, 2, {"a": provider(
        up.url, rpm=100, limit_mode="reject", model_limits={"m1": {"rpm": 3}})})
    urls = [u for _, u in hosts]
    results = await fire(urls, 4)
    refusals_only(results, "requests-per-minute")
    assert len(up.requests) == 3 and all(r["model"] == "m1" for r in up.requests)
    assert "model 'a/m1'" in next(b for s, b in results if s == 429)["error"]["message"]
    # another model of the provider is held only by the provider's limit, which the refused
    # m1 calls did not spend
    results = await fire(urls, 4, {**BODY, "model": "a/m2"})
    assert all(s == 200 for s, _ in results) and len(up.requests) == 11
    tat = await fleet_of(hosts[0][0]).redis.get("clawhost:limits:a:rpm")
    assert tat is not None


async def test_tpm_is_shared_and_settled_by_real_usage(redis_server, upstreams, fleet_hosts):
    up = await upstreams()
    # the fake reports 13 tokens a call; the estimate (body bytes / 4) is larger
    hosts = await fleet_hosts(redis_server, 2, {"a": provider(up.url, tpm=75,
                                                                limit_mode="reject")})
    urls = [u for _, u in hosts]
    async with aiohttp.ClientSession() as s:
        for i in range(4):  # ~31 estimated, 13 used: with settlement 4 fit in 80, without 2
            assert (await post(s, urls[i % 2]))[0] == 200
        status, body = await post(s, urls[0])
    assert status == 429 and "tokens-per-minute" in body["error"]["message"]
    assert len(up.requests) == 4


async def test_concurrency_cap_is_shared(redis_server, upstreams, fleet_hosts):
    up = await upstreams(chunk_delay=0.05)
    hosts = await fleet_hosts(redis_server, 2, {"a": provider(
        up.url, max_concurrency=2, limit_mode="wait", max_wait=15)})

    async def stream(s, url):
        async with s.post(url + "/v1/chat/completions", json={**BODY, "stream": True}) as r:
            text = await r.text()
            return r.status, text

    async with aiohttp.ClientSession() as s:
        results = await asyncio.gather(*(stream(s, u) for _, u in hosts for _ in range(4)))
    assert all(st == 200 and "[DONE]" in text for st, text in results)
    assert up.completed_streams == 8 and up.peak == 2  # each host alone would run 4 at once
    link = fleet_of(hosts[0][0])
    assert await until(lambda: link.redis.zcard(link.key("limits", "a", "slots")), 0)
    assert all(h.state[STATE].providers["a"].limiter.inflight == 0 for h, _ in hosts)


async def test_a_vanished_holders_slots_come_back(redis_server, upstreams, fleet_hosts):
    """A host killed with kill -9 leaves its members in the slot set; its lease runs out
    and the next call anywhere takes them back."""
    from clawhost.plugins.connection_pool.shared_scripts import TAKE
    up = await upstreams()
    hosts = await fleet_hosts(redis_server, 1, {"a": provider(
        up.url, max_concurrency=2, limit_mode="wait", max_wait=5)})
    host, url = hosts[0]
    link = fleet_of(host)
    slots, leases = link.key("limits", "a", "slots"), link.key("limits", "a", "leases")
    for call in ("1", "2"):  # what the killed host held: the whole cap, with a 1.5 s lease
        assert (await link.redis.eval(TAKE, 2, slots, leases, 0, 0, 2, f"dead#x|{call}",
                                      "dead#x", 1.5, 3600))[3] == 1
    async with aiohttp.ClientSession() as s:
        t = time.monotonic()
        status, _ = await post(s, url)
        waited = time.monotonic() - t
    assert status == 200 and 1.0 <= waited < 4.5
    assert await until(lambda: link.redis.zcard(slots), 0)  # ours, freed after the reply


async def test_redis_stopped_mid_run_local_shares_then_back(redis_server, upstreams,
                                                            fleet_hosts):
    up = await upstreams()
    # the upstream counts attempts, not requests: under load (5-8) the pool's fast test
    # timeouts (first byte 0.5 s) cut attempts short and retried them (58-59 arrivals for 51
    # requests), and a cut-off attempt may still reach the upstream after Redis stops (inferred, not seen). Each
    # attempt is charged to the limit, so nothing leaked, but the count below needs one
    # arrival per admitted request: no retries, and timeouts a loaded box does not hit
    hosts = await fleet_hosts(redis_server, 3, {"a": provider(
        up.url, rpm=60, max_concurrency=60, limit_mode="reject", retries={"attempts": 0},
        timeouts={"connect": 5, "first_byte": 10, "idle": 10, "total": 15})})
    urls = [u for _, u in hosts]
    results = list(await fire(urls, 17))  # 51 of the minute's 60
    assert len(up.requests) == 51
    # a share's clock starts when its host notices Redis is gone, which is after this: time
    # the allowance from here, so a slow box (detection taking seconds) cannot fail the bound
    t_down = time.monotonic()
    redis_server.stop()
    for _ in range(100):
        if not any(fleet_of(h).available for h, _ in hosts):
            break
        await asyncio.sleep(0.05)
    # every host falls back to a third of the limit, starting as if the minute were spent:
    # with shares that started full the fleet would now send 60 more at once
    for _ in range(3):
        results += await fire(urls, 8)
        await asyncio.sleep(0.5)
    refusals_only(results, "requests-per-minute")
    during = sum(t >= t_down for t in up.times)  # what the upstream received after the stop
    assert during <= 3 * (1 + (time.monotonic() - t_down) / 3)  # 20/min = 1 per 3 s each
    assert overshoot(up.times, 60) == 0
    shares = [h.state[STATE].providers["a"].limiter.share for h, _ in hosts]
    assert all(s is not None and s.hosts == 3 and s.cap == 20 for s in shares)
    assert hosts[0][0].readiness()["remote_providers"] == {
        "a": "ok (limits: this host's share, 1/3)"}
    redis_server.start()
    for _ in range(100):
        if all(fleet_of(h).available for h, _ in hosts):
            break
        await asyncio.sleep(0.05)
    results = await fire(urls, 10)
    refusals_only(results, "requests-per-minute")
    assert overshoot(up.times, 60) == 0
    assert hosts[0][0].readiness()["remote_providers"] == {"a": "ok"}
    # back on Redis: what the shares spent was charged to the fleet's counter
    link = fleet_of(hosts[0][0])
    assert await link.redis.get(link.key("limits", "a", "rpm")) is not None
    for h, _ in hosts:
        assert h.state[STATE].providers["a"].limiter.inflight == 0


async def test_concurrency_share_while_redis_is_away(redis_server, upstreams, fleet_hosts):
    up = await upstreams(chunk_delay=0.05)
    hosts = await fleet_hosts(redis_server, 2, {"a": provider(
        up.url, max_concurrency=4, limit_mode="wait", max_wait=15)})
    redis_server.stop()
    for _ in range(100):
        if not any(fleet_of(h).available for h, _ in hosts):
            break
        await asyncio.sleep(0.05)

    async def stream(s, url):
        async with s.post(url + "/v1/chat/completions", json={**BODY, "stream": True}) as r:
            return r.status, await r.text()

    async with aiohttp.ClientSession() as s:
        results = await asyncio.gather(*(stream(s, u) for _, u in hosts for _ in range(5)))
    assert [st for st, _ in results] == [200] * 10, [(st, t[:200]) for st, t in results if st != 200]
    assert up.completed_streams == 10 and up.peak <= 4  # 2 per host, 4 together


def test_bad_limit_options_are_one_line_errors(tmp_path):
    from clawhost.host import Host
    bad = {"plugins": {"connection_pool": {"lease_s": 0, "providers": {"a": {
        "base_url": "http://x", "model_limits": {"m1": {"rpm": 0, "burst": 3}}}}}}}
    with pytest.raises(ConfigError) as err:
        Host(make_config(tmp_path, bad))
    lines = str(err.value).splitlines()
    assert any(line.startswith("plugins.connection_pool.lease_s: ") or
               "plugins.connection_pool.lease_s:" in line for line in lines)
    assert any("providers.a.model_limits.m1.rpm: Input should be greater than or equal to 1"
               in line for line in lines)
    assert any("providers.a.model_limits.m1.burst: unknown option" in line for line in lines)
    with pytest.raises(ConfigError, match=r"shared_limits: Input should be a valid boolean"):
        Host(make_config(tmp_path, {"plugins": {"connection_pool": {"shared_limits": "maybe"}}}))


async def test_slots_held_are_written_again_into_a_restarted_redis(redis_server, upstreams,
                                                                   fleet_hosts):
    up = await upstreams(chunk_delay=0.6)  # a stream of ~4 s holds its slot
    [(host, url)] = await fleet_hosts(redis_server, 1, {"a": provider(
        up.url, max_concurrency=2, timeouts={"connect": 1, "first_byte": 5, "idle": 5,
                                             "total": 20})})
    link = fleet_of(host)
    slots = link.key("limits", "a", "slots")

    async def stream():
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/v1/chat/completions",
                              json={**BODY, "stream": True}) as r:
                return r.status, await r.text()

    task = asyncio.create_task(stream())
    assert await until(lambda: link.redis.zcard(slots), 1)
    redis_server.stop()
    for _ in range(100):  # the link's heartbeat finds it gone
        if not link.available:
            break
        await asyncio.sleep(0.02)
    redis_server.start()  # empty: the slot this host holds is gone from it
    await asyncio.wait_for(link.wait_available(), 5)
    assert await until(lambda: link.redis.zcard(slots), 1, timeout=2.5)
    status, text = await task
    assert status == 200 and "[DONE]" in text
    assert await until(lambda: link.redis.zcard(slots), 0)


async def test_a_burst_larger_than_the_redis_pool_queues_rather_than_fails(
        redis_server, upstreams, fleet_hosts):
    """More calls at once than the link's client has connections (redis-py: 100): running
    out would take the link down for every plugin and send the calls to an empty share."""
    up = await upstreams()
    [(host, url)] = await fleet_hosts(redis_server, 1, {"a": provider(
        up.url, rpm=10_000, max_concurrency=1000, limit_mode="reject")})
    from clawhost.types import ChatRequest, ModelRequest

    async def one():  # in process: an HTTP client would hold the burst to its own 100
        req = ModelRequest(kind="chat", body=ChatRequest(model="a/m1", messages=MSGS))
        return (await host.handle(req)).body["choices"][0]["finish_reason"]

    assert await asyncio.gather(*(one() for _ in range(250))) == ["stop"] * 250
    assert len(up.requests) == 250
    assert fleet_of(host).available and host.fleet.failures == 0
