"""The status page in headless Chromium: after real traffic its charts and tables have data.

Keeps a screenshot at tests/artifacts/status.png (git-ignored). Skipped when Debian's
``chromium`` is not installed (``apt-get install chromium``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import aiohttp
import pytest

from clawhost.testing import EchoModel
from test_monitor import DictCache, Upstreamish, chat
from clawhost.plugins.monitor import STATE as MONITOR_STATE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(apt-get install chromium)")


async def chromium(tmp_path, *args: str, timeout: float = 90) -> str:
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode(errors="replace")


async def test_status_page_shows_live_data(clawhost_host, clawhost_server, tmp_path):
    host = await clawhost_host(DictCache(), Upstreamish(), EchoModel(delay=0.002),
                               config={"plugins": {"monitor": {"sample_s": 0.25}}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        for burst in range(6):  # traffic spread over several history points
            await asyncio.gather(*(chat(s, url, f"question {burst % 2} {i % 6}") for i in range(12)))
            await asyncio.sleep(0.25)
    mon = host.state[MONITOR_STATE]
    dom = await chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", url + "/")
    assert mon.stats_served >= 2  # it polled again by itself (every 2 s of page time)

    for chart in ("latency", "throughput", "hitrate", "memory"):
        m = re.search(rf'id="chart-{chart}"[^>]*data-points="(\d+)"', dom) or re.search(
            rf'data-points="(\d+)"[^>]*id="chart-{chart}"', dom)
        assert m, f"chart {chart} missing from the page"
        assert int(m.group(1)) > 0, f"chart {chart} has no data points"
    assert re.search(r'id="live" class="live ok"', dom)
    assert re.search(r'id="c-rps">\d', dom) and re.search(r'id="c-hit">\d+\.\d%', dom)
    plugins = re.search(r'<table id="plugins">.*?</table>', dom, re.S).group(0)
    for name in host.chain.names():
        assert f"<td>{name}</td>" in plugins
    models = re.search(r'<table id="models">.*?</table>', dom, re.S).group(0)
    assert "<td>echo</td>" in models and "<td>echo-embed</td>" in models

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status.png"
    shot.unlink(missing_ok=True)
    await chromium(tmp_path, "--virtual-time-budget=4000", "--window-size=1280,1000",
                   f"--screenshot={shot}", url + "/")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
