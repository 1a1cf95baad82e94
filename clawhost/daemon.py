"""Process lifecycle for ``clawhost start | stop | status | run``: pidfile, detach, drain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .config import Config
from .errors import ConfigError

PIDFILE = "clawhost.pid"
LOGFILE = Path("logs") / "clawhost.log"


class LifecycleError(RuntimeError):
    """start/stop could not do what was asked; the message says why, in one line."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a reused pid that is not ours counts as gone
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        return b"clawhost" in cmd
    except OSError:
        return True


def running_pid(config: Config) -> int | None:
    """The pid of the running host, removing a stale pidfile on the way."""
    path = config.workspace / PIDFILE
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        if path.exists():
            path.unlink(missing_ok=True)
        return None
    if _alive(pid):
        return pid
    path.unlink(missing_ok=True)
    return None


def url_of(config: Config) -> str:
    srv = config.host.server
    addr = "127.0.0.1" if srv.host in ("0.0.0.0", "::", "") else srv.host
    return f"http://{addr}:{srv.port}"


def fetch_json(config: Config, path: str, timeout: float = 2.0,
               method: str = "GET") -> tuple[int, dict | None]:
    """(HTTP status, JSON body) from the running host; (0, None) when nothing answers."""
    req = urllib.request.Request(url_of(config) + path, method=method,
                                 data=b"" if method == "POST" else None)
    if config.host.server.token:
        req.add_header("Authorization", f"Bearer {config.host.server.token.get_secret_value()}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return 0, None


def last_error(log: Path) -> str:
    """The last error line of the host's log, else the last line of its captured output
    (a crash before logging was set up lands only there)."""
    for path in (log, log.with_suffix(".out")):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
        except OSError:
            continue
        for line in reversed(lines):
            if " ERROR " in line or " CRITICAL " in line:
                return line.split(": ", 1)[-1]
        if lines:
            return lines[-1]
    return f"nothing in {log} or {log.with_suffix('.out').name}"


def run_foreground(config: Config, *, log_file: bool = False) -> None:
    """Serve in this process until SIGTERM/SIGINT; own the pidfile while running."""
    from . import logs
    from .host import Host

    logs.setup(config.host.log_level, config.workspace / LOGFILE if log_file else None,
               config.secrets)
    if (pid := running_pid(config)) is not None and pid != os.getpid():
        raise LifecycleError(f"clawhost is already running (pid {pid}); stop it first")
    host = Host(config)
    host.prepare_workspace()
    pidfile = config.workspace / PIDFILE
    pidfile.write_text(f"{os.getpid()}\n")
    try:
        host.register_models()  # local models start loading while the server is set up
        from .server import serve
        asyncio.run(serve(host))
    finally:
        try:
            if pidfile.read_text().split()[0] == str(os.getpid()):
                pidfile.unlink()
        except (OSError, IndexError):
            pass


def start(config: Config, *, timeout: float = 900.0, progress=None) -> int:
    """Detach a host, wait until ``/readyz`` answers 200, return its pid."""
    if (pid := running_pid(config)) is not None:
        raise LifecycleError(f"clawhost is already running (pid {pid}) at {url_of(config)}")
    from .host import prepare_workspace
    try:
        prepare_workspace(config.workspace)
    except ConfigError as exc:
        raise LifecycleError(str(exc)) from None
    log = config.workspace / LOGFILE
    srv = config.host.server  # after --port/--host and $CLAWHOST_PORT/$CLAWHOST_HOST
    cmd = [sys.executable, "-m", "clawhost", "run", "--log-file", "--config", str(config.path),
           "--port", str(srv.port), "--host", srv.host]
    with open(os.devnull, "rb") as devnull, open(log.with_suffix(".out"), "ab") as out:
        # cwd = the workspace: `python -m clawhost` from a source checkout's root would
        # otherwise import the checkout's clawhost/ rather than the installed package.
        child = subprocess.Popen(cmd, stdin=devnull, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=config.workspace, start_new_session=True, close_fds=True)
    deadline, shown = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise LifecycleError(f"clawhost failed to start: {last_error(log)}")
        status, facts = fetch_json(config, "/readyz", timeout=1.0)
        if status == 200:
            return child.pid
        note = (facts or {}).get("progress")
        if progress and note and note != shown:
            progress(note)
            shown = note
        time.sleep(0.05)
    child.terminate()
    raise LifecycleError(f"clawhost did not become ready in {timeout:.0f}s: {last_error(log)}")


def stop(config: Config, *, timeout: float | None = None) -> int | None:
    """SIGTERM the host and wait for it to drain; None when nothing was running."""
    pid = running_pid(config)
    if pid is None:
        return None
    timeout = timeout if timeout is not None else config.host.server.drain_timeout_s + 10
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    (config.workspace / PIDFILE).unlink(missing_ok=True)
    return pid


def status(config: Config) -> dict:
    pid = running_pid(config)
    facts: dict = {"running": pid is not None, "pid": pid, "url": url_of(config)}
    if pid is not None:
        code, ready = fetch_json(config, "/readyz")
        facts["ready"] = code == 200
        if ready:
            facts.update({k: v for k, v in ready.items() if k not in ("pid", "ready", "status")})
    return facts
