"""Test helpers for clawhost and its plugin authors (a pytest plugin, loaded automatically).

Fixtures:
- ``clawhost_host``: an async factory ``await clawhost_host(*plugins, config={...})`` that
  builds and starts a ``Host`` in a temporary workspace and stops it after the test;
- ``clawhost_server``: ``url = await clawhost_server(host)`` serves a host on a free
  loopback port for one test;
- ``register_plugin``: ``register_plugin(host, obj)`` puts a plugin in a host's chain for
  one test only.
``EchoModel`` is a trivial in-process model for exercising the loop without a real model.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from .hookspecs import hookimpl


class EchoModel:
    """A model plugin that answers with the last user message (``echo``) and hash embeddings."""

    def __init__(self, name: str = "echo", dim: int = 8, delay: float = 0.0):
        self.name, self.dim, self.delay = name, dim, delay
        self.calls = 0

    @hookimpl
    def clawhost_register_models(self, register):
        from .types import Model
        register(Model(self.name, "chat+completion", owner="echo", context_length=4096))
        register(Model(f"{self.name}-embed", "embedding", owner="echo"))

    @hookimpl
    async def clawhost_infer(self, request):
        from . import streaming
        from .types import Reply
        if request.model.owner != "echo":
            return None
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.kind == "embedding":
            vecs = [self.vector(t) for t in request.body.texts]
            return Reply(streaming.embedding_list(request.model.id, vecs))
        text = (request.body.prompt_text if request.kind == "completion"
                else request.body.messages[-1].text())
        limit = request.body.token_limit
        words = text.split(" ")
        finish = "stop"
        if limit is not None and len(words) > limit:
            words, finish = words[:limit], "length"
        use = streaming.usage(len(text.split()), len(words))
        if request.kind == "completion":
            body = streaming.text_completion(request.model.id, " ".join(words),
                                             finish_reason=finish, usage=use)
        else:
            body = streaming.chat_completion(request.model.id, " ".join(words),
                                             finish_reason=finish, usage=use)
        if request.stream:
            return Reply(stream=streaming.replay(request, body))
        return Reply(body)

    def vector(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        raw = [b / 255.0 - 0.5 for b in digest[: self.dim]]
        norm = sum(x * x for x in raw) ** 0.5 or 1.0
        return [x / norm for x in raw]


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

    from .server import make_app
    runners = []

    async def serve(host) -> str:
        runner = web.AppRunner(make_app(host), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield serve
    for runner in runners:
        await runner.cleanup()
