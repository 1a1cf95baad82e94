"""connection_pool: remote model providers over pooled, rate-aware, failing-over connections.

Machinery lives in ``clawhost.remote``; this module stays cheap to import (no aiohttp client).
See docs/connection-pool.md.
"""

from __future__ import annotations

from clawhost.hookspecs import hookimpl
from clawhost.remote.options import PoolOptions

NAME = "connection_pool"


class Options(PoolOptions):
    """``plugins.connection_pool`` in config.yaml: providers, fallbacks, deadline."""


def _opts(host) -> PoolOptions:
    return host.options(NAME) or Options()


@hookimpl
def clawhost_register_models(register, host):
    from clawhost.remote.pool import models_of
    for model in models_of(_opts(host)):
        register(model)


@hookimpl
async def clawhost_startup(host):
    from clawhost.remote.pool import Pool
    pool = Pool(_opts(host), host)
    await pool.start()
    host.state[NAME] = pool


@hookimpl
async def clawhost_shutdown(host):
    pool = host.state.pop(NAME, None)
    if pool is not None:
        await pool.close()


@hookimpl
async def clawhost_infer(request):
    if request.model is None or request.model.owner != NAME:
        return None
    return await request.host.state[NAME].infer(request)


@hookimpl
async def clawhost_infer_batch(model, requests):
    """The batcher's embedding batches become one upstream call (when listed in its models)."""
    if model.owner != NAME or not requests:
        return None
    return await requests[0].host.state[NAME].infer_batch(requests)


@hookimpl
def clawhost_readiness(host):
    pool = host.state.get(NAME)
    return {"remote_providers": pool.readiness()} if pool is not None else {}
