"""The plugin API: the one module a plugin imports from clawhost, built-in or third-party.

Everything a plugin needs from the host is named here: the hook marker, the request and
reply types, errors, typed keys for what plugins leave on a request or the host, the
contracts between plugins' engines, the streaming helpers, the cache-key and cache-control
helpers lookup plugins share, and the CLI and route helpers for the commands and HTTP routes
a plugin adds. The shared ONNX engines (``clawhost.engines``) are the other importable part.

Importing this module stays cheap (no aiohttp, no click, no numpy): the CLI imports every
installed plugin to collect its commands. The CLI and route helpers load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import streaming
from .cache_control import (CacheControls, CacheDirectives, RequestCacheFields, cacheable,
                            deterministic, directives)
from .cache_keys import canonical_json, exact_key, query_text, scope_key
from .contracts import (EmbeddingEngine, FleetLink, MemoryFacts, PairScorer, PreparedArtifacts,
                        ReplyShape, SlotBatch, SlotEngine, TokenEvent, engine_of, fleet_key,
                        fleet_of)
from .errors import (BadRequest, ClawhostError, ConfigError, ModelNotFound, NotFound,
                     Overloaded, PayloadTooLarge, PaymentRequired, TimedOut, Unauthorized,
                     Unavailable, UpstreamError)
from .faults import Fault, storage_cause
from .hookspecs import hookimpl
from .stash import Stash, StashKey

# -- notes several plugins share (a plugin's private notes are keys it declares itself) ----
from .notes import (BATCH_SIZE, BATCH_TEXTS, CACHE_RESULT, FALLBACK, PROVIDER,  # noqa: E402
                    REPLY_SHAPE, RETRIES, SOURCE_BODY, STANDS_IN_FOR, USAGE)

# -- loaded on first use: they import click, aiohttp or the server -----------------------
_LAZY = {
    # the request types build pydantic models (~50 ms): not needed to list CLI commands
    **{name: ("clawhost.types", name) for name in (
        "ChatMessage", "ChatRequest", "CompletionRequest", "EmbeddingRequest", "Kind", "Model",
        "ModelRequest", "Reply", "RerankRequest")},
    "config_option": ("clawhost.cli.common", "config_option"),
    "load_config": ("clawhost.cli.common", "load"),
    "plugin_options": ("clawhost.cli.common", "plugin_options"),
    "client_for": ("clawhost.cli.common", "client_for"),
    "fetch_json": ("clawhost.daemon", "fetch_json"),
    "ClientError": ("clawhost.client", "ClientError"),
    "HOST_KEY": ("clawhost.routing", "HOST_KEY"),
    "INFLIGHT_KEY": ("clawhost.routing", "INFLIGHT_KEY"),
    "plugin_state": ("clawhost.routing", "plugin_state"),
    "host_of": ("clawhost.routing", "host_of"),
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from .types import (ChatMessage, ChatRequest, CompletionRequest, EmbeddingRequest, Kind,
                        Model, ModelRequest, Reply, RerankRequest)
    from .cli.common import client_for, config_option, plugin_options
    from .cli.common import load as load_config
    from .client import ClientError
    from .daemon import fetch_json
    from .routing import HOST_KEY, INFLIGHT_KEY, host_of, plugin_state


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'clawhost.api' has no attribute {name!r}") from None
    import importlib
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = [
    "hookimpl", "streaming",
    "ChatMessage", "ChatRequest", "CompletionRequest", "EmbeddingRequest", "Kind", "Model",
    "ModelRequest", "Reply", "RerankRequest",
    "BadRequest", "ClawhostError", "ConfigError", "ModelNotFound", "NotFound", "Overloaded",
    "PayloadTooLarge", "PaymentRequired", "TimedOut", "Unauthorized", "Unavailable",
    "UpstreamError", "Fault", "storage_cause",
    "Stash", "StashKey", "CACHE_RESULT", "USAGE", "BATCH_SIZE", "BATCH_TEXTS", "PROVIDER",
    "RETRIES", "FALLBACK", "SOURCE_BODY", "STANDS_IN_FOR", "REPLY_SHAPE",
    "EmbeddingEngine", "MemoryFacts", "PairScorer", "PreparedArtifacts", "ReplyShape",
    "SlotBatch", "SlotEngine", "TokenEvent", "engine_of", "FleetLink", "fleet_of", "fleet_key",
    "CacheControls", "CacheDirectives", "RequestCacheFields", "cacheable", "deterministic",
    "directives", "canonical_json", "exact_key", "query_text", "scope_key",
    *_LAZY,
]
