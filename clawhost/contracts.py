"""Typed contracts between plugins: what an engine on ``Model.engine`` promises.

A plugin that serves a model puts its engine on ``Model.engine``; a plugin that needs a
capability asks ``engine_of(model, Contract)`` and gets the engine only when it really
implements that contract (``runtime_checkable`` protocols), never by probing attributes.

The slot protocol (``SlotEngine``/``SlotBatch``/``TokenEvent``) is what the batcher's
continuous-batching scheduler drives:

- ``new_batch(max_slots) -> SlotBatch``: a batch of up to ``max_slots`` sequences (its own KV cache);
- ``prepare(request) -> (prompt_ids, sampling)``: the prompt tokens (chat template applied)
  and the engine's sampling settings for one ``ModelRequest`` (raise ``BadRequest`` for a
  prompt that cannot fit);
- ``batch.add(prompt_ids, sampling) -> slot`` prefills one sequence into a free slot;
  ``batch.step() -> {slot: TokenEvent}`` is one decode step for every active slot;
  ``batch.remove(slot)`` frees a slot at once (finished, or its client went away).

A ``TokenEvent`` has ``token_id``, ``text`` (the new text, may be ``""``) and
``finish_reason`` (None while going; ``"stop"`` or ``"length"``). An engine that produces
several tokens in one step (speculative decoding) also gives ``token_ids``, all of them in
order, ``token_id`` being the last. The scheduler calls a batch
from one worker thread only, never two calls at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator, Protocol, Sequence, TypeVar, runtime_checkable

C = TypeVar("C")


@runtime_checkable
class EmbeddingEngine(Protocol):
    """Unit-norm sentence vectors: ``embed(texts) -> float32 [len(texts), dim]``."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> Any: ...


@runtime_checkable
class PreparedArtifacts(Protocol):
    """An engine loaded from a prepared artifact folder, which it names (files other plugins
    may read, such as the tokenizer, and the manifest's quantization)."""

    folder: Path


@runtime_checkable
class PairScorer(Protocol):
    """A cross-encoder: ``score(pairs)`` gives each pair's probability of meaning the same;
    ``info`` is its record (threshold, training data)."""

    info: dict[str, Any]

    def score(self, pairs: list[tuple[str, str]]) -> Any: ...


@runtime_checkable
class ReplyShape(Protocol):
    """How a model's raw answer becomes the reply (``REPLY_SHAPE`` note): ``body`` reshapes
    a whole chat completion, ``chunks`` a stream of chunks."""

    def body(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def chunks(self, chunks: AsyncIterator[dict]) -> AsyncIterator[dict]: ...


@runtime_checkable
class TokenEvent(Protocol):
    token_id: int
    text: str
    finish_reason: str | None


@runtime_checkable
class SlotBatch(Protocol):
    def add(self, prompt_ids: Sequence[int], sampling: Any) -> int: ...

    def step(self) -> dict[int, TokenEvent]: ...

    def remove(self, slot: int) -> None: ...


@runtime_checkable
class SlotEngine(Protocol):
    """A generation engine whose sequences the batcher schedules in slots."""

    def new_batch(self, max_slots: int) -> SlotBatch: ...

    def prepare(self, request: Any) -> tuple[list[int], Any]: ...


@runtime_checkable
class MemoryFacts(Protocol):
    """A model's memory as it is really served (a local chat model's engine). One call,
    ``memory_facts()``, gives what /v1/models (under ``x_clawhost``), /readyz (``kv_cache``)
    and ``clawhost status`` all show:

    - ``context_length``: tokens of prompt + answer it serves (the budget may cap it);
    - ``kv_cache_dtype``; ``kv_bytes_per_token``: KV cache bytes one token of one stream takes;
    - ``kv_mb_full_context``: MB of KV one stream of the whole context takes;
    - ``kv_cache_mb``: the memory budget every chat model's streams share (None: no limit);
    - ``full_context_streams``: how many full-context streams fit in it at once (None: no limit);
    - ``max_slots``: streams decoding together (None: the batcher's default);
    - optionally ``prefix_cache``: what the prompt prefixes kept in memory hold, and
      ``prefix_cache_disk``: the same for the blocks kept on disk.
    """

    def memory_facts(self) -> dict[str, Any]: ...


def engine_of(model: Any, contract: type[C]) -> C | None:
    """``model.engine`` when it implements ``contract``, else None."""
    engine = getattr(model, "engine", None)
    return engine if engine is not None and isinstance(engine, contract) else None


@runtime_checkable
class FleetLink(Protocol):
    """This host's link to its fleet's Redis (``fleet:`` in config.yaml), for plugins that
    share state between hosts. Get it with ``clawhost.api.fleet_of(host)``: None when the
    host runs alone.

    - ``name``: this host's name in the fleet; ``namespace``: the fleet's key prefix;
    - ``key(*parts)``: a key in the fleet's namespace, ``fleet_key(namespace, *parts)``
      (a plugin puts its own name first: ``key("semcache", "entry", id)``);
    - ``redis``: a shared ``redis.asyncio.Redis`` client whose calls time out after
      ``fleet.timeout_s`` (for the request path; do not BLOCK on it);
    - ``open_client(read_timeout_s)``: a client of its own, for blocking reads such as
      ``XREAD BLOCK``; the caller closes it (``await client.aclose()``);
    - ``available``: Redis answered the last call; False while it is down, True again once
      the link's reconnect loop reached it;
    - ``report_failure(exc)``: a plugin's Redis call failed with a connection error: the
      link goes down (one warning for the fleet, a readiness fact) and reconnects with
      backoff, so every plugin sees the same state;
    - ``await wait_available()``: returns once Redis is reachable (at once when it is);
    - ``hosts_seen(window_s)``: how many hosts (this one included, so at least 1) sent a
      heartbeat within ``window_s`` of the last time Redis was reachable: a partition
      does not shrink it, so ``limit / hosts_seen`` is a share that never overshoots
      (``window_s`` defaults to ``fleet.stale_after_s``; at most 6 times that is kept);
    - ``await hosts()``: every host's last heartbeat record (name, version, pid, address,
      started, beat, age_s, stale), read from Redis; [] while it is down.
    """

    name: str
    namespace: str

    @property
    def redis(self) -> Any: ...

    @property
    def available(self) -> bool: ...

    def key(self, *parts: str) -> str: ...

    def open_client(self, read_timeout_s: float | None = None) -> Any: ...

    def report_failure(self, exc: BaseException) -> None: ...

    async def wait_available(self) -> None: ...

    def hosts_seen(self, window_s: float | None = None) -> int: ...

    async def hosts(self) -> list[dict[str, Any]]: ...


def fleet_key(namespace: str, *parts: str) -> str:
    """A key name in a fleet's namespace, ``"<namespace>:" + ":".join(parts)``: what
    ``FleetLink.key`` returns, for code that has the namespace but no link (a CLI command
    run while no host is up)."""
    return ":".join((namespace, *parts))


def fleet_of(host: Any) -> FleetLink | None:
    """The host's link to its fleet (``fleet:`` in config.yaml), or None when it runs alone
    or has not started yet."""
    link = getattr(host, "fleet", None)
    return link if link is not None and isinstance(link, FleetLink) else None
