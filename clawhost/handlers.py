"""The core routes and their handlers: the OpenAI endpoints and each protocol's endpoint
(the body validated, ``Host.handle`` under the request timeout, the reply out), the model
list, health, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from pydantic import ValidationError

from . import access_log, streaming
from .config import format_errors
from .errors import BadRequest, NotFound, TimedOut, Unavailable
from .fleet import status as fleet_status
from .guards import read_json
from .host import Host
from .middleware import IN_LOOP, PROTOCOLS_KEY, has_token, tenant_of
from .protocols import Endpoint, Inbound
from .protocols.common import validate
from .routing import HOST_KEY, JSON_HEADERS
from .sse_response import stream_events, stream_out
from .types import ModelRequest

# the paths add_core_routes serves (the OpenAPI document describes the others apart)
CORE_PATHS = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
              "/v1/models/{model}", "/healthz", "/readyz", "/openapi.json", "/v1/fleet"}


async def parse_body(request: web.Request, kind: str):
    data = await read_json(request)
    try:
        return request.app[HOST_KEY].body_models[kind].model_validate(data)
    except ValidationError as exc:
        lines = format_errors(exc, "")
        first = exc.errors()[0]["loc"]
        raise BadRequest("; ".join(lines), param=".".join(map(str, first)) or None) from None


def check_ready(host: Host) -> None:
    if not host.ready:
        raise Unavailable("the host is starting; try again shortly", headers={"Retry-After": "1"})


async def run_loop(request: web.Request, host: Host, call: ModelRequest):
    """``Host.handle`` under the server's timeout; a client that leaves sets ``disconnected``."""
    if call.model is None:
        call.model = host.resolve_model(call.body.model, call.kind)
    request[IN_LOOP] = True
    request[access_log.CALL] = call
    limit = host.config.host.server.request_timeout_s
    try:  # a stream's own pace is its plugin's business once it has started
        async with asyncio.timeout(limit):  # unlike wait_for, no extra task per request
            reply = await host.handle(call)
    except TimeoutError:
        raise TimedOut(f"no answer within {limit:g}s (server.request_timeout_s)") from None
    except asyncio.CancelledError:
        # the client went away (handler_cancellation): work queued for it can stop
        call.disconnected.set()
        raise
    request[access_log.REPLY] = reply
    return reply


def model_endpoint(kind: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        host = request.app[HOST_KEY]
        check_ready(host)
        body = await parse_body(request, kind)  # counted in flight by the middleware
        # the client's headers as aiohttp holds them: read-only, case-insensitive, no copy
        call = ModelRequest(kind=kind, body=body, tenant=tenant_of(request),
                            headers=request.headers, disconnected=asyncio.Event(),
                            model=host.resolve_model(body.model, kind))
        reply = await run_loop(request, host, call)
        headers = {"x-clawhost-request-id": call.id, **call.response_headers, **reply.headers}
        if reply.stream is None:
            return web.Response(status=reply.status,
                                body=json.dumps(streaming.without_native(reply.body)),
                                headers={**JSON_HEADERS, **headers})
        return await stream_out(request, reply, headers)
    return handler


def protocol_endpoint(endpoint: Endpoint):
    """A route of another protocol (clawhost.protocols): its body in, the loop, its shape out."""
    async def handler(request: web.Request) -> web.StreamResponse:
        host = request.app[HOST_KEY]
        check_ready(host)
        raw = await read_json(request)  # counted in flight by the middleware
        body = validate(endpoint.Body, raw)
        inbound = Inbound(host=host, headers=request.headers, tenant=tenant_of(request), raw=raw)
        if not endpoint.loop:
            return web.Response(body=streaming.dumps(await endpoint.answer(body, inbound)),
                                headers=JSON_HEADERS)
        call = await endpoint.to_request(body, inbound)
        reply = await run_loop(request, host, call)
        headers = {"x-clawhost-request-id": call.id, **call.response_headers, **reply.headers}
        if reply.stream is None:
            out = await endpoint.reply(body, call, reply, inbound)
            return web.Response(status=reply.status, body=streaming.dumps(out),
                                headers={**JSON_HEADERS, **headers})
        return await stream_events(request, endpoint.stream(body, call, inbound),
                                   reply.stream, headers, endpoint)
    return handler


async def list_models(request: web.Request) -> web.Response:
    host = request.app[HOST_KEY]
    cards = [m.card() for m in host.models.values()]
    # aliases are listed as models too (LiteLLM does the same), marked with alias_of
    cards += [model.alias_card(alias) for alias, target in host.aliases.items()
              if (model := host.model_for(target)) is not None]
    return web.json_response({"object": "list", "data": cards})


async def get_model(request: web.Request) -> web.Response:
    host = request.app[HOST_KEY]
    name = request.match_info["model"]
    model = host.models.get(name)
    if model is not None:
        return web.json_response(model.card())
    target = host.model_for(host.aliases[name]) if name in host.aliases else None
    if target is None:
        raise NotFound(f"model {name!r} not found", param="model")
    return web.json_response(target.alias_card(name))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    host = request.app[HOST_KEY]
    token = host.config.host.server.token
    status = {"status": "ready" if host.ready else "starting"}
    # open to probes, but with a token set, the pid, plugins, models and provider
    # cooldowns are for whoever holds it
    facts = host.readiness() if not token or has_token(request, token) else {}
    return web.json_response({**status, **facts}, status=200 if host.ready else 503)


async def openapi(request: web.Request) -> web.Response:
    from .openapi import spec
    protocols = request.app[PROTOCOLS_KEY]
    extra = [(r.method, r.resource.canonical) for r in request.app.router.routes()
             if r.method in ("GET", "POST", "PUT", "DELETE") and r.resource is not None
             and r.resource.canonical not in CORE_PATHS and r.resource.canonical not in protocols]
    host = request.app[HOST_KEY]
    ids = {kind: sorted(m.id for m in host.models.values() if m.serves(kind))
           for kind in host.body_models}
    return web.json_response(spec(extra, host.body_models, ids, list(protocols.values())))


def add_core_routes(router: web.UrlDispatcher) -> None:
    """The routes of ``CORE_PATHS`` (a protocol endpoint's and a plugin's are added apart)."""
    router.add_post("/v1/chat/completions", model_endpoint("chat"))
    router.add_post("/v1/completions", model_endpoint("completion"))
    router.add_post("/v1/embeddings", model_endpoint("embedding"))
    router.add_get("/v1/models", list_models)
    router.add_get("/v1/models/{model:.+}", get_model)
    router.add_get("/healthz", healthz)
    router.add_get("/readyz", readyz)
    router.add_get("/openapi.json", openapi)
    router.add_get("/v1/fleet", fleet_status.handler)
