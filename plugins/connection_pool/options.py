"""The connection-pool's part of config.yaml: providers, their limits, timeouts and fallbacks.

Pydantic only (no aiohttp here): the plugin imports this at CLI start.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from clawhost.api import StashKey

if TYPE_CHECKING:
    from .pool import Pool

NAME = "connection_pool"
STATE: StashKey["Pool"] = StashKey(NAME)  # the host's Pool

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Timeouts(BaseModel):
    """Seconds; each phase has its own budget (slow local servers need long first bytes)."""

    model_config = ConfigDict(extra="forbid")
    connect: float = Field(5.0, gt=0)       # TCP (+TLS) connect
    first_byte: float = Field(60.0, gt=0)   # request sent -> headers (and first stream event)
    idle: float = Field(30.0, gt=0)         # longest gap between two body chunks / stream events
    total: float = Field(300.0, gt=0)       # one attempt, start to end


class Retries(BaseModel):
    """Retries of one provider within one request (429, 5xx, connection errors, timeouts)."""

    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(3, ge=0, le=10)         # retries after the first try (3: see faults.py)
    backoff_base: float = Field(0.25, ge=0)       # full jitter: sleep U(0, min(max, base*2^n))
    backoff_max: float = Field(8.0, ge=0)
    max_retry_after: float = Field(20.0, ge=0)    # a longer Retry-After fails over instead
    budget: float = Field(30.0, gt=0)             # seconds of retrying per request, at most


class Cooldown(BaseModel):
    """The circuit breaker: when calls fail at a high rate, skip the provider a while.

    It opens when, in the last ``window`` seconds, at least ``min_calls`` calls ended, at least
    ``failures`` of them failed, and those are at least ``failure_rate`` of the calls (calls
    still in flight count as calls that have not failed).
    """

    model_config = ConfigDict(extra="forbid")
    failures: int = Field(5, ge=1)            # fewest failures that can open it
    min_calls: int = Field(20, ge=1)          # fewest ended calls it judges a rate on
    failure_rate: float = Field(0.5, gt=0, le=1)
    window: float = Field(30.0, gt=0)         # seconds of outcomes it looks at
    seconds: float = Field(30.0, ge=0)
    max_seconds: float = Field(300.0, ge=0)   # repeated trips double the cooldown up to this
    jitter: float = Field(0.2, ge=0, le=1)    # +-fraction, so many hosts do not retry in step


class ModelLimits(BaseModel):
    """Limits of one upstream model, on top of its provider's (both must allow a call)."""

    model_config = ConfigDict(extra="forbid")
    max_concurrency: int | None = Field(None, ge=1)
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)


class Provider(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str = Field(min_length=1)
    api_key: SecretStr | None = None
    models: list[str] = Field(default_factory=list)
    embedding_models: list[str] = Field(default_factory=list)
    prefix: bool = True                     # register NAME/* so any NAME/model routes here
    headers: dict[str, str] = Field(default_factory=dict)
    max_concurrency: int = Field(32, ge=1)
    max_connections: int | None = Field(None, ge=1)   # per-host pool size; default max_concurrency
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    limit_mode: Literal["wait", "reject"] = "wait"
    max_wait: float = Field(10.0, ge=0)     # longest a request queues for a slot in wait mode
    # upstream model name (as sent: "gpt-4o-mini") -> its own limits, e.g. a model with a
    # lower RPM than the account's; counted beside the provider's
    model_limits: dict[str, ModelLimits] = Field(default_factory=dict)
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()
    cooldown: Cooldown = Cooldown()
    keepalive: float = Field(30.0, ge=0)    # idle pooled connections close after this
    reuse_connections: bool = True          # false: a new connection per request (benchmarks)
    dns_cache: float = Field(300.0, ge=0)
    trust_env: bool = False                 # honour HTTP(S)_PROXY / NO_PROXY from the environment
    stream_usage: bool = True               # ask OpenAI-compatible upstreams for stream usage
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = Field(4096, ge=1)   # Anthropic requires max_tokens

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must start with http:// or https:// and name a host")
        return v.rstrip("/")

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key(cls, v):
        return None if v == "" else v   # ${KEY:-} unset: send no credentials at all

    @field_validator("model_limits")
    @classmethod
    def _model_names(cls, v: dict) -> dict:
        for name in v:
            if not name or name != name.strip() or "|" in name:
                raise ValueError(f"model name {name!r} must be a model's name as sent upstream")
        return v

    @field_validator("retries", mode="before")
    @classmethod
    def _retries_int(cls, v):
        return {"attempts": v} if isinstance(v, int) else v

    @field_validator("cooldown", mode="before")
    @classmethod
    def _cooldown_number(cls, v):
        return {"seconds": v} if isinstance(v, (int, float)) else v

    @field_validator("timeouts", mode="before")
    @classmethod
    def _timeout_number(cls, v):
        return {"total": v} if isinstance(v, (int, float)) else v


class PoolOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    providers: dict[str, Provider] = Field(default_factory=dict)
    # OpenClaw's primary/fallbacks: model id -> models to try in order when it fails
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    deadline: float = Field(300.0, gt=0)   # one client request, all retries and fallbacks included
    max_fallback_depth: int = Field(4, ge=0)
    # when every model a request may use is cooling down, try them anyway rather than answer
    # 503 at once (as LiteLLM does): a breaker must not take away the last route
    last_resort: bool = True
    # fleet mode (`fleet:` in config.yaml): count the limits above in the fleet's Redis, so
    # hosts share one provider's RPM/TPM and concurrency rather than each having it all
    shared_limits: bool = True
    # a host's hold on shared concurrency slots lapses when it is not renewed for this long
    # (a host killed with kill -9 gives its slots back after at most this)
    lease_s: float = Field(30.0, ge=1, le=3600)

    @field_validator("providers")
    @classmethod
    def _names(cls, v: dict) -> dict:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"provider name {name!r} must be letters, digits, '_', '-', '.'")
        return v

    @model_validator(mode="after")
    def _fallback_lists(self):
        for primary, chain in self.fallbacks.items():
            if primary in chain:
                raise ValueError(f"fallbacks.{primary} lists the model itself")
        return self


class Options(PoolOptions):
    """``plugins.connection_pool`` in config.yaml: providers, fallbacks, deadline."""
