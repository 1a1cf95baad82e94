"""Fake model providers for tests and benchmarks: real aiohttp servers on loopback.

``FakeUpstream`` speaks OpenAI's API (``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings``) and Anthropic's Messages API (``/v1/messages``), streaming included,
checks the credentials and request shapes a real provider would, and injects faults on demand:

    fake.faults += ["429:2", "500", "reset", "stall_first:1.5", "stall_mid:1.5", "nostream",
                    "garbage_json", "garbage_sse", "cutoff"]

``garbage_json``/``garbage_sse`` answer 200 with a body that is not JSON / a stream whose
first event is not JSON; ``cutoff:N`` closes a stream cleanly after its first N events
(default 1; no finish reason, no ``[DONE]``), or answers a plain request without a finish
reason.

Each request takes the next fault from the queue (none left: it answers normally);
``fail_rate`` fails that share of requests at random with one of ``fault_mix`` (default
429 or 500; benchmarks).

``script`` (OpenAI chat only) decides each answer from the request body: it returns
``{"text": "..."}`` or ``{"tool": NAME, "arguments": {...}}``; without it a request that
offers tools gets a call to the first tool with ``{"city": "Paris"}`` and any other the
fixed words. ``usage`` then estimates tokens as characters / 4 (prompt: messages and tools).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import struct
import time

from aiohttp import web

# where a request's "cutoff" fault is noted for its handler
CUTOFF = web.RequestKey("cutoff", int) if hasattr(web, "RequestKey") else "cutoff"
WORDS = ["Hello", " from", " the", " fake", " upstream", "."]


class FakeUpstream:
    def __init__(self, name: str = "fake", *, key: str | None = None, chunk_delay: float = 0.0,
                 fail_rate: float = 0.0, seed: int = 0, words: list[str] | None = None,
                 fault_mix: list[str] | None = None, script=None):
        self.name, self.key, self.chunk_delay = name, key, chunk_delay
        self.script = script
        self.fail_rate, self.rng = fail_rate, random.Random(seed)
        self.fault_mix = fault_mix or ["429:0", "500"]
        self.injected: dict[str, int] = {}   # fault -> times injected
        self.words = words or WORDS
        self.faults: list[str] = []
        self.requests: list[dict] = []       # every JSON body received
        self.headers: list[dict] = []
        self.times: list[float] = []         # arrival times (monotonic)
        self.connections: set = set()        # distinct client sockets seen (pooling check)
        self.disconnects = 0                 # streams the client went away from
        self.completed_streams = 0
        self.active = 0
        self.peak = 0                        # most streams served at once
        self.runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.openai)
        app.router.add_post("/v1/completions", self.openai)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/messages", self.anthropic)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    # -- faults -------------------------------------------------------------------------
    def _next_fault(self) -> str | None:
        if self.faults:
            fault = self.faults.pop(0)
        elif self.fail_rate and self.rng.random() < self.fail_rate:
            fault = self.rng.choice(self.fault_mix)
        else:
            return None
        self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault

    async def _before(self, request: web.Request, anthropic: bool):
        """Record the call; answer a fault or an auth error, or return (body, stall_mid).

        A ``cutoff`` is noted in ``request["cutoff"]`` for the handler to act on."""
        self.times.append(time.monotonic())
        self.connections.add(request.transport.get_extra_info("peername"))
        self.headers.append(dict(request.headers))
        body = await request.json()
        self.requests.append(body)
        if self.key is not None:
            given = (request.headers.get("x-api-key") if anthropic else
                     request.headers.get("Authorization", "").removeprefix("Bearer "))
            if given != self.key:
                # like OpenAI: the error names the key it was given
                return self._error(401, f"Incorrect API key provided: {given}", anthropic,
                                   "authentication_error"), 0.0
        fault = self._next_fault()
        if fault is None:
            return body, 0.0
        what, _, arg = fault.partition(":")
        if what == "429":
            headers = {"Retry-After": arg} if arg else {}
            return self._error(429, "Rate limit reached", anthropic, "rate_limit_error",
                               headers), 0.0
        if what in ("500", "503", "529", "400"):
            return self._error(int(what), f"fault {what}", anthropic, "api_error"), 0.0
        if what == "reset":
            sock = request.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.transport.close()
            return web.Response(), 0.0
        if what == "stall_first":
            await asyncio.sleep(float(arg or 1))
            return body, 0.0
        if what == "stall_mid":
            return body, float(arg or 1)
        if what == "nostream":      # a server that ignores "stream": true
            return {**body, "stream": False}, 0.0
        if what == "garbage_json":
            return web.Response(text='{"id": "chatcmpl-fake", "choices": [{"ind',
                                content_type="application/json"), 0.0
        if what == "garbage_sse":
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(b'data: {"id": "chatcmpl-fake", "choi\n\n')
            await resp.write_eof()
            return resp, 0.0
        if what == "cutoff":
            request[CUTOFF] = int(arg or 1)
            return body, 0.0
        raise ValueError(f"unknown fault {fault!r}")

    @staticmethod
    def _error(status: int, message: str, anthropic: bool, etype: str, headers=None):
        body = ({"type": "error", "error": {"type": etype, "message": message}} if anthropic
                else {"error": {"message": message, "type": etype, "code": None}})
        return web.json_response(body, status=status, headers=headers)

    # -- OpenAI -------------------------------------------------------------------------
    async def openai(self, request: web.Request) -> web.StreamResponse:
        body, stall = await self._before(request, anthropic=False)
        if isinstance(body, web.StreamResponse):
            return body
        chat = request.path.endswith("/chat/completions")
        model, cid = body.get("model", "?"), "chatcmpl-fake"
        words, use = self.words, None
        if chat and self.script is not None:
            plan = self.script(body)
            call = ({"id": plan.get("id", "call_1"), "type": "function",
                     "function": {"name": plan["tool"],
                                  "arguments": json.dumps(plan.get("arguments") or {})}}
                    if "tool" in plan else None)
            words = [] if call else re.findall(r"\S+\s*", plan.get("text", ""))
            # about 4 characters a token, OpenAI's rule of thumb for English
            prompt = (len(json.dumps(body["messages"])) + len(json.dumps(body.get("tools") or []))) // 4
            done = max(1, (len("".join(words)) + (len(json.dumps(call)) if call else 0)) // 4)
            use = {"prompt_tokens": prompt, "completion_tokens": done,
                   "total_tokens": prompt + done}
        else:
            tools = chat and body.get("tools") and body["messages"][-1].get("role") != "tool"
            call = {"id": "call_1", "type": "function",
                    "function": {"name": (body.get("tools") or [{}])[0].get("function", {}).get("name"),
                                 "arguments": json.dumps({"city": "Paris"})}} if tools else None
        use = use or {"prompt_tokens": 7, "completion_tokens": len(words),
                      "total_tokens": 7 + len(words)}
        if not body.get("stream"):
            text = "".join(words)
            if chat:
                msg = {"role": "assistant", "content": None if call else text}
                if call:
                    msg["tool_calls"] = [call]
                choice = {"index": 0, "message": msg,
                          "finish_reason": "tool_calls" if call else "stop"}
            else:
                choice = {"index": 0, "text": text, "finish_reason": "stop"}
            if request.get(CUTOFF):
                choice["finish_reason"] = None
            return web.json_response({"id": cid, "object": "chat.completion" if chat else
                                      "text_completion", "created": 1, "model": model,
                                      "choices": [choice], "usage": use})

        def chunk(delta=None, finish=None, text=None):
            choice = ({"index": 0, "delta": delta or {}, "finish_reason": finish} if chat else
                      {"index": 0, "text": text or "", "finish_reason": finish})
            return {"id": cid, "object": "chat.completion.chunk" if chat else "text_completion",
                    "created": 1, "model": model, "choices": [choice]}

        events = []
        if chat:
            events.append(chunk({"role": "assistant", "content": ""}))
        if call:
            events.append(chunk({"tool_calls": [{"index": 0, **call,
                                                 "function": {**call["function"], "arguments": ""}}]}))
            events.append(chunk({"tool_calls": [{"index": 0, "function": {
                "arguments": call["function"]["arguments"]}}]}))
        else:
            events += [chunk({"content": w}, text=w) for w in words]
        events.append(chunk({}, "tool_calls" if call else "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({"id": cid, "object": "chat.completion.chunk", "created": 1,
                           "model": model, "choices": [], "usage": use})
        events = [(None, e) for e in events] + [(None, "[DONE]")]
        return await self._sse(request, events[:request.get(CUTOFF) or len(events)], stall)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body, _ = await self._before(request, anthropic=False)
        if isinstance(body, web.StreamResponse):
            return body
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
                for i, t in enumerate(texts)]
        return web.json_response({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})

    # -- Anthropic ----------------------------------------------------------------------
    async def anthropic(self, request: web.Request) -> web.StreamResponse:
        body, stall = await self._before(request, anthropic=True)
        if isinstance(body, web.StreamResponse):
            return body
        problem = self._check_anthropic(request, body)
        if problem:
            return self._error(400, problem, True, "invalid_request_error")
        model = body["model"]
        last = body["messages"][-1]["content"]
        answered = isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)
        tool = body["tools"][0] if body.get("tools") and not answered else None
        usage = {"input_tokens": 11, "output_tokens": len(self.words)}
        if not body.get("stream"):
            content = ([{"type": "tool_use", "id": "toolu_1", "name": tool["name"],
                         "input": {"city": "Paris"}}] if tool else
                       [{"type": "text", "text": "".join(self.words)}])
            return web.json_response({"id": "msg_fake", "type": "message", "role": "assistant",
                                      "model": model, "content": content,
                                      "stop_reason": None if request.get(CUTOFF) else
                                      "tool_use" if tool else "end_turn",
                                      "stop_sequence": None, "usage": usage})
        ev = [("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "usage": {"input_tokens": 11, "output_tokens": 1}}}),
            ("ping", {"type": "ping"})]
        if tool:
            ev.append(("content_block_start", {"type": "content_block_start", "index": 0,
                       "content_block": {"type": "tool_use", "id": "toolu_1",
                                         "name": tool["name"], "input": {}}}))
            for part in ('{"city": ', '"Paris"}'):
                ev.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                           "delta": {"type": "input_json_delta", "partial_json": part}}))
        else:
            ev.append(("content_block_start", {"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}}))
            for w in self.words:
                ev.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": w}}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        ev.append(("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": len(self.words)}}))
        ev.append(("message_stop", {"type": "message_stop"}))
        return await self._sse(request, ev[:request.get(CUTOFF) or len(ev)], stall)

    def _check_anthropic(self, request: web.Request, body: dict) -> str | None:
        if not request.headers.get("anthropic-version"):
            return "anthropic-version header is required"
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        msgs = body.get("messages") or []
        if not msgs or msgs[0]["role"] != "user":
            return "messages: first message must use the user role"
        for a, b in zip(msgs, msgs[1:]):
            if a["role"] == b["role"]:
                return "messages: roles must alternate between user and assistant"
        for m in msgs:
            if m["role"] not in ("user", "assistant"):
                return f"messages: unexpected role {m['role']!r}"
        return None

    # -- streaming ----------------------------------------------------------------------
    async def _sse(self, request: web.Request, events: list, stall: float) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await resp.prepare(request)
            for i, (name, data) in enumerate(events):
                if stall and i == 2:
                    await asyncio.sleep(stall)
                elif self.chunk_delay and i:
                    await asyncio.sleep(self.chunk_delay)
                text = data if isinstance(data, str) else json.dumps(data)
                head = f"event: {name}\n" if name else ""
                await resp.write(f"{head}data: {text}\n\n".encode())
            await resp.write_eof()
            self.completed_streams += 1
        except asyncio.CancelledError:
            self.disconnects += 1
            raise
        except ConnectionResetError:   # the client (clawhost) dropped the stream
            self.disconnects += 1
        finally:
            self.active -= 1
        return resp


def blackhole() -> tuple[socket.socket, list[socket.socket], int]:
    """A listening socket whose accept queue is full: new connections hang in SYN_SENT."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(4):   # fill the backlog; later SYNs are dropped, connects stall
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    return srv, fillers, port
