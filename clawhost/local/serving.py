"""Serve prepared local models from the event loop without blocking it.

Every engine call runs on the model's own worker thread (one per model: an ORT session
already uses every core through its intra-op threads, so more workers per model would only
oversubscribe them; onnxruntime releases the GIL, so the loop keeps answering health checks
and cache hits meanwhile). A stream hands tokens from the worker to the loop through
``call_soon_threadsafe``; closing the stream sets a flag the worker checks between tokens,
so a client that goes away stops the generation.
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from .. import streaming
from ..errors import BadRequest, ClawhostError, Unavailable
from ..types import Model, ModelRequest, Reply

log = logging.getLogger("clawhost.quantized_model")
DEFAULT_MAX_TOKENS = 256
_END = object()


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise).

    Loading a model frees its unpacked weights once onnxruntime prepacked them; without this
    the host's RSS keeps ~30 MB that nothing uses (measured with both default models)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


TRIM_EVERY_S = 1.0


class Worker:
    """One thread that runs a model's engine calls in order, awaitable from the loop.

    After a call it hands freed heap back to the OS (at most once a second: a trim costs
    a few ms), so a large batch or a long answer does not raise the host's RSS for good."""

    def __init__(self, name: str):
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"qm-{name}")
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


# -- embeddings ------------------------------------------------------------------------------

def _check_dimensions(served: Served, request: ModelRequest) -> None:
    dims = request.body.dimensions
    if dims is not None and dims != served.engine.dim:
        raise BadRequest(f"model {served.model.id!r} returns {served.engine.dim}-dimensional "
                         f"embeddings; dimensions={dims} is not supported", param="dimensions")


def _embedding_body(model_id: str, vectors, tokens: int, encoding: str) -> dict[str, Any]:
    if encoding == "base64":  # what the openai client asks for by default
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode()}
                for i, v in enumerate(vectors)]
        return {"object": "list", "data": data, "model": model_id,
                "usage": streaming.usage(tokens)}
    return streaming.embedding_list(model_id, vectors.tolist(), prompt_tokens=tokens)


def _embed_call(engine, texts: list[str]):
    """Runs on the worker: vectors and token counts for all texts in one engine call."""
    from .embed_engine import InputTooLongError
    try:
        counts = engine.count_tokens(texts)
        vectors = engine.embed(texts)
    except InputTooLongError as exc:
        raise BadRequest(f"{exc} (the input is too long for this embedding model)",
                         param="input") from None
    limit = engine.max_length
    return vectors, [min(c, limit) for c in counts]


async def embed(served: Served, request: ModelRequest) -> Reply:
    return (await embed_batch(served, [request]))[0]


async def embed_batch(served: Served, requests: list[ModelRequest]) -> list[Reply]:
    """Many embedding requests in one engine call (texts of all requests together)."""
    engine = served.check_ready()
    for r in requests:
        _check_dimensions(served, r)
    texts = [t for r in requests for t in r.body.texts]
    vectors, counts = await served.worker.run(_embed_call, engine, texts)
    replies, at = [], 0
    for r in requests:
        n = len(r.body.texts)
        served.counts["requests"] += 1
        served.counts["tokens"] += sum(counts[at:at + n])
        body = _embedding_body(served.model.id, vectors[at:at + n], sum(counts[at:at + n]),
                               r.body.encoding_format)
        replies.append(Reply(body))
        if len(requests) > 1:
            r.notes["batch_size"] = len(requests)
        at += n
    return replies


# -- chat and completions --------------------------------------------------------------------

def _check_tools(model_id: str, request: ModelRequest) -> None:
    body = request.body
    if not getattr(body, "tools", None):
        return
    choice = body.tool_choice
    if choice == "required" or isinstance(choice, dict):
        raise BadRequest(f"model {model_id!r} is a small local model that cannot call tools; "
                         "send tool_choice 'auto' or 'none' to get a text answer, or use a "
                         "remote model", param="tool_choice")
    # auto/none: the model answers in text; the tools are not put into the prompt
    request.response_headers["x-clawhost-tools"] = "ignored"


