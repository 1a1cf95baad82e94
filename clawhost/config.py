"""config.yaml: loading, ``${VAR}`` interpolation, and validation into pydantic models.

The host owns the ``server``/``workspace`` sections; each plugin owns its own section under
``plugins:`` through the ``Options`` model its module defines. Errors are one line each,
naming the YAML path and the bad value (secrets are never echoed).
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from . import safeyaml
from .errors import ConfigError

DEFAULT_NAME = "config.yaml"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_VAR = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
# the last part of a YAML path that holds a secret: token, api_key, secret, password ...
_SECRET_FIELD = re.compile(r"(^|[._\[])(token|\w*_?key|\w*secret|\w*password|passwd|authorization)\]?$", re.I)


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


# a URL may carry a password (redis://:pw@host): its value is not echoed in errors either
_URL_FIELD = re.compile(r"(^|[._])\w*url$", re.I)

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


class Config:
    """A loaded config: the host part, each enabled plugin's raw options, and its secrets."""

    def __init__(self, host: HostConfig, path: Path | None, secrets: set[str]):
        self.host = host
        self.path = path
        self.secrets = {s for s in secrets if s}
        if host.server.token:
            self.secrets.add(host.server.token.get_secret_value())
        if host.fleet is not None:  # a password in the URL must not reach a log line
            from urllib.parse import urlsplit
            url = host.fleet.url.get_secret_value()
            self.secrets.add(url)
            try:
                password = urlsplit(url).password
            except ValueError:
                password = None
            if password:
                self.secrets.add(password)
        self.options: dict[str, BaseModel | None] = {}

    @property
    def workspace(self) -> Path:
        ws = self.host.workspace
        base = self.path.parent if self.path else Path.cwd()
        return (ws if ws.is_absolute() else base / ws).resolve()

    @property
    def plugins_dir(self) -> Path | None:
        d = self.host.plugins_dir
        if d is None:
            return None
        base = self.path.parent if self.path else Path.cwd()
        return (d if d.is_absolute() else base / d).resolve()

    @property
    def enabled(self) -> list[str]:
        """Plugin names in chain order, ``name: false`` left out."""
        from .pluginmanager import canonical
        return [canonical(n) for n, v in self.host.plugins.items() if v is not False]

    def raw_options(self, name: str) -> dict[str, Any]:
        from .pluginmanager import canonical
        for n, v in self.host.plugins.items():
            if canonical(n) == name:
                return v if isinstance(v, dict) else {}
        return {}

    def validate_plugins(self, installed: dict) -> None:
        """Check every enabled plugin is installed, importable, and has valid options."""
        problems = []
        for name in self.enabled:
            item = installed.get(name)
            if item is None:
                have = ", ".join(sorted(installed)) or "none"
                problems.append(f"plugins.{name}: unknown plugin {name!r} (installed: {have})")
                continue
            if item.error:
                problems.append(f"plugins.{name}: plugin {name!r} cannot load: {item.error}")
                continue
            model = item.options_model
            raw = self.raw_options(name)
            if model is None:
                self.options[name] = None
                continue
            try:
                # the context tells options that depend on fleet mode whether it is on
                self.options[name] = model.model_validate(
                    raw, context={"fleet": self.host.fleet is not None})
            except ValidationError as exc:
                problems.extend(format_errors(exc, f"plugins.{name}", model))
        if problems:
            raise ConfigError(self._where() + ("\n" + self._where()).join(problems))

    def override_server(self, port: int | None = None, host: str | None = None) -> None:
        """--port / --host, else $CLAWHOST_PORT / $CLAWHOST_HOST, over the config's
        server.port / server.host (one line naming the variable when it is bad)."""
        env_port = os.environ.get("CLAWHOST_PORT", "").strip()
        if port is None and env_port:
            if not env_port.isdigit() or int(env_port) > 65535:
                raise ConfigError(f"CLAWHOST_PORT: must be a port number, 0 to 65535 "
                                  f"(got {env_port[:20]!r})")
            port = int(env_port)
        host = host or os.environ.get("CLAWHOST_HOST", "").strip() or None
        update = {k: v for k, v in (("port", port), ("host", host)) if v is not None}
        if update:
            self.host.server = self.host.server.model_copy(update=update)

    def _where(self) -> str:
        return f"{self.path.name if self.path else 'config'}: "

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text


def user_config() -> Path:
    """The per-user config: $XDG_CONFIG_HOME/clawhost/config.yaml (~/.config by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base).expanduser() if Path(base).expanduser().is_absolute() else \
        Path.home() / ".config"  # the XDG spec: a relative value is to be ignored
    return root / "clawhost" / DEFAULT_NAME


def locate_config(path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The config to use and how it was found: ``path`` (--config), then $CLAWHOST_CONFIG,
    then ./config.yaml, then the per-user config. A file named by --config or the variable
    must exist: falling through to another file would hide a typo."""
    for given, how in ((path, "--config"), (os.environ.get("CLAWHOST_CONFIG"), "$CLAWHOST_CONFIG")):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                raise ConfigError(f"config file not found: {p} (from {how})")
            return p.resolve(), how
    here, user = Path.cwd() / DEFAULT_NAME, user_config()
    if here.is_file():
        return here.resolve(), "./config.yaml in the current directory"
    if user.is_file():
        return user.resolve(), "the per-user config"
    raise ConfigError(f"config file not found; looked at --config, $CLAWHOST_CONFIG, {here}, "
                      f"{user} (pass --config FILE, set CLAWHOST_CONFIG, or create one of them)")


