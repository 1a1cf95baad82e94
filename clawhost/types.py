"""What flows through the request loop: request bodies, the request, the reply, the model."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, AsyncIterator, ClassVar, Literal, Mapping

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema,
                      create_model, field_validator)

from .contracts import MemoryFacts, engine_of
from .stash import Stash

Kind = Literal["chat", "completion", "embedding", "rerank"]
def _json_int(v: Any) -> Any:
    # JSON Schema's integer includes 2.0; JSON's true is not 1 and "5" is not 5
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


Int = Annotated[int, BeforeValidator(_json_int), Strict(), WithJsonSchema({"type": "integer"})]
# the schema spelled out: with a before-validator pydantic writes "ge", not "minimum"
PositiveInt = Annotated[int, BeforeValidator(_json_int), Strict(), Field(ge=1),
                        WithJsonSchema({"type": "integer", "minimum": 1})]
NonNegativeInt = Annotated[int, BeforeValidator(_json_int), Strict(), Field(ge=0),
                           WithJsonSchema({"type": "integer", "minimum": 0})]
Bool = Annotated[bool, Strict()]  # "yes" is not true


def _array_limits(field: str, min_items: int | None = None, max_items: int | None = None):
    """Say in the JSON Schema what a validator below enforces on a string-or-list field."""
    def patch(schema: dict[str, Any]) -> None:
        for branch in schema.get("properties", {}).get(field, {}).get("anyOf", ()):
            if branch.get("type") == "array":
                if min_items is not None:
                    branch["minItems"] = min_items
                if max_items is not None:
                    branch["maxItems"] = max_items
    return patch


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
    model_config = ConfigDict(json_schema_extra=_array_limits("stop", max_items=4))
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: NonNegativeInt | None = None
    n: Annotated[int, BeforeValidator(_json_int), Strict(), Field(ge=1, le=1),
                 WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 1})] = 1
    stream: Bool = False
    stream_options: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    seed: Int | None = None
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
    model_config = ConfigDict(json_schema_extra=lambda s: (
        _array_limits("stop", max_items=4)(s), _array_limits("prompt", 1, 1)(s)))
    prompt: str | list[str]
    echo: Bool = False
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


# cl100k_base's ids: the ordinary ranks and its five special tokens (the rest are unused)
_TOKEN_ID = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 100255},
                       {"enum": [100257, 100258, 100259, 100260, 100276]}]}


class EmbeddingRequest(_Body):
    model_config = ConfigDict(json_schema_extra=_array_limits("input", 1, 2048))
    # Token ids are decoded to text on the way in (``_strings``), so the field always holds
    # text; the schema still says what a client may send.
    input: str | list[str] = Field(
        description="text, texts, cl100k_base token ids, or lists of them",
        json_schema_extra={"anyOf": [
            {"type": "string"}, {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": _TOKEN_ID},
            {"type": "array", "items": {"type": "array", "minItems": 1, "items": _TOKEN_ID}}]})
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: PositiveInt | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _strings(cls, v):
        # One clear line instead of pydantic's error per union branch.
        if isinstance(v, str) or (isinstance(v, list) and all(isinstance(t, str) for t in v)):
            return v
        # Token ids, as OpenAI accepts them: read as cl100k_base (its embedding models'
        # encoding, which langchain-openai tokenizes with) and decoded to the text they
        # encode, so every model embeds text and cache keys see text either way.
        if isinstance(v, list) and v and all(_is_id(t) for t in v):
            return _decode(v, "")
        if isinstance(v, list) and v and all(isinstance(t, list) for t in v):
            if all(t and all(_is_id(i) for i in t) for t in v):
                return [_decode(t, f"list {n}, ") for n, t in enumerate(v)]
        raise ValueError("must be a string, a list of strings, a list of token ids or a list "
                         "of token-id lists (each non-empty)")

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


def _is_id(value: Any) -> bool:
    # 12.0 is an integer to JSON Schema; true is not
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())


def _decode(ids: list[int], where: str) -> str:
    from .token_ids import TokenIdError, decode  # loads the ranks on the first token ids
    try:
        return decode([int(i) for i in ids], where)
    except TokenIdError as exc:
        raise ValueError(str(exc)) from None


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
    # other names clients may use for it (quantized_model's per-model ``aliases``); the
    # host merges them with config.yaml's top-level ``aliases``
    aliases: tuple[str, ...] = ()

    def serves(self, kind: Kind) -> bool:
        if self.kind == "chat+completion":
            return kind in ("chat", "completion")
        return self.kind == kind

    def card(self) -> dict[str, Any]:
        """The ``/v1/models`` entry: OpenAI's four fields, ours beside them, and what the
        model's memory really allows under ``x_clawhost`` (as llama-server's ``meta``)."""
        card = {"id": self.id, "object": "model", "created": 0, "owned_by": self.owner,
                "kind": self.kind, "context_length": self.context_length,
                "status": self.status, "description": self.description}
        engine = engine_of(self, MemoryFacts)
        if engine is not None:
            card["x_clawhost"] = engine.memory_facts()
        return card

    def alias_card(self, alias: str) -> dict[str, Any]:
        """The ``/v1/models`` entry of an alias: the target's card under the alias's id,
        so clients that only list models (the openai SDK's ``models.list()``) see it."""
        return {**self.card(), "id": alias, "alias_of": self.id}


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