_ROLES = {"developer": "system", "function": "tool"}


def _messages(request: ModelRequest) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.role, m.role), "content": m.text()} for m in request.body.messages]


@dataclass
class Finished:
    """What a whole generation amounted to (for usage and finish_reason)."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reason: str = "stop"


class LocalChat:
    """A chat engine as the plugin and the batcher use it: ``Model.engine`` of chat models.

    ``prepare(request)`` turns a ChatRequest/CompletionRequest into prompt ids and sampling
    settings (the batcher's slot protocol); ``new_batch`` is the engine's own slot API.
    """

    def __init__(self, engine, spec):
        self.engine, self.spec = engine, spec
        self.context_length = int(engine.context_length)

    @classmethod
    def load(cls, folder, spec, threads: int | None) -> "LocalChat":
        from .chat_engine import ChatEngine
        from .embed_engine import default_threads
        kw = {"threads": threads or default_threads()}
        if spec.context_length:
            kw["context_length"] = spec.context_length
        return cls(ChatEngine.load(folder, **kw), spec)

    def prepare(self, request: ModelRequest) -> tuple[list[int], Any]:
        from .sampling import SamplingParams
        if request.kind == "chat":
            _check_tools(request.body.model, request)
            try:
                ids = self.engine.encode_chat(_messages(request))
            except ValueError as exc:  # a template that cannot render these messages
                raise BadRequest(str(exc).splitlines()[0], param="messages") from None
        else:
            ids = self.engine.encode(request.body.prompt_text)
        b = request.body
        room = self.context_length - len(ids)
        asked = b.token_limit
        if room < 1 or (asked is not None and asked > room):
            want = f" + max_tokens {asked}" if asked is not None else ""
            raise BadRequest(f"the prompt has {len(ids)} tokens{want}, more than the context "
                             f"length {self.context_length} of model {b.model!r}; shorten it",
                             param="messages" if request.kind == "chat" else "prompt",
                             code="context_length_exceeded")
        params = SamplingParams(
            max_tokens=min(asked or self.spec.max_tokens, room),
            temperature=self.spec.temperature if b.temperature is None else b.temperature,
            top_p=self.spec.top_p if b.top_p is None else b.top_p, top_k=b.top_k or 0, seed=b.seed,
            stop=b.stop_list)
        return ids, params

    def new_batch(self, max_slots: int):
        return self.engine.new_batch(max_slots)

    def generate(self, ids: list[int], params, cancel: threading.Event,
                 emit: Callable[[str], None]) -> Finished:
        """On the worker: decode until a finish reason or ``cancel``; text goes to ``emit``.

        Runs as a batch of one through the engine's slot API, the same path the batcher's
        continuous batching takes, so an answer does not depend on who scheduled it."""
        done = Finished(prompt_tokens=len(ids))
        batch = self.engine.new_batch(1)
        slot = batch.add(ids, params)
        try:
            while True:
                event = batch.step()[slot]
                done.completion_tokens += 1
                if event.text:
                    emit(event.text)
                if event.finish_reason:
                    done.finish_reason = event.finish_reason
                    return done
                if cancel.is_set():  # the client went away: stop after this token
                    done.finish_reason = "cancelled"
                    return done
        finally:
            batch.remove(slot)


class _Stream:
    """Runs one generation on the worker and hands its pieces to the loop as they come."""

    def __init__(self, served: Served, run: Callable[[threading.Event, Callable], Any]):
        self.served, self.run = served, run
        self.cancel = threading.Event()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.result: Any = None

    def _body(self, loop: asyncio.AbstractEventLoop) -> Any:
        def emit(piece) -> None:
            loop.call_soon_threadsafe(self.queue.put_nowait, piece)
        try:
            if self.cancel.is_set():  # the client left while we waited for the worker
                return None
            return self.run(self.cancel, emit)
        finally:
            loop.call_soon_threadsafe(self.queue.put_nowait, _END)

    async def pieces(self) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.served.worker.pool, self.served.worker.call,
                                      self._body, loop)
        try:
            while True:
                piece = await self.queue.get()
                if piece is _END:
                    break
                yield piece
            self.result = await future  # raises the engine's error, if any
        finally:
            self.cancel.set()  # a closed stream (client gone) stops the generation
            if not future.done():
                future.add_done_callback(lambda f: f.exception())  # never "never retrieved"


def _usage_of(result) -> dict[str, int]:
    return streaming.usage(int(result.prompt_tokens), int(result.completion_tokens))


async def generate(served: Served, request: ModelRequest) -> Reply:
    """A chat or completion request: a whole body, or a stream of OpenAI chunks."""
    chat = served.check_ready()  # a LocalChat
    prompt, params = chat.prepare(request)  # BadRequest when the prompt cannot fit
    served.counts["requests"] += 1
    stream = _Stream(served, lambda cancel, emit: chat.generate(prompt, params, cancel, emit))
    if request.stream:
        return Reply(stream=_chunks(served, request, stream))
    text = "".join([p async for p in stream.pieces()])
    result = stream.result
    served.counts["tokens"] += int(result.completion_tokens)
    if request.kind == "completion":
        if request.body.echo:
            text = request.body.prompt_text + text
        return Reply(streaming.text_completion(served.model.id, text, usage=_usage_of(result),
                                               finish_reason=result.finish_reason))
    return Reply(streaming.chat_completion(served.model.id, text, usage=_usage_of(result),
                                           finish_reason=result.finish_reason))


async def _chunks(served: Served, request: ModelRequest, stream: _Stream) -> AsyncIterator[dict]:
    cid = streaming.new_id("cmpl" if request.kind == "completion" else "chatcmpl")
    created, mid = int(time.time()), served.model.id
    chat = request.kind == "chat"
    pieces = stream.pieces()
    try:
        if chat:
            yield streaming.chat_chunk(cid, mid, created, {"role": "assistant", "content": ""})
        elif request.body.echo:
            yield streaming.text_chunk(cid, mid, created, request.body.prompt_text)
        async for piece in pieces:
            if piece:
                yield (streaming.chat_chunk(cid, mid, created, {"content": piece}) if chat
                       else streaming.text_chunk(cid, mid, created, piece))
    finally:
        await pieces.aclose()
    result = stream.result
    served.counts["tokens"] += int(result.completion_tokens)
    if chat:
        yield streaming.chat_chunk(cid, mid, created, {}, result.finish_reason)
    else:
        yield streaming.text_chunk(cid, mid, created, "", result.finish_reason)
    if (request.body.stream_options or {}).get("include_usage"):
        last = (streaming.chat_chunk if chat else streaming.text_chunk)(cid, mid, created, *(
            ({},) if chat else ("",)))
        last["choices"], last["usage"] = [], _usage_of(result)
        yield last


def reraise_engine_error(exc: BaseException) -> None:
    """Turn an engine's bad-input errors into a 400; anything else propagates."""
    from .chat_engine import ContextLengthError  # both engines are loaded by now
    from .embed_engine import InputTooLongError
    if isinstance(exc, (ContextLengthError, InputTooLongError)):
        raise BadRequest(str(exc), code="context_length_exceeded") from None
    raise exc


# -- the plugin's runtime: bring models up, route requests, report ---------------------------

class LocalModels:
    """Every model the plugin serves: preparation on first start, loading, dispatch."""

    def __init__(self, options, workspace, owner: str):
        self.options, self.workspace, self.owner = options, workspace, owner
        self.served: dict[str, Served] = {}
        self.progress: dict[str, str] = {}  # model id -> what it is doing while it comes up
        self._shown: dict[str, tuple[int, str]] = {}
        self._prepare_lock: asyncio.Lock | None = None

    def register(self, register: Callable[[Model], None]) -> None:
        for model_id, spec in self.options.models.items():
            kind = "chat+completion" if spec.kind == "chat" else "embedding"
            model = Model(model_id, kind, owner=self.owner, status="loading",
                          context_length=spec.context_length, description=spec.description,
                          meta={"source": spec.source, "quantization": spec.quantization})
            self.served[model_id] = Served(model, spec, Worker(model_id))
            register(model)

    def owns(self, model: Model | None) -> Served | None:
        served = self.served.get(model.id) if model is not None else None
        return served if served is not None and served.model is model else None

    async def start(self) -> None:
        """Prepare what is missing (one build at a time), load every model concurrently."""
        self._prepare_lock = asyncio.Lock()
        await asyncio.gather(*(self._bring_up(s) for s in self.served.values()))
        release_free_memory()

    async def _bring_up(self, served: Served) -> None:
        from .prepare import ArtifactError, prepare_async, verify
        mid, spec = served.model.id, served.spec.build_spec()
        folder = self.workspace / "models" / mid
        try:
            try:  # sizes only here; the load below checks every hash
                await served.worker.run(lambda: verify(folder, spec, hashes=False))
            except ArtifactError as exc:
                if not exc.rebuild or not self.options.prepare_on_start:
                    raise
                log.info("%s: %s; preparing it in a separate process", mid, exc)
                async with self._prepare_lock:  # builds are memory-hungry: never two at once
                    await prepare_async(mid, spec, self.workspace,
                                        lambda f, stage: self._progress(mid, f, stage))
            started = time.perf_counter()
            self.progress[mid] = f"loading {mid}"
            served.engine = await served.worker.run(self._load, served, folder)
            self.progress.pop(mid, None)
            served.model.engine = served.engine
            served.model.meta["worker"] = served.worker
            served.model.context_length = (served.engine.context_length if spec["kind"] == "chat"
                                           else served.engine.max_length)
            served.model.status = "ready"
            log.info("%s: loaded in %.2fs", mid, time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - one model's failure never stops the others
            self.progress.pop(mid, None)
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if isinstance(exc, ArtifactError):
                force = "" if exc.rebuild else " --force"
                text += f" (run `clawhost model prepare {mid}{force}`)"
            served.model.status = f"error: {text}"
            log.error("%s: %s", mid, text)

    def _load(self, served: Served, folder) -> Any:
        """On the worker: check every hash, then open the engine."""
        from .prepare import verify
        verify(folder, served.spec.build_spec(), hashes=True)
        spec, threads = served.spec, served.spec.threads or self.options.threads
        if spec.kind == "embedding":
            from .embed_engine import EmbedEngine, default_threads
            return EmbedEngine.load(folder, threads=threads or default_threads(),
                                    max_length=spec.context_length, truncate=spec.truncate)
        return LocalChat.load(folder, spec, threads)

    def _progress(self, model_id: str, fraction: float, stage: str) -> None:
        line = f"preparing {model_id}: {round(fraction * 100)}% ({stage})"
        self.progress[model_id] = line
        shown = (int(fraction * 10), stage)  # a log line per stage or per 10%, not per tick
        if self._shown.get(model_id) != shown:
            self._shown[model_id] = shown
            log.info("%s", line)

    def readiness(self) -> dict[str, Any]:
        if not self.progress:
            return {}
        return {"progress": "; ".join(self.progress.values())}

    async def infer(self, served: Served, request: ModelRequest) -> Reply:
        try:
            if request.kind == "embedding":
                return await embed(served, request)
            return await generate(served, request)
        except Exception as exc:  # noqa: BLE001
            reraise_engine_error(exc)

    async def infer_batch(self, served: Served, requests: list[ModelRequest]) -> list[Reply]:
        if served.model.kind == "embedding":
            try:
                return await embed_batch(served, requests)
            except Exception as exc:  # noqa: BLE001
                reraise_engine_error(exc)
        # generation without the slot API: one after another on the model's worker
        return list(await asyncio.gather(*(self.infer(served, r) for r in requests)))

    def figures(self) -> dict[str, Any]:
        """Gauges for the monitor."""
        return {"local_model_ready": {m: int(s.engine is not None) for m, s in self.served.items()},
                "local_model_requests": {m: s.counts["requests"] for m, s in self.served.items()},
                "local_model_tokens": {m: s.counts["tokens"] for m, s in self.served.items()}}

    def close(self) -> None:
        for served in self.served.values():
            served.worker.close()
            served.engine = served.model.engine = None
