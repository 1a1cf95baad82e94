"""The Responses API's typed event stream, rendered from byte templates."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ...errors import ClawhostError
from ...streaming import dumps
from .. import EventWriter
from . import translate
from .bodies import ResponsesRequest
from .translate import call_item, message_item, request_echo, settings_echo, usage_object

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
_USAGE = _format(usage_object(_NUMBER, _NUMBER, _NUMBER))


def envelope_format(body: ResponsesRequest, rid: str, created: int) -> bytes:
    """``envelope``'s bytes as a bytes %-format, a ``%b`` for each field that changes while
    the response is answered (status, incomplete_details, output, usage): the rest encoded
    once, a client's strings among them (their % doubled)."""
    return (b'{"id":%b,"object":"response","created_at":%d,"status":%%b,"error":null,'
            b'"incomplete_details":%%b,' % (dumps(rid), created)
            + dumps(request_echo(body))[1:-1].replace(b"%", b"%%") + b',"output":%b,'
            + dumps(settings_echo(body))[1:-1].replace(b"%", b"%%") + b',"usage":%b,"user":'
            + dumps(body.user).replace(b"%", b"%%") + b"}")


class _Text:
    """The open message item: its id and position, and the text so far."""

    __slots__ = ("id", "index", "parts")

    def __init__(self, item_id: str, index: int):
        self.id, self.index, self.parts = dumps(item_id), index, []


class ResponseEvents(EventWriter):
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
                    text = self.text = _Text(translate.new_id("msg"), self._index())
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
                call = {"id": tc.get("id") or translate.new_id("call"), "type": "function",
                        "function": {"name": fn.get("name") or "", "arguments": ""}}
                item_id = translate.new_id("fc")
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
            self.output.append(dumps(message_item(translate.new_id("msg"), "")))
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