def find_config(path: str | os.PathLike | None) -> Path:
    """The config to use (``locate_config`` without the how)."""
    return locate_config(path)[0]


def interpolate(node: Any, path: str, secrets: set[str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of the YAML tree."""
    if isinstance(node, dict):
        return {k: interpolate(v, f"{path}.{k}" if path else str(k), secrets) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, f"{path}[{i}]", secrets) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def sub(m: re.Match) -> str:
        var, default = m.group(1), m.group(2)
        value = os.environ.get(var)
        if value is None:
            if default is None:
                raise ConfigError(f"{path}: environment variable {var} is not set "
                                  f"(use ${{{var}:-default}} for a default)")
            value = default
        if _SECRET_VAR.search(var) or _SECRET_FIELD.search(path):
            secrets.add(value)
        return value

    return _VAR.sub(sub, node)


def _fields_at(model: Any, loc: tuple) -> list[str]:
    """The option names a pydantic model accepts at ``loc`` (keys of dict fields skipped)."""
    key_next = False
    for part in loc:
        if key_next:  # this part is a key of a dict[str, Model] field: the model stays
            key_next = False
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = field.annotation
        # unwrap Optional[...] / X | None and dict[str, X] down to a model class
        for _ in range(3):
            args = [a for a in typing.get_args(model) if a is not type(None)]
            if typing.get_origin(model) is dict and len(args) == 2:
                model, key_next = args[1], True
            elif args and not (isinstance(model, type) and issubclass(model, BaseModel)):
                model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)),
                             args[0])
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def format_errors(exc: ValidationError, prefix: str, model: Any = None) -> list[str]:
    """pydantic errors as ``path: message (got value)`` lines; secret-looking values hidden.

    With ``model``, a misspelt option gets the closest accepted name as a suggestion."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join([prefix, *map(str, loc)]) if prefix else ".".join(map(str, loc))
        msg = err["msg"].removeprefix("Value error, ")  # our validators' own words
        if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            msg = "must be an object (a mapping of names to values)"  # not pydantic's class name
        if err["type"] == "extra_forbidden" and model is not None:
            close = difflib.get_close_matches(str(loc[-1]), _fields_at(model, loc[:-1]), 1, 0.6)
            msg = f"unknown option; did you mean {close[0]!r}?" if close else "unknown option"
        line = f"{where}: {msg}"
        # The value pydantic saw (loc can name union branches, "input.str", so it is taken
        # from the error, not looked up). An object is never echoed: a secret could sit in
        # one of its fields, and the path already says which one is meant.
        value = err.get("input")
        # an unknown option's value is not the problem, and a misspelt secret name would
        # slip past the secret check below
        if err["type"] not in ("missing", "extra_forbidden") and not isinstance(value, dict):
            hide = _SECRET_FIELD.search(where) or _URL_FIELD.search(where)
            shown = "***" if hide else repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            line += f" (got {shown})"
        lines.append(line)
    return lines


def load_config(path: str | os.PathLike | None = None, *, text: str | None = None) -> Config:
    """Read and validate the host part of a config; plugin options are checked by the host."""
    p = None if text is not None else find_config(path)
    name = p.name if p else "config"
    try:
        if text is None and p.stat().st_size > safeyaml.MAX_BYTES:  # before reading it all
            raise ConfigError(f"{name}: larger than {safeyaml.MAX_BYTES} bytes; is it the "
                              "right file?")
        # the budgeted loader: a billion-laughs or 5,000-deep config is one line, not a
        # MemoryError or RecursionError traceback
        raw = safeyaml.safe_load(text if text is not None else p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{name}{at}: invalid YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: the top level must be a mapping, got {type(raw).__name__}")
    secrets: set[str] = set()
    try:
        raw = interpolate(raw, "", secrets)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if isinstance(raw.get("plugins"), list):  # a bare list of names is fine too
        raw["plugins"] = {n: {} for n in raw["plugins"]}
    try:
        host = HostConfig.model_validate(raw)
    except ValidationError as exc:
        lines = format_errors(exc, "", HostConfig)
        raise ConfigError("\n".join(f"{name}: {line}" for line in lines)) from None
    return Config(host, p, secrets)


def json_schema(installed: dict) -> dict:
    """JSON Schema for config.yaml, with each installed plugin's options, for editors."""
    schema = HostConfig.model_json_schema()
    props = {}
    for name, item in sorted(installed.items()):
        model = item.options_model
        sub = model.model_json_schema() if model is not None else {"type": "object"}
        props[name] = {"anyOf": [sub, {"type": "null"}, {"const": False}]}
    schema["properties"]["plugins"] = {"type": "object", "properties": props,
                                       "additionalProperties": False,
                                       "description": "Enabled plugins, in chain order."}
    return schema
