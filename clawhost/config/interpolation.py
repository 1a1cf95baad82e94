"""``${VAR}`` and ``${VAR:-default}`` in config.yaml's strings, with the values that look
secret collected so logs and errors can hide them."""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import ConfigError
from .error_lines import SECRET_FIELD

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# a variable whose name says it holds a secret
_SECRET_VAR = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)


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
        if _SECRET_VAR.search(var) or SECRET_FIELD.search(path):
            secrets.add(value)
        return value

    return _VAR.sub(sub, node)
