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
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from clawhost.api import BATCH_SIZE, BadRequest, Model, ModelRequest, Reply, streaming

from .chat_serving import LocalChat, generate
from .memory import release_free_memory
from .workers import Served, Worker, reraise_engine_error

if TYPE_CHECKING:
    from .options import Options

log = logging.getLogger("clawhost.quantized_model")


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
    from clawhost.engines.embed_engine import InputTooLongError
    try:
        vectors, counts = engine.embed_counted(texts)
    except InputTooLongError as exc:
        raise BadRequest(f"{exc} (the input is too long for this embedding model)",
                         param="input") from None
    return vectors, counts


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
            r.notes[BATCH_SIZE] = len(requests)
        at += n
    return replies


# -- rerank ----------------------------------------------------------------------------------

async def rerank(served: Served, request: ModelRequest) -> Reply:
    """One request's documents scored in one engine call on the model's worker (the engine
    pads and batches the pairs itself; the batcher does not queue rerank models)."""
    engine = served.check_ready()
    query = request.body.query
    pairs = [(query, doc) for doc in request.body.documents]
    scores = await served.worker.run(engine.score, pairs)
    served.counts["requests"] += 1
    results = [{"index": i, "relevance_score": float(s)} for i, s in enumerate(scores)]
    results.sort(key=lambda r: -r["relevance_score"])  # stable: ties keep document order
    return Reply({"object": "rerank", "model": served.model.id, "results": results})


# -- the plugin's runtime: bring models up, route requests, report ---------------------------

