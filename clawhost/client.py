"""A small client for skills: ``Client`` (stdlib only) and ``AsyncClient`` (aiohttp).

Both read ``CLAWHOST_URL`` (default http://127.0.0.1:8787) and ``CLAWHOST_TOKEN``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, AsyncIterator, Iterator

DEFAULT_URL = "http://127.0.0.1:8787"


class ClientError(RuntimeError):
    """The host answered with an error, or could not be reached; ``status`` is 0 then."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def _error_from(status: int, raw: bytes) -> ClientError:
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = raw.decode("utf-8", "replace")[:200] or f"HTTP {status}"
    return ClientError(f"HTTP {status}: {message}", status)


class _Base:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 600):
        self.url = (url or os.environ.get("CLAWHOST_URL") or DEFAULT_URL).rstrip("/")
        if not self.url.startswith(("http://", "https://")):  # at once, not at the first call
            raise ClientError(f"clawhost URL must start with http:// or https://, got {self.url!r}"
                              " (the url argument or $CLAWHOST_URL)")
        self.token = token if token is not None else os.environ.get("CLAWHOST_TOKEN")
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    @staticmethod
    def _chat_body(messages, model, stream, kw) -> dict[str, Any]:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return {"model": model, "messages": messages, "stream": stream, **kw}

    @staticmethod
    def _pick(models: list[dict], kind: str) -> str:
        for m in models:
            serves = m.get("kind") == kind or (m.get("kind") == "chat+completion"
                                               and kind in ("chat", "completion"))
            if serves and m.get("status", "ready") == "ready":
                return m["id"]
        raise ClientError(f"no {kind} model is available on the host")


class Client(_Base):
    """Synchronous client; needs nothing beyond the standard library."""

    def _open(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=self._headers())
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise _error_from(exc.code, exc.read()) from None
        except OSError as exc:
            raise ClientError(f"cannot reach clawhost at {self.url}: {exc}") from None

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        with self._open(method, path, body) as resp:
            return json.loads(resp.read())

    def models(self) -> list[dict]:
        return self.request("GET", "/v1/models")["data"]

    def default_model(self, kind: str = "chat") -> str:
        return self._pick(self.models(), kind)

    def chat_completion(self, messages, model: str | None = None, **kw) -> dict:
        """The whole OpenAI response body."""
        body = self._chat_body(messages, model or self.default_model("chat"), False, kw)
        return self.request("POST", "/v1/chat/completions", body)

    def chat(self, messages, model: str | None = None, **kw) -> str:
        """The assistant's text for a prompt string or a list of messages."""
        return self.chat_completion(messages, model, **kw)["choices"][0]["message"]["content"] or ""

    def chat_stream(self, messages, model: str | None = None, **kw) -> Iterator[str]:
        body = self._chat_body(messages, model or self.default_model("chat"), True, kw)
        with self._open("POST", "/v1/chat/completions", body) as resp:
            for line in resp:
                yield from _delta(line)

    def embed(self, texts: str | list[str], model: str | None = None) -> list[list[float]]:
        body = {"model": model or self.default_model("embedding"), "input": texts}
        return [d["embedding"] for d in self.request("POST", "/v1/embeddings", body)["data"]]

    def health(self) -> dict:
        return self.request("GET", "/readyz")


def _delta(line: bytes | str) -> Iterator[str]:
    line = line.decode() if isinstance(line, bytes) else line
    line = line.strip()
    if not line.startswith("data:") or line == "data: [DONE]":
        return
    chunk = json.loads(line[5:])
    if "error" in chunk:
        raise ClientError(chunk["error"].get("message", "stream failed"))
    for choice in chunk.get("choices") or []:
        text = (choice.get("delta") or {}).get("content") or choice.get("text")
        if text:
            yield text


class AsyncClient(_Base):
    """asyncio client on aiohttp; use ``async with AsyncClient() as c``."""

    async def __aenter__(self):
        import aiohttp
        self._session = aiohttp.ClientSession(headers=self._headers(),
                                              timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self

    async def __aexit__(self, *exc):
        await self._session.close()

    async def request(self, method: str, path: str, body: dict | None = None) -> Any:
        import aiohttp
        try:
            async with self._session.request(method, self.url + path, json=body) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise _error_from(resp.status, raw)
                return json.loads(raw)
        except aiohttp.ClientError as exc:
            raise ClientError(f"cannot reach clawhost at {self.url}: {exc}") from None

    async def models(self) -> list[dict]:
        return (await self.request("GET", "/v1/models"))["data"]

    async def chat(self, messages, model: str | None = None, **kw) -> str:
        model = model or self._pick(await self.models(), "chat")
        body = await self.request("POST", "/v1/chat/completions",
                                  self._chat_body(messages, model, False, kw))
        return body["choices"][0]["message"]["content"] or ""

    async def chat_stream(self, messages, model: str | None = None, **kw) -> AsyncIterator[str]:
        model = model or self._pick(await self.models(), "chat")
        async with self._session.post(self.url + "/v1/chat/completions",
                                      json=self._chat_body(messages, model, True, kw)) as resp:
            if resp.status >= 400:
                raise _error_from(resp.status, await resp.read())
            async for line in resp.content:
                for piece in _delta(line):
                    yield piece

    async def embed(self, texts: str | list[str], model: str | None = None) -> list[list[float]]:
        model = model or self._pick(await self.models(), "embedding")
        body = await self.request("POST", "/v1/embeddings", {"model": model, "input": texts})
        return [d["embedding"] for d in body["data"]]
