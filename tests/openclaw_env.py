"""Real OpenClaw as a client of clawhost: install it, write README's config, run its CLI.

Shared by tests/test_openclaw_real.py and benchmarks/openclaw_session.py. OpenClaw and the
Node 24 it needs come from the npm registry through ``.ci/install-openclaw`` (once, into a
cache folder). The configs are the JSON blocks README.md marks with
``<!-- openclaw-config: NAME -->``, merged in order; the only change made to them is the port
in ``baseUrl`` (tests serve clawhost on a free port, not 8787).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
INSTALLER = ROOT / ".ci" / "install-openclaw"
PIN_CLOCK = Path(__file__).resolve().parent / "openclaw" / "pin-clock.mjs"
VERSION = "2026.9.6"
NOTE = "The spare key is under the blue flowerpot."


class Unavailable(Exception):
    """OpenClaw cannot be installed here (no npm): the caller skips and says why."""


def install() -> dict[str, str]:
    """Install OpenClaw (cached); the environment that puts its node and CLI on PATH."""
    if shutil.which("npm") is None:
        raise Unavailable("npm is not installed: OpenClaw and Node 24 come from the npm "
                          "registry (Debian: apt-get install -y npm)")
    done = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise RuntimeError(f"{INSTALLER.name} failed: {done.stderr[-2000:]}")
    base = Path(done.stdout.strip().splitlines()[-1])
    path = [str(base / "node24" / "node_modules" / "node" / "bin"),
            str(base / "openclaw" / "node_modules" / ".bin")]
    return {"PATH": os.pathsep.join(path + [os.environ.get("PATH", "")])}


def readme_configs(text: str | None = None) -> dict[str, dict]:
    """README's OpenClaw config blocks by name."""
    text = README.read_text() if text is None else text
    found = re.findall(r"<!-- openclaw-config: ([\w-]+) -->\s*```json\n(.*?)\n```", text, re.S)
    return {name: json.loads(body) for name, body in found}


def merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def config(names: list[str], url: str) -> dict:
    """README's blocks ``names`` merged, with clawhost's ``baseUrl`` pointed at ``url``."""
    blocks = readme_configs()
    cfg: dict = {}
    for name in names:
        cfg = merge(cfg, blocks[name])
    provider = cfg["models"]["providers"]["clawhost"]
    assert provider["baseUrl"] == "http://127.0.0.1:8787/v1", provider["baseUrl"]
    provider["baseUrl"] = url.rstrip("/") + "/v1"
    return cfg


def agent_script(body: dict) -> dict:
    """The fake remote model's policy for OpenClaw turns (see FakeUpstream's ``script``).

    A turn whose user message says USE_TOOL gets a call to OpenClaw's ``read`` tool for
    note.txt; the request carrying that tool's result gets the result back as text; any other
    turn gets a fixed sentence."""
    tail = []   # what came after the model's last message
    for m in reversed(body["messages"]):
        if m.get("role") == "assistant":
            break
        tail.append(m)
    results = [m for m in tail if m.get("role") == "tool"]
    if results:
        return {"text": "The note says: " + _text(results[0].get("content")).strip()}
    if any("USE_TOOL" in _text(m.get("content")) for m in tail if m.get("role") == "user"):
        return {"tool": "read", "arguments": {"path": "note.txt"}, "id": "callread1"}
    return {"text": "Hello from the fake upstream."}


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


class OpenClaw:
    """One OpenClaw installation with its own home (config, state, workspace) under ``home``."""

    def __init__(self, home: Path, env: dict[str, str], cfg: dict):
        self.home, self.env = Path(home), env
        self.state = self.home / ".openclaw"
        self.workspace = self.state / "workspace"
        self.workspace.mkdir(parents=True, exist_ok=True)
        (self.state / "openclaw.json").write_text(json.dumps(cfg, indent=2))
        (self.workspace / "note.txt").write_text(NOTE + "\n")

    async def run(self, *args: str, timeout: float = 300, pin_clock: str | None = None):
        """``openclaw ARGS`` as a child process, without blocking the event loop that serves
        clawhost; returns (exit code, stdout, stderr)."""
        env = {**os.environ, **self.env, "HOME": str(self.home), "OPENCLAW_HOME": str(self.home),
               "NO_COLOR": "1", "OPENCLAW_NO_UPDATE_CHECK": "1"}
        for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENCLAW_CONFIG_PATH",
                    "OPENCLAW_STATE_DIR", "NODE_OPTIONS"):
            env.pop(key, None)
        if pin_clock:
            env["NODE_OPTIONS"] = f"--import={PIN_CLOCK}"
            env["CLAWHOST_PIN_CLOCK"] = pin_clock
        proc = await asyncio.create_subprocess_exec(
            "openclaw", *args, cwd=self.workspace, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
            raise AssertionError(f"openclaw {' '.join(args)} ran past {timeout} s: "
                                 f"{err.decode()[-3000:]}") from None
        return proc.returncode, out.decode(), err.decode()

    async def turn(self, message: str, *, session: str = "clawhost-test", timeout: float = 400,
                   pin_clock: str | None = None) -> dict:
        """One agent turn: ``openclaw agent --local --session-id S --message M --json``."""
        code, out, err = await self.run("agent", "--local", "--session-id", session,
                                        "--message", message, "--json",
                                        "--timeout", str(int(timeout - 20)),
                                        timeout=timeout, pin_clock=pin_clock)
        assert code == 0, f"openclaw agent exited {code}: {out[-2000:]}\n{err[-3000:]}"
        return json.loads(out)

    def snapshot(self, to: Path) -> None:
        shutil.copytree(self.home, to, symlinks=True)

    def restore(self, frm: Path) -> None:
        shutil.rmtree(self.home)
        shutil.copytree(frm, self.home, symlinks=True)


def reply_text(result: dict) -> str:
    return "\n".join(p.get("text") or "" for p in result.get("payloads") or [])