class LocalModels:
    """Every model the plugin serves: preparation on first start, loading, dispatch."""

    def __init__(self, options: "Options", workspace, owner: str):
        from .kv_budget import KVBudget
        self.options, self.workspace, self.owner = options, workspace, owner
        mb = options.kv_cache_mb
        # one budget for every chat model: they share the box's memory
        self.kv_budget = KVBudget(int(mb * 2**20) if mb else None, "quantized_model.kv_cache_mb")
        self.served: dict[str, Served] = {}
        self.progress: dict[str, str] = {}  # model id -> what it is doing while it comes up
        self._shown: dict[str, tuple[int, str]] = {}
        self._prepare_lock: asyncio.Lock | None = None
        # model id -> (when its load began, the load begun at registration: `register`)
        self._early: dict[str, tuple[float, Any]] = {}

    def register(self, register: Callable[[Model], None]) -> None:
        for model_id, spec in self.options.models.items():
            kind = "chat+completion" if spec.kind == "chat" else spec.kind
            meta = {"source": spec.source, "quantization": spec.quantization}
            if getattr(spec, "max_slots", None):  # the batcher's Hub reads it for this model
                meta["slots"] = spec.max_slots
            model = Model(model_id, kind, owner=self.owner, status="loading",
                          context_length=spec.context_length, description=spec.description,
                          meta=meta, aliases=tuple(spec.aliases))
            served = self.served[model_id] = Served(model, spec,
                                                    Worker(model_id, self.options.offload))
            register(model)
            # Load prepared models from now on, on their workers: the host's other plugins
            # start meanwhile (0.3-0.5 s of imports on a 2-core box) instead of before it.
            # ORT releases the GIL while it builds a session.
            self._early[model_id] = (time.perf_counter(), served.worker.pool.submit(
                served.worker.call, self._load_prepared, served))

    def owns(self, model: Model | None) -> Served | None:
        served = self.served.get(model.id) if model is not None else None
        return served if served is not None and served.model is model else None

    async def start(self) -> None:
        """Prepare what is missing (one build at a time), load every model concurrently."""
        self._prepare_lock = asyncio.Lock()
        await asyncio.gather(*(self._bring_up(s) for s in self.served.values()))
        release_free_memory()
        from .prepare import prune_downloads
        specs = {mid: s.spec.build_spec() for mid, s in self.served.items()}
        try:
            for line in await asyncio.to_thread(prune_downloads, self.workspace, specs):
                log.info("%s", line)
        except OSError as exc:  # a cleanup that fails costs disk space, not service
            log.warning("could not remove downloaded model packages: %s", exc)

    async def _bring_up(self, served: Served) -> None:
        from .prepare import ArtifactError, prepare_async
        mid, spec = served.model.id, served.spec.build_spec()
        folder = self.workspace / "models" / mid
        started, early = self._early.pop(mid, (time.perf_counter(), None))
        try:
            try:  # begun by `register`
                engine = await asyncio.wrap_future(early) if early is not None else (
                    await served.worker.run(self._load_prepared, served))
            except ArtifactError as exc:
                if not exc.rebuild or not self.options.prepare_on_start:
                    raise
                log.info("%s: %s; preparing it in a separate process", mid, exc)
                async with self._prepare_lock:  # builds are memory-hungry: never two at once
                    await prepare_async(mid, spec, self.workspace,
                                        lambda f, stage: self._progress(mid, f, stage))
                started = time.perf_counter()
                self.progress[mid] = f"loading {mid}"
                engine = await served.worker.run(self._load, served, folder)
            served.engine = engine
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

    def _load_prepared(self, served: Served) -> Any:
        """On the worker: the engine of a prepared model; ArtifactError when it is not
        (`_load`'s verify checks the manifest, sizes and hashes before anything opens)."""
        self.progress[served.model.id] = f"loading {served.model.id}"
        return self._load(served, self.workspace / "models" / served.model.id)

    def _load(self, served: Served, folder) -> Any:
        """On the worker: check every hash, then open the engine."""
        from .prepare import verify
        verify(folder, served.spec.build_spec(), hashes=True)
        spec, threads = served.spec, served.spec.threads or self.options.threads
        if spec.kind == "embedding":
            from clawhost.engines.embed_engine import EmbedEngine, default_threads
            return EmbedEngine.load(folder, threads=threads or default_threads(),
                                    max_length=spec.context_length, truncate=spec.truncate)
        if spec.kind == "rerank":  # the semantic cache's verifier scores on its own thread;
            # /v1/rerank requests on this model's worker (``rerank`` above); one thread
            # unless configured (RerankEngine.load says why)
            from clawhost.engines.cross_encoder import RerankEngine
            return RerankEngine.load(folder, threads=threads)
        chat = LocalChat.load(folder, spec, threads, self.kv_budget,
                              warm_cores=self.options.warm_cores, spin_us=self.options.spin_us)
        cache_mb, disk_mb = self.options.prefix_cache_mb, self.options.prefix_cache_disk_mb
        if cache_mb:
            chat.engine.enable_prefix_cache(int(cache_mb * 2**20))
        if disk_mb:
            root = self.workspace / ".cache" / "prefix-kv" / served.model.id
            try:
                chat.engine.enable_prefix_store(root, int(disk_mb * 2**20))
            except OSError as exc:  # a read-only workspace: serve without it
                log.warning("%s: prefix cache on disk off (%s)", served.model.id,
                            exc.strerror or exc)
        if self.options.speculative_draft:
            chat.engine.enable_speculation(self.options.speculative_draft)
        return chat

    def _progress(self, model_id: str, fraction: float, stage: str) -> None:
        line = f"preparing {model_id}: {round(fraction * 100)}% ({stage})"
        self.progress[model_id] = line
        shown = (int(fraction * 10), stage)  # a log line per stage or per 10%, not per tick
        if self._shown.get(model_id) != shown:
            self._shown[model_id] = shown
            log.info("%s", line)

    def readiness(self) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        if self.progress:
            facts["progress"] = "; ".join(self.progress.values())
        chats = {mid: s.engine.memory_facts() for mid, s in self.served.items()
                 if isinstance(s.engine, LocalChat)}
        if chats:
            b = self.kv_budget
            facts["kv_cache"] = {
                "budget_mb": None if b.limit is None else round(b.limit / 2**20, 2),
                "used_mb": round(b.used / 2**20, 1), "streams": b.streams, "models": chats}
        return facts

    async def infer(self, served: Served, request: ModelRequest) -> Reply:
        try:
            if request.kind == "embedding":
                return await embed(served, request)
            if request.kind == "rerank":
                return await rerank(served, request)
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
        chats = {m: s.engine.engine for m, s in self.served.items() if isinstance(s.engine, LocalChat)}
        spec = {m: e.speculation for m, e in chats.items() if e.speculation is not None}
        kept = {m: [t for t in (e.prefix_cache, e.prefix_store) if t is not None]
                for m, e in chats.items() if e.keeps_prefixes}
        return {"local_model_ready": {m: int(s.engine is not None) for m, s in self.served.items()},
                "local_model_requests": {m: s.counts["requests"] for m, s in self.served.items()},
                "local_model_tokens": {m: s.counts["tokens"] for m, s in self.served.items()},
                # speculative decoding: tokens guessed, and guesses that held
                "local_model_drafted_tokens": {m: sp.drafted for m, sp in spec.items()},
                "local_model_accepted_tokens": {m: sp.accepted for m, sp in spec.items()},
                # kept prompt prefixes (memory and disk): hits, and prompt tokens not prefilled
                "local_model_prefix_hits": {m: sum(t.hits for t in ts) for m, ts in kept.items()},
                "local_model_prefix_reused_tokens": {m: sum(t.reused_tokens for t in ts)
                                                     for m, ts in kept.items()}}

    def close(self) -> None:
        for served in self.served.values():
            served.worker.close()
            if isinstance(served.engine, LocalChat):
                served.engine.engine.model.warmer.close()
            served.engine = served.model.engine = None
