"""The Responses API's request body (pydantic: it validates and feeds /openapi.json): the
stateless subset of input items, function tools, and the fields clawhost translates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow")  # ids and statuses the SDK echoes back


class InputText(_Item):
    type: Literal["input_text", "output_text"]
    text: str


class InputImage(_Item):
    type: Literal["input_image"]
    image_url: str | None = None
    detail: str | None = None


class MessageItem(_Item):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Annotated[InputText | InputImage, Field(discriminator="type")]] = \
        Field(union_mode="left_to_right")


class FunctionCallItem(_Item):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=256)
    arguments: str = Field(max_length=10_000_000)


class FunctionCallOutputItem(_Item):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=256)
    output: str = Field(max_length=10_000_000)


def _item_type(v: Any) -> str:
    """An input item's kind: a message may leave out ``"type": "message"``."""
    kind = v.get("type", "message") if isinstance(v, dict) else getattr(v, "type", "message")
    return kind if isinstance(kind, str) else None


# discriminated: a bad item gets one error about its kind, not one per kind there is
InputItem = Annotated[Annotated[FunctionCallItem, Tag("function_call")] | Annotated[FunctionCallOutputItem, Tag("function_call_output")] | Annotated[MessageItem, Tag("message")], Discriminator(
    _item_type, custom_error_type="item_type", custom_error_message="type must be message, "
    "function_call or function_call_output (the stateless subset)")]


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(BaseModel):
    type: Literal["function"]
    name: str = Field(min_length=1)


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: dict[str, Any] | None = None


class ResponsesRequest(BaseModel):
    """OpenAI's ``POST /v1/responses`` body (the fields clawhost translates)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=256)
    input: str | list[InputItem] = Field(union_mode="left_to_right")
    instructions: str | None = None
    tools: list[FunctionTool] | None = Field(None, max_length=1000)
    tool_choice: Literal["auto", "none", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=2**31 - 1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = Field(None, max_length=256)
    metadata: dict[str, str] | None = None
    user: str | None = Field(None, max_length=256)
    text: TextFormat | None = None
