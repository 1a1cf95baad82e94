"""``clawhost bench``'s body: run, show, save under the workspace, clean up on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

LAST = Path("bench") / "last.json"  # under the configured workspace; the monitor shows it


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM and SIGINT unwind alike: the scratch workspace goes too


def save(workspace: Path, result: dict[str, Any]) -> Path:
    """Write the result where the monitor's status page reads it (atomically)."""
    path = workspace / LAST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    return path


def run_bench(config: Any, *, quick: bool, as_json: bool, html_file: str | None,
              live: bool) -> int:
    from .hosts import BenchError
    from .report import page, text
    from .runner import run
    t0 = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - t0:5.1f}s] {line}", file=sys.stderr, flush=True)

    # Ctrl-C too: left at Python's default, asyncio.run (each HTTP phase) swaps in a handler
    # that cancels its task instead, and a cancellation that lands as a request completes can
    # be lost on 3.11 (the phase then finished and the bench exited 0 after Ctrl-C)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run(config, quick=quick, progress=progress)
    except KeyboardInterrupt:
        print("clawhost bench: interrupted; its hosts are stopped and its scratch workspace "
              "removed", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the operator; the hosts are gone
        print(f"Error: clawhost bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    result["live"] = live
    saved = save(config.workspace, result)
    progress(f"saved {saved} (the status page shows it)")
    if html_file:
        Path(html_file).write_text(page(result), encoding="utf-8")
        progress(f"wrote {html_file}")
    print(json.dumps(result, indent=2) if as_json else text(result), end="" if not as_json else "\n")
    return 0
