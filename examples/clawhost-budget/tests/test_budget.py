"""clawhost-budget, installed as its own distribution and run in a real host."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import aiohttp
import pytest

from clawhost.host import Host
from clawhost.testing import EchoModel, make_config
from clawhost_budget import STATE

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def installed():
    """Install the package from its folder, as a user would, unless it already is."""
    if not any(ep.name == "budget" for ep in entry_points(group="clawhost")):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(HERE)],
                       check=True)
    import importlib
    importlib.invalidate_caches()


PRICES = {"acme/*": {"input_per_mtok": 1_000_000, "output_per_mtok": 1_000_000}}


async def serve(tmp_path, clawhost_server, **budget):
    options = {"prices": PRICES, "limits": {"acme": {"daily_usd": 10}}, **budget}
    config = make_config(tmp_path / "ws", {"plugins": {"budget": options}})
    host = Host(config, extra_plugins=[("acme", EchoModel("acme/gpt")),
                                       ("local", EchoModel("local-small"))])
    await host.start()
    return host, await clawhost_server(host)


async def ask(session, url, model="acme/gpt", text="one two three"):
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    async with session.post(url + "/v1/chat/completions", json=body) as r:
        return r.status, dict(r.headers), await r.json()


def test_installed_through_the_entry_point_group():
    from clawhost.pluginmanager import discover
    item = discover()["budget"]
    assert item.dist == "clawhost-budget" and not item.builtin and item.error is None
    assert "clawhost_infer" in item.hooks


async def test_prices_calls_warns_then_refuses(tmp_path, clawhost_server):
    host, url = await serve(tmp_path, clawhost_server)
    async with aiohttp.ClientSession() as s:
        # each call: 3 prompt + 3 completion tokens at $1/token = $6
        status, headers, _ = await ask(s, url)
        assert status == 200 and "x-clawhost-budget" not in headers
        spent_today = host.state[STATE].ledger.spent("acme")[0]
        assert spent_today == pytest.approx(6.0)
        status, headers, _ = await ask(s, url, text="a")  # 60% -> no warning yet, now $8
        assert status == 200 and "x-clawhost-budget" not in headers
        status, headers, _ = await ask(s, url, text="b")  # 80% spent before: warns
        assert status == 200 and headers["x-clawhost-budget"].startswith("warn; provider=acme")
        status, _, body = await ask(s, url)
        assert status == 402 and "budget exceeded for provider 'acme'" in body["error"]["message"]
        status, _, _ = await ask(s, url, model="local-small")  # unpriced models still serve
        assert status == 200
    assert host.state[STATE].figures()["refused_total"] == 1
    ledger = (tmp_path / "ws" / "budget" / "ledger.json").read_text()
    assert "acme|" in ledger


async def test_reroutes_to_local_model_over_limit(tmp_path, clawhost_server):
    host, url = await serve(tmp_path, clawhost_server, on_exceed="reroute",
                            reroute_model="local-small", limits={"acme": {"daily_usd": 1}})
    async with aiohttp.ClientSession() as s:
        await ask(s, url)  # $6: over the $1 limit
        status, headers, body = await ask(s, url, text="rerouted please")
    assert status == 200 and body["model"] == "local-small"
    assert body["choices"][0]["message"]["content"] == "rerouted please"
    assert headers["x-clawhost-budget"] == "rerouted; provider=acme; to=local-small"


async def test_refuse_with_429_and_totals_survive_restart(tmp_path, clawhost_server):
    host, url = await serve(tmp_path, clawhost_server, refuse_status=429,
                            limits={"acme": {"monthly_usd": 5}})
    async with aiohttp.ClientSession() as s:
        await ask(s, url)
    await host.stop()
    host2, url2 = await serve(tmp_path, clawhost_server, refuse_status=429,
                              limits={"acme": {"monthly_usd": 5}})
    async with aiohttp.ClientSession() as s:
        status, headers, body = await ask(s, url2)
    assert status == 429 and "Retry-After" in headers


def test_bad_options_are_named(tmp_path):
    from clawhost.errors import ConfigError
    config = make_config(tmp_path / "ws", {"plugins": {"budget": {"warn_at": 7, "on_exceed": "panic"}}})
    with pytest.raises(ConfigError) as err:
        Host(config)
    assert "plugins.budget.warn_at" in str(err.value) and "plugins.budget.on_exceed" in str(err.value)
