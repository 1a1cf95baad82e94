"""clawhost: a plugin-based model host that sits beside an AI agent on a small CPU box."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Client", "AsyncClient", "hookimpl", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `clawhost --help` and plugin imports stay cheap.
    if name in ("Client", "AsyncClient"):
        from . import client
        return getattr(client, name)
    if name == "hookimpl":
        from .hookspecs import hookimpl
        return hookimpl
    raise AttributeError(name)
