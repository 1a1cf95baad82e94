"""The semantic cache's options (``plugins: semantic_cache:``), state key and body fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, model_validator

from clawhost.api import RequestCacheFields, StashKey

if TYPE_CHECKING:
    from .cache import SemanticCache

NAME = "semantic_cache"
STATE: StashKey["SemanticCache"] = StashKey(NAME)  # the host's SemanticCache

# One line each: what an operator gets. Options set explicitly win over the preset's.
PRESET_MEANINGS = {
    "balanced": "normalised-exact matches (fillers folded too), then paraphrases: wording, "
                "order, typos and verified rephrasings; look-alikes rejected (the default)",
    "strict": "normalised-exact matches (case, spacing, punctuation only), then only "
              "paraphrases that differ in wording or order at high similarity and score",
    "off": "no semantic caching at all (the exact cache still answers repeats)",
}
PRESETS: dict[str, dict] = {
    "balanced": {"normalized": True, "normalize_fillers": True, "structure": True,
                 "same_floor": 0.85, "typo_floor": 0.3, "typos": True},
    "strict": {"normalized": True, "normalize_fillers": False, "structure": True,
               "same_floor": 0.92, "typo_floor": 0.8, "typos": True,
               "verifier_threshold": 0.945},
    "off": {},
}


class Options(BaseModel):
    """``plugins: semantic_cache:`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")
    preset: Literal["balanced", "strict", "off"] = Field(
        "balanced", description="; ".join(f"{k}: {v}" for k, v in PRESET_MEANINGS.items()))
    normalized: bool = Field(True, description="the normalised-exact tier: same question "
                             "after case, Unicode, spacing and trailing punctuation folding")
    normalize_fillers: bool = Field(True, description="the normalised-exact tier also folds "
                                    "wrappers at the edges ('please', 'can you', 'tell me')")
    structure: bool = Field(True, description="the structural comparison: rejects swapped "
                            "directions, antonyms, numbers, units, negations, names; serves "
                            "pairs that differ only in wording without the learned score")
    same_floor: float = Field(0.85, ge=0, le=1, description="cosine at which the structure "
                              "alone serves a pair differing only in wording or order")
    # 0.3: a misspelt topic word is out of MiniLM's vocabulary and moves the vector far
    # ("crikcet" 0.48, "camle" 0.39, "ubiquitious" 0.34), while the structure has matched
    # every other word; none of the such pairs in dev, QQP and the own sets was a near-miss
    # at any cosine (sessions 17, 19)
    typo_floor: float = Field(0.3, ge=0, le=1, description="the same for a pair that also "
                              "differs by typos (edit distance 1-2, one side not a real word)")
    typos: bool = Field(True, description="match misspelt words as the same word")
    # 0.10: the highest cut at which the cross-encoder accepted none of the training rows
    # under it (QQP and GPTCache outside the held-back split; benchmarks/semantic_long.py)
    prescreen: float = Field(0.10, ge=0, le=1, description="with a verifier_model: pairs the "
                             "embedding-interaction weights (MiniLM vectors) score below this "
                             "are rejected without running the cross-encoder; 0: always run it")
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
    # 8,192 entries are 12 MB of vectors; past that a scan falls out of the core's cache and
    # costs ms under load (9 ms at 20,000 entries, load 7; 0.3 ms at 8,192)
    ann_min_entries: int = Field(8192, ge=16, description="scope size that gets a graph")
    path: str = Field(".cache/semantic", description="relative to the workspace")

    @model_validator(mode="after")
    def _apply_preset(self) -> "Options":
        # The preset fills only what the config left unset: explicit options win.
        for key, value in PRESETS[self.preset].items():
            if key not in self.model_fields_set:
                object.__setattr__(self, key, value)
        return self


class RequestFields(RequestCacheFields):
    """``"cache": {...}`` in a request body (shared with the exact cache)."""
