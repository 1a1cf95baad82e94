"""Which config file a command uses: --config, $CLAWHOST_CONFIG, ./config.yaml, then the
per-user config, and how it was found."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

DEFAULT_NAME = "config.yaml"


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
