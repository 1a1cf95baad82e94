"""Test helpers for clawhost and its plugin authors (a pytest plugin, loaded automatically).

Fixtures:
- ``clawhost_host``: an async factory ``await clawhost_host(*plugins, config={...})`` that
  builds and starts a ``Host`` in a temporary workspace and stops it after the test;
- ``clawhost_server``: ``url = await clawhost_server(host)`` serves a host on a free
  loopback port for one test;
- ``register_plugin``: ``register_plugin(host, obj)`` puts a plugin in a host's chain for
  one test only.
``EchoModel`` is a trivial in-process model for exercising the loop without a real model.
``TRACE`` is a note key test plugins may append to (``request.notes.setdefault(TRACE, [])``),
so plugins written to files by a test and the test itself share one typed key.
"""

from __future__ import annotations

from typing import Any

import pytest

from .stash import StashKey
from .testmodel import BagEngine, BagModel, EchoModel  # noqa: F401 - part of the toolkit's API

TRACE: StashKey[list] = StashKey("trace")


def make_config(workspace, config: dict[str, Any] | None = None):
    """A Config from a dict shaped like config.yaml, rooted in ``workspace``."""
    import yaml

    from .config import load_config
    data = {"workspace": str(workspace), "plugins": {}, **(config or {})}
    return load_config(text=yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def register_plugin():
    """``register_plugin(host, plugin, name=None)``: in the chain for this test only."""
    added = []

    def register(host, plugin, name=None):
        added.append((host, host.chain.register(plugin, name=name)))
        return plugin

    yield register
    for host, name in added:
        host.chain.unregister(name)


@pytest.fixture
async def clawhost_host(tmp_path):
    """Async factory: ``await clawhost_host(*plugins, config={...})`` -> started Host."""
    from .host import Host
    hosts = []

    async def make(*plugins, config: dict[str, Any] | None = None, installed=None):
        cfg = make_config(tmp_path / f"ws{len(hosts)}", config)
        extra = [(f"test-plugin-{i}", p) for i, p in enumerate(plugins)]
        host = Host(cfg, installed=installed, extra_plugins=extra)
        hosts.append(host)
        await host.start()
        return host

    yield make
    for host in hosts:
        await host.stop()


@pytest.fixture
async def clawhost_server():
    """Async factory: ``url = await clawhost_server(host)`` serves it on 127.0.0.1."""
    from aiohttp import web

    from .server import make_runner
    runners = []

    async def serve(host) -> str:
        runner = make_runner(host)  # the server `clawhost start` runs: same guards and timeouts
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield serve
    for runner in runners:
        await runner.cleanup()
