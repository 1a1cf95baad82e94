"""``POST /v1/rerank`` in the shape Cohere and Jina use, served by a ``rerank`` model.

The body becomes the host's ``RerankRequest`` (query and document texts only) and goes
through ``Host.handle`` like any request: the exact cache keeps scores (they are
deterministic), and ``top_n`` / ``return_documents`` are applied to the reply afterwards,
so "the best 3" and "all, with documents" of one query share an entry. quantized_model
scores all documents of a request in one engine call on the model's worker.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ClawhostError
from ..types import ModelRequest, Reply
from . import Endpoint, Inbound, register
from .common import extension_fields, model_request

NAME = "rerank"


class Document(BaseModel):
    model_config = ConfigDict(extra="allow")  # Cohere lets documents carry other fields
    text: str


class RerankBody(BaseModel):
    """Cohere's / Jina's rerank body."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=256)
    query: str = Field(min_length=1, max_length=32_768)
    documents: list[str | Document] = Field(min_length=1, max_length=1000)
    top_n: int | None = Field(None, ge=1, le=2**31 - 1)
    return_documents: bool = False

    @field_validator("documents")
    @classmethod
    def _texts(cls, v):
        if any(len(d if isinstance(d, str) else d.text) > 32_768 for d in v):
            raise ValueError("each document must be at most 32768 characters")
        return v

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


def error_body(exc: ClawhostError) -> dict[str, Any]:
    # Cohere answers {"message": ...}; the type and code help clients that read OpenAI's
    return {"message": exc.message, "type": exc.type, "code": exc.code}


class Rerank(Endpoint):
    path = "/v1/rerank"
    protocol = NAME
    summary = "Rerank documents against a query (Cohere/Jina shape; kind rerank models)"
    Body = RerankBody

    def error_body(self, exc: ClawhostError) -> dict[str, Any]:
        return error_body(exc)

    async def to_request(self, body: RerankBody, call: Inbound) -> ModelRequest:
        data = {"model": body.model, "query": body.query, "documents": body.texts(),
                **extension_fields(call, body.model_extra, frozenset({"rank_fields",
                                                                      "max_chunks_per_doc"}))}
        return model_request(call, "rerank", data)

    async def reply(self, body: RerankBody, request: ModelRequest, reply: Reply,
                    call: Inbound) -> dict[str, Any]:
        results = reply.body.get("results") or []
        if body.top_n is not None:
            results = results[:body.top_n]
        if body.return_documents:
            docs = body.documents
            results = [{**r, "document": {"text": body.texts()[r["index"]]}
                        if isinstance(docs[r["index"]], str) else docs[r["index"]].model_dump()}
                       for r in results]
        out = {"id": request.id, "model": body.model, "results": results,
               "meta": {"billed_units": {"search_units": 1}}}
        if reply.body.get("usage"):
            out["usage"] = reply.body["usage"]
        return out


register(Rerank())
