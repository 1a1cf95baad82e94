"""What flows through the request loop: request bodies, the request, the reply, the model."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, ClassVar, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from .stash import Stash

Kind = Literal["chat", "completion", "embedding", "rerank"]


class _Body(BaseModel):
    # Provider-specific parameters pass through untouched (and count in cache keys).
    model_config = ConfigDict(extra="allow")
    # Body fields that enabled plugins declared (their ``RequestFields``): clawhost's own,
    # never sent upstream and never part of a cache key. Set by ``extend_bodies``.
    extension_fields: ClassVar[frozenset[str]] = frozenset()
    model: str = Field(min_length=1, max_length=256)
    user: str | None = None
    metadata: dict[str, Any] | None = None


class _Generation(_Body):
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    n: int = Field(1, ge=1, le=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, v):
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        # an empty stop string would match before the first token: it means "none"
        if isinstance(v, list):
            return [s for s in v if s] or None
        return v or None

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text, with content parts joined."""
        if isinstance(self.content, list):
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(_Generation):
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


class CompletionRequest(_Generation):
    prompt: str | list[str]
    echo: bool = False
    suffix: str | None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v):
        if isinstance(v, list) and len(v) != 1:
            raise ValueError("exactly one prompt per request")
        return v

    @property
    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class EmbeddingRequest(_Body):
    input: str | list[str] = Field()
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)

    @field_validator("input", mode="before")
    @classmethod
    def _strings(cls, v):
        # One clear line instead of pydantic's error per union branch. Token-id arrays (which
        # OpenAI accepts) are refused: ids from one tokenizer mean nothing to another model.
        if isinstance(v, str) or (isinstance(v, list) and all(isinstance(t, str) for t in v)):
            return v
        raise ValueError("must be a string or a list of strings (token-id arrays are not supported)")

    @field_validator("input")
    @classmethod
    def _nonempty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("input must not be empty")
        if isinstance(v, list) and len(v) > 2048:
            raise ValueError("at most 2048 inputs per request")
        return v

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)

    @property
    def stream(self) -> bool:
        return False


class RerankRequest(_Body):
    """A query scored against documents by a cross-encoder (kind ``rerank``).

    Only what changes the scores: ``top_n`` and ``return_documents`` shape the HTTP answer
    (clawhost.protocols.rerank), so asking for the top 3 or all of them hits one cache entry."""
    query: str = Field(min_length=1, max_length=32_768)
    documents: list[str] = Field(min_length=1, max_length=1000)

    @field_validator("documents")
    @classmethod
    def _sizes(cls, v):
        if any(len(d) > 32_768 for d in v):
            raise ValueError("each document must be at most 32768 characters")
        return v

    @property
    def stream(self) -> bool:
        return False


BODY_MODELS: dict[str, type[_Body]] = {
    "chat": ChatRequest, "completion": CompletionRequest, "embedding": EmbeddingRequest,
    "rerank": RerankRequest,
}


def extend_bodies(extensions: list[type[BaseModel]]) -> dict[str, type[_Body]]:
    """``BODY_MODELS`` with the fields of plugins' ``RequestFields`` models added."""
    fields: dict[str, Any] = {}
    for ext in extensions:
        for name, info in ext.model_fields.items():
            fields[name] = (info.annotation, info)
    if not fields:
        return dict(BODY_MODELS)
    return {kind: create_model(base.__name__, __base__=base, __module__=base.__module__,
                               extension_fields=(ClassVar[frozenset[str]], frozenset(fields)),
                               **fields)
            for kind, base in BODY_MODELS.items()}


@dataclass
class Model:
    """A model the host can serve, registered by the plugin that serves it."""

    id: str
    kind: Kind | Literal["chat+completion"]
    owner: str
    context_length: int | None = None
    description: str = ""
    engine: Any = None  # the owning plugin's handle; the host never touches it
    status: str = "ready"
    meta: dict[str, Any] = field(default_factory=dict)

    def serves(self, kind: Kind) -> bool:
        if self.kind == "chat+completion":
            return kind in ("chat", "completion")
        return self.kind == kind

    def card(self) -> dict[str, Any]:
        """The ``/v1/models`` entry."""
        return {"id": self.id, "object": "model", "created": 0, "owned_by": self.owner,
                "kind": self.kind, "context_length": self.context_length,
                "status": self.status, "description": self.description}


_ids = itertools.count(1)


@dataclass(eq=False)
class ModelRequest:
    """One model call on its way through the loop; plugins may leave notes on it."""

    kind: Kind
    body: ChatRequest | CompletionRequest | EmbeddingRequest | RerankRequest
    tenant: str = "default"
    headers: Mapping[str, str] = field(default_factory=dict)  # the client's, case-insensitive over HTTP
    model: Model | None = None
    id: str = field(default_factory=lambda: f"req-{next(_ids)}")
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    notes: Stash = field(default_factory=Stash)  # typed keys: clawhost.api.StashKey
    response_headers: dict[str, str] = field(default_factory=dict)  # any stage may add
    disconnected: Any = None  # an asyncio.Event set when the client goes away
    host: Any = None  # the Host handling it, so module plugins reach their state

    @property
    def stream(self) -> bool:
        return bool(getattr(self.body, "stream", False))


@dataclass(eq=False)
class Reply:
    """A response body (OpenAI's shape), or a stream of chunks, plus response headers.

    ``source`` says who answered: a cache layer ("l1", "l2", "semantic"), "model" or "upstream".
    """

    body: dict[str, Any] | None = None
    stream: AsyncIterator[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    source: str = "model"
    status: int = 200
    cached: bool = False  # set by the host on a reply a lookup plugin gave: never stored again
