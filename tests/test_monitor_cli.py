"""``clawhost stats`` against real running hosts: one served in-process, one `clawhost start`ed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys

import aiohttp
import yaml

from clawhost.testing import EchoModel
from test_monitor import DictCache, chat

CLI = [sys.executable, "-m", "clawhost"]


async def run_cli(*args: str, env: dict, cwd, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*CLI, *args, env=env, cwd=cwd,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_stats_table_json_and_watch(clawhost_host, clawhost_server, tmp_path):
    host = await clawhost_host(DictCache(), EchoModel(),
                               config={"plugins": {"monitor": {"sample_s": 0.2}}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        for i in range(30):
            assert (await chat(s, url, f"stats prompt {i % 10}"))[0] == 200
    env = {**os.environ, "CLAWHOST_URL": url}
    env.pop("CLAWHOST_CONFIG", None)

    code, out, err = await run_cli("stats", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["requests"] == 30
    assert abs(data["summary"]["hit_rate_l1"] - 2 / 3) < 1e-3

    code, out, err = await run_cli("stats", "--window", "30", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "requests 30" in out and "l1 66.7%" in out and "p99" in out
    assert "echo-embed" in out and "monitor" in out

    # A shell's background job (CI may run us as one) starts children with SIGINT ignored;
    # restore it, as a terminal would, so Ctrl-C reaches the command under test.
    proc = await asyncio.create_subprocess_exec(*CLI, "stats", "--json", "--watch", "0.3",
                                                env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE,
                                                preexec_fn=lambda: signal.signal(
                                                    signal.SIGINT, signal.SIG_DFL))
    lines = [await asyncio.wait_for(proc.stdout.readline(), 30) for _ in range(2)]
    assert [json.loads(x)["summary"]["requests"] for x in lines] == [30, 30]
    await chat_more(url)
    seen = []
    while 31 not in seen and len(seen) < 20:  # the watch keeps re-fetching: it sees the new one
        seen.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))["summary"]["requests"])
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0 and b"Traceback" not in err  # Ctrl-C ends it quietly
    assert seen[-1] == 31 and set(seen) <= {30, 31}


async def chat_more(url):
    async with aiohttp.ClientSession() as s:
        await chat(s, url, "one more")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_stats_from_a_started_host_with_a_token(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "workspace": str(tmp_path / "ws"),
        "server": {"host": "127.0.0.1", "port": free_port(), "token": "${MONITOR_TEST_TOKEN}"},
        "plugins": {"monitor": {"stats_path": "/v1/monitor-stats"}}}))
    env = {**os.environ, "MONITOR_TEST_TOKEN": "s3cret-token"}
    env.pop("CLAWHOST_URL", None)
    cfg = ["--config", str(config)]
    code, out, err = await run_cli("stats", *cfg, env=env, cwd=tmp_path)
    assert code == 1 and "cannot reach clawhost" in err and "Traceback" not in err
    code, out, err = await run_cli("start", *cfg, env=env, cwd=tmp_path, timeout=120)
    assert code == 0, err
    try:
        code, out, err = await run_cli("stats", *cfg, env=env, cwd=tmp_path)
        assert code == 0, err
        assert "requests/s" in out and "monitor" in out and "RSS" in out
        code, out, err = await run_cli("stats", "--json", *cfg, env=env, cwd=tmp_path)
        data = json.loads(out)
        assert data["summary"]["rss_mb"] > 10 and [p["name"] for p in data["plugins"]] == ["monitor"]
        # the token from the config is what let it in: without it the host says 401
        env_no = {**env, "CLAWHOST_URL": f"http://127.0.0.1:{port_of(config)}"}
        env_no.pop("CLAWHOST_TOKEN", None)
        code, out, err = await run_cli("stats", env=env_no, cwd=tmp_path / "ws")
        assert code == 1 and "401" in err
    finally:
        await run_cli("stop", *cfg, env=env, cwd=tmp_path, timeout=120)


def port_of(config) -> int:
    return yaml.safe_load(config.read_text())["server"]["port"]
