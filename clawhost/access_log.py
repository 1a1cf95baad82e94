"""The optional access log (``server.access_log: true | false | PATH``): one line per API
request with method, path, model, status, cache tier, tokens in/out and milliseconds.

What a line never holds: a prompt or any body text, a header value (tokens and API keys
travel in headers), a query string (a secret can be pasted into one), or a model name the
client typed that names no model here (it might be anything): the model is the one that
answered, and an alias is shown only when it is a configured one. Probes (``/healthz``,
``/readyz``, polled every 50 ms by ``clawhost start``) are not logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from .notes import CACHE_RESULT, USAGE

log = logging.getLogger("clawhost.access")
# the ModelRequest and Reply of a model call, left on the aiohttp request by its handler
CALL = web.RequestKey("clawhost_call", object) if hasattr(web, "RequestKey") else "clawhost_call"
REPLY = web.RequestKey("clawhost_reply", object) if hasattr(web, "RequestKey") else "clawhost_reply"
SKIPPED = ("/healthz", "/readyz")


def setup(option: bool | Path, base: Path, secrets: set[str]) -> bool:
    """Route ``clawhost.access`` lines: to the host's log (``true``), to their own file
    (a path, relative to the config file's folder), or nowhere. Returns whether to log."""
    log.propagate = True
    for old in list(log.handlers):
        log.removeHandler(old)
        old.close()
    if option is False:
        return False
    log.setLevel(logging.INFO)
    if option is not True:
        from .logs import FORMAT, RedactSecrets
        path = option if option.is_absolute() else base / option
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(RedactSecrets(secrets))
        log.addHandler(handler)
        log.propagate = False  # its own file only, not the host's log as well
    return True


def line(request: web.Request, status: int, seconds: float) -> str:
    call: Any = request.get(CALL)
    reply: Any = request.get(REPLY)
    model = call.model.id if call is not None and call.model is not None else "-"
    alias = call.response_headers.get("x-clawhost-alias", "").split(" -> ")[0] if call else ""
    cache = call.notes.get(CACHE_RESULT) if call is not None else None
    usage = ((reply.body or {}).get("usage") if reply is not None and reply.body else None) \
        or (call.notes.get(USAGE) if call is not None else None) or {}
    tokens_in, tokens_out = usage.get("prompt_tokens", "-"), usage.get("completion_tokens", "-")
    if call is not None and call.kind == "embedding" and tokens_out == "-":
        tokens_out = 0
    route = request.match_info.route.resource
    # the route's pattern (/v1/models/{model}), not the path: a path is the client's text
    path = route.canonical if route is not None else "(no route)"
    parts = [request.method, path, f"model={model}"]
    if alias:
        parts.append(f"alias={alias}")
    parts += [f"status={status}", f"cache={cache or '-'}", f"tokens={tokens_in}/{tokens_out}",
              f"ms={seconds * 1000:.1f}"]
    return " ".join(parts)


@web.middleware
async def middleware(request: web.Request, handler):
    if request.path in SKIPPED:
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except asyncio.CancelledError:
        status = 499  # the client went away (handler cancelled), as nginx logs it
        raise
    finally:  # a stream has been sent by now: its tokens and time are complete
        log.info("%s", line(request, status, time.perf_counter() - started))
