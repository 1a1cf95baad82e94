"""Query embeddings for the semantic cache: the host's local embedding model.

``engine`` mode calls the model's ``EmbeddingEngine`` (e.g. the quantized_model plugin's) on a
thread of its own: one short query costs one ONNX run and no trip through the plugin chain.
``host`` mode sends an embedding request through ``Host.handle`` so a batcher can batch it
with other traffic (and an exact cache can answer repeats). A folder of prepared artifacts
(``embedding_path``) is loaded directly, as the eval CLI does.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from clawhost.api import EmbeddingEngine, EmbeddingRequest, ModelRequest, PreparedArtifacts


class EmbedderUnavailable(RuntimeError):
    """The embedding model is not registered, not ready, or has no usable engine."""


def artifact_quantization(folder: Path) -> str:
    try:
        return str(json.loads((folder / "embed_config.json").read_text()).get("quantization", "?"))
    except (OSError, ValueError):
        return "?"


def find_artifacts(workspace: Path, model_id: str) -> Path | None:
    """The prepared artifact folder of ``model_id`` under ``workspace/models`` (for the offline
    eval command; a running cache asks the engine where it was loaded from)."""
    folder = Path(workspace) / "models" / model_id
    return folder if (folder / "embed_config.json").is_file() else None


class Embedder:
    """``await embed(text) -> float32 [dim]`` (unit norm) plus a fingerprint of the vectors."""

    def __init__(self, fn: Callable[[list[str]], Any] | None, fingerprint: str,
                 host: Any = None, model_id: str = "", dim: int | None = None) -> None:
        self.dim = dim
        self.folder: Path | None = None  # the artifact folder, when loaded from one
        self._fn, self.fingerprint, self._host, self._model_id = fn, fingerprint, host, model_id

    @classmethod
    def from_folder(cls, folder: Path, threads: int | None = None) -> "Embedder":
        """``threads`` default: every core, as the host's own embedding model runs."""
        from clawhost.engines.embed_engine import EmbedEngine, default_threads
        engine = EmbedEngine.load(Path(folder), threads=threads or default_threads())
        quant = artifact_quantization(Path(folder))
        embedder = cls(engine.embed, f"{Path(folder).name}:{engine.dim}:{quant}", dim=engine.dim)
        embedder.folder = Path(folder)
        return embedder

    @classmethod
    def from_host(cls, host: Any, model_id: str, via: str) -> "Embedder":
        model = host.models.get(model_id)
        if model is None or not model.serves("embedding"):
            raise EmbedderUnavailable(f"embedding model {model_id!r} is not registered")
        engine = host.engine(model_id, EmbeddingEngine)
        # an engine loaded from prepared artifacts says where (token vectors, quantization)
        folder = engine.folder if isinstance(engine, PreparedArtifacts) else None
        quant = artifact_quantization(folder) if folder else "?"
        dim = engine.dim if engine is not None else None
        fingerprint = f"{model_id}:{dim or '?'}:{quant}"
        if via == "engine" and engine is not None:
            embedder = cls(engine.embed, fingerprint, dim=dim)
        else:
            embedder = cls(None, fingerprint, host=host, model_id=model_id, dim=dim)
        embedder.folder = folder
        return embedder

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        if self._fn is None:
            raise EmbedderUnavailable("this embedder runs through the host; use embed()")
        return np.asarray(self._fn(texts), np.float32)

    async def embed(self, text: str, tenant: str = "default") -> np.ndarray:
        if self._fn is not None:
            return (await asyncio.to_thread(self._fn, [text]))[0]
        # An embedding request never reaches the semantic cache's lookup (chat/completion
        # only), so this cannot recurse.
        reply = await self._host.handle(ModelRequest(
            kind="embedding", body=EmbeddingRequest(model=self._model_id, input=[text]),
            tenant=tenant))
        return np.asarray(reply.body["data"][0]["embedding"], np.float32)
