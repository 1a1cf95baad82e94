"""The batcher's options (``plugins: batcher:``), its state key, notes and body field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from clawhost.api import StashKey

if TYPE_CHECKING:
    from .hub import Hub

NAME = "batcher"
STATE: StashKey["Hub"] = StashKey(NAME)  # the host's Hub
# set on a request the batcher hands to the model plugin itself: its own infer steps aside
BYPASS: StashKey[bool] = StashKey("batcher_bypass")
Level = Literal["interactive", "background"]


class ModelOverride(BaseModel):
    """Per-model settings (keys of ``per_model`` are model ids or ``fnmatch`` patterns)."""

    model_config = ConfigDict(extra="forbid")
    max_batch_size: int | None = Field(None, ge=1, le=2048)
    max_wait_ms: float | None = Field(None, ge=0, le=60_000)
    max_slots: int | None = Field(None, ge=1, le=256)
    max_queue: int | None = Field(None, ge=1)
    queue_timeout_ms: float | None = Field(None, gt=0)
    priority: Level | None = None
    batch_timeout_s: float | None = Field(None, gt=0)
    stream_idle_s: float | None = Field(None, gt=0)
    shed: bool | None = None


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Which models: explicit ids/patterns, or (when None) every model of `kinds` owned by one
    # of `owners`. Remote (connection_pool) models are left alone unless named in `models`.
    models: list[str] | None = None
    owners: list[str] = ["quantized_model"]
    kinds: list[Literal["embedding", "chat"]] = ["embedding", "chat"]
    max_batch_size: int = Field(32, ge=1, le=2048, description="embeddings: texts per model call")
    max_wait_ms: float = Field(5.0, ge=0, le=60_000, description="embeddings: flush timer")
    max_slots: int = Field(4, ge=1, le=256, description="generation: sequences decoding together")
    max_queue: int = Field(64, ge=1, description="waiting requests per model before 429")
    queue_timeout_ms: float = Field(5000.0, gt=0, description="longest wait in the queue before 503")
    priority: Level = "interactive"
    batch_timeout_s: float = Field(60.0, gt=0, description="guard on one model call (a step: "
                                   "a prefill chunk plus a decode step); a reader that sees no "
                                   "step finish for this + 1 s gets 503")
    stream_idle_s: float = Field(60.0, gt=0, description="drop a stream whose output nobody "
                                 "reads for this long (a prefill outputs nothing: never idle)")
    shed: bool = Field(True, description="answer 429 at once when the requests ahead would not "
                       "drain within queue_timeout_ms (instead of a 503 after waiting it out)")
    per_model: dict[str, ModelOverride] = Field(default_factory=dict)


class RequestFields(BaseModel):
    """``"priority"`` in a request body: which queue level it waits in."""

    priority: Level | None = None
