"""The hooks a clawhost plugin can implement: the whole plugin API, in one module.

Every hook may be a plain function or an ``async def``; the host awaits what it gets.
Request-path hooks are walked by the host one implementation at a time (see
``clawhost.pluginmanager``), in the order ``config.yaml`` lists the plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("clawhost")
hookimpl = pluggy.HookimplMarker("clawhost")


@hookspec
def clawhost_register_models(register, host):
    """Call ``register(Model(...))`` for each model this plugin serves."""


@hookspec
def clawhost_startup(host):
    """Open the plugin's resources once the host is configured (awaited)."""


@hookspec
def clawhost_shutdown(host):
    """Release the plugin's resources as the host stops (awaited)."""


@hookspec
def clawhost_routes(router, host):
    """Add HTTP routes to the server's ``aiohttp`` router."""


@hookspec
def clawhost_commands(cli):
    """Add ``click`` commands or groups to the ``clawhost`` CLI."""


@hookspec
def clawhost_readiness(host):
    """Return a dict of this plugin's readiness facts for ``/readyz`` and ``clawhost status``."""


@hookspec
def clawhost_request_started(request):
    """Note that a model request entered the loop (awaited; errors are logged, not raised)."""


@hookspec(firstresult=True)
def clawhost_lookup(request):
    """Return a cached ``Reply`` for the request, or None on a miss (first result wins)."""


@hookspec(firstresult=True)
def clawhost_infer(request):
    """Produce the ``Reply`` for the request, or None to pass it on (first result wins)."""


@hookspec(firstresult=True)
def clawhost_infer_batch(model, requests):
    """Run several requests for one model together; return one ``Reply`` per request, in order."""


@hookspec
def clawhost_store(request, reply):
    """Keep a finished reply, e.g. in a cache (awaited; errors are logged, not raised)."""


@hookspec
def clawhost_request_finished(request, reply, error):
    """Observe a finished request with its timings and error, if any (awaited)."""
