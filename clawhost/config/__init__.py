"""config.yaml: loading, ``${VAR}`` interpolation, and validation into pydantic models.

The host owns the ``server``/``workspace`` sections (``sections``); each plugin owns its own
section under ``plugins:`` through the ``Options`` model its module defines. Errors are one
line each, naming the YAML path and the bad value (secrets are never echoed:
``error_lines``). Which file is read is ``locate``'s job; ``${VAR}`` is ``interpolation``'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .. import safeyaml
from ..errors import ConfigError
from .error_lines import format_errors
from .interpolation import interpolate
from .locate import DEFAULT_NAME, find_config, locate_config, user_config
from .sections import FleetOptions, HostConfig, ServerOptions, SkillEntry, SkillsOptions

__all__ = ["DEFAULT_NAME", "Config", "ConfigError", "FleetOptions", "HostConfig", "ServerOptions",
           "SkillEntry", "SkillsOptions", "find_config", "format_errors", "interpolate",
           "json_schema", "load_config", "locate_config", "user_config"]


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
        from ..pluginmanager import canonical
        return [canonical(n) for n, v in self.host.plugins.items() if v is not False]

    def raw_options(self, name: str) -> dict[str, Any]:
        from ..pluginmanager import canonical
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
