"""Notes several parts leave on a request, declared once here so the host (its access log,
the protocols) and the plugins (through ``clawhost.api``, which re-exports them) share the
same keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .stash import StashKey

if TYPE_CHECKING:
    from .contracts import ReplyShape

CACHE_RESULT: StashKey[str] = StashKey("cache")
"""How the caches answered: ``hit-l1``, ``hit-l2``, ``hit-semantic``, ``miss`` or ``bypass``."""
USAGE: StashKey[dict] = StashKey("usage")
"""A streamed reply's assembled ``usage`` (the monitor and the access log count tokens from it)."""
BATCH_SIZE: StashKey[int] = StashKey("batch_size")
"""The largest batch the request ran in."""
BATCH_TEXTS: StashKey[int] = StashKey("batch_texts")
"""Embedding texts in the batch the request ran in."""
PROVIDER: StashKey[str] = StashKey("provider")
"""The remote provider that answered."""
RETRIES: StashKey[int] = StashKey("retries")
"""Upstream retries the request took."""
FALLBACK: StashKey[str] = StashKey("fallback")
"""The model a request failed over to."""
SOURCE_BODY: StashKey[tuple] = StashKey("source_body")
"""``(protocol name, the JSON body as the client sent it (a dict, not to be changed), the
request body translated from it)`` for a request that came in through another
API than OpenAI's (``clawhost.protocols``): an adapter that speaks that protocol upstream may
send it as is instead of translating the canonical request back (connection_pool's Anthropic)."""
STANDS_IN_FOR: StashKey[str] = StashKey("stands_in_for")
"""On a request sent to a fallback model: the model the client asked for. Its token limit
was chosen for that model, so a local fallback clamps it to its own context."""
REPLY_SHAPE: StashKey["ReplyShape"] = StashKey("reply_shape")
"""Set by a model plugin whose raw answer is not yet the reply's final shape (a local model's
constrained tool call, generated as JSON text, becomes ``tool_calls``): the host applies it
to the body or the stream the model plugin or the batcher answered, before the caches."""
