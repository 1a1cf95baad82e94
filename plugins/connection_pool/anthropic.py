"""Anthropic's Messages API, translated to and from OpenAI's chat shape (streams included).

A chat reply also keeps Anthropic's own message (``streaming.NATIVE``): thinking blocks,
cache usage, stop_sequence, whatever the chat shape cannot carry. The caches store it with
the chat body, and ``/v1/messages`` answers with it instead of translating back. A stream
for a request that came in through ``/v1/messages`` relays Anthropic's events as they came
(on the chunks, beside their chat translation), and every chat stream ends with the message
they added up to, for the caches.
"""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterator

from clawhost.api import SOURCE_BODY, ModelRequest, streaming

from .openai_compat import StreamState, error_text
from .retry import AttemptFailed

PROTOCOL = "anthropic_messages"  # the inbound protocol whose replies are Anthropic's own
NATIVE = streaming.NATIVE
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
        thinking = (b.model_extra or {}).get("thinking")  # Anthropic's own, as its OpenAI API takes it
        if isinstance(thinking, dict):
            data["thinking"] = thinking
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
        if source is None or source[0] != PROTOCOL or source[2] is not request.body:
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
        body = streaming.chat_completion(model, "".join(text) or (None if calls else ""),
                                         finish_reason=finish, usage=use, tool_calls=calls, id=cid)
        body[NATIVE] = {"protocol": PROTOCOL, "message": data}
        return body

    @staticmethod
    def usage(body: dict) -> int | None:
        return (body.get("usage") or {}).get("total_tokens")

    @staticmethod
    def relays(request: ModelRequest) -> bool:
        """Whether the client speaks Anthropic's protocol itself (came in through
        /v1/messages): then a stream's events go on to it as they came."""
        source = request.notes.get(SOURCE_BODY)
        return source is not None and source[0] == PROTOCOL

    async def chunks(self, request: ModelRequest, events: AsyncIterator[str],
                     state: StreamState) -> AsyncIterator[dict]:
        """Anthropic stream events -> OpenAI chunks, one out for each that carries content
        (and, relaying, one for every other event too, with no choices)."""
        completion = request.kind == "completion"
        wants_usage = bool((getattr(request.body, "stream_options", None) or {}).get("include_usage"))
        relay = not completion and self.relays(request)
        cid, model, created = streaming.new_id(), "", int(time.time())
        use: dict = {}
        tools: dict[int, int] = {}   # Anthropic content-block index -> OpenAI tool_calls index
        finish = None
        stopped = False
        native = None if completion else Accumulated()

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
            if not isinstance(ev, dict):
                raise AttemptFailed("upstream sent a stream event that is not an object",
                                    status=502, kind="bad_body")
            kind = ev.get("type")
            out = None
            if native is not None:
                native.add(ev)
            if kind == "message_start":
                msg = ev.get("message") or {}
                cid, model = msg.get("id") or cid, msg.get("model", "")
                use.update(msg.get("usage") or {})
                if not completion:
                    out = chunk({"role": "assistant", "content": ""})
            elif kind == "content_block_start":
                block = ev.get("content_block") or {}
                if block.get("type") == "tool_use" and not completion:
                    i = tools.setdefault(ev.get("index", 0), len(tools))
                    out = chunk({"tool_calls": [{"index": i, "id": block.get("id"),
                                                 "type": "function",
                                                 "function": {"name": block.get("name"),
                                                              "arguments": ""}}]})
                elif block.get("type") == "text" and block.get("text"):
                    out = chunk({"content": block["text"]})
            elif kind == "content_block_delta":
                delta = ev.get("delta") or {}
                if delta.get("type") == "text_delta":
                    out = chunk({"content": delta.get("text", "")})
                elif delta.get("type") == "input_json_delta" and not completion:
                    i = tools.get(ev.get("index", 0), 0)
                    out = chunk({"tool_calls": [{"index": i, "function": {
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
            if out is not None:
                state.chunks += 1
            elif relay:  # an event with nothing for a chat client: relayed alone
                out = {"id": cid, "object": "chat.completion.chunk", "created": created,
                       "model": model, "choices": []}
            if out is not None:
                if relay:
                    out[NATIVE] = {"protocol": PROTOCOL, "events": [ev]}
                yield out
        if not stopped:
            raise AttemptFailed("upstream stream ended before message_stop", status=502,
                                kind="truncated")
        total = self._usage(use)
        state.usage = total["total_tokens"]
        state.chunks += 1
        last = chunk({}, finish or "stop")
        if native is not None:  # what the events added up to, for the caches
            last[NATIVE] = {"protocol": PROTOCOL, "message": native.message}
            if relay:
                last[NATIVE]["events"] = [{"type": "message_stop"}]
        yield last
        if wants_usage and not completion:
            tail = streaming.chat_chunk(cid, model, created, {})
            tail["choices"], tail["usage"] = [], total
            yield tail


class Accumulated:
    """Anthropic's message as its stream events build it (what the SDK's
    ``get_final_message`` does): thinking with its signature, tool input, cache usage."""

    def __init__(self):
        self.message: dict[str, Any] = {"type": "message", "role": "assistant", "content": []}
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}   # a tool_use block's input, as it arrives

    def add(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "message_start" and isinstance(ev.get("message"), dict):
            self.message = {**ev["message"], "content": [],
                            "usage": dict(ev["message"].get("usage") or {})}
            self._blocks = {}
        elif kind == "content_block_start" and isinstance(ev.get("content_block"), dict):
            block = dict(ev["content_block"])
            i = ev.get("index", len(self._blocks))
            if block.get("type") in ("tool_use", "server_tool_use"):
                self._json[i] = []
            self._blocks[i] = block
            self.message["content"].append(block)
        elif kind == "content_block_delta":
            block = self._blocks.get(ev.get("index", -1))
            delta = ev.get("delta") or {}
            if block is None or not isinstance(delta, dict):
                return
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + (delta.get("text") or "")
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + (delta.get("thinking") or "")
            elif dtype == "signature_delta":
                block["signature"] = delta.get("signature")
            elif dtype == "input_json_delta" and ev.get("index") in self._json:
                self._json[ev["index"]].append(delta.get("partial_json") or "")
            elif dtype == "citations_delta" and "citation" in delta:
                block["citations"] = [*(block.get("citations") or []), delta["citation"]]
        elif kind == "content_block_stop" and ev.get("index") in self._json:
            text = "".join(self._json.pop(ev["index"]))
            try:
                self._blocks[ev["index"]]["input"] = json.loads(text) if text else {}
            except ValueError:
                self._blocks[ev["index"]]["input"] = {"_raw": text}
        elif kind == "message_delta":
            delta = ev.get("delta") or {}
            for name in ("stop_reason", "stop_sequence"):
                if name in delta:
                    self.message[name] = delta[name]
            self.message["usage"] = {**self.message.get("usage", {}), **(ev.get("usage") or {})}
