"""The small protocol the continuous-batching scheduler drives, and the adapter to an engine.

A model plugin exposes, on ``Model.engine``, an object with:

- ``new_batch(max_slots) -> SlotBatch``: a batch of up to ``max_slots`` sequences (its own KV cache);
- ``prepare(request) -> (prompt_ids, sampling)``: the prompt tokens (chat template applied)
  and the engine's sampling settings for one ``ModelRequest`` (raise ``BadRequest`` for a
  prompt that cannot fit);

and the batch offers:

- ``add(prompt_ids, sampling) -> slot``: prefill one sequence into a free slot;
- ``step() -> {slot: TokenEvent}``: one decode step for every active slot;
- ``remove(slot)``: free a slot at once (finished, or its client went away).

A ``TokenEvent`` has ``token_id`` (int), ``text`` (the new text it decodes to, may be ``""``)
and ``finish_reason`` (None while going; ``"stop"`` on EOS/stop string, ``"length"``).
The scheduler calls the batch from one worker thread only, never two calls at once.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable


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
    def new_batch(self, max_slots: int) -> SlotBatch: ...

    def prepare(self, request: Any) -> tuple[list[int], Any]: ...


def slot_engine(model: Any) -> SlotEngine | None:
    """The model's engine when it speaks the slot protocol, else None (not batched here)."""
    engine = getattr(model, "engine", None)
    for candidate in (engine, getattr(engine, "chat", None), getattr(engine, "engine", None)):
        if candidate is not None and callable(getattr(candidate, "new_batch", None)) \
                and callable(getattr(candidate, "prepare", None)):
            return candidate
    return None


def event_fields(event: Any) -> tuple[int | None, str, str | None]:
    """``(token_id, text, finish_reason)`` from an engine's event (tolerant of field names)."""
    token = getattr(event, "token_id", getattr(event, "token", None))
    text = getattr(event, "text", "") or ""
    finish = getattr(event, "finish_reason", None)
    if finish is None and getattr(event, "finished", False):
        finish = "stop"
    return token, text, finish
