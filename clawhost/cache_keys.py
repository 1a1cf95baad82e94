"""Cache keys: a canonical hash of everything in a request that changes the answer.

Two requests get the same key exactly when a model would answer them the same way: same
kind, model, input and output-changing parameters, same tenant and namespace. Fields that
only route, label or shape the transport (user, metadata, stream, stream_options, cache,
priority) are left out. Provider-specific extras (``model_extra``) count, since we cannot
know they are harmless. Nothing here mutates the request.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from .cache_control import directives

if TYPE_CHECKING:  # annotations only
    from .types import ModelRequest

KEY_VERSION = "v1"  # bump when the canonical form changes: old entries simply stop matching
# Body fields that never change the model's answer.
# (and the fields plugins declared, e.g. cache controls and priority: clawhost's own)
IGNORED = frozenset({"user", "metadata", "stream", "stream_options"})
_QUERY_MARK = "\x00query\x00"  # stands in for the query text inside a scope


def _message(m: dict[str, Any]) -> dict[str, Any]:
    """One text content part is the same message as a plain string."""
    content = m.get("content")
    if (isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict)
            and content[0].get("type") == "text" and set(content[0]) == {"type", "text"}):
        m["content"] = content[0]["text"]
    return m


def canonical_fields(request: ModelRequest) -> dict[str, Any]:
    """The output-changing fields of a request, normalised (a fresh dict every call)."""
    # exclude_none drops null fields of the body and its messages (extras included) but
    # keeps nulls inside free-form dicts such as tool schemas, where they mean something
    data = request.body.model_dump(mode="json", exclude_none=True)
    for name in IGNORED | request.body.extension_fields:  # popped here: model_dump(exclude=...) costs more than the dump
        data.pop(name, None)
    if "messages" in data:
        data["messages"] = [_message(m) for m in data["messages"]]
    if isinstance(data.get("prompt"), list) and len(data["prompt"]) == 1:
        data["prompt"] = data["prompt"][0]  # ["x"] and "x" ask the same thing
    if isinstance(data.get("input"), str):
        data["input"] = [data["input"]]  # embeddings: "x" and ["x"] give the same vector
    # max_tokens and max_completion_tokens are one limit under two names
    limit = data.pop("max_completion_tokens", None) or data.pop("max_tokens", None)
    data.pop("max_tokens", None)
    if limit is not None:
        data["max_tokens"] = limit
    if isinstance(data.get("stop"), str):
        data["stop"] = [data["stop"]]
    if data.get("stop") == []:
        del data["stop"]
    return data


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)


def _not_json(obj: Any) -> Any:
    raise TypeError(f"{type(obj).__name__} is not JSON")


def _make_encode():
    """The C encoder, built once: ``JSONEncoder.encode`` builds a new one on every call,
    which costs 4 of the 5 microseconds a small request takes to encode."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is not None:
        try:
            enc = make(None, _not_json, json.encoder.encode_basestring, None, ":", ",",
                       True, False, False)  # sort_keys, skipkeys, allow_nan
            return lambda obj: "".join(enc(obj, 0))
        except TypeError:  # another signature: fall back to the public API
            pass
    return _CANONICAL.encode


_encode = _make_encode()


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, NaN refused."""
    return _encode(obj).encode("utf-8")


def _digest(scope: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(scope)).hexdigest()


def _namespace(request: ModelRequest, namespace: str | None) -> str | None:
    if namespace is not None:
        return namespace
    return directives(request).namespace


def exact_key(request: ModelRequest, namespace: str | None = None) -> str:
    """sha256 hex of (version, tenant, namespace, kind, output-changing fields).

    ``namespace`` defaults to the body's ``cache.namespace``.
    """
    return _digest({"v": KEY_VERSION, "tenant": request.tenant,
                    "ns": _namespace(request, namespace), "kind": request.kind,
                    "req": canonical_fields(request)})


def query_text(request: ModelRequest, query_turns: int = 1) -> str:
    return scope_key(request, query_turns)[1]


def scope_key(request: ModelRequest, query_turns: int = 1,
              namespace: str | None = None) -> tuple[str, str]:
    """(hash of everything but the query, the query text).

    The query is the text of the last ``query_turns`` user messages (joined by newlines),
    the prompt of a completion, or the input of an embedding. The scope keeps the model,
    system prompt, tools, parameters, tenant, namespace and every earlier turn, so a
    semantic match can only be found between requests that differ in the query alone.
    """
    fields = canonical_fields(request)
    if "messages" in fields:
        msgs = fields["messages"]
        users = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
        picked = users[-max(1, query_turns):] if users else []
        texts = [request.body.messages[i].text() for i in picked]
        for i in picked:
            msgs[i] = {"role": "user", "content": _QUERY_MARK}
        query = "\n".join(texts)
    elif "prompt" in fields:
        query, fields["prompt"] = fields["prompt"], _QUERY_MARK
    else:
        query, fields["input"] = "\n".join(fields.get("input") or []), _QUERY_MARK
    scope = _digest({"v": KEY_VERSION, "scope": True, "turns": query_turns,
                     "tenant": request.tenant, "ns": _namespace(request, namespace),
                     "kind": request.kind, "req": fields})
    return scope, query
