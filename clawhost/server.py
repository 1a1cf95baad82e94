"""The OpenAI-compatible HTTP API on aiohttp (routes, auth, the request loop), and running it
until a signal drains it. The guards a request passes first are in ``guards.py``, the
connection limits of the runner in ``connection_guard.py``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import signal
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from . import access_log, streaming
from .config import format_errors
from .connection_guard import ConnectionGuard, GuardedRunner
from .errors import (BadRequest, ClawhostError, ConfigError, NotFound, Overloaded,
                     PayloadTooLarge, RequestTimeout, TimedOut, Unauthorized, Unavailable)
from .fleet import status as fleet_status
from .guards import check_browser, read_json
from .host import Host
from .protocols import Endpoint, EventWriter, Inbound, endpoints
from .protocols.common import validate
from .routing import HOST_KEY, INFLIGHT_KEY, JSON_HEADERS, error_response
from .types import ModelRequest

log = logging.getLogger("clawhost.server")
# set on a request once the loop has it (a typed key where this aiohttp has them)
IN_LOOP = web.RequestKey("clawhost_in_loop", bool) if hasattr(web, "RequestKey") else "clawhost_in_loop"
OPEN_PATHS = ("/healthz", "/readyz")
CORE_PATHS = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
              "/v1/models/{model}", "/healthz", "/readyz", "/openapi.json", "/v1/fleet"}
# the protocol endpoints by path (clawhost.protocols), for their error shapes
PROTOCOLS_KEY: web.AppKey[dict] = web.AppKey("clawhost_protocols", dict)


def is_loopback(address: str) -> bool:
    if address in ("localhost", ""):
        return address == "localhost"
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_bind(host: Host) -> None:
    srv = host.config.host.server
    if not is_loopback(srv.host) and not srv.token:
        raise ConfigError(f"server.token is required to bind the non-loopback address {srv.host!r}"
                          " (set it, e.g. token: ${CLAWHOST_TOKEN})")


@web.middleware
async def errors_and_auth(request: web.Request, handler):
    host = request.app[HOST_KEY]
    response = await _answer(host, request, handler)
    if response.status >= 400 and not request.get(IN_LOOP) and request.path.startswith("/v1/"):
        # the loop's own errors reach clawhost_request_finished; these never do
        path = request.match_info.route.resource.canonical if request.match_info.route.resource else "other"
        host.refused[(path, response.status)] += 1
    return response


async def _answer_and_close(request: web.Request, exc: ClawhostError) -> web.Response:
    """Send the error, then drop the connection at once: left to aiohttp, it would keep
    reading ("lingering") a slow sender's body for another 10 s before closing."""
    resp = error_response(exc, close=True)
    await resp.prepare(request)
    await resp.write_eof()
    request.protocol.force_close()  # the transport flushes the answer, then closes
    return resp


def bearer(request: web.Request) -> str:
    """The client's credential as a bearer header: Anthropic clients send ``x-api-key``."""
    given = request.headers.get("Authorization", "")
    if not given and "x-api-key" in request.headers:
        given = f"Bearer {request.headers['x-api-key']}"
    return given


def has_token(request: web.Request, token) -> bool:
    return hmac.compare_digest(bearer(request).encode(), f"Bearer {token.get_secret_value()}".encode())


async def _answer(host: Host, request: web.Request, handler) -> web.StreamResponse:
    srv = host.config.host.server
    token = srv.token
    endpoint = request.app[PROTOCOLS_KEY].get(request.path)  # its own error shape
    try:
        check_browser(srv, request)
        if token and not request.path.startswith(OPEN_PATHS) and not has_token(request, token):
            raise Unauthorized("missing or wrong bearer token (Authorization: Bearer ...)"
                               if endpoint is None or endpoint.protocol != "anthropic_messages"
                               else "missing or wrong API key (x-api-key)")
        if not request.body_exists:
            return await handler(request)
        # A request with a body counts against max_inflight from its first byte, so slow
        # senders cannot pile up uncounted; its body must arrive within body_timeout_s.
        inflight = request.app[INFLIGHT_KEY]
        if inflight[0] >= srv.max_inflight:
            raise Overloaded("too many requests in flight", retry_after=1)
        inflight[0] += 1
        try:
            try:
                async with asyncio.timeout(srv.body_timeout_s):
                    await request.read()  # kept by aiohttp: the handler's read() is free
            except TimeoutError:
                return await _answer_and_close(request, RequestTimeout(
                    f"request body not received within {srv.body_timeout_s:g}s "
                    "(server.body_timeout_s)"))
            return await handler(request)
        finally:
            inflight[0] -= 1
    except ClawhostError as exc:
        return error_response(exc, endpoint)
    except web.HTTPRequestEntityTooLarge:
        limit = host.config.host.server.max_body_bytes
        return error_response(PayloadTooLarge(f"request body is larger than {limit} bytes"),
                              endpoint)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        err = ClawhostError(f"{exc.reason}: {request.method} {request.path}")
        err.status, err.type = exc.status, "invalid_request_error"
        if "Allow" in exc.headers:  # a 405 says which methods the path takes (RFC 9110)
            err.headers = {"Allow": exc.headers["Allow"]}
        return error_response(err, endpoint)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the last line of defence: no traceback ever reaches a client
        log.exception("unhandled error on %s %s: %s", request.method, request.path,
                      host.config.redact(str(exc)))
        return error_response(ClawhostError("internal server error"), endpoint)


def tenant_of(request: web.Request) -> str:
    # the same key by either header is the same tenant: one cache for both kinds of client
    auth = bearer(request)
    if not auth:
        return "default"
    return "t-" + hashlib.sha256(auth.encode()).hexdigest()[:16]


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


