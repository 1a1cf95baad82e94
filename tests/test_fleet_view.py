"""The fleet view: `clawhost fleet status` against real host processes (one killed with
kill -9), /v1/fleet, /metrics labelled by host, and the fleet panel of the status page."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import textwrap
import time

import aiohttp

from clawhost import __version__
from clawhost.testmodel import PLUGIN_FILE as ECHO_PLUGIN
from conftest import free_port, run_cli, wait_for
from test_fleet import fleet, until
from test_monitor import get_metrics, value
from test_monitor_page import CHROMIUM, chromium


def host_config(tmp_path, name: str, with_name: bool = True):
    folder = tmp_path / name
    (folder / "localplugins").mkdir(parents=True)
    (folder / "localplugins" / "echo.py").write_text(ECHO_PLUGIN)
    cfg = folder / "config.yaml"
    named = f"  name: {name}\n" if with_name else ""
    cfg.write_text(textwrap.dedent(f"""
        workspace: ./ws
        plugins_dir: ./localplugins
        server:
          port: {free_port()}
          drain_timeout_s: 2
        plugins:
          echo: {{}}
        fleet:
          url: ${{FLEET_REDIS}}
          heartbeat_s: 0.2
          stale_after_s: 1.5
    """) + named)
    return cfg


def test_fleet_status_from_real_hosts_one_killed(tmp_path, redis_server):
    env = {"FLEET_REDIS": redis_server.url, "CLAWHOST_CONFIG": ""}
    a, b = host_config(tmp_path, "box-a"), host_config(tmp_path, "box-b", with_name=False)
    for cfg in (a, b):
        res = run_cli("start", "--config", str(cfg), env=env)
        assert res.returncode == 0, res.stderr
    try:
        port_b = int(re.search(r"port: (\d+)", b.read_text()).group(1))
        b_name = f"{socket.gethostname()}:{port_b}"  # the default: stable across restarts
        res = run_cli("fleet", "status", "--json", "--config", str(a), env=env)
        assert res.returncode == 0, res.stderr
        body = json.loads(res.stdout)
        assert body["self"]["name"] == "box-a" and body["self"]["redis"] == "up"
        assert sorted(h["name"] for h in body["hosts"]) == sorted(["box-a", b_name])
        assert all(h["version"] == __version__ and not h["stale"] for h in body["hosts"])
        assert redis_server.url.split("//")[1] not in res.stdout  # no URL in the view
        pid_b = next(h["pid"] for h in body["hosts"] if h["name"] == b_name)
        address_b = next(h["address"] for h in body["hosts"] if h["name"] == b_name)
        assert address_b == f"http://127.0.0.1:{port_b}"
        os.kill(pid_b, signal.SIGKILL)  # no goodbye: its heartbeat just stops
        time.sleep(2.0)
        res = run_cli("fleet", "status", "--config", str(a), env=env)
        assert res.returncode == 3, res.stdout + res.stderr  # a stale host: exit status 3
        line_b = next(l for l in res.stdout.splitlines() if b_name in l)
        line_a = next(l for l in res.stdout.splitlines() if "box-a" in l)
        assert line_b.split()[0] == "STALE" and line_a.split()[0] == "live"
        assert "(this host)" in line_a and "1 live, 1 stale" in res.stdout
    finally:
        run_cli("stop", "--config", str(a), env=env)
    # no host runs now: read straight from Redis; box-a left the list when it stopped
    res = run_cli("fleet", "status", "--json", "--config", str(a), env=env)
    body = json.loads(res.stdout)
    assert [(h["name"], h["stale"]) for h in body["hosts"]] == [(b_name, True)]
    assert res.returncode == 3
    # and with Redis gone too: one line saying so, without the URL's secrets
    redis_server.stop()
    res = run_cli("fleet", "status", "--config", str(a), env={
        **env, "FLEET_REDIS": f"redis://:pw-never-shown@127.0.0.1:{redis_server.port}/0"})
    assert res.returncode == 1 and "is unreachable" in res.stdout
    assert "pw-never-shown" not in res.stdout + res.stderr


def test_fleet_status_without_fleet_mode_says_so(echo_config):
    res = run_cli("fleet", "status", "--config", str(echo_config))
    assert res.returncode != 0 and "fleet mode is off in this config" in res.stderr


async def test_metrics_labelled_by_host_and_the_fleet_panel(clawhost_host, clawhost_server,
                                                            redis_server, tmp_path):
    from clawhost.testing import EchoModel
    mon = {"monitor": {"sample_s": 0.25}}
    a = await clawhost_host(EchoModel(), config={**fleet(redis_server, "box-a"), "plugins": mon})
    b = await clawhost_host(EchoModel(), config={**fleet(redis_server, "box-b"), "plugins": mon})
    alone = await clawhost_host(EchoModel(), config={"plugins": mon})
    url_a, url_alone = await clawhost_server(a), await clawhost_server(alone)
    assert await until(lambda: a.fleet.hosts_seen() == 2)
    async with aiohttp.ClientSession() as s:
        async with s.post(url_a + "/v1/chat/completions", json={
                "model": "echo", "messages": [{"role": "user", "content": "hi"}]}) as r:
            assert r.status == 200
        m = await get_metrics(s, url_a)
        m_alone = await get_metrics(s, url_alone)
        async with s.get(url_a + "/v1/fleet") as r:
            view = await r.json()
        async with s.get(url_alone + "/v1/fleet") as r:
            assert (await r.json())["enabled"] is False
    assert value(m, "clawhost_requests_total", model="echo", endpoint="chat", status=200,
                 host="box-a") == 1
    assert value(m, "clawhost_fleet_redis_up", host="box-a") == 1
    assert value(m, "clawhost_fleet_hosts_seen", host="box-a") == 2
    every = [labels for (_, labels) in m]
    assert every and all(dict(labels).get("host") == "box-a" for labels in every)
    assert not any("host" in dict(labels) for (_, labels) in m_alone)  # alone: as before
    assert sorted(h["name"] for h in view["hosts"]) == ["box-a", "box-b"]
    if CHROMIUM is None:
        return
    await b.stop()  # leaves the list; a host that stops beating without leaving goes stale
    await a.fleet.redis.zadd("clawhost:fleet:hosts", {"box-gone": time.time() - 60})
    dom = await chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", url_a + "/")
    panel = re.search(r'<section[^>]*id="fleet-panel".*?</section>', dom, re.S).group(0)
    assert "hidden" not in panel.split(">")[0] and 'data-hosts="2"' in panel
    rows = re.findall(r"<tr>(.*?)</tr>", panel.split("<tbody>")[1], re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    assert [c[0] for c in cells] == ["box-a (this host)", "box-gone"]
    assert cells[0][-1] == "live" and cells[1][-1] == "stale" and cells[0][1] == __version__
    assert "redis up" in panel and "1 live, 1 stale" in panel
    dom_alone = await chromium(tmp_path, "--virtual-time-budget=2000", "--dump-dom",
                               url_alone + "/")
    assert re.search(r'<section[^>]*id="fleet-panel"[^>]*hidden', dom_alone)
