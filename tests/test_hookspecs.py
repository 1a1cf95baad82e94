"""Drift checks: every hook is documented, has a one-line docstring, and has a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from clawhost import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(n for n, f in vars(hookspecs).items()
               if n.startswith("clawhost_") and inspect.isfunction(f))


def test_there_are_hooks():
    assert len(HOOKS) >= 12


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_one_line_docstring(hook):
    doc = getattr(hookspecs, hook).__doc__
    assert doc and len(doc.strip().splitlines()) == 1, f"{hook} needs a one-line docstring"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    spec = inspect.signature(getattr(hookspecs, hook))
    heading = f"### {hook}({', '.join(spec.parameters)})"
    assert heading in docs, f"docs/plugins.md lacks a section '{heading}'"
    assert re.search(rf"\| `{hook}\(", docs), f"docs/plugins.md hook table lacks {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    tests = [p for p in ROOT.glob("tests/**/test_*.py") if p.name != "test_hookspecs.py"]
    users = [p.name for p in tests if hook in p.read_text()]
    assert users, f"no test exercises {hook}"


def test_every_subpackage_ships():
    """A subpackage missing from pyproject's list works editable but breaks a real install."""
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"clawhost." + p.parent.name for p in (ROOT / "clawhost").glob("*/__init__.py")}
    found |= {"clawhost.plugins." + p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
