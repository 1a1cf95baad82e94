"""Reading a ``TokenEvent`` from an engine (the contract is ``clawhost.api.SlotEngine``)."""

from __future__ import annotations

from typing import Any


def event_fields(event: Any) -> tuple[list[int], str, str | None]:
    """``(token_ids, text, finish_reason)`` from an engine's event (tolerant of field names):
    the step's tokens in order, several when speculative guesses held, none if unknown."""
    tokens = list(getattr(event, "token_ids", None) or ())
    if not tokens:
        token = getattr(event, "token_id", getattr(event, "token", None))
        tokens = [] if token is None else [token]
    text = getattr(event, "text", "") or ""
    finish = getattr(event, "finish_reason", None)
    if finish is None and getattr(event, "finished", False):
        finish = "stop"
    return tokens, text, finish
