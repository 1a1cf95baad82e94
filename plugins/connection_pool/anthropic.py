"""Anthropic's Messages API, translated to and from OpenAI's chat shape (streams included)."""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterator

from clawhost.api import SOURCE_BODY, ModelRequest, streaming

from .openai_compat import StreamState, error_text
from .retry import AttemptFailed

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                "tool_use": "tool_calls", "pause_turn": "stop", "refusal": "content_filter"}


def _text_parts(content: Any) -> list[dict]:
    """OpenAI content (str or parts) -> Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                media, data = url[5:].split(";base64,", 1)
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": media,
                                                           "data": data}})
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
    return blocks


def _tool_result_text(content: Any) -> str | list[dict]:
    return content if isinstance(content, str) else _text_parts(content)


def messages(request: ModelRequest) -> tuple[str | None, list[dict]]:
    """(system prompt, Anthropic messages) from an OpenAI chat or completion request."""
    if request.kind == "completion":
        return None, [{"role": "user", "content": request.body.prompt_text}]
    system: list[str] = []
    out: list[dict] = []

    def add(role: str, blocks: list[dict]) -> None:
        if out and out[-1]["role"] == role:   # Anthropic wants user/assistant turns alternating
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for m in request.body.messages:
        if m.role in ("system", "developer"):
            system.append(m.text())
        elif m.role == "user":
            add("user", _text_parts(m.content))
        elif m.role == "assistant":
            blocks = _text_parts(m.content)
            for call in m.tool_calls or []:
                fn = call.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    args = {"_raw": fn.get("arguments")}
                blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"),
                               "input": args})
            add("assistant", blocks)
        elif m.role in ("tool", "function"):
            add("user", [{"type": "tool_result", "tool_use_id": m.tool_call_id or m.name,
                          "content": _tool_result_text(m.content)}])
    return ("\n\n".join(system) or None), out


def tool_choice(choice: Any, parallel: bool | None) -> dict | None:
    if choice is None and parallel is None:
        return None
    if isinstance(choice, dict):
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        out = {"type": {"required": "any", "none": "none"}.get(choice or "auto", "auto")}
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


class Anthropic:
    kind = "anthropic"

    def __init__(self, opts):
        self.opts = opts

    def auth_headers(self) -> dict[str, str]:
        h = {"anthropic-version": self.opts.anthropic_version}
        if self.opts.api_key:
            h["x-api-key"] = self.opts.api_key.get_secret_value()
        return h

    def url(self, kind: str) -> str:
        base = self.opts.base_url
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def payload(self, request: ModelRequest, upstream_model: str) -> dict[str, Any]:
        if request.kind == "embedding":
            raise AttemptFailed("Anthropic has no embeddings endpoint", status=400,
                                retryable=False, failover=True)
        sent = self.as_sent(request, upstream_model)
        if sent is not None:
            return sent
        b = request.body
        system, msgs = messages(request)
        data: dict[str, Any] = {"model": upstream_model, "messages": msgs,
                                "max_tokens": b.token_limit or self.opts.default_max_tokens}
        if system:
            data["system"] = system
        if b.temperature is not None:
            data["temperature"] = min(b.temperature, 1.0)   # Anthropic's range is 0..1
        if b.top_p is not None:
            data["top_p"] = b.top_p
        if b.top_k is not None:
            data["top_k"] = b.top_k
        if b.stop_list:
            data["stop_sequences"] = b.stop_list
        if b.user:
            data["metadata"] = {"user_id": b.user}
        if request.kind == "chat":
            if b.tools:
                data["tools"] = [{"name": t["function"]["name"],
                                  "description": t["function"].get("description", ""),
                                  "input_schema": t["function"].get("parameters")
                                  or {"type": "object", "properties": {}}}
                                 for t in b.tools if t.get("type", "function") == "function"]
            tc = tool_choice(b.tool_choice, b.parallel_tool_calls) if b.tools else None
            if tc:
                data["tool_choice"] = tc
        if request.stream:
            data["stream"] = True
        return data

    @staticmethod
    def as_sent(request: ModelRequest, upstream_model: str) -> dict[str, Any] | None:
        """The Messages body the client sent to clawhost, when it came in through
        /v1/messages and no plugin replaced the request body since: sent on as is, so what
        the chat shape cannot carry (cache_control, thinking, documents) reaches Anthropic."""
        source = request.notes.get(SOURCE_BODY)
        if source is None or source[0] != "anthropic_messages" or source[2] is not request.body:
            return None
        skip = request.body.extension_fields   # clawhost's own (cache, priority)
        data = {k: v for k, v in source[1].items() if k not in skip and k != "stream"}
        data["model"] = upstream_model
        if request.stream:
            data["stream"] = True
        return data

    @staticmethod
    def _usage(use: dict) -> dict[str, int]:
        prompt = sum(int(use.get(k) or 0) for k in
                     ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
        return streaming.usage(prompt, int(use.get("output_tokens") or 0))

    def reply(self, request: ModelRequest, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise AttemptFailed("upstream answered 200 with a body that is not an Anthropic "
                                "message", status=502, kind="bad_body")
        text, calls = [], []
        for block in data["content"]:
            if block.get("type") == "text":
                text.append(block.get("text", ""))
            elif block.get("type") == "tool_use":
                calls.append({"id": block.get("id"), "type": "function",
                              "function": {"name": block.get("name"),
                                           "arguments": json.dumps(block.get("input") or {})}})
        if not data.get("stop_reason"):
            # a message with no stop reason was cut off: not an answer to pass on or cache
            raise AttemptFailed("upstream answered 200 without a stop_reason (cut off)",
                                status=502, kind="truncated")
        finish = STOP_REASONS.get(data["stop_reason"], "stop")
        use = self._usage(data.get("usage") or {})
        model, cid = data.get("model", ""), data.get("id")
        if request.kind == "completion":
            return streaming.text_completion(model, "".join(text), finish_reason=finish,
                                             usage=use, id=cid)
        return streaming.chat_completion(model, "".join(text) or (None if calls else ""),
                                         finish_reason=finish, usage=use, tool_calls=calls, id=cid)

    @staticmethod
    def usage(body: dict) -> int | None:
        return (body.get("usage") or {}).get("total_tokens")

    async def chunks(self, request: ModelRequest, events: AsyncIterator[str],
                     state: StreamState) -> AsyncIterator[dict]:
        """Anthropic stream events -> OpenAI chunks, one out for each that carries content."""
        completion = request.kind == "completion"
        wants_usage = bool((getattr(request.body, "stream_options", None) or {}).get("include_usage"))
        cid, model, created = streaming.new_id(), "", int(time.time())
        use: dict = {}
        tools: dict[int, int] = {}   # Anthropic content-block index -> OpenAI tool_calls index
        finish = None
        stopped = False

        def chunk(delta: dict, reason: str | None = None) -> dict:
            if completion:
                return streaming.text_chunk(cid, model, created, delta.get("content", ""), reason)
            return streaming.chat_chunk(cid, model, created, delta, reason)

        async for data in events:
            try:
                ev = json.loads(data)
            except ValueError:
                raise AttemptFailed("upstream sent a stream event that is not JSON",
                                    status=502, kind="bad_body") from None
            kind = ev.get("type")
            if kind == "message_start":
                msg = ev.get("message") or {}
                cid, model = msg.get("id") or cid, msg.get("model", "")
                use.update(msg.get("usage") or {})
                if not completion:
                    state.chunks += 1
                    yield chunk({"role": "assistant", "content": ""})
            elif kind == "content_block_start":
                block = ev.get("content_block") or {}
                if block.get("type") == "tool_use" and not completion:
                    i = tools.setdefault(ev.get("index", 0), len(tools))
                    state.chunks += 1
                    yield chunk({"tool_calls": [{"index": i, "id": block.get("id"),
                                                 "type": "function",
                                                 "function": {"name": block.get("name"),
                                                              "arguments": ""}}]})
                elif block.get("type") == "text" and block.get("text"):
                    state.chunks += 1
                    yield chunk({"content": block["text"]})
            elif kind == "content_block_delta":
                delta = ev.get("delta") or {}
                if delta.get("type") == "text_delta":
                    state.chunks += 1
                    yield chunk({"content": delta.get("text", "")})
                elif delta.get("type") == "input_json_delta" and not completion:
                    i = tools.get(ev.get("index", 0), 0)
                    state.chunks += 1
                    yield chunk({"tool_calls": [{"index": i, "function": {
                        "arguments": delta.get("partial_json", "")}}]})
            elif kind == "message_delta":
                use.update(ev.get("usage") or {})
                reason = (ev.get("delta") or {}).get("stop_reason")
                finish = STOP_REASONS.get(reason, "stop") if reason else finish
            elif kind == "message_stop":
                stopped = True
                break
            elif kind == "error":
                msg, _ = error_text(ev)
                raise AttemptFailed(f"upstream error in stream: {msg}", status=502, body=ev)
        if not stopped:
            raise AttemptFailed("upstream stream ended before message_stop", status=502,
                                kind="truncated")
        total = self._usage(use)
        state.usage = total["total_tokens"]
        state.chunks += 1
        last = chunk({}, finish or "stop")
        yield last
        if wants_usage and not completion:
            tail = streaming.chat_chunk(cid, model, created, {})
            tail["choices"], tail["usage"] = [], total
            yield tail
