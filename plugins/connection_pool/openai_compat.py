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
        return data

    @staticmethod
    def usage(body: dict) -> int | None:
        use = body.get("usage") or {}
        total = use.get("total_tokens")
        return int(total) if isinstance(total, (int, float)) else None

    async def chunks(self, request: ModelRequest, events: AsyncIterator[str],
                     state: StreamState) -> AsyncIterator[dict]:
        wants_usage = bool((getattr(request.body, "stream_options", None) or {}).get("include_usage"))
        async for data in events:
            if data == "[DONE]":
                return
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
            if chunk.get("usage"):
                state.usage = self.usage(chunk)
                if not chunk.get("choices") and not wants_usage:
                    continue   # the usage chunk we asked for on our own account
            state.chunks += 1
            yield chunk


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
