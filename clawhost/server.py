"""The OpenAI-compatible HTTP API on aiohttp, and running it until a signal drains it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from pydantic import ValidationError
from yarl import URL

from . import access_log, streaming
from .config import ServerOptions, format_errors
from .errors import (BadRequest, ClawhostError, ConfigError, Forbidden, NotFound, Overloaded,
                     PayloadTooLarge, RequestTimeout, TimedOut, Unauthorized, Unavailable,
                     UnsupportedMediaType)
from .fleet import status as fleet_status
from .host import Host
from .protocols import Endpoint, Inbound, endpoints
from .protocols.common import validate
from .routing import HOST_KEY, INFLIGHT_KEY
from .types import ModelRequest

log = logging.getLogger("clawhost.server")
# set on a request once the loop has it (a typed key where this aiohttp has them)
IN_LOOP = web.RequestKey("clawhost_in_loop", bool) if hasattr(web, "RequestKey") else "clawhost_in_loop"
OPEN_PATHS = ("/healthz", "/readyz")
CORE_PATHS = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
              "/v1/models/{model}", "/healthz", "/readyz", "/openapi.json", "/v1/fleet"}
JSON_HEADERS = {"Content-Type": "application/json"}
# the protocol endpoints by path (clawhost.protocols), for their error shapes
PROTOCOLS_KEY: web.AppKey[dict] = web.AppKey("clawhost_protocols", dict)
# Content types a web page may POST cross-origin without a CORS preflight (a "simple
# request"), and no Content-Type at all: a body sent with one of these could come from any
# page the user has open, so it is refused. Any other type needs a preflight, which this
# server never answers, so a browser cannot send it cross-origin.
BROWSER_SIMPLE_TYPES = {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
# Parsed JSON bodies: far above anything the OpenAI API nests (tool schemas included),
# far below Python's recursion limit, which json and pydantic hit around 1,000.
MAX_JSON_DEPTH = 100
# Python refuses int() past 4,300 digits (a ValueError deep in json); no field needs 100.
MAX_INT_DIGITS = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def error_response(exc: ClawhostError, endpoint: Endpoint | None = None, *,
                   close: bool = False) -> web.Response:
    body = endpoint.error_body(exc) if endpoint is not None else exc.to_dict()
    resp = web.Response(status=exc.status, body=json.dumps(body), headers={
        **JSON_HEADERS, **exc.headers})
    if close:  # the rest of the request cannot be trusted or waited for
        resp.force_close()
    return resp


def _bare_host(netloc: str) -> str:
    """``example.com:8787`` -> ``example.com``; ``[::1]:8787`` -> ``::1``; lower case."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:netloc.find("]")] if "]" in netloc else netloc[1:]
    if netloc.count(":") == 1:
        netloc = netloc.split(":", 1)[0]
    return netloc.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def host_allowed(srv: ServerOptions, header: str | None) -> bool:
    """Whether a request's Host header names this server (DNS-rebinding defence).

    A rebinding page reaches 127.0.0.1 under its own name, so a name is accepted only when
    it is a loopback name, the bound address, or listed in ``server.allowed_hosts``. Bound
    to every interface, any IP literal is fine too: an address cannot be rebound."""
    if header is None or "*" in srv.allowed_hosts:  # HTTP/1.0 clients send no Host
        return True
    name = _bare_host(header)
    if name == "localhost" or (_is_ip(name) and ipaddress.ip_address(name).is_loopback):
        return True
    if name in {_bare_host(h) for h in srv.allowed_hosts}:
        return True
    bound = _bare_host(srv.host)
    return name == bound or (bound in ("0.0.0.0", "::", "") and _is_ip(name))


def origin_allowed(srv: ServerOptions, request: web.Request, origin: str) -> bool:
    """A present Origin must be listed, the page's own (same scheme-less host and port as
    the Host header), or a loopback origin on the port this connection came in on."""
    wanted = origin.strip().rstrip("/").lower()
    allowed = {o.strip().rstrip("/").lower() for o in srv.allowed_origins}
    if "*" in allowed or wanted in allowed:
        return True
    try:
        url = URL(wanted)
    except ValueError:
        return False
    if url.scheme not in ("http", "https") or not url.host:
        return False  # "null" (sandboxed frames, file:) and anything odd
    own = request.headers.get("Host")
    if own is not None and url.raw_authority == own.strip().lower():
        return True  # same origin: the Host header was already checked
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    loopback = url.host == "localhost" or (_is_ip(url.host)
                                             and ipaddress.ip_address(url.host).is_loopback)
    return bool(loopback and sock and url.port == sock[1])


