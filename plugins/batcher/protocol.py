"""Reading a ``TokenEvent`` from an engine (the contract is ``clawhost.api.SlotEngine``)."""

from __future__ import annotations

from typing import Any


def event_fields(event: Any) -> tuple[int | None, str, str | None]:
    """``(token_id, text, finish_reason)`` from an engine's event (tolerant of field names)."""
    token = getattr(event, "token_id", getattr(event, "token", None))
    text = getattr(event, "text", "") or ""
    finish = getattr(event, "finish_reason", None)
    if finish is None and getattr(event, "finished", False):
        finish = "stop"
    return token, text, finish
