"""What a request must pass before a handler reads its body.

Browser guards: a web page the user has open can reach a loopback server too, so a request
with a foreign Host (DNS rebinding), a foreign Origin, or a body type that skips the CORS
preflight is refused. JSON guards: a body is parsed into a JSON object, or refused with a
one-line 400 (bad UTF-8 or JSON, hostile nesting, huge integers, lone surrogates).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from aiohttp import web
from yarl import URL

from .config import ServerOptions
from .errors import BadRequest, Forbidden, UnsupportedMediaType

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
