"""semantic_cache: answer a paraphrase of a cached question, never a different question.

Scope before similarity (same model, system prompt, earlier turns, tools, parameters,
tenant, namespace), then the nearest stored queries by MiniLM cosine, then a verifier
that rejects look-alikes (numbers, negation, antonyms, a learned score) and ambiguous
matches. Hits carry ``x-clawhost-cache: hit-semantic`` and ``x-clawhost-similarity``.
Put it after ``cache`` in the chain so exact hits come first. Machinery: this
package's modules (imported inside the hooks; this module stays cheap to import).
"""

from __future__ import annotations

from clawhost.api import hookimpl

from .options import NAME, STATE, Options, RequestFields

__all__ = ["NAME", "Options", "RequestFields", "STATE"]

def _cache(host):
    return host.state.get(STATE)


@hookimpl
def clawhost_startup(host):
    import logging
    opts = host.options(NAME) or Options()
    if opts.embedding_path is None and opts.embedding_model not in host.models:
        # Dormant, and cheap: without its embedder it could never hit, so it loads nothing
        # (no index, no numpy) rather than cost memory on a box without local models.
        logging.getLogger("clawhost.semantic").warning(
            "semantic_cache is off: embedding model %r is not served here (enable "
            "quantized_model, or set plugins.semantic_cache.embedding_path)", opts.embedding_model)
        return
    from .cache import SemanticCache
    host.state[STATE] = SemanticCache(opts, host.workspace, host)


@hookimpl
def clawhost_shutdown(host):
    cache = host.state.pop(STATE, None)
    if cache is not None:
        cache.close()


@hookimpl
async def clawhost_lookup(request):
    cache = _cache(request.host)
    return None if cache is None else await cache.lookup(request)


@hookimpl
async def clawhost_store(request, reply):
    cache = _cache(request.host)
    if cache is not None:
        await cache.store(request, reply)


@hookimpl
def clawhost_readiness(host):
    """A fact only while something is wrong: the index cannot be opened or written."""
    cache = _cache(host)
    fault = cache.fault() if cache is not None else None
    return {"semantic_cache": {"index_fault": fault}} if fault else None


@hookimpl
def clawhost_routes(router, host):
    from .routes import add_routes
    add_routes(router)


@hookimpl
def clawhost_commands(cli):
    from .commands import semantic_group
    cli.add_command(semantic_group)
