"""Fleet mode's core against a real redis-server: the ``fleet:`` section, heartbeats, the
FleetLink plugins use, and Redis going away and coming back."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap

import pytest

from clawhost.api import FleetLink, fleet_of
from clawhost.config import load_config
from clawhost.errors import ConfigError
from clawhost.testing import EchoModel
from conftest import ask


def fleet(server, name, **extra):
    return {"fleet": {"url": server.url, "name": name, "heartbeat_s": 0.1,
                      "stale_after_s": 1.0, "timeout_s": 0.3, "retry_max_s": 0.3, **extra}}


async def until(predicate, timeout=5.0):
    """True once ``predicate()`` is, polling every 10 ms; False after ``timeout``."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return False


def test_off_by_default_and_redis_not_imported(tmp_path):
    code = textwrap.dedent(f"""
        import asyncio, sys
        from clawhost.host import Host
        from clawhost.testing import make_config, EchoModel
        async def main():
            host = Host(make_config({str(tmp_path)!r}), extra_plugins=[("echo", EchoModel())])
            await host.start()
            assert host.fleet is None and "fleet" not in host.readiness()
            await host.stop()
        asyncio.run(main())
        print("redis" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_config_errors_are_one_line_and_hide_the_url(monkeypatch):
    monkeypatch.setenv("FLEET_URL", "redis://:hunter2@10.0.0.5:6379/0")
    cfg = load_config(text="fleet:\n  url: ${FLEET_URL}\n")
    assert cfg.host.fleet.namespace == "clawhost" and cfg.host.fleet.name is None
    assert "hunter2" not in repr(cfg.host.fleet) and "hunter2" in cfg.secrets
    assert "hunter2" not in cfg.redact("failed: redis://:hunter2@10.0.0.5:6379/0")
    with pytest.raises(ConfigError) as exc:
        load_config(text="fleet:\n  url: http://:hunter2@x\n")
    assert str(exc.value) == "config: fleet.url: must be a redis:// (or rediss://, unix://) URL (got ***)"
    with pytest.raises(ConfigError, match=r"fleet.nmae: unknown option; did you mean 'name'"):
        load_config(text="fleet:\n  url: redis://x\n  nmae: a\n")
    with pytest.raises(ConfigError, match=r"fleet.namespace: String should match"):
        load_config(text="fleet:\n  url: redis://x\n  namespace: 'a b'\n")


async def test_hosts_see_each_other(clawhost_host, redis_server):
    a = await clawhost_host(EchoModel(), config=fleet(redis_server, "box-a"))
    b = await clawhost_host(EchoModel(), config=fleet(redis_server, "box-b"))
    link = fleet_of(a)
    assert isinstance(link, FleetLink) and link.available
    assert link.name == "box-a" and link.key("semcache", "entry", "1") == "clawhost:semcache:entry:1"
    assert await until(lambda: fleet_of(a).hosts_seen() == 2 and fleet_of(b).hosts_seen() == 2)
    hosts = await link.hosts()
    assert sorted(h["name"] for h in hosts) == ["box-a", "box-b"]
    from clawhost import __version__
    assert all(h["version"] == __version__ and not h["stale"] and h["age_s"] < 1 for h in hosts)
    assert "instance" not in hosts[0]
    # the plugin-facing client is a real redis.asyncio client in the fleet's Redis
    await link.redis.set(link.key("probe"), b"1")
    assert await fleet_of(b).redis.get("clawhost:probe") == b"1"
    facts = a.readiness()["fleet"]
    assert facts == {"name": "box-a", "namespace": "clawhost", "redis": "up", "down_s": None,
                     "hosts_seen": 2}
    # a graceful stop leaves the list; the other host no longer counts it once it is stale
    await b.stop()
    assert [h["name"] for h in await link.hosts()] == ["box-a"]


async def test_a_killed_host_goes_stale_and_namespaces_are_apart(clawhost_host, redis_server):
    a = await clawhost_host(EchoModel(), config=fleet(redis_server, "box-a"))
    b = await clawhost_host(EchoModel(), config=fleet(redis_server, "box-b"))
    other = await clawhost_host(EchoModel(), config=fleet(redis_server, "box-a",
                                                          namespace="other"))
    assert [h["name"] for h in await fleet_of(other).hosts()] == ["box-a"]
    b.fleet._task.cancel()  # as kill -9 would: no more beats, and no goodbye
    await asyncio.sleep(1.3)
    hosts = {h["name"]: h for h in await fleet_of(a).hosts()}
    assert hosts["box-b"]["stale"] and hosts["box-b"]["age_s"] > 1.0
    assert not hosts["box-a"]["stale"]
    assert fleet_of(a).hosts_seen(window_s=1.0) == 1 and fleet_of(a).hosts_seen(30) == 2


async def test_redis_down_and_back(clawhost_host, redis_server, caplog):
    caplog.set_level(logging.INFO, "clawhost.fleet")
    a = await clawhost_host(EchoModel(), config=fleet(redis_server, "box-a"))
    b = await clawhost_host(EchoModel(), config=fleet(redis_server, "box-b"))
    link = fleet_of(a)
    assert await until(lambda: link.hosts_seen() == 2)
    redis_server.stop()
    assert await until(lambda: not link.available)
    facts = a.readiness()
    assert facts["ready"] and facts["fleet"]["redis"] == "down"
    # a partition does not shrink the count a share is computed from
    assert link.hosts_seen() == 2
    # requests are served from the local tiers meanwhile, and a plugin's report of the same
    # outage does not add a warning
    for i in range(5):
        _, reply = await ask(a, f"while down {i}")
        assert reply.body["choices"][0]["message"]["content"] == f"while down {i}"
    link.report_failure(ConnectionError("refused"))
    assert await link.hosts() == []
    await asyncio.sleep(0.5)
    down = [r for r in caplog.records if "unreachable" in r.message]
    assert len([r for r in down if r.name == "clawhost.fleet"]) == 2  # one per host
    redis_server.start()
    await asyncio.wait_for(link.wait_available(), 5)
    assert await until(lambda: fleet_of(b).available)
    assert a.readiness()["fleet"]["redis"] == "up"
    assert sum("is back after" in r.message for r in caplog.records) == 2
    assert sorted(h["name"] for h in await link.hosts()) == ["box-a", "box-b"]


async def test_redis_down_at_start_and_password_never_logged(clawhost_host, tmp_path, caplog):
    from redis_server import RedisServer
    caplog.set_level(logging.DEBUG)
    nobody = RedisServer(tmp_path)  # nothing listens on its port yet
    url = f"redis://:s3cretpw@127.0.0.1:{nobody.port}/0"
    host = await clawhost_host(EchoModel(), config={"fleet": {
        "url": url, "name": "lonely", "heartbeat_s": 0.1, "retry_max_s": 0.2}})
    assert host.ready and not fleet_of(host).available
    assert host.readiness()["fleet"]["redis"] == "down"
    _, reply = await ask(host, "still here")
    assert reply.body["choices"][0]["message"]["content"] == "still here"
    nobody.start()
    try:
        # the server has no password set, so AUTH is refused: the link stays down, quietly
        await asyncio.sleep(0.5)
    finally:
        nobody.stop()
    assert all("s3cretpw" not in r.getMessage() for r in caplog.records)
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1
    assert "127.0.0.1" in next(r.getMessage() for r in caplog.records
                               if "unreachable" in r.getMessage())