def check_browser(srv: ServerOptions, request: web.Request) -> None:
    """Refuse what only a web page would send: a foreign Host (DNS rebinding), a foreign
    Origin (cross-site requests), or a body in a type that skips the CORS preflight."""
    if not host_allowed(srv, request.headers.get("Host")):
        raise Forbidden("Host header does not name this server (add it to "
                        "server.allowed_hosts if it should)")
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(srv, request, origin):
        raise Forbidden("Origin is not allowed (add it to server.allowed_origins if it "
                        "should be)")
    if request.body_exists:
        kind = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind in BROWSER_SIMPLE_TYPES:
            raise UnsupportedMediaType(f"the body must be JSON sent with Content-Type: "
                                       f"application/json (got {kind or 'no Content-Type'})")


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


async def read_json(request: web.Request) -> dict:
    """The body as a JSON object, or a one-line 400 (bad UTF-8 or JSON, hostile nesting,
    huge integers, lone surrogates)."""
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (bad byte at offset {exc.start})") from None
    try:
        data = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadRequest(f"JSON nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    check_json_tree(data)
    if not isinstance(data, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(data).__name__}")
    return data


async def parse_body(request: web.Request, kind: str):
    data = await read_json(request)
    try:
        return request.app[HOST_KEY].body_models[kind].model_validate(data)
    except ValidationError as exc:
        lines = format_errors(exc, "")
        first = exc.errors()[0]["loc"]
        raise BadRequest("; ".join(lines), param=".".join(map(str, first)) or None) from None


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise BadRequest(f"JSON integer with {len(digits.lstrip('-'))} digits (at most "
                         f"{MAX_INT_DIGITS})")
    return int(digits)


def check_json_tree(data: Any) -> None:
    """Refuse what json.loads accepts but later code chokes on: nesting deep enough for
    RecursionError in pydantic or our own walks, and lone UTF-16 surrogates, which cannot
    be encoded (tokenizers raise TypeError, logs and caches UnicodeEncodeError)."""
    stack: list[tuple[Any, int, Any]] = [(data, 1, None)]  # value, depth, (parent, key)
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise BadRequest(f"a string has a lone UTF-16 surrogate (not valid Unicode) "
                                 f"at {_json_path(where) or 'the top level'}")
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"JSON nested too deeply (at most {MAX_JSON_DEPTH} levels)")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and _SURROGATE.search(key):
                raise BadRequest(f"a key has a lone UTF-16 surrogate (not valid Unicode) "
                                 f"at {_json_path(where) or 'the top level'}")
            stack.append((item, depth + 1, (where, key)))


