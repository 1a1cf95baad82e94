"""``plugins_dir`` runs code: only the files the config enables are imported when the host
starts, and a file cannot silently stand in for an installed plugin."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from clawhost.errors import ConfigError
from clawhost.pluginmanager import discover


def _dir_with(tmp_path, **files: str):
    pl = tmp_path / "pl"
    pl.mkdir()
    for name, code in files.items():
        (pl / f"{name}.py").write_text(code)
    return pl


def test_a_file_named_like_a_builtin_is_an_error_naming_both(tmp_path):
    pl = _dir_with(tmp_path, cache="raise SystemExit('must not run')\n")
    with pytest.raises(ConfigError) as err:
        discover(plugins_dir=pl, only={"cache"})
    message = str(err.value)
    assert "cache.py" in message and "clawhost.plugins.cache" in message and "\n" not in message


def test_start_imports_only_the_enabled_files(tmp_path):
    """``clawhost config check``-style validation for start/run: a disabled file with a side
    effect at import is never imported; the enabled one is."""
    marker = tmp_path / "imported"
    pl = _dir_with(tmp_path,
                   used="from clawhost.api import hookimpl\n",
                   unused=f"open({str(marker)!r}, 'w').write('ran')\n")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"workspace": str(tmp_path / "ws"), "plugins_dir": str(pl),
                                      "plugins": {"used": {}}}))
    code = ("from clawhost.cli import load_checked; c = load_checked(%r); print(c.enabled)"
            % str(config))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "used" in run.stdout and not marker.exists()
