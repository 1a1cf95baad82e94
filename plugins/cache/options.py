"""The exact cache's options (``plugins: cache:`` in config.yaml) and the body fields it adds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, model_validator

from clawhost.api import RequestCacheFields, StashKey

if TYPE_CHECKING:
    from .manager import ResponseCache

NAME = "cache"
STATE: StashKey["ResponseCache"] = StashKey(NAME)  # the host's ResponseCache


class L1Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    max_bytes: ByteSize = Field(ByteSize(32 * 1024 * 1024), description="e.g. 32MiB")
    max_entries: int = Field(10_000, ge=1)


class L2Options(BaseModel):
    """L2: ``disk`` (SQLite) by default; in fleet mode (``fleet:`` in config.yaml) an L2
    whose ``backend`` is not set is the fleet's Redis (keys under ``<namespace>:cache:``)."""

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


class RequestFields(RequestCacheFields):
    """``"cache": {"no-cache", "no-store", "ttl", "namespace"}`` in a request body."""
