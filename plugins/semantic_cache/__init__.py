"""semantic_cache: answer a paraphrase of a cached question, never a different question.

Scope before similarity (same model, system prompt, earlier turns, tools, parameters,
tenant, namespace). First the normalised-exact tier (the same question after case,
Unicode, spacing, punctuation and filler folding: ``x-clawhost-cache: hit-normalized``),
then the nearest stored queries by MiniLM cosine and a verifier that compares structure
(directions, antonyms, numbers, units, negations, names) before a learned score, and
rejects ambiguous matches. Semantic hits carry ``x-clawhost-cache: hit-semantic`` and
``x-clawhost-similarity``. ``preset`` (balanced | strict | off) sets the defaults.
Put it after ``cache`` in the chain so exact hits come first. Machinery: this package's
modules (imported inside the hooks; this module stays cheap to import).
"""

from __future__ import annotations

from clawhost.api import fleet_of, hookimpl

from .options import NAME, PRESET_MEANINGS, PRESETS, STATE, Options, RequestFields

__all__ = ["NAME", "Options", "PRESETS", "PRESET_MEANINGS", "RequestFields", "STATE"]

def _cache(host):
    return host.state.get(STATE)


@hookimpl
def clawhost_startup(host):
    import logging
    opts = host.options(NAME) or Options()
    if opts.preset == "off":
        logging.getLogger("clawhost.semantic").info("semantic_cache: preset off")
        return
    if opts.embedding_path is None and opts.embedding_model not in host.models:
        # Dormant, and cheap: without its embedder it could never hit, so it loads nothing
        # (no index, no numpy) rather than cost memory on a box without local models.
        logging.getLogger("clawhost.semantic").warning(
            "semantic_cache is off: embedding model %r is not served here (enable "
            "quantized_model, or set plugins.semantic_cache.embedding_path)", opts.embedding_model)
        return
    from .cache import SemanticCache
    cache = host.state[STATE] = SemanticCache(opts, host.workspace, host)
    if (link := fleet_of(host)) is not None:  # fleet mode: entries shared through Redis
        from .replication import Replicator
        cache.fleet = Replicator(cache, link)
        cache.fleet.start()


@hookimpl
async def clawhost_shutdown(host):
    cache = host.state.pop(STATE, None)
    if cache is not None:
        if cache.fleet is not None:
            await cache.fleet.stop()
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
    """Which tiers serve, and (only while it lasts) why the index cannot be opened or written."""
    cache = _cache(host)
    if cache is None:
        return None
    facts = cache.readiness()
    fault = cache.fault()
    if fault:
        facts["index_fault"] = fault
    return {NAME: facts}


@hookimpl
def clawhost_routes(router, host):
    from .routes import add_routes
    add_routes(router)


@hookimpl
def clawhost_commands(cli):
    from .commands import semantic_group
    cli.add_command(semantic_group)
