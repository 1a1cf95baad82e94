"""Each local model's worker thread and served state, shared by the serving modules.

Why one thread per model: see ``clawhost.plugins.quantized_model.serving``."""
from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from clawhost.api import BadRequest, Model, Unavailable

from .memory import release_free_memory


TRIM_EVERY_S = 1.0


class InlineExecutor(concurrent.futures.Executor):
    """Runs each call at once in the caller's thread: with ``offload: false`` model calls
    block the event loop, the baseline ``clawhost bench`` compares worker threads with."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)
        return future


class Worker:
    """One thread that runs a model's engine calls in order, awaitable from the loop.

    After a call it hands freed heap back to the OS (at most once a second: a trim costs
    a few ms), so a large batch or a long answer does not raise the host's RSS for good."""

    def __init__(self, name: str, offload: bool = True):
        self.pool: concurrent.futures.Executor = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"qm-{name}")
            if offload else InlineExecutor())
        self._trimmed = 0.0

    def call(self, fn: Callable, *args) -> Any:
        try:
            return fn(*args)
        finally:
            if time.monotonic() - self._trimmed > TRIM_EVERY_S:
                release_free_memory()
                self._trimmed = time.monotonic()

    async def run(self, fn: Callable, *args) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self.call, fn, *args)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Served:
    """A registered local model: its host entry, options, engine and worker."""

    model: Model
    spec: Any  # plugins.quantized_model.ModelSpec
    worker: Worker
    engine: Any = None
    counts: dict[str, int] = field(default_factory=lambda: {"requests": 0, "tokens": 0})

    def check_ready(self) -> Any:
        if self.engine is not None:
            return self.engine
        status = self.model.status
        reason = status[len("error: "):] if status.startswith("error: ") else f"it is {status}"
        raise Unavailable(f"model {self.model.id!r} is unavailable: {reason}",
                          headers={"Retry-After": "5"} if not status.startswith("error") else {})


def reraise_engine_error(exc: BaseException) -> None:
    """Turn an engine's bad-input errors into a 400; anything else propagates."""
    from .chat_engine import ContextLengthError  # both engines are loaded by now
    from clawhost.engines.embed_engine import InputTooLongError
    if isinstance(exc, (ContextLengthError, InputTooLongError)):
        raise BadRequest(str(exc), code="context_length_exceeded") from None
    raise exc


