"""Inbound protocols other than OpenAI's Chat Completions: one small module each.

A protocol translates its own request body into one of the host's request types (a
``ChatRequest`` for Anthropic Messages and OpenAI Responses, a ``RerankRequest`` for rerank),
lets ``Host.handle`` answer it like any other request (the same caches, batcher, models and
remote providers, with cache keys on the canonical request), and translates the host's reply
(OpenAI's shape, or a chunk stream) back. The host never learns which protocol a request
came in by; ``server.py`` adds a route per registered ``Endpoint``.

Adding a protocol: write a module with ``Endpoint`` subclasses and ``register`` them at
import; list the module in ``BUILTIN`` (or import it before ``make_app``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from ..errors import ClawhostError
from ..streaming import dumps

if TYPE_CHECKING:  # annotations only
    from ..host import Host
    from ..types import ModelRequest, Reply

# The built-in protocol modules, imported by ``endpoints()`` in this order.
BUILTIN = ("anthropic_messages", "openai_responses", "rerank")


@dataclass
class Inbound:
    """What an endpoint knows about one HTTP call besides its body."""

    host: Host
    headers: Mapping[str, str]
    tenant: str
    raw: dict[str, Any] = field(default_factory=dict)  # the JSON body as parsed, before validation
    state: dict[str, Any] = field(default_factory=dict)  # the endpoint's own, call to reply


class EventWriter:
    """A protocol's stream, one host chunk at a time: the server writes what each call
    returns (nothing for ``b""``). Plain methods, not an async generator around the host's
    stream: that extra layer cost a streamed request more CPU than rendering its events."""

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """The events of one host chunk (the first call may add the stream's opening)."""
        raise NotImplementedError

    def end(self) -> bytes:
        """The closing events, after the host's last chunk."""
        raise NotImplementedError

    def error(self, exc: ClawhostError) -> bytes:
        """An error after the headers went out, in-band."""
        raise NotImplementedError


class Endpoint:
    """One HTTP route of a protocol.

    ``Body`` validates the JSON (and describes it in ``/openapi.json``). A loop endpoint
    implements ``to_request``, ``reply`` and, when it streams, ``stream``; an endpoint that
    answers without a model call (token counting) implements ``answer`` and sets
    ``loop = False``.
    """

    path: ClassVar[str]
    protocol: ClassVar[str]  # a name for logs, notes and the OpenAPI tag
    summary: ClassVar[str]
    Body: ClassVar[type[BaseModel]]
    loop: ClassVar[bool] = True
    streams: ClassVar[bool] = False
    stream_description: ClassVar[str] = "server-sent events"

    def error_body(self, exc: ClawhostError) -> dict[str, Any]:
        """The protocol's error shape for ``exc`` (OpenAI's unless overridden)."""
        return exc.to_dict()

    async def to_request(self, body: Any, call: Inbound) -> ModelRequest:
        raise NotImplementedError

    async def reply(self, body: Any, request: ModelRequest, reply: Reply,
                    call: Inbound) -> dict[str, Any]:
        raise NotImplementedError

    def stream(self, body: Any, request: ModelRequest, call: Inbound) -> EventWriter:
        """The writer that turns the host's chunks into this protocol's SSE bytes."""
        raise NotImplementedError

    async def answer(self, body: Any, call: Inbound) -> dict[str, Any]:
        raise NotImplementedError

    def close(self, host: Host) -> None:
        """The server stops: write out and release what the endpoint keeps for ``host``."""


_REGISTRY: dict[str, Endpoint] = {}


def register(endpoint: Endpoint) -> Endpoint:
    """Add an endpoint (by its path; a later one for the same path replaces it)."""
    _REGISTRY[endpoint.path] = endpoint
    return endpoint


def endpoints() -> dict[str, Endpoint]:
    """Every registered endpoint by path, the built-in modules imported first."""
    for name in BUILTIN:
        importlib.import_module(f"{__name__}.{name}")
    return dict(_REGISTRY)


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    """A named server-sent event (Anthropic and the Responses API name theirs)."""
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"
