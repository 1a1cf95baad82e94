"""The artifact manifest: what was built, from what, how it checked out, and file hashes.

``manifest.json`` is written last and atomically (temp file + ``os.replace``) with
``complete: true``, so a folder without it - or with ``complete`` false - is an interrupted
preparation to redo.

Hashing at every load: sha256 of ~130 MB costs ~0.3 s, a tenth of the 3 s cold-start
budget. So `verify` always checks presence and size, and re-hashes a file only when its
mtime differs from the one recorded when it was hashed (the same trust rule as make/rsync);
an in-place edit changes the mtime and is caught. ``verify(folder, deep=True)`` hashes
everything regardless.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


class ManifestError(ValueError):
    """Artifacts are missing, incomplete or corrupt; the message is one line."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_manifest(folder: Path, *, source: str, quantization: str,
                   checks: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Hash every file under `folder` (except the manifest) and write the manifest last."""
    folder = Path(folder)
    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name not in (MANIFEST, MANIFEST + ".tmp"):
            st = p.stat()
            files[p.relative_to(folder).as_posix()] = {
                "size": st.st_size, "sha256": sha256_file(p), "mtime_ns": st.st_mtime_ns}
    manifest = {"source": source, "quantization": quantization, "checks": checks or {},
                **extra, "files": files, "complete": True}
    _atomic_write(folder / MANIFEST, manifest)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise ManifestError(f"{folder}: no {MANIFEST} (not prepared, or preparation interrupted)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: unreadable manifest ({exc})") from None
    if not manifest.get("complete"):
        raise ManifestError(f"{folder}: preparation did not complete")
    return manifest


def verify(folder: Path, deep: bool = False) -> dict[str, Any]:
    """Check every file of the manifest exists with its size and hash; return the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    rehashed = False
    for name, info in manifest.get("files", {}).items():
        path = folder / name
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ManifestError(f"{folder}: artifact {name} is missing") from None
        if st.st_size != info["size"]:
            raise ManifestError(f"{folder}: artifact {name} has {st.st_size} bytes, "
                                f"the manifest says {info['size']}")
        if deep or st.st_mtime_ns != info.get("mtime_ns"):
            if sha256_file(path) != info["sha256"]:
                raise ManifestError(f"{folder}: artifact {name} does not match its sha256 "
                                    "(corrupt or changed; prepare the model again)")
            rehashed |= st.st_mtime_ns != info.get("mtime_ns")
            info["mtime_ns"] = st.st_mtime_ns
    if rehashed:
        # the same bytes with a new mtime (a copied or restored workspace): record it, or
        # every start hashes them again (SmolLM2's 145 MB: 0.3 s idle, 1 s under load)
        try:
            _atomic_write(folder / MANIFEST, manifest)
        except OSError:  # a read-only workspace still loads; it just hashes each time
            pass
    return manifest
