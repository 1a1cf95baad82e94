"""The host's own sections of config.yaml (``server``, ``skills``, ``fleet``, ``aliases`` ...)
as pydantic models; each plugin's section is its own ``Options`` model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class ServerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    token: SecretStr | None = None
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_inflight: int = Field(256, ge=1)
    request_timeout_s: float = Field(600, gt=0)
    drain_timeout_s: float = Field(30, ge=0)
    # Slow clients: a connection must finish its request headers within header_timeout_s
    # of opening (or of its first byte, on a kept-alive connection), and the body within
    # body_timeout_s; max_connections caps open connections (idle ones included), since
    # max_inflight only counts requests being answered.
    header_timeout_s: float = Field(10, gt=0)
    body_timeout_s: float = Field(30, gt=0)
    max_connections: int = Field(512, ge=1)
    # Browsers: a request whose Origin header is present must name one of these origins
    # (exactly, e.g. "http://localhost:3000"; "*" allows any) or this host's own loopback
    # address. Its Host header must name the bound address, a loopback name when bound to
    # loopback, or one of allowed_hosts ("*" allows any): that stops DNS rebinding.
    allowed_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    # One line per API request (method, route, model, status, cache tier, tokens, ms; never
    # a prompt, a header value or a secret): true = in the host's log, a path = its own
    # file (relative to this config file), false = none.
    access_log: bool | Path = False

    @field_validator("access_log", mode="before")
    @classmethod
    def _log_target(cls, v: Any) -> Any:
        if isinstance(v, (bool, str, Path)) and v != "":
            return v
        raise ValueError("must be true, false or a file path")


class SkillEntry(BaseModel):
    """Per-skill settings (OpenClaw's ``skills.entries.<name>``)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    env: dict[str, str] = Field(default_factory=dict)
    timeout_s: float | None = Field(None, gt=0)


class SkillsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extra_dirs: list[Path] = Field(default_factory=list)
    include_user_dirs: bool = True  # ~/.agents/skills and ~/.openclaw/skills
    timeout_s: float = Field(120, gt=0)
    entries: dict[str, SkillEntry] = Field(default_factory=dict)
    # a skill folder that is a symlink to somewhere outside every skill root is listed as
    # not eligible unless this is set: a root is what you chose to trust, a link can point
    # anywhere
    allow_external_symlinks: bool = False


class FleetOptions(BaseModel):
    """``fleet:``: several hosts share caches, limits and a view of each other in one Redis.

    Off unless the section is present; without it nothing imports redis."""

    model_config = ConfigDict(extra="forbid")
    # redis://[:password@]host:port/db (or rediss://); it may carry a password, so it is
    # never logged or echoed: the fleet's log lines name host:port/db only
    url: SecretStr
    # this host's name in the fleet (heartbeats, the `host` metric label); by default
    # "<hostname>:<port>", which stays the same across restarts and differs between two
    # hosts on one box ("<hostname>-<pid>" when the port is 0, chosen at bind time)
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
    # every key the fleet writes starts with "<namespace>:", so two fleets can share a Redis
    namespace: str = Field("clawhost", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    heartbeat_s: float = Field(2.0, gt=0, le=300)
    # a host whose last heartbeat is older than this is flagged stale
    stale_after_s: float = Field(10.0, gt=0)
    # Redis calls on the request path give up after this; a host then serves from its
    # local tiers and retries the link with backoff, up to retry_max_s apart
    timeout_s: float = Field(0.5, gt=0, le=30)
    retry_max_s: float = Field(5.0, gt=0, le=300)

    @field_validator("url", mode="after")
    @classmethod
    def _redis_url(cls, v: SecretStr) -> SecretStr:
        scheme = v.get_secret_value().split("://", 1)[0]
        if scheme not in ("redis", "rediss", "unix") or "://" not in v.get_secret_value():
            raise ValueError("must be a redis:// (or rediss://, unix://) URL")
        return v


_KIND = {int: "a number", float: "a number", str: "a string", list: "a list"}


class HostConfig(BaseModel):
    """The host's own part of config.yaml."""

    model_config = ConfigDict(extra="forbid")
    workspace: Path = Path("workspace")
    plugins_dir: Path | None = None  # extra plugins: each *.py in it, named after the file
    log_level: str = Field("info", pattern=r"(?i)^(debug|info|warning|error)$")
    server: ServerOptions = ServerOptions()
    skills: SkillsOptions = SkillsOptions()
    plugins: dict[str, dict[str, Any] | None | bool] = Field(default_factory=dict)
    # Model aliases, as LiteLLM's: a name clients use (text-embedding-3-small) for a model
    # served here (all-minilm-l6-v2). One level only: a target is a model id, never
    # another alias, so a request resolves in one step and no cycle can form.
    aliases: dict[str, str] = Field(default_factory=dict)
    fleet: FleetOptions | None = None  # off by default: one host behaves as it always did

    @field_validator("aliases")
    @classmethod
    def _alias_names(cls, v: dict[str, str]) -> dict[str, str]:
        for alias, target in v.items():
            if not alias.strip() or not target or not target.strip():
                raise ValueError(f"alias {alias!r} -> {target!r}: both names must be non-empty")
            if len(alias) > 256 or len(target) > 256:
                raise ValueError(f"alias {alias[:40]!r}: names are at most 256 characters")
            if alias == target:
                raise ValueError(f"alias {alias!r} names itself")
            if target in v:
                raise ValueError(f"alias {alias!r} -> {target!r}: {target!r} is itself an "
                                 "alias (point it at a model id)")
        return v

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugin_entries(cls, v: Any) -> Any:
        # one line per bad entry, instead of pydantic's error for each branch of the union
        if isinstance(v, dict):
            for name, opts in v.items():
                if not (opts is None or isinstance(opts, (dict, bool))):
                    # the type, not the value: a misplaced secret would be echoed
                    raise ValueError(f"{name} must be a mapping of its options, {{}}, or false "
                                     f"to disable it (got {_KIND.get(type(opts), 'a value')})")
        return v
