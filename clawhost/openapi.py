"""``/openapi.json``: the API described from the same pydantic models that validate it."""

from __future__ import annotations

import re
from typing import Any

from . import __version__
from .types import ChatRequest, CompletionRequest, EmbeddingRequest

_ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "message": {"type": "string"}, "type": {"type": "string"},
    "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}
_OBJECT = {"type": "object"}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Bad request", 401: "Missing or wrong bearer token",
             403: "Host or Origin not allowed (server.allowed_hosts / allowed_origins)",
             404: "Unknown model", 408: "Body not received in time (server.body_timeout_s)",
             413: "Body too large", 415: "Body not sent as application/json",
             429: "Overloaded (see Retry-After)", 500: "Internal error",
             503: "Starting or unavailable"}
    return {str(c): {"description": names[c], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


OPENAI_EVENTS = ("server-sent events: `data: {chunk}` lines (OpenAI's chat.completion.chunk / "
                 "text_completion objects), then `data: [DONE]`; an error after the stream "
                 "started is a `data: {\"error\": {...}}` event")


def _model_op(summary: str, schema: str, streams: bool,
              events: str = OPENAI_EVENTS) -> dict[str, Any]:
    ok: dict[str, Any] = {"application/json": {"schema": _OBJECT}}
    if streams:
        # a stream of events, each a `data:` line holding one JSON chunk; 3.1 has no item
        # schema for streams, so the chunk's shape is named in the description
        ok["text/event-stream"] = {"schema": {
            "type": "string", "contentMediaType": "text/event-stream", "description": events}}
    return {"post": {"summary": summary, "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}},
        "responses": {"200": {"description": "OK", "content": ok},
                      **_errors(400, 401, 403, 404, 408, 413, 415, 429, 500, 503)}}}


def _get(summary: str, *codes: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": _OBJECT}}},
        **_errors(*codes)}}}


def spec(extra_routes: list[tuple[str, str]] = (), body_models: dict[str, type] | None = None,
         model_ids: dict[str, list[str]] | None = None, protocols: list = ()) -> dict[str, Any]:
    """The document; ``extra_routes`` are ``(method, path)`` pairs that plugins added,
    ``body_models`` the host's request bodies (with the fields its plugins declare),
    ``model_ids`` the models it serves per kind (examples for clients and fuzzers) and
    ``protocols`` the endpoints of clawhost.protocols (their bodies' pydantic models)."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    bodies = body_models or {"chat": ChatRequest, "completion": CompletionRequest,
                             "embedding": EmbeddingRequest}
    for kind, model in bodies.items():
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(js.pop("$defs", {}))
        if (model_ids or {}).get(kind):
            js["properties"]["model"]["examples"] = model_ids[kind]
        schemas[model.__name__] = js
    # a protocol body takes its own fields and the ones plugins declared (cache, priority);
    # any other top-level field is a 400 there (protocols.common.extension_fields)
    chat = schemas.get(bodies["chat"].__name__, {}).get("properties", {})
    declared = {k: chat[k] for k in getattr(bodies["chat"], "extension_fields", ()) if k in chat}
    for e in protocols:
        js = e.Body.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(js.pop("$defs", {}))
        js["properties"] = {**declared, **js.get("properties", {})}
        js["additionalProperties"] = False
        schemas[e.Body.__name__] = js
    paths = {
        "/v1/chat/completions": _model_op("Chat completion (stream: true for SSE)", "ChatRequest", True),
        "/v1/completions": _model_op("Text completion (stream: true for SSE)", "CompletionRequest", True),
        "/v1/embeddings": _model_op("Embeddings", "EmbeddingRequest", False),
        "/v1/models": _get("List the models served", 401),
        "/v1/models/{model}": _get("One model", 401, 404),
        "/healthz": _get("Liveness: the process answers"),
        "/readyz": _get("Readiness: plugins started, models listed (503 while starting); "
                        "with server.token set, the details only with the token", 503),
        "/openapi.json": _get("This document"),
        "/v1/fleet": _get("Fleet mode: this host's link to the fleet's Redis and every host's "
                          "last heartbeat (enabled: false when fleet mode is off)", 401),
    }
    paths["/v1/models/{model}"]["get"]["parameters"] = [
        {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}]
    for e in protocols:
        op = _model_op(e.summary, e.Body.__name__, e.streams, e.stream_description)
        op["post"]["tags"] = [e.protocol]
        # each protocol answers errors in its own shape (e.g. Anthropic's {"type": "error", ...})
        for code, resp in op["post"]["responses"].items():
            if code != "200":
                resp["content"]["application/json"]["schema"] = _OBJECT
        paths[e.path] = op
    for method, path in extra_routes:
        op: dict[str, Any] = {
            "summary": "Added by a plugin",
            "responses": {"200": {"description": "OK"}, **_errors(400, 401, 403, 404, 503)}}
        params = re.findall(r"{(\w+)}", path)  # aiohttp's {name} segments are path parameters
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True,
                                 "schema": {"type": "string"}} for p in params]
        paths.setdefault(path, {})[method.lower()] = op
    return {"openapi": "3.1.0",
            "info": {"title": "clawhost", "version": __version__,
                     "description": "OpenAI-compatible API of a clawhost model host, plus "
                                    "Anthropic Messages, OpenAI Responses and rerank"},
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
            "security": [{"bearer": []}, {"apiKey": []}, {}],
            "paths": paths}
