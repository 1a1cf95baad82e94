"""Anthropic's Messages API inbound: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

A Messages body becomes the ``ChatRequest`` a Chat Completions client would send for the
same conversation (system -> a system message, tool_use -> tool_calls, tool_result -> tool
messages, stop_sequences -> stop), so both APIs share cache entries. The reply, or its
chunk stream, is turned back into a message or Anthropic's event sequence. The body as sent
rides along on the request (``SOURCE_BODY``), so connection_pool's Anthropic adapter can
send it upstream as is.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..notes import SOURCE_BODY
from ..cache_keys import canonical_json
from ..contracts import SlotEngine, engine_of
from ..errors import BadRequest, ClawhostError, Unavailable
from ..streaming import NATIVE, native_message
from ..types import ModelRequest, Reply
from . import Endpoint, EventWriter, Inbound, register, sse_event
from .common import arguments_object, extension_fields, model_request, text_or_parts

NAME = "anthropic_messages"

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


# -- the request body (pydantic: it validates and feeds /openapi.json) --------------------

class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")  # cache_control, citations: hints we may ignore


class TextBlock(_Block):
    type: Literal["text"]
    text: str = Field(max_length=10_000_000)


class ImageSource(BaseModel):
    type: Literal["base64", "url"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class ImageBlock(_Block):
    type: Literal["image"]
    source: ImageSource


class ToolUseBlock(_Block):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=256)
    input: dict[str, Any]


class ToolResultBlock(_Block):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: str | list[Annotated[TextBlock | ImageBlock, Field(discriminator="type")]] | None = None
    is_error: bool | None = None


# discriminated by "type": a bad block is one error naming its type, not one per block kind
Block = Annotated[TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock,
                  Field(discriminator="type")]


class MessageParam(BaseModel):
    role: Literal["user", "assistant"]
    content: str | list[Block] = Field(union_mode="left_to_right")


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    input_schema: dict[str, Any]


class ToolChoice(BaseModel):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(BaseModel):
    """Extended thinking: the reply's thinking blocks come back from an Anthropic upstream."""

    model_config = ConfigDict(extra="allow")
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(None, ge=1024, le=2**31 - 1)

    @model_validator(mode="after")
    def _budget(self):
        if self.type == "enabled" and self.budget_tokens is None:
            raise ValueError("budget_tokens is required when type is 'enabled'")
        return self


class Metadata(BaseModel):
    user_id: str | None = Field(None, max_length=256)


class MessagesRequest(BaseModel):
    """Anthropic's ``POST /v1/messages`` body (the fields clawhost translates)."""

    model_config = ConfigDict(extra="allow")  # plugins' fields (cache, priority), checked later
    model: str = Field(min_length=1, max_length=256)
    max_tokens: int = Field(ge=1, le=2**31 - 1)
    messages: list[MessageParam] = Field(min_length=1, max_length=100_000)
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = Field(None, max_length=4)
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, le=2**31 - 1)
    stream: bool = False
    tools: list[Tool] | None = Field(None, max_length=1000)
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None
    thinking: Thinking | None = None


class CountTokensRequest(BaseModel):
    """Anthropic's ``POST /v1/messages/count_tokens`` body."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=256)
    messages: list[MessageParam] = Field(min_length=1, max_length=100_000)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None


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


class _Events:
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


class Messages(Endpoint):
    path = "/v1/messages"
    protocol = NAME
    summary = "Anthropic Messages (stream: true for Anthropic's event stream)"
    Body = MessagesRequest
    streams = True
    stream_description = ("Anthropic events: message_start, ping, content_block_start, "
                          "content_block_delta, content_block_stop, message_delta, message_stop")

    def error_body(self, exc: ClawhostError) -> dict[str, Any]:
        return error_body(exc)

    async def to_request(self, body: MessagesRequest, call: Inbound) -> ModelRequest:
        check_version(call.headers)
        request = to_chat(body, call)
        # the JSON as parsed (validated above, not copied: a dump cost 15 us a request), and
        # the body object, since an adapter sends it only while no plugin replaced the body
        request.notes[SOURCE_BODY] = (NAME, call.raw, request.body)
        return request

    async def reply(self, body: MessagesRequest, request: ModelRequest, reply: Reply,
                    call: Inbound) -> dict[str, Any]:
        # an Anthropic upstream's own message (live or cached) as it came: thinking blocks,
        # cache usage and stop_sequence have no place in the chat shape
        message = native_message(reply.body, NAME)
        if message is not None:
            return {**message, "model": body.model}
        return to_message(reply.body, body.model)

    def stream(self, body: MessagesRequest, request: ModelRequest, call: Inbound) -> _Stream:
        return _Stream(body.model)


class _Stream(EventWriter):
    """The host's chunks as Anthropic's events, or an Anthropic upstream's own (live, or a
    cached message replayed). The events of one host chunk go out in one write: a write per
    event costs a syscall each, which was most of a streamed request's added CPU."""

    def __init__(self, model: str):
        self.model = model
        self.events = _Events(model)
        self.started = False
        self.native = False  # an Anthropic upstream's own events (or a cached message) went out

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        if NATIVE in chunk and chunk[NATIVE].get("protocol") == NAME and not (
                self.started and not self.native):
            carried = chunk[NATIVE]
            if "events" in carried:  # relayed live, as the upstream sent them
                self.native = self.started = True
                return b"".join(relayed(ev, self.model) for ev in carried["events"])
            if not self.started and isinstance(carried.get("message"), dict):
                self.native = self.started = True  # a cached Anthropic reply, replayed whole
                return b"".join(message_events(carried["message"], self.model))
        if self.native:
            return b""
        out = [] if self.started else self.events.start(chunk.get("id"))
        self.started = True
        out += self.events.chunk(chunk)
        return b"".join(out)

    def end(self) -> bytes:
        if self.native:
            return b""
        return b"".join((self.events.start(None) if not self.started else [])
                        + self.events.end())

    def error(self, exc: ClawhostError) -> bytes:
        return sse_event("error", error_body(exc))


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


class CountTokens(Endpoint):
    path = "/v1/messages/count_tokens"
    protocol = NAME
    summary = "Anthropic token counting (local models only: their own tokenizer)"
    Body = CountTokensRequest
    loop = False

    def error_body(self, exc: ClawhostError) -> dict[str, Any]:
        return error_body(exc)

    async def answer(self, body: CountTokensRequest, call: Inbound) -> dict[str, Any]:
        check_version(call.headers)
        host = call.host
        model = host.resolve_model(body.model, "chat")   # 404 with the models there are
        data = {"model": body.model, "messages": chat_messages(body), **chat_tools(body)}
        data.update(extension_fields(call, body.model_extra))
        request = model_request(call, "chat", data)
        request.model = model
        engine = engine_of(model, SlotEngine)
        if engine is None:
            if model.status not in ("ready",):
                raise Unavailable(f"model {model.id!r} is {model.status}; try again shortly",
                                  headers={"Retry-After": "5"})
            raise BadRequest(f"model {model.id!r} has no local tokenizer: count_tokens works for "
                             "local models only", param="model")
        # the prompt exactly as the model would read it (chat template applied)
        ids, _ = await asyncio.to_thread(engine.prepare, request)
        return {"input_tokens": len(ids)}


register(Messages())
register(CountTokens())
