"""Between the Messages shape and the host's Chat Completions shape: a Messages body -> the
``ChatRequest`` a Chat Completions client would send for the same conversation (so both APIs
share cache entries), and the host's reply -> a message or an error body."""

from __future__ import annotations

import re
from typing import Any

from ...cache_keys import canonical_json
from ...errors import BadRequest, ClawhostError
from ...types import ModelRequest
from .. import Inbound
from ..common import arguments_object, extension_fields, model_request, text_or_parts
from .bodies import CountTokensRequest, ImageBlock, MessagesRequest

# OpenAI finish_reason -> Anthropic stop_reason
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}
# HTTP status -> Anthropic's error type
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 503: "overloaded_error", 504: "timeout_error",
               529: "overloaded_error"}
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# fields clients send that do not change a translated answer (service tier, cache hints)
HARMLESS = frozenset({"service_tier", "cache_control"})


# -- Messages -> the host's chat request --------------------------------------------------

def _image_part(block: ImageBlock) -> dict[str, Any]:
    src = block.source
    url = (f"data:{src.media_type};base64,{src.data}" if src.type == "base64" else src.url or "")
    return {"type": "image_url", "image_url": {"url": url}}


def _parts(blocks: list) -> list[dict[str, Any]]:
    return [{"type": "text", "text": b.text} if b.type == "text" else _image_part(b)
            for b in blocks if b.type in ("text", "image")]


def chat_messages(body: MessagesRequest | CountTokensRequest) -> list[dict[str, Any]]:
    """The conversation as Chat Completions messages."""
    out: list[dict[str, Any]] = []
    if body.system:
        system = body.system if isinstance(body.system, str) else \
            "\n\n".join(b.text for b in body.system)
        out.append({"role": "system", "content": system})
    for m in body.messages:
        if isinstance(m.content, str):
            out.append({"role": m.role, "content": m.content})
            continue
        if m.role == "assistant":
            text = "".join(b.text for b in m.content if b.type == "text")
            calls = [{"id": b.id, "type": "function",
                      "function": {"name": b.name, "arguments": canonical_json(b.input).decode()}}
                     for b in m.content if b.type == "tool_use"]
            if any(b.type in ("image", "tool_result") for b in m.content):
                raise BadRequest("messages: an assistant turn holds text and tool_use blocks only",
                                 param="messages")
            msg: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
            continue
        if any(b.type == "tool_use" for b in m.content):
            raise BadRequest("messages: tool_use blocks belong in assistant turns", param="messages")
        # tool results answer the previous assistant turn, so they come first, as tool messages
        for b in m.content:
            if b.type == "tool_result":
                content = b.content if isinstance(b.content, str) or b.content is None \
                    else text_or_parts(_parts(b.content))
                if b.is_error:
                    text = content if isinstance(content, str) else ""
                    content = f"Error: {text}" if text else "Error"
                out.append({"role": "tool", "tool_call_id": b.tool_use_id, "content": content or ""})
        parts = _parts(m.content)
        if parts or not any(b.type == "tool_result" for b in m.content):
            out.append({"role": "user", "content": text_or_parts(parts) if parts else ""})
    return out


def chat_tools(body: MessagesRequest | CountTokensRequest) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if body.tools:
        data["tools"] = [{"type": "function", "function": {
            "name": t.name, **({"description": t.description} if t.description else {}),
            "parameters": t.input_schema}} for t in body.tools]
    tc = body.tool_choice
    if tc is not None:
        if tc.type == "tool":
            if not tc.name:
                raise BadRequest("tool_choice.name: required when type is 'tool'",
                                 param="tool_choice.name")
            data["tool_choice"] = {"type": "function", "function": {"name": tc.name}}
        else:
            data["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[tc.type]
        if tc.disable_parallel_tool_use:
            data["parallel_tool_calls"] = False
    return data


def check_version(headers) -> None:
    version = headers.get("anthropic-version")
    if version is not None and not VERSION.match(version):
        raise BadRequest(f"anthropic-version: expected a date such as 2023-06-01, got {version[:40]!r}")


def to_chat(body: MessagesRequest, call: Inbound) -> ModelRequest:
    data: dict[str, Any] = {"model": body.model, "messages": chat_messages(body),
                            "max_tokens": body.max_tokens, **chat_tools(body)}
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(body, name)
        if value is not None:
            data[name] = value
    if body.stop_sequences:
        data["stop"] = body.stop_sequences
    if body.metadata and body.metadata.user_id:
        data["user"] = body.metadata.user_id
    if body.thinking is not None:
        # a chat extra, as Anthropic's own OpenAI-compatible API takes it: part of the cache
        # key (an answer with thinking blocks is another answer), sent on to Anthropic
        data["thinking"] = body.thinking.model_dump(exclude_none=True)
    if body.stream:  # usage is in Anthropic's last events: ask the chunk stream for it
        data["stream"], data["stream_options"] = True, {"include_usage": True}
    data.update(extension_fields(call, body.model_extra, HARMLESS))
    return model_request(call, "chat", data)


# -- the host's reply -> a message ---------------------------------------------------------

def message_id(chat_id: str | None) -> str:
    tail = (chat_id or "").rsplit("-", 1)[-1] or "0"
    return f"msg_{tail}"


def usage_of(use: dict | None) -> dict[str, int]:
    use = use or {}
    return {"input_tokens": int(use.get("prompt_tokens") or 0),
            "output_tokens": int(use.get("completion_tokens") or 0)}


def to_message(body: dict[str, Any], model: str) -> dict[str, Any]:
    choice = (body.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = msg.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if text:
        content.append({"type": "text", "text": text})
    for c in msg.get("tool_calls") or []:
        fn = c.get("function") or {}
        content.append({"type": "tool_use", "id": c.get("id") or "toolu_0",
                        "name": fn.get("name") or "", "input": arguments_object(fn.get("arguments"))})
    # OpenAI's "stop" does not say whether a stop sequence or the model ended the turn
    return {"id": message_id(body.get("id")), "type": "message", "role": "assistant",
            "model": model, "content": content,
            "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
            "stop_sequence": None, "usage": usage_of(body.get("usage"))}


def error_body(exc: ClawhostError) -> dict[str, Any]:
    etype = ERROR_TYPES.get(exc.status, "api_error" if exc.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": etype, "message": exc.message}}
