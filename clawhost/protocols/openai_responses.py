"""OpenAI's Responses API inbound, the stateless subset plus ``previous_response_id``.

``input`` (a string or items), ``instructions``, function ``tools``, ``function_call`` /
``function_call_output`` items become the ``ChatRequest`` a Chat Completions client would
send for the same conversation; the reply becomes a ``response`` object or its typed event
stream. With ``store`` (the default, as at OpenAI) the conversation is kept per tenant in
``workspace/.cache/responses/`` for a day, so a later request can continue it by id.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from ..errors import BadRequest, ClawhostError
from ..stash import StashKey
from ..types import ModelRequest, Reply
from ..streaming import dumps
from . import Endpoint, Inbound, register
from .common import extension_fields, model_request, text_or_parts
from .response_store import ResponseStore

NAME = "openai_responses"
STORE: StashKey[ResponseStore] = StashKey("responses_store")  # on host.state, opened on first use
# fields the SDK may send that do not change a translated answer
HARMLESS = frozenset({"truncation", "include", "service_tier", "prompt_cache_key",
                      "safety_identifier"})


# -- the request body ------------------------------------------------------------------

class _Item(BaseModel):
    model_config = ConfigDict(extra="allow")  # ids and statuses the SDK echoes back


class InputText(_Item):
    type: Literal["input_text", "output_text"]
    text: str


class InputImage(_Item):
    type: Literal["input_image"]
    image_url: str | None = None
    detail: str | None = None


class MessageItem(_Item):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Annotated[InputText | InputImage, Field(discriminator="type")]] = \
        Field(union_mode="left_to_right")


class FunctionCallItem(_Item):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=256)
    arguments: str = Field(max_length=10_000_000)


class FunctionCallOutputItem(_Item):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=256)
    output: str = Field(max_length=10_000_000)


def _item_type(v: Any) -> str:
    """An input item's kind: a message may leave out ``"type": "message"``."""
    kind = v.get("type", "message") if isinstance(v, dict) else getattr(v, "type", "message")
    return kind if isinstance(kind, str) else None


# discriminated: a bad item gets one error about its kind, not one per kind there is
InputItem = Annotated[Annotated[FunctionCallItem, Tag("function_call")] | Annotated[FunctionCallOutputItem, Tag("function_call_output")] | Annotated[MessageItem, Tag("message")], Discriminator(
    _item_type, custom_error_type="item_type", custom_error_message="type must be message, "
    "function_call or function_call_output (the stateless subset)")]


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(BaseModel):
    type: Literal["function"]
    name: str = Field(min_length=1)


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: dict[str, Any] | None = None


class ResponsesRequest(BaseModel):
    """OpenAI's ``POST /v1/responses`` body (the fields clawhost translates)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=256)
    input: str | list[InputItem] = Field(union_mode="left_to_right")
    instructions: str | None = None
    tools: list[FunctionTool] | None = Field(None, max_length=1000)
    tool_choice: Literal["auto", "none", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=2**31 - 1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = Field(None, max_length=256)
    metadata: dict[str, str] | None = None
    user: str | None = Field(None, max_length=256)
    text: TextFormat | None = None


# -- Responses -> the host's chat request ----------------------------------------------

def _content(content: str | list) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for p in content:
        if p.type == "input_image":
            parts.append({"type": "image_url", "image_url": {"url": p.image_url or ""}})
        else:
            parts.append({"type": "text", "text": p.text})
    return text_or_parts(parts)


def input_messages(body: ResponsesRequest) -> list[dict[str, Any]]:
    """``input`` as Chat Completions messages (function calls join the assistant turn)."""
    if isinstance(body.input, str):
        return [{"role": "user", "content": body.input}]
    out: list[dict[str, Any]] = []
    for item in body.input:
        if item.type == "message":
            out.append({"role": item.role, "content": _content(item.content)})
        elif item.type == "function_call":
            call = {"id": item.call_id, "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                if last["content"] == "":
                    last["content"] = None
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        else:
            out.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
    return out


def reply_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The assistant turn a chat reply adds to the conversation."""
    msg = ((body.get("choices") or [{}])[0].get("message")) or {}
    turn: dict[str, Any] = {"role": "assistant", "content": msg.get("content")}
    if msg.get("tool_calls"):
        turn["tool_calls"] = [{"id": c.get("id"), "type": "function", "function": {
            "name": (c.get("function") or {}).get("name"),
            "arguments": (c.get("function") or {}).get("arguments") or ""}}
            for c in msg["tool_calls"]]
    elif turn["content"] is None:
        turn["content"] = ""
    return [turn]


