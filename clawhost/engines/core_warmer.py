"""Keep idle cores awake while a model decodes, without taking CPU from anyone.

Why: onnxruntime's intra-op workers block between parallel ops (spin-waiting starves the
event loop and other processes on a loaded 2-core box, see `ort_session.session_options`).
A decode step has ~120 parallel ops (one per MatMulNBits), and each one wakes a blocked
worker. On a VM whose idle vCPU halts (no cpuidle driver: plain HLT, a VM exit), that wake
costs ~28 µs, several ms per token. A busy loop on the idle core at the lowest scheduling
class (SCHED_IDLE) keeps that vCPU running, so the wake is a plain in-guest reschedule, and
it yields to every other task at once: a waking worker, the event loop, another process.
It never competes the way onnxruntime's own spinning (normal priority) does under load.

How: one ``sh`` busy loop per core the pool may wake (intra-op threads - 1), started on
first use, stopped with SIGSTOP when no one decodes (an idle box stays idle) and resumed
with SIGCONT. The loop ends when this process is gone (``kill -0`` each turn; a stopped one
gets SIGHUP as its process group is orphaned).
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SHELL = "/bin/sh"


def available() -> bool:
    """Whether this platform can run the loop (Linux: posix_spawn, SCHED_IDLE)."""
    return (hasattr(os, "posix_spawn") and hasattr(os, "SCHED_IDLE")
            and hasattr(os, "sched_setscheduler") and os.path.exists(SHELL))


class CoreWarmer:
    """`count` SCHED_IDLE busy loops, running while at least one holder holds them."""

    def __init__(self, count: int = 1):
        self.count = max(0, count)
        self._pids: list[int] = []
        self._holders = 0
        self._lock = threading.Lock()

    @property
    def pids(self) -> list[int]:
        return list(self._pids)

    @property
    def running(self) -> bool:
        return self._holders > 0 and bool(self._pids)

    def _spawn(self) -> None:
        loop = f"while kill -0 {os.getpid()} 2>/dev/null; do :; done"
        for _ in range(self.count):
            # (posix_spawn's own setscheduler is not built into every CPython)
            pid = os.posix_spawn(SHELL, [SHELL, "-c", loop], os.environ, setpgroup=0)
            self._pids.append(pid)
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))

    def _signal(self, sig: int) -> None:
        for pid in self._pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def hold(self) -> None:
        """One more holder: the loops run (started on the first hold)."""
        with self._lock:
            self._holders += 1
            if self._holders == 1 and self.count:
                if not self._pids:
                    self._spawn()
                else:
                    self._signal(signal.SIGCONT)

    def release(self) -> None:
        """One holder fewer: the loops stop when none is left."""
        with self._lock:
            if self._holders == 0:
                return
            self._holders -= 1
            if self._holders == 0:
                self._signal(signal.SIGSTOP)

    @contextmanager
    def held(self) -> Iterator[None]:
        self.hold()
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        """End the loops (and reap them)."""
        with self._lock:
            self._signal(signal.SIGKILL)
            for pid in self._pids:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            self._pids, self._holders = [], 0

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
