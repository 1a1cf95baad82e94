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
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from ..errors import BadRequest, ClawhostError
from ..stash import StashKey
from ..streaming import dumps
from ..types import ModelRequest, Reply
from . import Endpoint, EventWriter, Inbound, register
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


def _usage(inp: Any, out: Any, total: Any) -> dict[str, Any]:
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": total}


def usage_of(use: dict | None) -> dict[str, Any]:
    use = use or {}
    inp, out = int(use.get("prompt_tokens") or 0), int(use.get("completion_tokens") or 0)
    return _usage(inp, out, inp + out)


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def call_item(item_id: str, call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    fn = call.get("function") or {}
    return {"type": "function_call", "id": item_id, "call_id": call.get("id") or item_id,
            "name": fn.get("name") or "", "arguments": fn.get("arguments") or "", "status": status}


def _asked(body: ResponsesRequest) -> dict[str, Any]:
    """The response object's fields before ``output`` that echo the request."""
    return {"instructions": body.instructions, "max_output_tokens": body.max_output_tokens,
            "model": body.model}


def _settings(body: ResponsesRequest) -> dict[str, Any]:
    """... and those between ``output`` and ``usage``."""
    tc = body.tool_choice
    return {"parallel_tool_calls": body.parallel_tool_calls is not False,
            "previous_response_id": body.previous_response_id,
            "store": body.store, "temperature": body.temperature, "top_p": body.top_p,
            "text": {"format": {"type": "text"}},
            "tool_choice": (tc.model_dump() if isinstance(tc, BaseModel) else tc) or "auto",
            "tools": [t.model_dump(exclude_none=True) for t in body.tools or []],
            "truncation": "disabled", "metadata": body.metadata or {}}


def envelope(body: ResponsesRequest, rid: str, created: int, status: str,
             output: list[dict[str, Any]], use: dict | None, finish: str | None) -> dict[str, Any]:
    incomplete = {"reason": "max_output_tokens"} if finish == "length" else None
    return {"id": rid, "object": "response", "created_at": created,
            "status": "incomplete" if incomplete and status == "completed" else status,
            "error": None, "incomplete_details": incomplete, **_asked(body), "output": output,
            **_settings(body),
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


# -- the event stream -------------------------------------------------------------------
#
# A streamed response sends about twice the events of a chat stream (created, in_progress,
# item and part added, the deltas, text done, part done, item done, completed), and three
# of them carry the whole response object. Each is rendered from bytes encoded once, as a
# bytes %-format: an event's shape once per process (only its sequence number and new data
# are spliced in), the response object's constant fields once per response, a finished
# item's text once for the four events that repeat it. Building a dict per event and
# encoding each whole made the stream cost about 100 us of server CPU more than a chat
# stream's (BENCHMARKS.md, issue 23).

_SLOT = "\x00slot"  # in a shape built from constants only: where a %b goes
_NUMBER = "\x00number"  # ... where a %d goes


def _format(obj: Any) -> bytes:
    """``obj``'s JSON as a bytes %-format: ``%b`` for each ``_SLOT``, ``%d`` for each
    ``_NUMBER``. Only for objects of constants (a client's string could hold a placeholder)."""
    return (dumps(obj).replace(b"%", b"%%").replace(dumps(_SLOT), b"%b")
            .replace(dumps(_NUMBER), b"%d"))


def _event_format(kind: str, **fields: Any) -> bytes:
    """An event's SSE lines as a bytes %-format; its sequence number is the first ``%d``."""
    return (b"event: " + kind.encode() + b"\ndata: "
            + _format({"type": kind, "sequence_number": _NUMBER, **fields}) + b"\n\n")


_TEXT = {"type": "output_text", "text": _SLOT, "annotations": []}
_TEXT_IDS = {"item_id": _SLOT, "output_index": _NUMBER, "content_index": 0}
_MESSAGE_ADDED = _event_format("response.output_item.added", output_index=_NUMBER, item={
    "type": "message", "id": _SLOT, "status": "in_progress", "role": "assistant", "content": []})
_PART_ADDED = _event_format("response.content_part.added", **_TEXT_IDS,
                            part={**_TEXT, "text": ""})
_TEXT_DELTA = _event_format("response.output_text.delta", **_TEXT_IDS, delta=_SLOT)
_TEXT_DONE = _event_format("response.output_text.done", **_TEXT_IDS, text=_SLOT)
_PART_DONE = _event_format("response.content_part.done", **_TEXT_IDS, part=_TEXT)
_MESSAGE = _format(message_item(_SLOT, _SLOT))  # a finished message item
_ITEM_ADDED = _event_format("response.output_item.added", output_index=_NUMBER, item=_SLOT)
_ITEM_DONE = _event_format("response.output_item.done", output_index=_NUMBER, item=_SLOT)
_ARGUMENTS_DELTA = _event_format("response.function_call_arguments.delta", item_id=_SLOT,
                                 output_index=_NUMBER, delta=_SLOT)
_ARGUMENTS_DONE = _event_format("response.function_call_arguments.done", item_id=_SLOT,
                                output_index=_NUMBER, arguments=_SLOT)
_WITH_RESPONSE = {kind: _event_format(kind, response=_SLOT) for kind in (
    "response.created", "response.in_progress", "response.completed", "response.incomplete")}
_ERROR = _event_format("error", code=_SLOT, message=_SLOT, param=_SLOT)
_USAGE = _format(_usage(_NUMBER, _NUMBER, _NUMBER))


def envelope_format(body: ResponsesRequest, rid: str, created: int) -> bytes:
    """``envelope``'s bytes as a bytes %-format, a ``%b`` for each field that changes while
    the response is answered (status, incomplete_details, output, usage): the rest encoded
    once, a client's strings among them (their % doubled)."""
    return (b'{"id":%b,"object":"response","created_at":%d,"status":%%b,"error":null,'
            b'"incomplete_details":%%b,' % (dumps(rid), created)
            + dumps(_asked(body))[1:-1].replace(b"%", b"%%") + b',"output":%b,'
            + dumps(_settings(body))[1:-1].replace(b"%", b"%%") + b',"usage":%b,"user":'
            + dumps(body.user).replace(b"%", b"%%") + b"}")


class _Text:
    """The open message item: its id and position, and the text so far."""

    __slots__ = ("id", "index", "parts")

    def __init__(self, item_id: str, index: int):
        self.id, self.index, self.parts = dumps(item_id), index, []


class _Events(EventWriter):
    """OpenAI chat chunks -> the Responses API's typed events, as SSE bytes (the opening
    ones go out with the first chunk's). ``keep``, when the response is stored, gets what
    the stream added up to as a chat reply at the end."""

    def __init__(self, body: ResponsesRequest, rid: str,
                 keep: Callable[[dict[str, Any]], None] | None = None):
        self.rid, self.created, self.keep = rid, int(time.time()), keep
        self.seq = 0  # the next event's sequence number
        self.out: list[bytes] = []  # rendered, not yet returned
        self.output: list[bytes] = []  # finished items, encoded
        self.text: _Text | None = None
        self.calls: dict[int, dict[str, Any]] = {}  # OpenAI tool index -> open call item
        self.finish: str | None = None
        self.usage: dict | None = None
        self.texts: list[str] = []  # for the stored conversation: each message's text
        self.chat_calls: list[dict[str, Any]] = []  # ... and the calls
        self.envelope = envelope_format(body, rid, self.created)
        self.start()

    def start(self) -> None:
        # created and in_progress carry the same object
        started = self.envelope % (b'"in_progress"', b"null", b"[]", b"null")
        self.seq = 2
        self.out += (_WITH_RESPONSE["response.created"] % (0, started),
                     _WITH_RESPONSE["response.in_progress"] % (1, started))

    def _take(self) -> bytes:
        out = self.out
        if not out:
            return b""
        self.out = []
        return b"".join(out)

    def _close_text(self, out: list[bytes]) -> None:
        t, self.text = self.text, None
        text = "".join(t.parts)
        self.texts.append(text)
        encoded = dumps(text)
        item = _MESSAGE % (t.id, encoded)
        self.output.append(item)
        seq = self.seq
        self.seq = seq + 3
        out += (_TEXT_DONE % (seq, t.id, t.index, encoded),
                _PART_DONE % (seq + 1, t.id, t.index, encoded),
                _ITEM_DONE % (seq + 2, t.index, item))

    def _close_calls(self, out: list[bytes]) -> None:
        for c in self.calls.values():
            item = call_item(c["id"], c["call"])
            encoded = dumps(item)
            self.output.append(encoded)
            seq = self.seq
            self.seq = seq + 2
            out += (_ARGUMENTS_DONE % (seq, c["encoded_id"], c["index"],
                                       dumps(item["arguments"])),
                    _ITEM_DONE % (seq + 1, c["index"], encoded))
            self.chat_calls.append(c["call"])
        self.calls = {}

    def _index(self) -> int:
        return len(self.output) + (self.text is not None) + len(self.calls)

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = self.out
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
            delta = choice.get("delta")
            if not delta:
                continue
            content = delta.get("content")
            if content:
                text = self.text
                if text is None:
                    if self.calls:
                        self._close_calls(out)
                    text = self.text = _Text(_id("msg"), self._index())
                    seq = self.seq
                    self.seq = seq + 2
                    out += (_MESSAGE_ADDED % (seq, text.index, text.id),
                            _PART_ADDED % (seq + 1, text.id, text.index))
                text.parts.append(content)
                out.append(_TEXT_DELTA % (self.seq, text.id, text.index, dumps(content)))
                self.seq += 1
            if delta.get("tool_calls"):
                self._tool_calls(delta["tool_calls"], out)
        return self._take()

    def _tool_calls(self, tool_calls: list[dict[str, Any]], out: list[bytes]) -> None:
        for tc in tool_calls:
            i = tc.get("index", 0)
            fn = tc.get("function") or {}
            c = self.calls.get(i)
            if c is None:
                if self.text is not None:
                    self._close_text(out)
                call = {"id": tc.get("id") or _id("call"), "type": "function",
                        "function": {"name": fn.get("name") or "", "arguments": ""}}
                item_id = _id("fc")
                c = self.calls[i] = {"id": item_id, "encoded_id": dumps(item_id),
                                     "index": self._index(), "call": call}
                out.append(_ITEM_ADDED % (self.seq, c["index"],
                                          dumps(call_item(item_id, call, "in_progress"))))
                self.seq += 1
            if fn.get("arguments"):
                c["call"]["function"]["arguments"] += fn["arguments"]
                out.append(_ARGUMENTS_DELTA % (self.seq, c["encoded_id"], c["index"],
                                               dumps(fn["arguments"])))
                self.seq += 1

    def end(self) -> bytes:
        """Open items done, then the response; the conversation kept when it is stored."""
        out = self.out
        if self.text is not None:
            self._close_text(out)
        if self.calls:
            self._close_calls(out)
        if not self.output:
            self.output.append(dumps(message_item(_id("msg"), "")))
        output = b"[" + b",".join(self.output) + b"]"
        use = self.usage or {}
        inp, gen = int(use.get("prompt_tokens") or 0), int(use.get("completion_tokens") or 0)
        usage = _USAGE % (inp, gen, inp + gen)
        if self.finish == "length":
            done = _WITH_RESPONSE["response.incomplete"] % (self.seq, self.envelope % (
                b'"incomplete"', b'{"reason":"max_output_tokens"}', output, usage))
        else:
            done = _WITH_RESPONSE["response.completed"] % (self.seq, self.envelope % (
                b'"completed"', b"null", output, usage))
        self.seq += 1
        out.append(done)
        if self.keep is not None:
            self.keep(self.chat_body())
        return self._take()

    def error(self, exc: ClawhostError) -> bytes:
        seq = self.seq
        self.seq = seq + 1
        self.out.append(_ERROR % (seq, dumps(exc.code), dumps(exc.message), dumps(exc.param)))
        return self._take()

    def chat_body(self) -> dict[str, Any]:
        """What the stream added up to, as a chat reply (for the stored conversation)."""
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(self.texts) or None}
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

    def stream(self, body: ResponsesRequest, request: ModelRequest, call: Inbound) -> _Events:
        rid = _id("resp")
        keep = (lambda chat: self._store(body, call, rid, chat)) if body.store else None
        return _Events(body, rid, keep)


register(Responses())
