"""Between the Responses shape and the host's Chat Completions shape: a request (with the
stored conversation it continues) -> a ``ChatRequest``, and a chat reply -> a ``response``
object; also the ids and the output items the event stream shares."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from pydantic import BaseModel

from ...errors import BadRequest
from ...stash import StashKey
from ...types import ModelRequest
from .. import Inbound
from ..common import extension_fields, model_request, text_or_parts
from ..response_store import ResponseStore
from .bodies import ResponsesRequest

STORE: StashKey[ResponseStore] = StashKey("responses_store")  # on host.state, opened on first use
# fields the SDK may send that do not change a translated answer
HARMLESS = frozenset({"truncation", "include", "service_tier", "prompt_cache_key",
                      "safety_identifier"})


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
    """The host's one store of conversations, opened on first use."""
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


def new_id(prefix: str) -> str:
    """A response's or an item's id (``prefix``: resp, msg, fc, call)."""
    return f"{prefix}_{_PROCESS}{next(_COUNTER):012x}"


def usage_object(inp: Any, out: Any, total: Any) -> dict[str, Any]:
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": total}


def usage_of(use: dict | None) -> dict[str, Any]:
    use = use or {}
    inp, out = int(use.get("prompt_tokens") or 0), int(use.get("completion_tokens") or 0)
    return usage_object(inp, out, inp + out)


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def call_item(item_id: str, call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    fn = call.get("function") or {}
    return {"type": "function_call", "id": item_id, "call_id": call.get("id") or item_id,
            "name": fn.get("name") or "", "arguments": fn.get("arguments") or "", "status": status}


def request_echo(body: ResponsesRequest) -> dict[str, Any]:
    """The response object's fields before ``output`` that echo the request."""
    return {"instructions": body.instructions, "max_output_tokens": body.max_output_tokens,
            "model": body.model}


def settings_echo(body: ResponsesRequest) -> dict[str, Any]:
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
            "error": None, "incomplete_details": incomplete, **request_echo(body),
            "output": output, **settings_echo(body),
            "usage": usage_of(use) if use is not None or status == "completed" else None,
            "user": body.user}


def to_response(body: ResponsesRequest, rid: str, chat: dict[str, Any]) -> dict[str, Any]:
    choice = (chat.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if msg.get("content"):
        output.append(message_item(new_id("msg"), msg["content"]))
    for c in msg.get("tool_calls") or []:
        output.append(call_item(new_id("fc"), c))
    if not output:
        output.append(message_item(new_id("msg"), ""))
    return envelope(body, rid, int(time.time()), "completed", output, chat.get("usage"),
                    choice.get("finish_reason"))
