"""Anthropic's Messages and count_tokens request bodies (pydantic: they validate and feed
/openapi.json). Only the fields clawhost translates are named; others ride in ``extra``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")  # cache_control, citations: hints we may ignore


class TextBlock(_Block):
    type: Literal["text"]
    text: str = Field(max_length=10_000_000)


class ImageSource(BaseModel):
    type: Literal["base64", "url"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class ImageBlock(_Block):
    type: Literal["image"]
    source: ImageSource


class ToolUseBlock(_Block):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=256)
    input: dict[str, Any]


class ToolResultBlock(_Block):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: str | list[Annotated[TextBlock | ImageBlock, Field(discriminator="type")]] | None = None
    is_error: bool | None = None


# discriminated by "type": a bad block is one error naming its type, not one per block kind
Block = Annotated[TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock,
                  Field(discriminator="type")]


class MessageParam(BaseModel):
    role: Literal["user", "assistant"]
    content: str | list[Block] = Field(union_mode="left_to_right")


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    input_schema: dict[str, Any]


class ToolChoice(BaseModel):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(BaseModel):
    """Extended thinking: the reply's thinking blocks come back from an Anthropic upstream."""

    model_config = ConfigDict(extra="allow")
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(None, ge=1024, le=2**31 - 1)

    @model_validator(mode="after")
    def _budget(self):
        if self.type == "enabled" and self.budget_tokens is None:
            raise ValueError("budget_tokens is required when type is 'enabled'")
        return self


class Metadata(BaseModel):
    user_id: str | None = Field(None, max_length=256)


class MessagesRequest(BaseModel):
    """Anthropic's ``POST /v1/messages`` body (the fields clawhost translates)."""

    model_config = ConfigDict(extra="allow")  # plugins' fields (cache, priority), checked later
    model: str = Field(min_length=1, max_length=256)
    max_tokens: int = Field(ge=1, le=2**31 - 1)
    messages: list[MessageParam] = Field(min_length=1, max_length=100_000)
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = Field(None, max_length=4)
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, le=2**31 - 1)
    stream: bool = False
    tools: list[Tool] | None = Field(None, max_length=1000)
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None
    thinking: Thinking | None = None


class CountTokensRequest(BaseModel):
    """Anthropic's ``POST /v1/messages/count_tokens`` body."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=256)
    messages: list[MessageParam] = Field(min_length=1, max_length=100_000)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
