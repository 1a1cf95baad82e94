"""``clawhost plugins new NAME``: a plugin package skeleton that passes its own tests."""

from __future__ import annotations

import re
from pathlib import Path

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "clawhost-{dist}"
version = "0.1.0"
description = "A clawhost plugin: {title}"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["clawhost"]

[project.optional-dependencies]
test = ["pytest", "pytest-asyncio"]

[project.entry-points.clawhost]
{name} = "clawhost_{name}"

[tool.setuptools]
packages = ["clawhost_{name}"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
'''

# The same layout as a built-in plugin: hooks in __init__, options in options.py, machinery in
# modules of its own (imported inside the hooks, so every CLI call stays cheap).
MODULE = '''\
"""clawhost plugin {name}: adds an ``x-{dist}`` header to every answer."""

from __future__ import annotations

from clawhost.api import hookimpl

from .options import NAME, Options

__all__ = ["NAME", "Options"]


@hookimpl
def clawhost_request_started(request):
    options = request.host.options(NAME) or Options()
    request.response_headers["x-{dist}"] = options.header_value
'''

OPTIONS = '''\
"""The ``{name}:`` section of config.yaml."""

from __future__ import annotations

from pydantic import BaseModel

NAME = "{name}"


class Options(BaseModel):
    """The `{name}:` section of config.yaml."""

    header_value: str = "on"
'''

TEST = '''\
"""Tests for clawhost_{name}, using clawhost's own fixtures (clawhost.testing)."""

import aiohttp

import clawhost_{name}
from clawhost.testing import EchoModel


async def test_header_is_added(clawhost_host, clawhost_server):
    host = await clawhost_host(EchoModel(), clawhost_{name})
    url = await clawhost_server(host)
    body = {{"model": "echo", "messages": [{{"role": "user", "content": "hi"}}]}}
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/chat/completions", json=body) as resp:
            assert resp.status == 200
            assert resp.headers["x-{dist}"] == "on"
            assert (await resp.json())["choices"][0]["message"]["content"] == "hi"
'''

CONFTEST = '''\
import sys
from pathlib import Path

# Lets the tests run from a checkout before `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
'''

README = '''\
# clawhost-{dist}

A [clawhost](https://pypi.org/project/clawhost/) plugin: {title}.

    pip install -e '.[test]'
    pytest

Enable it in clawhost's `config.yaml`:

```yaml
plugins:
  {name}:
    header_value: "on"
```
'''


def create(name: str, parent: Path) -> Path:
    """Write ``clawhost-NAME/`` under ``parent`` and return its path."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,40}", name):
        raise ValueError(f"plugin name {name!r} must be lowercase letters, digits, - or _, "
                         "starting with a letter")
    ident, dist = name.replace("-", "_"), name.replace("_", "-")
    root = parent / f"clawhost-{dist}"
    if root.exists():
        raise ValueError(f"{root} already exists")
    fields = {"name": ident, "dist": dist, "title": f"the {ident} plugin"}
    files = {"pyproject.toml": PYPROJECT, "README.md": README, f"clawhost_{ident}/__init__.py": MODULE,
             f"clawhost_{ident}/options.py": OPTIONS,
             "tests/conftest.py": CONFTEST, f"tests/test_{ident}.py": TEST}
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    return root
