"""clawhost-budget in fleet mode: three hosts spend one budget, kept in a real redis-server,
added up to the cent, and over it every host refuses; Redis away loses no charge."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest

from clawhost.api import fleet_of
from clawhost.errors import ConfigError
from clawhost.host import Host
from clawhost.testing import EchoModel, make_config

budget_plugin = pytest.importorskip("clawhost_budget")
STATE = budget_plugin.STATE

# USD per million tokens: a call of n prompt and m completion words costs (n*1000+m*3000)/1e6
PRICES = {"acme/*": {"input_per_mtok": 1000, "output_per_mtok": 3000}}
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


def fleet(server, name):
    return {"url": server.url, "name": name, "heartbeat_s": 0.1, "stale_after_s": 2.0,
            "timeout_s": 1.0, "retry_max_s": 0.2}


async def serve(tmp_path, clawhost_server, server, name, **budget):
    options = {"prices": PRICES, "limits": {"acme": {"daily_usd": 100}}, **budget}
    cfg = {"plugins": {"budget": options}}
    if server is not None:
        cfg["fleet"] = fleet(server, name)
    host = Host(make_config(tmp_path / name, cfg), extra_plugins=[("acme", EchoModel("acme/gpt"))])
    await host.start()
    return host, await clawhost_server(host)


async def ask(session, url, text):
    body = {"model": "acme/gpt", "messages": [{"role": "user", "content": text}]}
    async with session.post(url + "/v1/chat/completions", json=body) as r:
        return r.status, await r.json()


def cost_microcents(usage) -> int:
    # integer arithmetic: the price per token is a whole number of micro-cents here
    return usage["prompt_tokens"] * 100_000 + usage["completion_tokens"] * 300_000


@pytest.fixture
async def hosts(tmp_path, clawhost_server, redis_server):
    made = []

    async def make(n, **budget):
        for i in range(n):
            made.append(await serve(tmp_path, clawhost_server, redis_server, f"box-{i}", **budget))
        return made

    yield make
    for host, _ in made:
        await host.stop()


async def test_three_hosts_spend_one_budget_to_the_cent(hosts, redis_server):
    fleet_hosts = await hosts(3)
    rng = random.Random(7)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(1, 9))) for _ in range(120)]
    async with aiohttp.ClientSession() as s:
        results = await asyncio.gather(*(ask(s, fleet_hosts[i % 3][1], t)
                                         for i, t in enumerate(texts)))
    assert all(status == 200 for status, _ in results)
    expected = sum(cost_microcents(body["usage"]) for _, body in results)
    for host, _ in fleet_hosts:  # a charge whose Redis call timed out on a busy box waits
        await asyncio.wait_for(fleet_of(host).wait_available(), 5)  # for the next request
        await host.state[STATE].ledger.refresh("acme")
        assert host.state[STATE].ledger.pending == {}
    link = fleet_of(fleet_hosts[0][0])
    day, month = fleet_hosts[0][0].state[STATE].ledger.periods()
    stored = [int(await link.redis.get(link.key("budget", "acme", p))) for p in (day, month)]
    assert stored == [expected, expected]  # not a micro-cent lost between hosts
    assert 0 < await link.redis.ttl(link.key("budget", "acme", day)) <= 3 * 86400
    for host, _ in fleet_hosts:  # every host reads the fleet's total, not its own third
        ledger = host.state[STATE].ledger
        await ledger.refresh("acme")
        assert ledger.totals[("acme", day)] == expected
        assert ledger.spent("acme")[0] == pytest.approx(expected / 1e8, abs=1e-12)
    assert not (fleet_hosts[0][0].workspace / "budget" / "ledger.json").exists()
    # what `clawhost budget` prints in fleet mode, read with no host behind it
    totals = await asyncio.to_thread(budget_plugin.read_fleet_totals, redis_server.url,
                                     link.namespace, day, month)
    assert totals == {"acme": (pytest.approx(expected / 1e8, abs=1e-12),) * 2}


async def test_over_the_shared_limit_every_host_refuses(hosts):
    # $0.10 a day; each call below costs $0.004 + $0.012 = $0.016
    fleet_hosts = await hosts(3, limits={"acme": {"daily_usd": 0.10}})
    async with aiohttp.ClientSession() as s:
        for i in range(7):  # 7 x $0.016 = $0.112, spread over the hosts
            assert (await ask(s, fleet_hosts[i % 3][1], "one two three four"))[0] == 200
        for _, url in fleet_hosts:  # each host alone has spent at most $0.048 of it
            status, body = await ask(s, url, "one")
            assert status == 402 and "budget exceeded for provider 'acme'" in \
                body["error"]["message"]


async def test_redis_away_keeps_the_charges_and_adds_them_once(hosts, redis_server):
    fleet_hosts = await hosts(2)
    (a, url_a), (b, url_b) = fleet_hosts
    async with aiohttp.ClientSession() as s:
        assert (await ask(s, url_a, "one two"))[0] == 200  # 2 + 2 words: $0.008
        redis_server.stop()
        for _ in range(100):
            if not fleet_of(a).available:
                break
            await asyncio.sleep(0.05)
        for _ in range(3):  # served meanwhile, charged here for later
            assert (await ask(s, url_a, "one two"))[0] == 200
        ledger = a.state[STATE].ledger
        assert len(ledger.pending) == 3 and ledger.spent("acme")[0] == pytest.approx(0.032)
        redis_server.start()  # an empty Redis: what is pending is the whole record now
        await asyncio.wait_for(fleet_of(a).wait_available(), 5)
        assert (await ask(s, url_a, "one two"))[0] == 200
    assert ledger.pending == {}
    link = fleet_of(b)
    day, _ = ledger.periods()
    assert int(await link.redis.get(link.key("budget", "acme", day))) == 4 * 800_000


async def test_fleet_ledger_needs_a_fleet(tmp_path, clawhost_server):
    with pytest.raises(ConfigError) as err:
        await serve(tmp_path, clawhost_server, None, "alone", ledger="fleet")
    assert str(err.value) == ("config: plugins.budget.ledger: 'fleet' needs a fleet: section "
                              "in config.yaml (got 'fleet')")
    with pytest.raises(ConfigError, match=r"plugins.budget.ledger: Input should be 'auto', "
                                          r"'file' or 'fleet'"):
        Host(make_config(tmp_path, {"plugins": {"budget": {"ledger": "redis"}}}))


async def test_file_ledger_stays_the_default_alone(tmp_path, clawhost_server):
    host, url = await serve(tmp_path, clawhost_server, None, "alone")
    async with aiohttp.ClientSession() as s:
        assert (await ask(s, url, "one two"))[0] == 200
    assert isinstance(host.state[STATE].ledger, budget_plugin.Ledger)
    assert (host.workspace / "budget" / "ledger.json").exists()
    await host.stop()


def test_cli_shows_the_fleets_totals(tmp_path, redis_server):
    import redis as sync_redis
    from conftest import run_cli
    client = sync_redis.Redis.from_url(redis_server.url)
    day, month = budget_plugin.ledger.periods(__import__("time").time)
    client.set(f"team:budget:acme:{day}", 1_234_000_000)        # $12.34
    client.set(f"team:budget:acme:{month}", 5_678_000_000)      # $56.78
    client.set("team:budget:charge:0123abcd", 1)                 # not a total
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"workspace: ./ws\nfleet:\n  url: {redis_server.url}\n  namespace: team\n"
                   f"plugins:\n  budget: {{}}\n")
    out = run_cli("budget", "--config", str(cfg), env={"CLAWHOST_LOAD_PLUGINS": "budget"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["acme", "today", "$12.3400", month, "$56.7800"]
    redis_server.stop()
    out = run_cli("budget", "--config", str(cfg), env={"CLAWHOST_LOAD_PLUGINS": "budget"})
    assert out.returncode == 1 and "the fleet's redis at 127.0.0.1:" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
