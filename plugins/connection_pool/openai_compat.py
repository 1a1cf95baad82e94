"""OpenAI-compatible upstreams (OpenAI, llama.cpp server, vLLM, Ollama's /v1): near pass-through.

Bodies and chunks go through unchanged (tool calls included); only the model name is
swapped for the upstream's, and streams ask for a usage chunk so TPM budgets see real counts.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from clawhost.api import ModelRequest

from .retry import AttemptFailed

PATHS = {"chat": "/chat/completions", "completion": "/completions", "embedding": "/embeddings"}


class StreamState:
    """What a stream told us on the way through (for TPM accounting and notes)."""

    __slots__ = ("usage", "chunks")

    def __init__(self):
        self.usage: int | None = None
        self.chunks = 0


class OpenAICompat:
    kind = "openai"

    def __init__(self, opts):
        self.opts = opts

    def auth_headers(self) -> dict[str, str]:
        key = self.opts.api_key
        return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}

    def url(self, kind: str) -> str:
        return self.opts.base_url + PATHS[kind]

    def payload(self, request: ModelRequest, upstream_model: str) -> dict[str, Any]:
        # the fields plugins declared (cache controls, priority) are clawhost's, not the provider's
        data = request.body.model_dump(exclude_unset=True, exclude=set(request.body.extension_fields))
        data["model"] = upstream_model
        if request.kind != "embedding" and request.stream:
            data["stream"] = True
            if self.opts.stream_usage:
                data["stream_options"] = {**(data.get("stream_options") or {}),
                                          "include_usage": True}
        return data

    def reply(self, request: ModelRequest, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or ("choices" not in data and "data" not in data):
            raise AttemptFailed("upstream answered 200 with a body that is not an OpenAI reply",
                                status=502, kind="bad_body")
        if request.kind != "embedding":
            choices = data.get("choices")
            # an answer without a finish reason was cut off: never pass it on (or cache it)
            # as if it were whole
            if not isinstance(choices, list) or not choices or any(
                    not isinstance(c, dict) or c.get("finish_reason") is None for c in choices):
                raise AttemptFailed("upstream answered 200 without a finish reason (cut off)",
                                    status=502, kind="truncated")
        return data

    @staticmethod
    def usage(body: dict) -> int | None:
        use = body.get("usage") or {}
        total = use.get("total_tokens")
        return int(total) if isinstance(total, (int, float)) else None

    async def chunks(self, request: ModelRequest, events: AsyncIterator[str],
                     state: StreamState) -> AsyncIterator[dict]:
        wants_usage = bool((getattr(request.body, "stream_options", None) or {}).get("include_usage"))
        seen: set = set()        # choice indexes that sent something
        finished: set = set()    # ... and those that gave a finish reason
        async for data in events:
            if data == "[DONE]":
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                raise AttemptFailed("upstream sent a stream event that is not JSON",
                                    status=502, kind="bad_body") from None
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk and "choices" not in chunk:
                msg, _ = error_text(chunk)
                raise AttemptFailed(f"upstream error in stream: {msg}", status=502, body=chunk)
            for choice in chunk.get("choices") or ():
                if isinstance(choice, dict):
                    seen.add(choice.get("index", 0))
                    if choice.get("finish_reason") is not None:
                        finished.add(choice.get("index", 0))
            if chunk.get("usage"):
                state.usage = self.usage(chunk)
                if not chunk.get("choices") and not wants_usage:
                    continue   # the usage chunk we asked for on our own account
            state.chunks += 1
            yield chunk
        # a stream that stops without a finish reason (a clean close, or [DONE] alone) was
        # cut off: raising makes it an in-band error, never [DONE] nor a cache entry
        if not seen or seen - finished:
            raise AttemptFailed("upstream stream ended without a finish reason (cut off)",
                                status=502, kind="truncated")


def is_preamble(chunk: dict) -> bool:
    """A chunk that says nothing yet: only a role and empty content (OpenAI's first chunk),
    or no choices at all (Azure's prompt_filter_results)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or chunk.get("usage"):
        return False
    for c in choices:
        if not isinstance(c, dict) or c.get("finish_reason") is not None or c.get("text"):
            return False
        delta = c.get("delta")
        if isinstance(delta, dict) and any(v for k, v in delta.items() if k != "role"):
            return False
    return True


def error_text(data: Any) -> tuple[str, str | None]:
    """(message, type) from an OpenAI- or Anthropic-shaped error body, or plain text."""
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or json.dumps(err)[:300]
            return str(msg), err.get("type") or err.get("code")
        if isinstance(err, str):
            return err, None
    text = str(data or "").strip().replace("\n", " ")
    return (text[:300] or "no error message"), None
