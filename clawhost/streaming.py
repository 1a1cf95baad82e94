"""OpenAI's response shapes, and the conversions between whole replies and chunk streams.

Model plugins build bodies and chunks with these helpers; the host uses them to replay a
cached body as a stream and to assemble a stream into a body the caches can keep.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, AsyncIterator

from pydantic_core import to_json

if TYPE_CHECKING:  # annotations only: the CLI imports this through the plugin API
    from .types import ModelRequest


# A reply body or chunk may carry what the provider sent in its own protocol under this key:
# ``{"protocol": "anthropic_messages", "message": {...}}`` on a body (and on the last chunk
# of a stream: what the events added up to), ``{"protocol": ..., "events": [...]}`` on the
# chunks of a stream relayed live. The body stays OpenAI's shape for every other reader
# (caches store both, so a hit keeps the native reply too); the endpoint of that protocol
# answers with the native reply instead of translating the chat shape back, and the OpenAI
# endpoints strip the key (``without_native``). A chunk that only carries events has no
# choices.
NATIVE = "x_clawhost_native"


def without_native(data: dict[str, Any]) -> dict[str, Any]:
    """A body or chunk as an OpenAI client gets it: the native reply left out."""
    if NATIVE not in data:
        return data
    return {k: v for k, v in data.items() if k != NATIVE}


def native_message(body: dict[str, Any] | None, protocol: str) -> dict[str, Any] | None:
    """The provider's own reply in ``protocol``'s shape, when the body carries one."""
    native = body.get(NATIVE) if body else None
    if isinstance(native, dict) and native.get("protocol") == protocol:
        message = native.get("message")
        return message if isinstance(message, dict) else None
    return None


def new_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int = 0) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_completion(model: str, content: str | None, *, finish_reason: str = "stop",
                    usage: dict | None = None, tool_calls: list | None = None,
                    id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": id or new_id(), "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message,
                                         "finish_reason": finish_reason, "logprobs": None}],
            "usage": usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def text_completion(model: str, text: str, *, finish_reason: str = "stop",
                    usage: dict | None = None, id: str | None = None) -> dict[str, Any]:
    return {"id": id or new_id("cmpl"), "object": "text_completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "text": text, "finish_reason": finish_reason,
                                         "logprobs": None}],
            "usage": usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def embedding_list(model: str, vectors, *, prompt_tokens: int = 0) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
            for i, v in enumerate(vectors)]
    return {"object": "list", "data": data, "model": model, "usage": usage(prompt_tokens)}


def chat_chunk(id: str, model: str, created: int, delta: dict, finish_reason: str | None = None,
               usage: dict | None = None) -> dict[str, Any]:
    chunk = {"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                          "logprobs": None}]}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def text_chunk(id: str, model: str, created: int, text: str,
               finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish_reason,
                         "logprobs": None}]}


async def replay(request: ModelRequest, body: dict) -> AsyncIterator[dict]:
    """A whole reply as a well-formed chunk stream, at once (no artificial delays)."""
    choice = body["choices"][0]
    cid, model, created = body.get("id") or new_id(), body.get("model", ""), body.get("created", 0)
    if request.kind == "completion":
        yield text_chunk(cid, model, created, choice.get("text", ""))
        yield text_chunk(cid, model, created, "", choice.get("finish_reason", "stop"))
        return
    message = choice.get("message", {})
    first = chat_chunk(cid, model, created, {"role": "assistant", "content": ""})
    if NATIVE in body:  # the native reply rides on the first chunk (for a cache hit's replay)
        first[NATIVE] = body[NATIVE]
    yield first
    if message.get("content"):
        yield chat_chunk(cid, model, created, {"content": message["content"]})
    for i, call in enumerate(message.get("tool_calls") or []):
        yield chat_chunk(cid, model, created, {"tool_calls": [{**call, "index": i}]})
    yield chat_chunk(cid, model, created, {}, choice.get("finish_reason", "stop"))
    if body.get("usage") and (request.body.stream_options or {}).get("include_usage"):
        last = chat_chunk(cid, model, created, {})
        last["choices"], last["usage"] = [], body["usage"]
        yield last


def merge_chunks(request: ModelRequest, chunks: list[dict]) -> dict[str, Any]:
    """The whole reply that a list of chunks adds up to."""
    first = chunks[0]
    text, finish, use, calls, native = [], "stop", None, {}, None
    for chunk in chunks:
        use = chunk.get("usage") or use
        if NATIVE in chunk and "message" in chunk[NATIVE]:
            native = {k: v for k, v in chunk[NATIVE].items() if k != "events"}
        for choice in chunk.get("choices") or []:
            finish = choice.get("finish_reason") or finish
            if request.kind == "completion":
                text.append(choice.get("text") or "")
                continue
            delta = choice.get("delta") or {}
            text.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), {"id": None, "type": "function",
                                                                "function": {"name": "", "arguments": ""}})
                slot["id"] = call.get("id") or slot["id"]
                fn = call.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
    model, cid = first.get("model", ""), first.get("id")
    if request.kind == "completion":
        body = text_completion(model, "".join(text), finish_reason=finish, usage=use, id=cid)
    else:
        body = chat_completion(model, "".join(text) or (None if calls else ""),
                               finish_reason=finish, usage=use,
                               tool_calls=[calls[i] for i in sorted(calls)], id=cid)
    body["created"] = first.get("created", body["created"])
    if native is not None:
        body[NATIVE] = native
    return body


async def assemble(request: ModelRequest, stream: AsyncIterator[dict]) -> dict[str, Any]:
    return merge_chunks(request, [c async for c in stream])


# ``dumps(obj) -> bytes``: compact JSON, non-ASCII as UTF-8. pydantic-core's Rust encoder (a
# dependency already), byte for byte what ``json.dumps(obj, separators=(",", ":"),
# ensure_ascii=False).encode()`` gives for these plain dicts, at a third of the cost (a
# stream encodes one per token). The function itself: a Python wrapper doubled the cost of
# encoding a small value.
dumps = to_json


def sse(chunk: dict | str) -> bytes:
    """One server-sent event; ``"[DONE]"`` ends OpenAI streams."""
    data = chunk.encode() if isinstance(chunk, str) else dumps(chunk)
    return b"data: " + data + b"\n\n"
