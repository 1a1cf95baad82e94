"""The bench's scratch workspace and the host processes it runs there.

Why processes and not an in-process ``Host``: a real ``clawhost run`` is what the operator
serves with (server, event loop, worker threads, its own RSS), and a separate process per
configuration keeps one measurement's memory and threads out of the next. Each child gets
its own session, so a Ctrl-C (or SIGTERM) of the bench kills exactly the process groups it
started and nothing else, and the scratch folder goes with them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .probe import free_port, get, rss_mb


class BenchError(RuntimeError):
    """The bench cannot go on; the message says why, in one line."""


class Scratch:
    """A temporary workspace whose ``models/`` links to the configured, prepared artifacts
    (read-only reuse: nothing is copied, nothing in production is written)."""

    def __init__(self, source_models: Path, model_ids: list[str],
                 plugins_dir: Path | None = None):
        self.plugins_dir = plugins_dir  # the operator's own plugin files, if the config has any
        self.root = Path(tempfile.mkdtemp(prefix="clawhost-bench-"))
        self.workspace = self.root / "ws"
        self.models = self.workspace / "models"
        self.models.mkdir(parents=True)
        self.children: list[subprocess.Popen] = []
        for mid in model_ids:
            if (source_models / mid).is_dir():
                (self.models / mid).symlink_to((source_models / mid).resolve(), True)
        if (source_models / ".downloads").is_dir():  # fp32 builds resolve sources from there
            (self.models / ".downloads").symlink_to((source_models / ".downloads").resolve(), True)

    def spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        """A ``python -m clawhost ...`` child in its own session, output to a log here."""
        with open(self.root / log_name, "ab") as out:
            child = subprocess.Popen([sys.executable, "-m", "clawhost", *args],
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.root,
                                     start_new_session=True, close_fds=True)
        self.children.append(child)
        return child

    def write_config(self, name: str, plugins: dict[str, Any], port: int = 0) -> Path:
        cfg = self.root / f"{name}.yaml"
        cfg.write_text(json.dumps({  # JSON is YAML: no dumper needed
            "workspace": str(self.workspace), "log_level": "warning",
            **({"plugins_dir": str(self.plugins_dir)} if self.plugins_dir else {}),
            "server": {"port": port or free_port(), "max_inflight": 4096,
                       "drain_timeout_s": 2, "max_connections": 4096},
            "plugins": plugins}))
        return cfg

    def log_tail(self, log_name: str) -> str:
        try:
            lines = (self.root / log_name).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no output"
        return lines[-1][:300] if lines else "no output"

    def kill_all(self) -> None:
        for child in self.children:
            stop_group(child, grace=2.0)
        self.children.clear()

    def cleanup(self) -> None:
        self.kill_all()
        shutil.rmtree(self.root, ignore_errors=True)


def stop_group(child: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the child's process group (a host drains; a preparation stops its own child),
    then SIGKILL whatever is left after ``grace`` seconds."""
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # the group may outlive its leader (a preparation's own child)
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if child.poll() is None:
        child.wait(5)


class HostProcess:
    """One ``clawhost run`` in the scratch workspace with the given plugins."""

    def __init__(self, scratch: Scratch, name: str, plugins: dict[str, Any]):
        self.scratch, self.name = scratch, name
        self.port = free_port()
        self.config = scratch.write_config(name, plugins, self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.child: subprocess.Popen | None = None
        self.start_s = 0.0

    def __enter__(self) -> "HostProcess":
        t0 = time.perf_counter()
        self.child = self.scratch.spawn(["run", "--config", str(self.config)], f"{self.name}.log")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status, facts = get(f"{self.url}/readyz", timeout=1)
            if status == 200:
                bad = {m: s for m, s in (facts or {}).get("models", {}).items() if s != "ready"}
                if bad:
                    raise BenchError(f"{self.name}: models not ready: {bad}")
                self.start_s = time.perf_counter() - t0
                return self
            if self.child.poll() is not None:
                raise BenchError(f"{self.name}: the host exited during startup: "
                                 f"{self.scratch.log_tail(self.name + '.log')}")
            time.sleep(0.05)
        raise BenchError(f"{self.name}: not ready in 300 s")

    def __exit__(self, *exc) -> None:
        if self.child is not None:
            stop_group(self.child)
            self.scratch.children.remove(self.child)

    def rss_mb(self) -> float:
        assert self.child is not None
        return rss_mb(self.child.pid)


def build_fp32(scratch: Scratch, model_id: str, spec: dict[str, Any],
               on_line: Callable[[str], None] | None = None) -> tuple[str, float]:
    """Prepare ``spec`` as fp32 under a new id in the scratch workspace (no quality check:
    it is the reference). Returns the new id and the seconds it took."""
    ref_id = f"{model_id}-fp32"[:64]
    ref = {**spec, "quantization": "fp32", "check": False}
    cfg = scratch.write_config(f"prepare-{ref_id}", {"quantized_model": {
        "models": {ref_id: ref}, "prepare_on_start": False}})
    t0 = time.perf_counter()
    child = scratch.spawn(["model", "prepare", ref_id, "--config", str(cfg)], f"prepare-{ref_id}.log")
    code = child.wait()
    scratch.children.remove(child)
    if code != 0:
        raise BenchError(f"building the fp32 reference of {model_id} failed: "
                         f"{scratch.log_tail(f'prepare-{ref_id}.log')}")
    return ref_id, time.perf_counter() - t0
