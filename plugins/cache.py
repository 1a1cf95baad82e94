"""cache: exact-match response cache. L1 in memory, L2 in SQLite under workspace/.cache/
(or Redis for a fleet), keyed by a canonical hash of everything that changes the answer.

Responses carry ``x-clawhost-cache: hit-l1 | hit-l2 | miss | bypass`` (and
``x-clawhost-cache-key`` on hits). ``GET /v1/cache/stats`` and ``POST /v1/cache/clear``
serve the CLI (``clawhost cache stats | clear | get``). The machinery is in
``clawhost.caching``, imported inside the hooks so this module stays cheap to import.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, model_validator

from clawhost.hookspecs import hookimpl

NAME = "cache"


class L1Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    max_bytes: ByteSize = Field(ByteSize(32 * 1024 * 1024), description="e.g. 32MiB")
    max_entries: int = Field(10_000, ge=1)


class L2Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: Literal["disk", "redis", "none"] = "disk"
    path: str = Field(".cache/responses.db", description="disk: relative to the workspace")
    max_bytes: ByteSize = Field(ByteSize(512 * 1024 * 1024), description="disk: e.g. 512MiB")
    url: str | None = Field(None, description="redis: e.g. redis://127.0.0.1:6379/0")
    prefix: str = Field("clawhost:cache:", min_length=1, description="redis: key prefix")
    timeout_s: float = Field(0.5, gt=0, le=30, description="redis: connect/read timeout")
    retry_s: float = Field(2.0, gt=0, le=600, description="redis: pause after a failure")

    @model_validator(mode="after")
    def _url_for_redis(self):
        if self.backend == "redis" and not self.url:
            raise ValueError("l2.url is required when l2.backend is redis")
        return self


class Options(BaseModel):
    """``plugins: cache:`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")
    policy: Literal["deterministic", "all"] = Field(
        "deterministic", description="deterministic: only temperature 0 or a fixed seed")
    ttl_s: float = Field(86_400.0, gt=0, description="default lifetime of an entry")
    max_entry_bytes: ByteSize = Field(ByteSize(1024 * 1024), description="larger replies are skipped")
    namespace: str | None = Field(None, max_length=128, description="default key namespace")
    clock_skew_s: float = Field(60.0, ge=0, description="entries dated further ahead are dropped")
    l1: L1Options = L1Options()
    l2: L2Options = L2Options()


def cache_of(host):
    return host.state.get(NAME)


@hookimpl
async def clawhost_startup(host):
    from clawhost.caching.manager import ResponseCache
    cache = ResponseCache(host.options(NAME) or Options(), host.workspace)
    await cache.start()
    host.state[NAME] = cache


@hookimpl
async def clawhost_shutdown(host):
    cache = host.state.pop(NAME, None)
    if cache is not None:
        await cache.close()


@hookimpl
def clawhost_request_started(request):
    # "bypass" until a lookup says otherwise: the host skips lookups on no-cache, and the
    # label must be set before the response headers go out (streams included)
    request.notes["cache"] = request.response_headers["x-clawhost-cache"] = "bypass"


@hookimpl
async def clawhost_lookup(request):
    cache = cache_of(request.host)
    return None if cache is None else await cache.lookup(request)


@hookimpl
async def clawhost_store(request, reply):
    cache = cache_of(request.host)
    if cache is not None:
        await cache.store(request, reply)


@hookimpl
def clawhost_routes(router, host):
    from clawhost.caching.routes import add_routes
    add_routes(router)


@hookimpl
def clawhost_commands(cli):
    from clawhost.caching.commands import cache_group
    cli.add_command(cache_group)