def store_of(call: Inbound) -> ResponseStore:
    host = call.host
    store = host.state.get(STORE)
    if store is None:
        store = host.state[STORE] = ResponseStore(host.workspace / ".cache" / "responses")
    return store


def to_chat(body: ResponsesRequest, call: Inbound) -> tuple[ModelRequest, list[dict[str, Any]]]:
    """(the host's request, the conversation to store: earlier turns and this input)."""
    history: list[dict[str, Any]] = []
    if body.previous_response_id:
        found = store_of(call).get(body.previous_response_id, call.tenant)
        if found is None:
            raise BadRequest(f"previous response {body.previous_response_id!r} not found "
                             "(never stored, expired, or another key's)",
                             param="previous_response_id")
        history = found
    conversation = history + input_messages(body)
    messages = ([{"role": "system", "content": body.instructions}] if body.instructions else [])
    data: dict[str, Any] = {"model": body.model, "messages": messages + conversation}
    if body.tools:
        data["tools"] = [{"type": "function", "function": {
            "name": t.name, **({"description": t.description} if t.description else {}),
            "parameters": t.parameters or {"type": "object", "properties": {}}}}
            for t in body.tools]
    if body.tool_choice is not None:
        tc = body.tool_choice
        data["tool_choice"] = tc if isinstance(tc, str) else \
            {"type": "function", "function": {"name": tc.name}}
    fmt = (body.text.format or {}) if body.text else {}
    if fmt and fmt.get("type", "text") != "text":
        schema = {k: v for k, v in fmt.items() if k != "type"}
        data["response_format"] = ({"type": "json_schema", "json_schema": schema}
                                   if fmt.get("type") == "json_schema" else {"type": fmt.get("type")})
    for name, value in (("parallel_tool_calls", body.parallel_tool_calls),
                        ("max_tokens", body.max_output_tokens), ("temperature", body.temperature),
                        ("top_p", body.top_p), ("user", body.user)):
        if value is not None:
            data[name] = value
    if body.stream:
        data["stream"], data["stream_options"] = True, {"include_usage": True}
    data.update(extension_fields(call, body.model_extra, HARMLESS))
    return model_request(call, "chat", data), conversation


# -- the host's reply -> a response -------------------------------------------------------

# ids: a random per-process part and a counter. uuid4 per id read os.urandom each time,
# three times a response (~2 us each); these stay unique across restarts (the random part)
# and within a process (the counter), which is what the store's keys need.
_PROCESS = uuid.uuid4().hex[:16]
_COUNTER = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{_PROCESS}{next(_COUNTER):012x}"


