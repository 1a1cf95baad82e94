"""Anthropic's stream events: built from the host's chat chunks, relayed from an Anthropic
upstream, or replayed from a whole (cached) message."""

from __future__ import annotations

from typing import Any

from ...cache_keys import canonical_json
from .. import sse_event
from .translate import STOP_REASONS, message_id, usage_of


class ChunkEvents:
    """OpenAI chat chunks -> Anthropic's stream events, one block open at a time."""

    def __init__(self, model: str):
        self.model = model
        self.index = -1          # the content block being written
        self.open: str | None = None  # its type
        self.tools: dict[int, int] = {}  # OpenAI tool_calls index -> content block index
        self.finish = "stop"
        self.usage: dict | None = None

    def start(self, cid: str | None) -> list[bytes]:
        message = {"id": message_id(cid), "type": "message", "role": "assistant",
                   "model": self.model, "content": [], "stop_reason": None,
                   "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
        return [sse_event("message_start", {"type": "message_start", "message": message}),
                sse_event("ping", {"type": "ping"})]

    def _close(self) -> list[bytes]:
        if self.open is None:
            return []
        self.open = None
        return [sse_event("content_block_stop", {"type": "content_block_stop", "index": self.index})]

    def _begin(self, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self.index += 1
        self.open = block["type"]
        out.append(sse_event("content_block_start", {"type": "content_block_start",
                                                     "index": self.index, "content_block": block}))
        return out

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        self.usage = chunk.get("usage") or self.usage
        for choice in chunk.get("choices") or []:
            self.finish = choice.get("finish_reason") or self.finish
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self.open != "text":
                    out += self._begin({"type": "text", "text": ""})
                out.append(sse_event("content_block_delta", {
                    "type": "content_block_delta", "index": self.index,
                    "delta": {"type": "text_delta", "text": delta["content"]}}))
            for call in delta.get("tool_calls") or []:
                i = call.get("index", 0)
                fn = call.get("function") or {}
                if i not in self.tools:
                    out += self._begin({"type": "tool_use", "id": call.get("id") or f"toolu_{i}",
                                        "name": fn.get("name") or "", "input": {}})
                    self.tools[i] = self.index
                if fn.get("arguments"):
                    out.append(sse_event("content_block_delta", {
                        "type": "content_block_delta", "index": self.tools[i],
                        "delta": {"type": "input_json_delta", "partial_json": fn["arguments"]}}))
        return out

    def end(self) -> list[bytes]:
        out = self._close()
        use = usage_of(self.usage)
        out.append(sse_event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS.get(self.finish, "end_turn"), "stop_sequence": None},
            "usage": use}))
        out.append(sse_event("message_stop", {"type": "message_stop"}))
        return out


def relayed(ev: dict[str, Any], model: str) -> bytes:
    """An upstream event as the client gets it (the model as the client named it)."""
    kind = ev.get("type") or "unknown"
    if kind == "message_start" and isinstance(ev.get("message"), dict):
        ev = {**ev, "message": {**ev["message"], "model": model}}
    return sse_event(kind, ev)


def message_events(message: dict[str, Any], model: str) -> list[bytes]:
    """A whole Anthropic message as the event sequence that streams it (a cache hit)."""
    usage = message.get("usage") or {}
    out = [sse_event("message_start", {"type": "message_start", "message": {
               **message, "model": model, "content": [], "stop_reason": None,
               "stop_sequence": None, "usage": {**usage, "output_tokens": 0}}}),
           sse_event("ping", {"type": "ping"})]
    for i, block in enumerate(message.get("content") or []):
        kind = block.get("type")
        deltas: list[dict[str, Any]] = []
        start = block
        if kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": block.get("text", "")}]
            deltas += [{"type": "citations_delta", "citation": c}
                       for c in block.get("citations") or []]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")},
                      {"type": "signature_delta", "signature": block.get("signature", "")}]
        elif kind == "tool_use":
            start = {**block, "input": {}}
            deltas = [{"type": "input_json_delta",
                       "partial_json": canonical_json(block.get("input") or {}).decode()}]
        out.append(sse_event("content_block_start", {"type": "content_block_start",
                                                     "index": i, "content_block": start}))
        out += [sse_event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                  "delta": d}) for d in deltas]
        out.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(sse_event("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": message.get("stop_reason") or "end_turn",
        "stop_sequence": message.get("stop_sequence")}, "usage": usage}))
    out.append(sse_event("message_stop", {"type": "message_stop"}))
    return out
