"""The semantic cache's runtime object (``host.state[STATE]``): lookup and store.

Scope first: ``caching.keys.scope_key`` hashes everything but the query text (model, system
prompt, earlier turns, tools, parameters, tenant, namespace), and only entries of the same
scope are compared by meaning. Then the verifier decides (see ``verifier``).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from clawhost.api import (CACHE_RESULT, Fault, ModelRequest, PairScorer, Reply, StashKey,
                          cacheable, directives, scope_key, storage_cause)

from .embedder import Embedder, EmbedderUnavailable
from .exact import NormalizedKeys
from .index import SemanticIndex
from .verifier import Candidate, NeedsModel, Settings, Verifier

log = logging.getLogger("clawhost.semantic")
OPEN_RETRY_S = 30.0
PURGE_EVERY = 256  # stores between sweeps for expired entries


# per request: its scope and query, its vector (the store after a miss reuses it), and the
# similarity of the best candidate (for the monitor and tests)
_SCOPE: StashKey[tuple[str, str]] = StashKey("semantic_scope")
_VECTOR: StashKey[Any] = StashKey("semantic_vector")
SIMILARITY: StashKey[float] = StashKey("semantic_similarity")


class SemanticCache:
    def __init__(self, opts: Any, workspace: Path, host: Any = None,
                 embedder: Embedder | None = None) -> None:
        self.opts, self.host = opts, host
        self.folder = Path(workspace) / opts.path
        self.verifier = Verifier(Settings.of(opts))
        self.embedder = embedder
        self.index: SemanticIndex | None = None
        self.counts: Counter[str] = Counter()
        self._stores = 0
        self._opening = asyncio.Lock()
        self._warned_fallback = False
        # an index that cannot be opened (read-only or missing folder) is said once and
        # tried again at most every OPEN_RETRY_S, not on every request
        self.opening = Fault(log, f"semantic index {self.folder / 'index.sqlite'}: open")
        self._next_open = 0.0
        self.normal = NormalizedKeys(opts.normalize_fillers)
        # Why the semantic tier is off (its verifier failed to load), else None: then only
        # the normalised-exact tier serves. Never raw cosine: it serves look-alikes.
        self.semantic_off: str | None = None
        self._vocab_done = False
        # fleet mode: the bridge to the fleet's Redis (replication.py), set by the plugin
        self.fleet: Any = None

    # -- setup -------------------------------------------------------------------------
    async def _ready(self) -> bool:
        """Open the embedder and the index once the embedding model is ready."""
        if self.index is not None:
            return True
        if self.embedder is None:
            model = self.host.models.get(self.opts.embedding_model) if self.host else None
            if self.opts.embedding_path:
                self.embedder = Embedder.from_folder(Path(self.opts.embedding_path))
            elif model is None or model.status != "ready":
                return False
            else:
                self.embedder = Embedder.from_host(self.host, self.opts.embedding_model,
                                                   self.opts.embed_via)
        if self.embedder.dim is None:  # an engine that does not say: ask it once
            self.embedder.dim = int((await self.embedder.embed("dimension probe")).shape[0])
        if self.verifier.weights is not None and self.verifier.weights.dim not in (
                None, self.embedder.dim):
            log.warning("semantic_cache: verifier interaction weights need %s-dim vectors, the "
                        "embedder gives %s: using the lexical-only verifier",
                        self.verifier.weights.dim, self.embedder.dim)
            self.verifier = self.verifier.for_dim(self.embedder.dim)
        if not self._vocab_done:  # the embedding model's words, for the typo check
            self._vocab_done = True
            folder = (Path(self.opts.embedding_path) if self.opts.embedding_path
                      else self.embedder.folder)
            self.verifier = await asyncio.to_thread(self.verifier.with_vocabulary, folder)
        if self.opts.verifier and self.opts.verifier_path and not self.verifier.cross:
            if not self._warned_fallback:
                await self._load_cross_encoder(Path(self.opts.verifier_path))
        elif self.opts.verifier and self.opts.verifier_model and not self.verifier.cross:
            if not self._use_cross_encoder():
                return False
        if self.verifier.needs_tokens and self.verifier.tokens is None:
            # Token-alignment weights read MiniLM's token vectors from the same artifact.
            folder = (Path(self.opts.embedding_path) if self.opts.embedding_path
                      else self.embedder.folder)
            self.verifier = await asyncio.to_thread(self.verifier.attach, folder)
        async with self._opening:  # one index, even when the first lookups come together
            if self.index is None:
                if time.monotonic() < self._next_open:
                    return False
                try:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    # Loading a large index reads every vector: keep it off the event loop.
                    index = await asyncio.to_thread(
                        SemanticIndex, self.folder / "index.sqlite", self.embedder.dim,
                        self.embedder.fingerprint, self.opts.max_entries,
                        int(self.opts.max_bytes), self.opts.ann_min_entries,
                        self.opts.ann == "auto")
                except (OSError, sqlite3.Error) as exc:
                    self._next_open = time.monotonic() + OPEN_RETRY_S
                    self.opening.set(storage_cause(exc), f"semantic cache off; retried every "
                                     f"{OPEN_RETRY_S:g} s")
                    return False
                self.opening.clear()
                self.normal.rebuild(index)
                self.index = index
        return True

    def fault(self) -> str | None:
        """Why the index cannot be opened or written right now (a readiness fact), or None."""
        if self.opening.cause:
            return self.opening.cause
        return self.index.writes.cause if self.index is not None else None

    async def _load_cross_encoder(self, folder: Path) -> None:
        """``verifier_path``: load it once; a folder that cannot be loaded is said once and
        the normalised-exact tier alone serves (the cache keeps answering exact repeats)."""
        try:
            self.verifier = await asyncio.to_thread(self.verifier.with_cross_encoder, folder)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._semantic_off(f"verifier_path {folder} cannot be loaded ({why})")

    def _semantic_off(self, why: str) -> None:
        """The verifier failed: serve normalised-exact matches only, said once."""
        self._warned_fallback = True
        self.semantic_off = why
        log.warning("semantic_cache: %s: the semantic tier is off, serving normalised-exact "
                    "matches only", why)

    def _use_cross_encoder(self) -> bool:
        """Judge with the ``verifier_model`` (a rerank model) once it is ready. While it loads
        the cache waits (False) rather than serve on a weaker check; if it is not served or
        failed, the semantic tier is off and the normalised-exact tier alone serves, said
        once in the log (``verifier_model: null`` chooses ``verifier_weights`` instead)."""
        name = self.opts.verifier_model
        model = self.host.models.get(name) if self.host is not None else None
        scorer = self.host.engine(name, PairScorer) if self.host is not None else None
        if model is not None and model.kind == "rerank":
            if model.status == "ready" and scorer is not None:
                self.verifier = self.verifier.with_scorer(scorer.score, scorer.info)
                return True
            if model.status == "loading":
                return False
        if not self._warned_fallback:
            why = "is not a rerank model served here" if model is None or model.kind != "rerank" \
                else model.status
            self._semantic_off(f"verifier_model {name!r} {why}")
        return True

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None

    # -- per request -------------------------------------------------------------------
    def _eligible(self, request: ModelRequest) -> bool:
        return request.kind in self.opts.kinds and cacheable(request, self.opts.policy)

    def _scope(self, request: ModelRequest) -> tuple[str, str]:
        notes = request.notes
        if _SCOPE not in notes:
            ns = directives(request).namespace
            notes[_SCOPE] = scope_key(request, self.opts.query_turns,
                                      ns if ns is not None else self.opts.namespace)
        return notes[_SCOPE]

    async def _vector(self, request: ModelRequest, query: str):
        vec = request.notes.get(_VECTOR)
        if vec is None:
            t0 = time.perf_counter()
            vec = await self.embedder.embed(query, request.tenant)
            request.timings["semantic_embed"] = time.perf_counter() - t0
            request.notes[_VECTOR] = vec  # the store after a miss reuses it
        return vec

    async def lookup(self, request: ModelRequest) -> Reply | None:
        if not self._eligible(request) or directives(request).no_cache:
            return None
        try:
            if not await self._ready():
                self.counts["not_ready"] += 1
                return None
        except EmbedderUnavailable:
            self.counts["not_ready"] += 1
            return None
        if self.fleet is not None and not self.fleet.serving:  # not caught up with the fleet
            self.counts["not_ready"] += 1
            return None
        scope, query = self._scope(request)
        if not query.strip() or len(query) > self.opts.max_query_chars:
            return None
        now, max_age = time.time(), directives(request).max_age
        if self.opts.normalized:  # cheapest and precise by construction: no embedding
            eid, how = self.normal.find(self.index, scope, query, now, max_age)
            if eid is not None:
                reply = self._serve(request, eid, "hit-normalized", 1.0)
                if reply is not None:
                    return reply
            elif how == "ambiguous":  # the semantic tier would find the same two: stop here
                self.counts["ambiguous"] += 1
                self.counts["rejected_by_verifier"] += 1
                self._missed(request)
                return None
        if self.semantic_off is not None:
            self.counts["misses"] += 1
            self._missed(request)
            return None
        if scope not in self.index.blocks:  # nothing to compare with: skip the embedding
            self.counts["misses"] += 1
            self._missed(request)
            return None
        vec = await self._vector(request, query)
        t0 = time.perf_counter()
        found = []
        for eid, cos in self.index.search(scope, vec, self.opts.candidates):
            entry = self.index.entries.get(eid)
            if entry is None:
                continue
            if entry.expires <= now:
                self.index.remove(eid)
                self.index.expired += 1
                continue
            if max_age is not None and now - entry.created > max_age:
                continue
            found.append(Candidate(eid, cos, entry.query, entry.answer_key,
                                   self.index.vector(eid)))
        t1 = time.perf_counter()
        request.timings["semantic_search"] = t1 - t0
        try:  # on the loop when no model has to run (most lookups): no thread hop
            decision = self.verifier.choose(query, found, vec, model=False)
        except NeedsModel:  # an ONNX run (cross-encoder or token vectors): off the loop
            decision = await asyncio.to_thread(self.verifier.choose, query, found, vec)
        request.timings["semantic_verify"] = time.perf_counter() - t1
        request.notes[SIMILARITY] = round(decision.similarity, 4)
        if decision.entry_id is None:
            self._missed(request)
            self.counts["rejected_by_verifier" if decision.reason in ("rejected", "ambiguous")
                        else "misses"] += 1
            if decision.reason == "ambiguous":
                self.counts["ambiguous"] += 1
            return None
        return self._serve(request, decision.entry_id, "hit-semantic", decision.similarity)

    def _serve(self, request: ModelRequest, eid: int, tier: str,
               similarity: float) -> Reply | None:
        """The stored answer, saying which tier found it (the monitor counts by name)."""
        body = self.index.answer(eid)
        if body is None:
            return None
        self.index.touch(eid)
        self.counts["hits"] += 1
        if tier == "hit-normalized":
            self.counts["hits_normalized"] += 1
        sim = f"{similarity:.3f}"
        request.notes[CACHE_RESULT] = tier
        request.response_headers["x-clawhost-cache"] = tier
        request.response_headers["x-clawhost-similarity"] = sim
        return Reply(body=body, source="semantic",
                     headers={"x-clawhost-cache": tier, "x-clawhost-similarity": sim})

    @staticmethod
    def _missed(request: ModelRequest) -> None:
        """Say "miss" unless an earlier layer (the exact cache) already said so."""
        request.notes.setdefault(CACHE_RESULT, "miss")
        request.response_headers.setdefault("x-clawhost-cache", "miss")

    async def store(self, request: ModelRequest, reply: Reply) -> None:
        if reply.cached or not self._eligible(request) or reply.status != 200 or reply.body is None:
            return
        d = directives(request)
        try:
            if d.no_store or not await self._ready():
                return
        except EmbedderUnavailable:
            return
        scope, query = self._scope(request)
        if not query.strip() or len(query) > self.opts.max_query_chars:
            return
        vec = await self._vector(request, query)
        ttl = d.ttl if d.ttl is not None else self.opts.ttl_s
        _, akey = self.index.answer_key(reply.body)
        # A refresh (no-cache, or max-age that the stored answer exceeded) replaces the
        # same question's stale answer; kept beside it, the two would make every later
        # paraphrase ambiguous. Without one, two different answers to one question are
        # both kept and paraphrases miss: the cache cannot tell which is current.
        refresh = d.no_cache or d.max_age is not None
        # "The same question" is the same text, or with the normalised-exact tier on, the
        # same normalised key: a refresh of "what is X" replaces the answer to "What is X?".
        same = set(self.normal.live(self.index, scope, query)) if self.opts.normalized else set()
        near = [eid for eid, _cos in self.index.search(scope, vec, self.opts.candidates)]
        for eid in dict.fromkeys(sorted(same) + near):
            entry = self.index.entries.get(eid)
            if entry is None or (entry.query != query and eid not in same):
                continue
            if entry.answer_key == akey:
                self.index.refresh(eid, ttl)
                return
            if refresh:
                self.index.remove(eid)
                if self.fleet is not None:
                    self.fleet.removed(eid)
        eid = self.index.add(scope, query, vec, reply.body, ttl)
        if eid is None:
            self.counts["store_failures"] += 1  # said once by the index, a readiness fact
            return
        self.normal.add(scope, query, eid)
        if self.fleet is not None:
            self.fleet.stored(eid, reply.body)
        self.counts["stores"] += 1
        self._stores += 1
        if self._stores % PURGE_EVERY == 0:
            self.index.purge_expired()

    async def clear(self) -> int:
        """Drop every entry (``clawhost semantic-cache clear``); before the index is open,
        from its file (under the lock that opens it, so it cannot load them meanwhile)."""
        async with self._opening:
            if self.index is not None:
                n = self.index.clear()
            else:
                from .index import file_figures
                n = file_figures(self.folder / "index.sqlite", clear=True)["entries"]
        if self.fleet is not None:  # and on every host: each clears on the fleet's event
            n = max(n, await self.fleet.clear())
        return n

    # -- reports -----------------------------------------------------------------------
    def readiness(self) -> dict[str, Any]:
        """Which tiers serve (``/readyz``): the semantic one is off when its verifier failed."""
        tiers = (["normalized"] if self.opts.normalized else []) + (
            [] if self.semantic_off else ["semantic"])
        out: dict[str, Any] = {"preset": self.opts.preset, "tiers": tiers,
                               "ready": self.index is not None}
        if self.semantic_off:
            out["semantic_off"] = self.semantic_off
        if self.fleet is not None:
            out["fleet"] = self.fleet.facts()
            out["ready"] = out["ready"] and self.fleet.serving
        return out

    def figures(self) -> dict[str, Any]:
        ix = self.index
        c = self.counts
        # The monitor names them clawhost_semantic_cache_<figure>.
        return {"entries": len(ix) if ix else 0, "bytes": ix.bytes if ix else 0,
                "hits": c["hits"], "hits_normalized": c["hits_normalized"],
                "misses": c["misses"],
                "rejected_by_verifier": c["rejected_by_verifier"], "ambiguous": c["ambiguous"],
                "stores": c["stores"], "evictions": ix.evicted if ix else 0,
                "expired": ix.expired if ix else 0,
                **(self.fleet.figures() if self.fleet is not None else {})}