def usage_of(use: dict | None) -> dict[str, Any]:
    use = use or {}
    inp, out = int(use.get("prompt_tokens") or 0), int(use.get("completion_tokens") or 0)
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": inp + out}


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def call_item(item_id: str, call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    fn = call.get("function") or {}
    return {"type": "function_call", "id": item_id, "call_id": call.get("id") or item_id,
            "name": fn.get("name") or "", "arguments": fn.get("arguments") or "", "status": status}


def envelope(body: ResponsesRequest, rid: str, created: int, status: str,
             output: list[dict[str, Any]], use: dict | None, finish: str | None) -> dict[str, Any]:
    incomplete = {"reason": "max_output_tokens"} if finish == "length" else None
    tc = body.tool_choice
    return {"id": rid, "object": "response", "created_at": created,
            "status": "incomplete" if incomplete and status == "completed" else status,
            "error": None, "incomplete_details": incomplete, "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens, "model": body.model, "output": output,
            "parallel_tool_calls": body.parallel_tool_calls is not False,
            "previous_response_id": body.previous_response_id,
            "store": body.store, "temperature": body.temperature, "top_p": body.top_p,
            "text": {"format": {"type": "text"}},
            "tool_choice": (tc.model_dump() if isinstance(tc, BaseModel) else tc) or "auto",
            "tools": [t.model_dump(exclude_none=True) for t in body.tools or []],
            "truncation": "disabled", "metadata": body.metadata or {},
            "usage": usage_of(use) if use is not None or status == "completed" else None,
            "user": body.user}


def to_response(body: ResponsesRequest, rid: str, chat: dict[str, Any]) -> dict[str, Any]:
    choice = (chat.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if msg.get("content"):
        output.append(message_item(_id("msg"), msg["content"]))
    for c in msg.get("tool_calls") or []:
        output.append(call_item(_id("fc"), c))
    if not output:
        output.append(message_item(_id("msg"), ""))
    return envelope(body, rid, int(time.time()), "completed", output, chat.get("usage"),
                    choice.get("finish_reason"))


def error_event(exc: ClawhostError, seq: int) -> dict[str, Any]:
    return {"type": "error", "code": exc.code, "message": exc.message, "param": exc.param,
            "sequence_number": seq}


_HEADS: dict[str, bytes] = {}  # event kind -> its SSE lines up to the sequence number


def _head(kind: str) -> bytes:
    head = _HEADS[kind] = (b"event: " + kind.encode() + b"\ndata: "
                           + dumps({"type": kind, "sequence_number": 0})[:-2])  # without 0}
    return head


class _Events:
    """OpenAI chat chunks -> the Responses API's typed events."""

    def __init__(self, body: ResponsesRequest, rid: str):
        self.body, self.rid, self.created = body, rid, int(time.time())
        self.seq = 0
        self.output: list[dict[str, Any]] = []  # finished items
        self.text: dict[str, Any] | None = None  # the open message item: {id, index, parts}
        self.calls: dict[int, dict[str, Any]] = {}  # OpenAI tool index -> open call item
        self.finish: str | None = None
        self.usage: dict | None = None
        self.chat_calls: list[dict[str, Any]] = []  # for the stored conversation
        self._started: dict[str, Any] | None = None
        self.all_text: list[str] = []

    def ev(self, kind: str, **data: Any) -> bytes:
        """One event: its constant head encoded once per kind, then the number and the
        fields (no merged dict per event: a stream sends about ten)."""
        head = _HEADS.get(kind) or _head(kind)
        seq, self.seq = self.seq, self.seq + 1
        fields = b"," + dumps(data)[1:] if data else b"}"
        return head + str(seq).encode() + fields + b"\n\n"

    def response(self, status: str) -> dict[str, Any]:
        if status == "in_progress":  # built once: created and in_progress carry the same
            if self._started is None:
                self._started = envelope(self.body, self.rid, self.created, status, [], None, None)
            return self._started
        return envelope(self.body, self.rid, self.created, status, list(self.output),
                        self.usage, self.finish)

    def _with_response(self, kind: str, response: bytes) -> bytes:
        """An event around an already encoded response object."""
        head = _HEADS.get(kind) or _head(kind)
        seq, self.seq = self.seq, self.seq + 1
        return head + str(seq).encode() + b',"response":' + response + b"}\n\n"

    def start(self) -> list[bytes]:
        # created and in_progress carry the same object: encoded once (the envelope is the
        # largest thing a streamed response sends, three times)
        r = dumps(self.response("in_progress"))
        return [self._with_response("response.created", r),
                self._with_response("response.in_progress", r)]

    def _close_text(self) -> list[bytes]:
        t = self.text
        if t is None:
            return []
        self.text = None
        text = "".join(t["parts"])
        part = {"type": "output_text", "text": text, "annotations": []}
        item = message_item(t["id"], text)
        self.output.append(item)
        ids = {"item_id": t["id"], "output_index": t["index"], "content_index": 0}
        return [self.ev("response.output_text.done", **ids, text=text),
                self.ev("response.content_part.done", **ids, part=part),
                self.ev("response.output_item.done", output_index=t["index"], item=item)]

    def _close_calls(self) -> list[bytes]:
        out = []
        for c in self.calls.values():
            item = call_item(c["id"], c["call"])
            self.output.append(item)
            out += [self.ev("response.function_call_arguments.done", item_id=c["id"],
                            output_index=c["index"], arguments=item["arguments"]),
                    self.ev("response.output_item.done", output_index=c["index"], item=item)]
            self.chat_calls.append(c["call"])
        self.calls = {}
        return out

    def _index(self) -> int:
        return len(self.output) + (self.text is not None) + len(self.calls)

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        self.usage = chunk.get("usage") or self.usage
        for choice in chunk.get("choices") or []:
            self.finish = choice.get("finish_reason") or self.finish
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text = self.text
                if text is None:
                    out += self._close_calls()
                    text = self.text = {"id": _id("msg"), "index": self._index(), "parts": []}
                    out.append(self.ev("response.output_item.added", output_index=text["index"],
                                       item={"type": "message", "id": text["id"],
                                             "status": "in_progress", "role": "assistant",
                                             "content": []}))
                    out.append(self.ev("response.content_part.added", item_id=text["id"],
                                       output_index=text["index"], content_index=0,
                                       part={"type": "output_text", "text": "", "annotations": []}))
                text["parts"].append(delta["content"])
                self.all_text.append(delta["content"])
                out.append(self.ev("response.output_text.delta", item_id=text["id"],
                                   output_index=text["index"], content_index=0,
                                   delta=delta["content"]))
            for tc in delta.get("tool_calls") or []:
                i = tc.get("index", 0)
                fn = tc.get("function") or {}
                c = self.calls.get(i)
                if c is None:
                    out += self._close_text()
                    call = {"id": tc.get("id") or _id("call"), "type": "function",
                            "function": {"name": fn.get("name") or "", "arguments": ""}}
                    c = self.calls[i] = {"id": _id("fc"), "index": self._index(), "call": call}
                    out.append(self.ev("response.output_item.added", output_index=c["index"],
                                       item=call_item(c["id"], call, "in_progress")))
                if fn.get("arguments"):
                    c["call"]["function"]["arguments"] += fn["arguments"]
                    out.append(self.ev("response.function_call_arguments.delta", item_id=c["id"],
                                       output_index=c["index"], delta=fn["arguments"]))
        return out

    def end(self) -> list[bytes]:
        out = self._close_text() + self._close_calls()
        if not self.output:
            self.output.append(message_item(_id("msg"), ""))
        r = self.response("completed")
        kind = "response.incomplete" if r["status"] == "incomplete" else "response.completed"
        out.append(self.ev(kind, response=r))
        return out

    def chat_body(self) -> dict[str, Any]:
        """What the stream added up to, as a chat reply (for the stored conversation)."""
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(self.all_text) or None}
        if self.chat_calls:
            msg["tool_calls"] = self.chat_calls
        return {"choices": [{"message": msg}]}


class Responses(Endpoint):
    path = "/v1/responses"
    protocol = NAME
    summary = "OpenAI Responses (stateless subset, previous_response_id; stream: true for events)"
    Body = ResponsesRequest
    streams = True
    stream_description = ("typed events: response.created, response.in_progress, "
                          "response.output_item.added, response.content_part.added, "
                          "response.output_text.delta, response.output_text.done, "
                          "response.function_call_arguments.delta/.done, "
                          "response.output_item.done, response.completed")

    def close(self, host) -> None:
        store = host.state.pop(STORE)
        if store is not None:  # pending conversations written; a restart opens it again
            store.close()

    async def to_request(self, body: ResponsesRequest, call: Inbound) -> ModelRequest:
        request, call.state["conversation"] = to_chat(body, call)
        return request

    def _store(self, body: ResponsesRequest, call: Inbound, rid: str, chat: dict) -> None:
        if body.store:
            store_of(call).put(rid, call.tenant, call.state["conversation"] + reply_messages(chat))

    async def reply(self, body: ResponsesRequest, request: ModelRequest, reply: Reply,
                    call: Inbound) -> dict[str, Any]:
        rid = _id("resp")
        out = to_response(body, rid, reply.body)
        self._store(body, call, rid, reply.body)
        return out

    async def stream(self, body: ResponsesRequest, request: ModelRequest,
                     chunks: AsyncIterator[dict], call: Inbound) -> AsyncIterator[bytes]:
        events = _Events(body, _id("resp"))
        try:
            first = events.start()  # sent with the first chunk's events: one write, not three
            async for chunk in chunks:
                out = first + events.chunk(chunk)
                first = []
                if out:
                    yield b"".join(out)
            yield b"".join(first + events.end())
            self._store(body, call, events.rid, events.chat_body())
        except ClawhostError as exc:  # after the headers went out, the error travels in-band
            yield events.ev("error", **{k: v for k, v in error_event(exc, 0).items()
                                        if k not in ("type", "sequence_number")})


register(Responses())
