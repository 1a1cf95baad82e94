"""Small helpers shared by ``clawhost bench`` and the scripts in ``benchmarks/``: ports,
one-shot HTTP GETs, process memory, the machine's description, percentiles."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> tuple[int, dict | None]:
    """(HTTP status, JSON body); (0, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def wait_ready(url: str, timeout: float = 60.0, model: str | None = None,
               interval: float = 0.05) -> None:
    """Poll ``url`` (a clawhost's /readyz or /healthz, llama-server's /health) until it
    answers 200 and, given ``model``, clawhost's /readyz says that model is ready (a first
    start prepares models for about a minute); SystemExit naming ``url`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200 and (
                        model is None or json.load(resp)["models"].get(model) == "ready"):
                    return
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # not listening yet, starting (503), or no models facts yet
        time.sleep(interval)
    raise SystemExit(f"{url} not ready after {timeout:g} s")


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB (10^6 bytes, as the benchmark tables use)."""
    import psutil
    return psutil.Process(pid).memory_info().rss / 1e6


def cpu_model() -> str:
    """The CPU's model name from ``lscpu`` (the platform's guess where lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if "Model name" in l)
    except (OSError, StopIteration, subprocess.SubprocessError):
        return platform.processor() or "unknown CPU"


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores"


def pct(xs: list[float], p: float) -> float:
    """The p-th percentile by nearest rank (nan for no samples)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def overshoot(times: list[float], per_minute: int, slack: float = 0.05) -> int:
    """Of these arrival times (seconds), how many one exact limiter of ``per_minute`` (burst
    one minute's budget, refilled continuously: the connection pool's rule) would have
    refused. ``slack``: seconds of clock difference forgiven between the limiter's clock and
    the one that stamped the arrivals."""
    rate, level, last, over = per_minute / 60.0, float(per_minute), None, 0
    for t in sorted(times):
        if last is not None:
            level = min(per_minute, level + (t - last + slack) * rate)
        last = t
        if level >= 1 - 1e-9:
            level -= 1
        else:
            over += 1
    return over


def sentences(n: int) -> list[str]:
    """Short, distinct sentences (12-23 tokens) like an agent's embedding calls."""
    base = ["How do I fix a flat bike tyre?", "What is the capital of France?",
            "Recipe for sourdough bread with a crisp crust and an open crumb, please.",
            "Why is the sky blue during the day but red at sunset?"]
    return [f"{base[i % 4]} ({i})" for i in range(n)]
