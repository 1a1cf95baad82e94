"""batcher: dynamic batching for embeddings, continuous batching for generation.

List it before the model plugins in ``config.yaml``: its ``clawhost_infer`` takes the
requests for the models it batches (queue, priority, 429/503) and returns None for the rest.
Machinery is in this package's modules; this one is hooks only.
"""

from __future__ import annotations

from clawhost.api import hookimpl

from .options import BYPASS, NAME, STATE, ModelOverride, Options, RequestFields

__all__ = ["ModelOverride", "NAME", "Options", "RequestFields", "STATE"]

@hookimpl
def clawhost_startup(host):
    from .hub import Hub
    host.state[STATE] = Hub(host, host.options(NAME) or Options())


@hookimpl
async def clawhost_shutdown(host):
    hub = host.state.pop(STATE, None)
    if hub is not None:
        await hub.close()


@hookimpl(tryfirst=True)
async def clawhost_infer(request):
    if request.notes.get(BYPASS):  # our own fallback calling the model plugin
        return None
    hub = request.host.state.get(STATE) if request.host else None
    batcher = hub.for_request(request) if hub else None
    if batcher is None:
        return None
    request.response_headers["x-clawhost-batched"] = "1"
    return await batcher.submit(request)


@hookimpl
def clawhost_readiness(host):
    hub = host.state.get(STATE)
    if not hub or not hub.batchers:
        return None
    return {"batcher": {m: {"queued": len(b.queue), "inflight": b.stats.inflight}
                        for m, b in hub.batchers.items()}}
