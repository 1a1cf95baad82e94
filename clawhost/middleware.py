"""The middleware every request passes (``errors_and_auth``): the browser check and the
bearer token; for a request with a body, the in-flight limit and the body's deadline; and
every error answered as one line in the shape of the endpoint it came to, never with a
traceback. The same credential names the request's tenant (``tenant_of``)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

from aiohttp import web

from .errors import ClawhostError, Overloaded, PayloadTooLarge, RequestTimeout, Unauthorized
from .guards import check_browser
from .host import Host
from .routing import HOST_KEY, INFLIGHT_KEY, error_response

log = logging.getLogger("clawhost.server")  # the server's log, as before the split
# set on a request once the loop has it (a typed key where this aiohttp has them)
IN_LOOP = web.RequestKey("clawhost_in_loop", bool) if hasattr(web, "RequestKey") else "clawhost_in_loop"
OPEN_PATHS = ("/healthz", "/readyz")
# the protocol endpoints by path (clawhost.protocols), for their error shapes
PROTOCOLS_KEY: web.AppKey[dict] = web.AppKey("clawhost_protocols", dict)


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
