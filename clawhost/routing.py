"""What a plugin's HTTP route needs from the server: the host behind the app, its state."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from .errors import Unavailable
from .host import Host
from .stash import StashKey

T = TypeVar("T")
HOST_KEY: web.AppKey[Host] = web.AppKey("host", Host)
# the server's in-flight model requests (a list the monitor reads at scrape time)
INFLIGHT_KEY: web.AppKey[list] = web.AppKey("inflight", list)


def host_of(request: web.Request) -> Host:
    """The ``Host`` serving this aiohttp request."""
    return request.app[HOST_KEY]


def plugin_state(request: web.Request, key: StashKey[T], missing: str) -> T:
    """``host.state[key]`` for a plugin's own route, or a 503 that says ``missing``."""
    value = host_of(request).state.get(key)
    if value is None:
        raise Unavailable(missing)
    return value
