"""What the protocol modules share: building the host's canonical request, one-line errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import BadRequest
from ..types import ModelRequest
from . import Inbound

MAX_ERRORS = 2  # a union's failure lists every branch: the first lines say enough


# errors that only say "not this branch of a union" (a string where a list went, ...)
_BRANCH_MISS = {"string_type", "list_type", "dict_type", "model_type", "model_attributes_type"}


def _where(loc: tuple) -> str:
    """A field path without pydantic's union-branch names (``list[...]``, ``str``)."""
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and (
        "[" in p or p in ("str", "int", "float", "bool", "none"))))


def _line(err: dict) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    if err["type"] != "missing" and (value is None or isinstance(value, (str, int, float, bool))):
        shown = repr(value)
        msg += f" (got {shown[:60] + '...' if len(shown) > 60 else shown})"
    where = _where(tuple(err["loc"]))
    return f"{where}: {msg}" if where else msg


def one_line(exc: ValidationError) -> BadRequest:
    errors = exc.errors()
    # for a value that fits no branch of a union, the deeper error says what is wrong
    errors = [e for e in errors if e["type"] not in _BRANCH_MISS] or errors
    lines = [_line(e) for e in errors]
    first = _where(tuple(errors[0]["loc"]))
    more = f" (and {len(lines) - MAX_ERRORS} more)" if len(lines) > MAX_ERRORS else ""
    return BadRequest("; ".join(lines[:MAX_ERRORS]) + more,
                      param=first or None)


def validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise one_line(exc) from None
    except RecursionError:  # a body nested deeper than the validator recurses
        raise BadRequest("the request body is nested too deeply") from None


def model_request(call: Inbound, kind: str, data: dict[str, Any]) -> ModelRequest:
    """The host's request for ``data`` (a dict in the host body's shape), validated by the
    same body model the OpenAI endpoints use: one canonical form, so one cache key."""
    try:
        body = call.host.body_models[kind].model_validate(data)
    except ValidationError as exc:
        raise one_line(exc) from None
    return ModelRequest(kind=kind, body=body, tenant=call.tenant, headers=call.headers,
                        disconnected=asyncio.Event())


def text_or_parts(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """OpenAI content: a lone text part is the plain string a chat client would send."""
    if len(parts) == 1 and parts[0].get("type") == "text":
        return parts[0]["text"]
    return parts


def arguments_object(arguments: str | None) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic and the Responses API carry."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_value": value}


def extension_fields(call: Inbound, extra: dict[str, Any] | None,
                     allowed: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The body fields plugins declared (``cache``, ``priority``) that a client put in a
    protocol's body; any other unknown field is a 400 rather than silently dropped."""
    if not extra:
        return {}
    declared = call.host.body_models["chat"].extension_fields
    unknown = sorted(k for k in extra if k not in declared and k not in allowed)
    if unknown:
        raise BadRequest(f"{unknown[0]}: unsupported field", param=unknown[0])
    return {k: v for k, v in extra.items() if k in declared}
