"""What a plugin's HTTP route needs from the server: the host behind the app, its state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from .errors import ClawhostError, Unavailable
from .host import Host
from .stash import StashKey

if TYPE_CHECKING:  # annotations only
    from .protocols import Endpoint

T = TypeVar("T")
HOST_KEY: web.AppKey[Host] = web.AppKey("host", Host)
# the server's in-flight model requests (a list the monitor reads at scrape time)
INFLIGHT_KEY: web.AppKey[list] = web.AppKey("inflight", list)
JSON_HEADERS = {"Content-Type": "application/json"}


def host_of(request: web.Request) -> Host:
    """The ``Host`` serving this aiohttp request."""
    return request.app[HOST_KEY]


def plugin_state(request: web.Request, key: StashKey[T], missing: str) -> T:
    """``host.state[key]`` for a plugin's own route, or a 503 that says ``missing``."""
    value = host_of(request).state.get(key)
    if value is None:
        raise Unavailable(missing)
    return value


def error_response(exc: ClawhostError, endpoint: Endpoint | None = None, *,
                   close: bool = False) -> web.Response:
    body = endpoint.error_body(exc) if endpoint is not None else exc.to_dict()
    resp = web.Response(status=exc.status, body=json.dumps(body), headers={
        **JSON_HEADERS, **exc.headers})
    if close:  # the rest of the request cannot be trusted or waited for
        resp.force_close()
    return resp
