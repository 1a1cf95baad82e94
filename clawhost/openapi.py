"""``/openapi.json``: the API described from the same pydantic models that validate it."""

from __future__ import annotations

from typing import Any

from . import __version__
from .types import ChatRequest, CompletionRequest, EmbeddingRequest

_ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "message": {"type": "string"}, "type": {"type": "string"},
    "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}
_OBJECT = {"type": "object"}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Bad request", 401: "Missing or wrong bearer token", 404: "Unknown model",
             413: "Body too large", 429: "Overloaded (see Retry-After)", 500: "Internal error",
             503: "Starting or unavailable"}
    return {str(c): {"description": names[c], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def _model_op(summary: str, schema: str, streams: bool,
              events: str = "OpenAI chunks as `data:` lines, then `data: [DONE]`") -> dict[str, Any]:
    ok: dict[str, Any] = {"application/json": {"schema": _OBJECT}}
    if streams:
        ok["text/event-stream"] = {"schema": {"type": "string", "description": events}}
    return {"post": {"summary": summary, "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}},
        "responses": {"200": {"description": "OK", "content": ok},
                      **_errors(400, 401, 404, 413, 429, 500, 503)}}}


def _get(summary: str, *codes: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": _OBJECT}}},
        **_errors(*codes)}}}


def spec(extra_routes: list[tuple[str, str]] = (), protocols: list = ()) -> dict[str, Any]:
    """The document; ``extra_routes`` are ``(method, path)`` pairs that plugins added,
    ``protocols`` the endpoints of clawhost.protocols (their bodies' pydantic models)."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    for model in (ChatRequest, CompletionRequest, EmbeddingRequest,
                  *(e.Body for e in protocols)):
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(js.pop("$defs", {}))
        schemas[model.__name__] = js
    paths = {
        "/v1/chat/completions": _model_op("Chat completion (stream: true for SSE)", "ChatRequest", True),
        "/v1/completions": _model_op("Text completion (stream: true for SSE)", "CompletionRequest", True),
        "/v1/embeddings": _model_op("Embeddings", "EmbeddingRequest", False),
        "/v1/models": _get("List the models served", 401),
        "/v1/models/{model}": _get("One model", 401, 404),
        "/healthz": _get("Liveness: the process answers"),
        "/readyz": _get("Readiness: plugins started, models listed (503 while starting)", 503),
        "/openapi.json": _get("This document"),
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
        paths.setdefault(path, {})[method.lower()] = {
            "summary": "Added by a plugin", "responses": {"200": {"description": "OK"}}}
    return {"openapi": "3.1.0",
            "info": {"title": "clawhost", "version": __version__,
                     "description": "OpenAI-compatible API of a clawhost model host, plus "
                                    "Anthropic Messages, OpenAI Responses and rerank"},
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
            "security": [{"bearer": []}, {"apiKey": []}, {}],
            "paths": paths}
