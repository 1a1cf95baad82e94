"""Chat and completions from a local model: prompts, generation on the worker, streams."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from clawhost.api import REPLY_SHAPE, STANDS_IN_FOR, BadRequest, ModelRequest, Overloaded, Reply, streaming
from clawhost.engines import DECODE_SPIN_US

from .workers import Served

_END = object()  # the worker is done: no more pieces
log = logging.getLogger("clawhost.quantized_model")

def _check_supported(model_id: str, request: ModelRequest) -> None:
    """Refuse what a small local model cannot honour, instead of silently answering without it."""
    body = request.body
    choice = getattr(body, "tool_choice", None)
    if getattr(body, "tools", None) and not (choice == "required" or isinstance(choice, dict)):
        # auto/none: the model answers in text; the tools are not put into the prompt
        # (required or a named function: a constrained call, see constrained.py)
        request.response_headers["x-clawhost-tools"] = "ignored"
    for m in getattr(body, "messages", None) or []:
        parts = m.content if isinstance(m.content, list) else []
        kinds = sorted({str(p.get("type")) for p in parts if p.get("type") != "text"})
        if kinds:  # dropping an image and answering anyway would answer another question
            raise BadRequest(f"model {model_id!r} reads text only; content parts of type "
                             f"{', '.join(kinds)} are not supported", param="messages")
    if (body.model_extra or {}).get("logprobs"):  # true (chat) or a count (completions)
        raise BadRequest(f"model {model_id!r} does not return logprobs; leave out logprobs or "
                         "use a remote model", param="logprobs")


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
        self._grammars = None  # a constrained.Grammars, made by the first structured request

    @classmethod
    def load(cls, folder, spec, threads: int | None, budget=None,
             warm_cores: bool = True, spin_us: int = DECODE_SPIN_US) -> "LocalChat":
        from .chat_engine import ChatEngine
        from .kv_calibrate import ensure_graph, refresh
        from .kv_prefill import is_current
        from clawhost.engines.embed_engine import default_threads
        # artifacts prepared before the KV cache types existed get their graph now
        ensure_graph(folder, spec.kv_cache, threads or default_threads())
        kw: dict[str, Any] = {"threads": threads or default_threads(), "budget": budget,
                              "kv_cache": spec.kv_cache, "cached": True,
                              "warm_cores": warm_cores, "spin_us": spin_us}
        if spec.context_length:
            kw["context_length"] = spec.context_length
        engine = ChatEngine.load(folder, **kw)
        if spec.kv_cache == "int8" and not is_current(engine.model.metadata):
            # checked on the open session: reading the graph with onnx first cost 2.5 s
            log.info("%s: rewriting model.kv-int8.onnx with the current prefill path",
                     Path(folder).name)
            del engine
            refresh(folder, threads or default_threads())
            engine = ChatEngine.load(folder, **kw)
        wanted = min(spec.context_length or engine.config.context_length,
                     engine.config.context_length)
        # a context that cannot hold twice the default answer is no use: refuse to start
        least = min(wanted, 2 * spec.max_tokens)
        if engine.context_length < least:
            raise ValueError(f"{budget.name} {budget.limit / 2**20:g} holds "
                             f"{engine.context_length} tokens of this model's KV cache "
                             f"({engine.kv_bytes_per_token / 1024:g} KB per token); it needs "
                             f"{least * engine.kv_bytes_per_token / 2**20:.2f} for {least} tokens")
        if engine.context_length < wanted:
            log.warning("%s: serving a context of %d tokens, not %d: that is what %s %g holds "
                        "(%g KB of KV cache per token)", Path(folder).name,
                        engine.context_length, wanted, budget.name, budget.limit / 2**20,
                        engine.kv_bytes_per_token / 1024)
        return cls(engine, spec)

    def memory_facts(self) -> dict[str, Any]:
        """What this model really serves (``clawhost.api.MemoryFacts``): the one source of
        /v1/models' ``x_clawhost``, /readyz's ``kv_cache.models`` and `clawhost status`."""
        e = self.engine
        fits = e.budget.tokens(e.kv_bytes_per_token)
        return {"context_length": self.context_length,
                "kv_cache_dtype": e.kv_dtype,
                "kv_bytes_per_token": e.kv_bytes_per_token,
                "kv_mb_full_context": round(self.context_length * e.kv_bytes_per_token / 2**20, 1),
                "kv_cache_mb": None if e.budget.limit is None else round(e.budget.limit / 2**20, 2),
                "full_context_streams": None if fits is None else fits // self.context_length,
                "max_slots": self.spec.max_slots,
                **({"prefix_cache": e.prefix_cache.facts()} if e.prefix_cache else {}),
                **({"prefix_cache_disk": e.prefix_store.facts()} if e.prefix_store else {})}

    def prepare(self, request: ModelRequest) -> tuple[list[int], Any]:
        from .sampling import SamplingParams
        _check_supported(request.body.model, request)
        structured = None
        if request.kind == "chat":
            from .constrained import structured_request, with_instruction
            messages = _messages(request)
            structured = structured_request(request.body)
            if structured is not None:  # the model is told what to write, then held to it
                messages = with_instruction(messages, structured.instruction)
            try:
                ids = self.engine.encode_chat(messages)
            except ValueError as exc:  # a template that cannot render these messages
                raise BadRequest(str(exc).splitlines()[0], param="messages") from None
        else:
            ids = self.engine.encode(request.body.prompt_text)
        b = request.body
        room = self.context_length - len(ids)
        asked = b.token_limit
        if room < 1:
            raise BadRequest(f"the prompt has {len(ids)} tokens, more than the context length "
                             f"{self.context_length} of model {b.model!r}; shorten it",
                             param="messages" if request.kind == "chat" else "prompt",
                             code="context_length_exceeded")
        if asked is not None and request.notes.get(STANDS_IN_FOR):
            # a fallback for another model: the client sized max_tokens for that one (OpenClaw
            # asks 16,384 of gpt-4o-mini), so this model's own answer length and room cap it
            asked = min(asked, self.spec.max_tokens, room)
        if asked is not None and asked > room:
            raise BadRequest(f"max_tokens {asked} is more than the {room} tokens the context "
                             f"length {self.context_length} of model {b.model!r} leaves after "
                             f"the {len(ids)}-token prompt", param="max_tokens",
                             code="context_length_exceeded")
        params = SamplingParams(
            max_tokens=min(asked or self.spec.max_tokens, room),
            temperature=self.spec.temperature if b.temperature is None else b.temperature,
            top_p=self.spec.top_p if b.top_p is None else b.top_p, top_k=b.top_k or 0, seed=b.seed,
            stop=b.stop_list)
        params._headers = request.response_headers  # x-clawhost-prefix-cache
        if structured is not None:
            params._constraint = self._constraint(structured, request, params.max_tokens)
        return ids, params

    def _constraint(self, structured, request: ModelRequest, budget: int):
        from .constrained import Grammars, ToolCallReply
        if self._grammars is None:
            e = self.engine  # the answer ends with the model's own end marker
            eos = e.tokenizer.token_to_id(e.meta.get("eos_token") or "")
            self._grammars = Grammars(e.tokenizer, [eos] if eos is not None else
                                      sorted(e.stop_ids))
        param = "tools" if structured.tools else "response_format"
        constraint = self._grammars.constraint(structured.schema, param, budget)
        if structured.tools:  # the generated {"name", "arguments"} goes out as tool_calls
            request.notes[REPLY_SHAPE] = ToolCallReply()
        request.response_headers["x-clawhost-structured"] = (
            "tool_call" if structured.tools else "json")
        return constraint

    def new_batch(self, max_slots: int) -> "_Batch":
        return _Batch(self.engine.new_batch(max_slots))

    def generate(self, ids: list[int], params, cancel: threading.Event,
                 emit: Callable[[str], None]) -> Finished:
        """On the worker: decode until a finish reason or ``cancel``; text goes to ``emit``.

        Runs as a batch of one through the engine's slot API, the same path the batcher's
        continuous batching takes, so an answer does not depend on who scheduled it."""
        done = Finished(prompt_tokens=len(ids))
        batch = self.new_batch(1)
        slot = batch.add(ids, params)
        try:
            while True:
                event = batch.step().get(slot)
                if event is None:  # still prefilling a long prompt, a chunk per step
                    if cancel.is_set():
                        done.finish_reason = "cancelled"
                        return done
                    continue
                done.completion_tokens += len(event.token_ids)
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


def budget_error(exc: Exception) -> Exception:
    """The HTTP error for a stream whose KV cache does not fit the memory budget."""
    from .kv_budget import KVBudgetError
    if not isinstance(exc, KVBudgetError):
        return exc
    if exc.transient:  # others hold the memory: a retry will find it free
        return Overloaded(str(exc), retry_after=5, code="kv_cache_full")
    return BadRequest(str(exc), code="context_length_exceeded")


class _Batch:
    """The engine's SlotBatch with memory-budget refusals turned into HTTP errors (the
    batcher hands a ClawhostError raised by ``add`` to that request alone)."""

    def __init__(self, batch):
        self.batch = batch

    def add(self, prompt_ids, sampling) -> int:
        try:
            return self.batch.add(prompt_ids, sampling)
        except Exception as exc:  # noqa: BLE001
            mapped = budget_error(exc)
            if mapped is exc:
                raise
            raise mapped from None

    def step(self):
        return self.batch.step()

    def remove(self, slot: int) -> None:
        self.batch.remove(slot)

    def __len__(self) -> int:
        return len(self.batch)

    def __getattr__(self, name: str):
        return getattr(self.batch, name)


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
