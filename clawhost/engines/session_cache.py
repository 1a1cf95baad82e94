"""An onnxruntime session built from a cached, already optimised copy of its graph.

Why: building a session runs ORT's graph optimisers on every start; for the int8 SmolLM2
graph (an ``If`` per layer, 60 subgraphs) that is about half of its session time. ORT can
save the graph it optimised (``optimized_model_filepath``); a later session opens that copy
with the optimisers off (measured on SmolLM2's int8 graph: 0.41-0.48 s -> 0.25 s, the same
logits to the bit; BENCHMARKS.md, "Start-up time (session 9)"). The prepacked weights could
be saved too (``session.save_external_prepacked_constant_initializers``), but that gained
0.03 s more for 120 MB more disk and +20 MB of peak RSS, so they are packed at each start.

The copy lives beside the graph, in ``.ort-cache/<graph name>/`` (110 MB for SmolLM2), with
``key.json``: a hash of what it was built from (the graph's bytes, the size and mtime of the
weight files beside it, the onnxruntime version, the CPU's flags, the optimisation level)
and the size and mtime of each cached file. A copy whose key or files do not match, or that
ORT cannot open, is rebuilt from the graph with one log line; a cache that cannot be written
is skipped with one log line. The copy is trusted the way the artifacts are (`manifest`):
by size and mtime, not by hashing it at every start.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

import onnxruntime as ort

from .cpu import cpu_flags

log = logging.getLogger("clawhost.engines")

CACHE_DIR = ".ort-cache"
KEY_FILE = "key.json"
GRAPH = "graph.onnx"
DATA = GRAPH + ".data"
FORMAT = 1  # bump when what is cached, or how, changes
STALE_S = 600  # a half-built copy older than this was left by a loader that died


def cache_key(graph: Path, level: ort.GraphOptimizationLevel) -> str:
    """What the optimised copy depends on; any change gives another key."""
    h = hashlib.sha256()
    for part in (str(FORMAT), ort.__version__, platform.machine(), cpu_flags(), str(level)):
        h.update(part.encode() + b"\0")
    h.update(graph.read_bytes())
    for data in sorted(graph.parent.glob("*.data")):  # the weights the graph refers to
        st = data.stat()
        h.update(f"{data.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def _stats(folder: Path) -> dict[str, list[int]]:
    return {name: [(st := (folder / name).stat()).st_size, st.st_mtime_ns]
            for name in (GRAPH, DATA)}


def _cached(folder: Path, key: str) -> str | None:
    """None when the copy in `folder` matches `key`, else why it does not."""
    try:
        meta = json.loads((folder / KEY_FILE).read_text())
    except FileNotFoundError:
        return "none yet"
    except (OSError, ValueError) as exc:
        return f"unreadable {KEY_FILE} ({exc.__class__.__name__})"
    if not isinstance(meta, dict) or meta.get("key") != key:
        return "built from another graph, onnxruntime or CPU"
    try:
        if _stats(folder) != meta.get("files"):
            return "its files changed"
    except OSError:
        return "its files are missing"
    return None


def open_session(graph: Path | str, make_options: Callable[[], ort.SessionOptions],
                 providers: list[str] | None = None) -> ort.InferenceSession:
    """A session of `graph` (an ONNX file), as ``ort.InferenceSession(graph, make_options())``
    gives, opened from its cached optimised copy when that matches (see the module's
    docstring). `make_options` makes fresh options for each attempt."""
    graph = Path(graph)
    providers = providers or ["CPUExecutionProvider"]
    folder = graph.parent / CACHE_DIR / graph.name
    key = cache_key(graph, make_options().graph_optimization_level)
    why = _cached(folder, key)
    if why is None:
        options = make_options()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(folder / GRAPH), options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - a corrupt copy is rebuilt, never fatal
            why = f"onnxruntime could not open it: {_line(exc)}"
    log.info("%s: optimising the graph and caching the result in %s/ (%s)", graph.name,
             CACHE_DIR, why)
    try:
        return _build(graph, make_options(), providers, folder, key)
    except Exception as exc:  # noqa: BLE001 - disk full, read-only: serve without a cache
        log.info("%s: optimised graph not cached: %s", graph.name, _line(exc))
        return ort.InferenceSession(str(graph), make_options(), providers=providers)


def _line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [exc.__class__.__name__])[0][:200]


def _build(graph: Path, options: ort.SessionOptions, providers: list[str], folder: Path,
           key: str) -> ort.InferenceSession:
    """The session from `graph`, ORT writing its optimised copy into a folder of its own,
    which then replaces `folder` (two loaders racing each write their own; one wins)."""
    tag = f"{os.getpid()}.{threading.get_ident()}"
    tmp = folder.with_name(f".{folder.name}.{tag}.tmp")
    if folder.parent.is_dir():  # what a loader killed mid-build left (230 MB each)
        for left in folder.parent.glob(f".{folder.name}.*"):
            if time.time() - left.stat().st_mtime > STALE_S:
                shutil.rmtree(left, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        options.optimized_model_filepath = str(tmp / GRAPH)
        for name, value in (("session.optimized_model_external_initializers_file_name", DATA),
                            ("session.optimized_model_external_initializers_min_size_in_bytes",
                             "1024")):
            options.add_session_config_entry(name, value)
        session = ort.InferenceSession(str(graph), options, providers=providers)
        (tmp / KEY_FILE).write_text(json.dumps({"key": key, "files": _stats(tmp),
                                                "onnxruntime": ort.__version__}))
        old = folder.with_name(f".{folder.name}.{tag}.old")
        try:
            if folder.exists():
                folder.rename(old)
            tmp.rename(folder)
        except OSError as exc:  # another loader's copy took the place: keep that one
            log.info("%s: optimised graph not cached: %s", graph.name, _line(exc))
        shutil.rmtree(old, ignore_errors=True)
        return session
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
