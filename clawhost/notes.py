"""Notes several parts leave on a request, declared once here so the host (its access log)
and the plugins (through ``clawhost.api``, which re-exports them) share the same keys."""

from __future__ import annotations

from .stash import StashKey

CACHE_RESULT: StashKey[str] = StashKey("cache")
"""How the caches answered: ``hit-l1``, ``hit-l2``, ``hit-semantic``, ``miss`` or ``bypass``."""
USAGE: StashKey[dict] = StashKey("usage")
"""A streamed reply's assembled ``usage`` (the monitor and the access log count tokens from it)."""
