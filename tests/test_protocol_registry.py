"""The protocol registry: a fourth protocol is a module with an Endpoint, registered, and
served by the unchanged host; /openapi.json describes every registered body."""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic import BaseModel, Field

from clawhost import protocols
from clawhost.protocols import Endpoint, Inbound
from clawhost.protocols.common import model_request
from clawhost.testing import EchoModel


class ShoutBody(BaseModel):
    model: str
    say: str = Field(min_length=1)


class Shout(Endpoint):
    """A toy protocol: ``{"model", "say"}`` in, ``{"shout": ...}`` out."""

    path = "/v1/shout"
    protocol = "shout"
    summary = "Say it louder"
    Body = ShoutBody

    def error_body(self, exc) -> dict[str, Any]:
        return {"oops": exc.message}

    async def to_request(self, body: ShoutBody, call: Inbound):
        return model_request(call, "chat", {"model": body.model,
                                            "messages": [{"role": "user", "content": body.say}]})

    async def reply(self, body, request, reply, call) -> dict[str, Any]:
        return {"shout": reply.body["choices"][0]["message"]["content"].upper()}


async def test_a_fourth_protocol_needs_no_host_change(clawhost_host, clawhost_server):
    protocols.register(Shout())
    try:
        host = await clawhost_host(EchoModel())
        url = await clawhost_server(host)
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/v1/shout", json={"model": "echo", "say": "hi there"}) as r:
                assert r.status == 200 and await r.json() == {"shout": "HI THERE"}
                assert r.headers["x-clawhost-request-id"]
            async with s.post(url + "/v1/shout", json={"model": "echo", "say": ""}) as r:
                assert r.status == 400 and (await r.json())["oops"].startswith("say:")
            async with s.get(url + "/openapi.json") as r:
                doc = await r.json()
        assert doc["paths"]["/v1/shout"]["post"]["tags"] == ["shout"]
        assert "ShoutBody" in doc["components"]["schemas"]
    finally:
        protocols._REGISTRY.pop("/v1/shout", None)


async def test_openapi_describes_the_builtin_protocols(clawhost_host, clawhost_server):
    url = await clawhost_server(await clawhost_host(EchoModel()))
    async with aiohttp.ClientSession() as s, s.get(url + "/openapi.json") as r:
        doc = await r.json()
    for path, schema in (("/v1/messages", "MessagesRequest"),
                         ("/v1/messages/count_tokens", "CountTokensRequest"),
                         ("/v1/responses", "ResponsesRequest"), ("/v1/rerank", "RerankBody")):
        op = doc["paths"][path]["post"]
        assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(schema)
        assert schema in doc["components"]["schemas"]
    assert "text/event-stream" in doc["paths"]["/v1/messages"]["post"]["responses"]["200"]["content"]
    assert "max_tokens" in doc["components"]["schemas"]["MessagesRequest"]["required"]
    assert doc["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"