async def stream_events(request: web.Request, writer: EventWriter, chunks, headers: dict,
                        endpoint: Endpoint) -> web.StreamResponse:
    """A protocol's own SSE bytes out, the host's chunks through its writer; the chunk
    stream is closed at the end."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", **headers})
    try:
        await resp.prepare(request)
        try:
            async for chunk in chunks:
                frame = writer.chunk(chunk)
                if frame:
                    await resp.write(frame)
            frame = writer.end()
        except ClawhostError as exc:  # after the headers went out, the error travels in-band
            frame = writer.error(exc)
        if frame:
            await resp.write(frame)
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:
        log.debug("client left %s before its stream ended", request.path)
    except Exception as exc:  # noqa: BLE001
        log.error("stream failed: %s", request.app[HOST_KEY].config.redact(str(exc)))
        err = ClawhostError("internal error in stream")
        await resp.write(b"event: error\ndata: " + streaming.dumps(endpoint.error_body(err)) + b"\n\n")
    finally:
        await chunks.aclose()
    return resp


async def stream_out(request: web.Request, reply, headers: dict) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", **headers})
    chunks = reply.stream
    try:
        await resp.prepare(request)
        async for chunk in chunks:
            if streaming.NATIVE in chunk:  # a provider's own events: not for OpenAI clients
                chunk = streaming.without_native(chunk)
                if not chunk.get("choices") and "usage" not in chunk:
                    continue
            await resp.write(streaming.sse(chunk))
        await resp.write(streaming.sse("[DONE]"))
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:  # the client went away mid-stream: nobody to answer
        log.debug("client left %s before its stream ended", request.path)
    except ClawhostError as exc:  # after the headers went out, the error travels in-band
        await resp.write(streaming.sse(exc.to_dict()))
    except Exception as exc:  # noqa: BLE001
        log.error("stream failed: %s", request.app[HOST_KEY].config.redact(str(exc)))
        await resp.write(streaming.sse(ClawhostError("internal error in stream").to_dict()))
    finally:
        await chunks.aclose()
    return resp


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


def make_app(host: Host) -> web.Application:
    config = host.config
    base = config.path.parent if config.path else Path.cwd()
    logged = access_log.setup(config.host.server.access_log, base, config.secrets)
    # the access log outermost: it sees the status errors_and_auth answered with
    app = web.Application(middlewares=[access_log.middleware] * logged + [errors_and_auth],
                          client_max_size=config.host.server.max_body_bytes)
    app[HOST_KEY] = host
    app[INFLIGHT_KEY] = [0]
    r = app.router
    r.add_post("/v1/chat/completions", model_endpoint("chat"))
    r.add_post("/v1/completions", model_endpoint("completion"))
    r.add_post("/v1/embeddings", model_endpoint("embedding"))
    r.add_get("/v1/models", list_models)
    r.add_get("/v1/models/{model:.+}", get_model)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/openapi.json", openapi)
    r.add_get("/v1/fleet", fleet_status.handler)
    app[PROTOCOLS_KEY] = endpoints()
    for path, endpoint in app[PROTOCOLS_KEY].items():
        r.add_post(path, protocol_endpoint(endpoint))

    async def close_endpoints(app: web.Application) -> None:
        for endpoint in app[PROTOCOLS_KEY].values():
            endpoint.close(host)
    app.on_cleanup.append(close_endpoints)
    host.chain.walk_sync("clawhost_routes", router=r, host=host)
    return app


def make_runner(host: Host) -> GuardedRunner:
    """The runner ``serve`` uses: the app behind the connection guard."""
    srv = host.config.host.server
    guard = ConnectionGuard(srv.header_timeout_s, srv.max_connections, host.config.redact)
    # handler_cancellation: a client that hangs up cancels its handler, so its queued or
    # running work is dropped instead of finishing for nobody.
    return GuardedRunner(make_app(host), guard=guard, access_log=None,
                         shutdown_timeout=srv.drain_timeout_s, handle_signals=False,
                         handler_cancellation=True)


async def serve(host: Host, *, on_listening=None, stop: asyncio.Event | None = None) -> None:
    """Listen, start the plugins, and serve until SIGTERM/SIGINT (or ``stop``), then drain."""
    check_bind(host)
    host.prepare_workspace()
    srv = host.config.host.server
    runner = make_runner(host)
    await runner.setup()
    site = web.TCPSite(runner, srv.host, srv.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:  # port taken, address not on this machine, no permission
        await runner.cleanup()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {srv.host}:{srv.port}: {reason}; stop what uses "
                          "it or set server.port / server.host") from None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    port = site._server.sockets[0].getsockname()[1] if site._server else srv.port
    log.info("listening on http://%s:%s", srv.host, port)
    if on_listening:
        on_listening(port)
    host.port, host.address = port, bound_url(host, port)  # the fleet's heartbeats name them
    try:
        await host.start()
        log.info("ready: plugins %s; models %s", ", ".join(host.chain.names()) or "none",
                 ", ".join(host.models) or "none")
        await stop.wait()
        log.info("stopping: draining in-flight requests (up to %ss)", srv.drain_timeout_s)
    finally:
        host.ready = False
        await runner.cleanup()  # stops listening, then waits for in-flight handlers
        await host.stop()
        log.info("stopped")


def bound_url(host: Host, port: int | None = None) -> str:
    srv = host.config.host.server
    addr = "127.0.0.1" if srv.host in ("0.0.0.0", "") else srv.host
    return f"http://{addr}:{port or srv.port}"
