"""The semantic cache's options (``plugins: semantic_cache:``), state key and body fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field

from clawhost.api import RequestCacheFields, StashKey

if TYPE_CHECKING:
    from .cache import SemanticCache

NAME = "semantic_cache"
STATE: StashKey["SemanticCache"] = StashKey(NAME)  # the host's SemanticCache


class Options(BaseModel):
    """``plugins: semantic_cache:`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")
    embedding_model: str = Field("all-minilm-l6-v2", description="a registered embedding model")
    embedding_path: str | None = Field(None, description="a prepared artifact folder to load "
                                       "directly instead of the host's model")
    embed_via: Literal["engine", "host"] = Field(
        "engine", description="engine: call the model's engine on a thread (fastest); "
        "host: an embedding request through the plugin chain (batched with other traffic)")
    kinds: list[Literal["chat", "completion"]] = Field(["chat"], description="request kinds")
    policy: Literal["deterministic", "all"] = Field(
        "deterministic", description="deterministic: only temperature 0 or a fixed seed")
    query_turns: int = Field(1, ge=1, le=16, description="user turns compared by meaning; "
                             "everything earlier is part of the scope")
    namespace: str | None = Field(None, max_length=128, description="default namespace")
    min_similarity: float = Field(0.75, ge=0, le=1, description="cosine floor for candidates")
    verifier: bool = Field(True, description="the learned second stage (verifier.json)")
    verifier_model: str | None = Field(
        "minilm-l6-qqp-verifier", min_length=1, description="a rerank model (cross-encoder, "
        "quantized_model kind: rerank) that reads each candidate with the new question; "
        "null, or a model not served here: verifier_weights judge instead")
    verifier_path: str | None = Field(None, description="a prepared rerank artifact folder "
                                      "to load directly instead of the host's verifier_model")
    verifier_threshold: float | None = Field(
        None, ge=0, le=1, description="verifier score to serve; none = the verifier's own "
        "(verifier_model: its adapter's; lexical 0.75, align 0.78, interaction 0.89)")
    verifier_weights: str = Field("lexical", min_length=1, description="without a "
                                  "verifier_model: lexical | align "
                                  "(trees over lexical + MiniLM token-alignment features; "
                                  "MiniLM only; one more ONNX run per verified lookup) | "
                                  "interaction | a weights JSON path")
    rules: list[Literal["number", "negation", "antonym", "entity"]] = Field(
        ["number", "negation", "antonym"], description="hard rejections of look-alikes")
    margin: float = Field(0.01, ge=0, le=1, description="miss when two stored questions "
                          "with different answers are this close in cosine")
    candidates: int = Field(4, ge=1, le=64, description="nearest entries the verifier sees")
    max_entries: int = Field(20_000, ge=1)
    max_bytes: ByteSize = Field(ByteSize(128 * 1024 * 1024), description="e.g. 128MiB")
    ttl_s: float = Field(7 * 86_400.0, gt=0, description="default lifetime of an entry")
    max_query_chars: int = Field(4000, ge=1, description="longer queries are not cached")
    ann: Literal["auto", "off"] = Field("auto", description="auto: HNSW (hnswlib) for large "
                                        "scopes when installed; off: always brute force")
    ann_min_entries: int = Field(20_000, ge=16, description="scope size that gets a graph")
    path: str = Field(".cache/semantic", description="relative to the workspace")


class RequestFields(RequestCacheFields):
    """``"cache": {...}`` in a request body (shared with the exact cache)."""