def _json_path(where: Any) -> str:
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(str(key) if isinstance(key, int) else re.sub(r"[^\w-]", "?", key)[:40])
    return ".".join(reversed(parts))


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
            return web.Response(status=reply.status, body=json.dumps(reply.body),
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
            return web.Response(body=json.dumps(await endpoint.answer(body, inbound)),
                                headers=JSON_HEADERS)
        call = await endpoint.to_request(body, inbound)
        reply = await run_loop(request, host, call)
        headers = {"x-clawhost-request-id": call.id, **call.response_headers, **reply.headers}
        if reply.stream is None:
            out = await endpoint.reply(body, call, reply, inbound)
            return web.Response(status=reply.status, body=json.dumps(out),
                                headers={**JSON_HEADERS, **headers})
        return await stream_events(request, endpoint.stream(body, call, reply.stream, inbound),
                                   reply.stream, headers, endpoint)
    return handler


async def stream_events(request: web.Request, events, chunks, headers: dict,
                        endpoint: Endpoint) -> web.StreamResponse:
    """A protocol's own SSE bytes out; the host's chunk stream is closed at the end."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", **headers})
    try:
        await resp.prepare(request)
        async for frame in events:
            await resp.write(frame)
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:
        log.debug("client left %s before its stream ended", request.path)
    except Exception as exc:  # noqa: BLE001 - the protocol handles ClawhostError in-band itself
        log.error("stream failed: %s", request.app[HOST_KEY].config.redact(str(exc)))
        err = ClawhostError("internal error in stream")
        await resp.write(b"event: error\ndata: " + json.dumps(endpoint.error_body(err)).encode()
                         + b"\n\n")
    finally:
        await events.aclose()
        await chunks.aclose()
    return resp


async def stream_out(request: web.Request, reply, headers: dict) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", **headers})
    chunks = reply.stream
    try:
        await resp.prepare(request)
        async for chunk in chunks:
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
    host.chain.walk_sync("clawhost_routes", router=r, host=host)
    return app


@dataclass
class ConnectionGuard:
    """Per-server limits aiohttp lacks: a deadline for request headers and a cap on open
    connections (idle ones included: max_inflight only sees requests being answered)."""

    header_timeout_s: float
    max_connections: int
    redact: Callable[[str], str] = lambda text: text
    open: int = 0
    refused: int = 0
    too_slow: int = 0
    _last_said: dict[str, float] = field(default_factory=dict)

    def _due(self, what: str) -> bool:
        """At most one line per kind per 10 s: a flood must not become a flood of logs."""
        now = time.monotonic()
        if now - self._last_said.get(what, -10.0) < 10:
            return False
        self._last_said[what] = now
        return True

    def note_refused(self) -> None:
        self.refused += 1
        if self._due("refused"):
            log.warning("refusing connections: %d open (server.max_connections); %d refused "
                        "so far", self.open, self.refused)

    def note_too_slow(self, peer: str) -> None:
        self.too_slow += 1
        if self._due("too_slow"):
            log.info("closed a connection from %s: no complete request headers within %gs "
                     "(server.header_timeout_s); %d so far", peer, self.header_timeout_s,
                     self.too_slow)


_REFUSED = json.dumps(Unavailable("too many open connections (server.max_connections); "
                                  "try again shortly").to_dict()).encode()
REFUSED_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                    + str(len(_REFUSED)).encode() + b"\r\n\r\n" + _REFUSED)


class GuardedHandler(RequestHandler):
    """aiohttp's per-connection protocol, with the guard's limits and quiet bad requests."""

    def __init__(self, manager: "GuardedServer", **kw: Any):
        super().__init__(manager, **kw)
        self._guard = manager.guard
        self._counted = False
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self._guard
        if guard.open >= guard.max_connections:
            guard.note_refused()
            transport.write(REFUSED_RESPONSE)  # type: ignore[attr-defined]
            transport.close()
            return
        guard.open += 1
        self._counted = True
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._counted:
            return  # refused in connection_made: aiohttp never saw it
        self._counted = False
        self._guard.open -= 1
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:  # a request's headers are complete
            self._cancel_header_timer()
        elif (data and self._header_timer is None and self._waiter is not None
              and not self._waiter.done()):
            self._arm_header_timer()  # the next request on a kept-alive connection began

    def _arm_header_timer(self) -> None:
        self._header_timer = self._loop.call_later(self._guard.header_timeout_s,
                                                   self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        peer = self.transport.get_extra_info("peername") if self.transport else None
        self._guard.note_too_slow(peer[0] if peer else "?")
        self.force_close()

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        # Malformed HTTP (bad chunk sizes, huge headers, garbage) is the client's problem:
        # one line at INFO, not aiohttp's ERROR with a traceback, and a JSON error back.
        reason = " ".join(str(getattr(exc, "message", None) or message or exc or "").split())
        reason = self._guard.redact(reason)[:200]
        log.info("bad HTTP request from %s: %s", request.remote, reason)
        err = BadRequest(f"malformed HTTP request: {reason}")
        err.status = status
        return error_response(err, close=True)


class GuardedServer(web.Server):
    """web.Server whose connections are GuardedHandlers sharing one ConnectionGuard."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kw: Any):
        super().__init__(*args, **kw)
        self.guard = guard

    def __call__(self) -> RequestHandler:
        return GuardedHandler(self, loop=self._loop, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """AppRunner serving through a GuardedServer."""

    def __init__(self, app: web.Application, *, guard: ConnectionGuard, **kw: Any):
        super().__init__(app, **kw)
        self.guard = guard

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # aiohttp's own, with the app frozen and started
        # the same handler, factory and keyword arguments (access log, timeouts...)
        return GuardedServer(plain.request_handler, request_factory=plain.request_factory,
                             handler_cancellation=plain.handler_cancellation, guard=self.guard,
                             **plain._kwargs)


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
