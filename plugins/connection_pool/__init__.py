"""connection_pool: remote model providers over pooled, rate-aware, failing-over connections.

Machinery lives in this package's modules; this one stays cheap to import (no aiohttp client).
See docs/connection-pool.md.
"""

from __future__ import annotations

from clawhost.api import hookimpl

from .options import NAME, STATE, Options, PoolOptions

__all__ = ["NAME", "Options", "STATE"]


def _opts(host) -> PoolOptions:
    return host.options(NAME) or Options()


@hookimpl
def clawhost_register_models(register, host):
    from .pool import models_of
    for model in models_of(_opts(host)):
        register(model)


@hookimpl
async def clawhost_startup(host):
    from .pool import Pool
    pool = Pool(_opts(host), host)
    await pool.start()
    host.state[STATE] = pool


@hookimpl
async def clawhost_shutdown(host):
    pool = host.state.pop(STATE, None)
    if pool is not None:
        await pool.close()


@hookimpl
async def clawhost_infer(request):
    if request.model is None or request.model.owner != NAME:
        return None
    return await request.host.state[STATE].infer(request)


@hookimpl
async def clawhost_infer_batch(model, requests):
    """The batcher's embedding batches become one upstream call (when listed in its models)."""
    if model.owner != NAME or not requests:
        return None
    return await requests[0].host.state[STATE].infer_batch(requests)


@hookimpl
def clawhost_readiness(host):
    pool = host.state.get(STATE)
    return {"remote_providers": pool.readiness()} if pool is not None else {}
