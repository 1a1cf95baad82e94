"""Load generators over HTTP (aiohttp), shared by ``clawhost bench`` and ``benchmarks/``.

Each takes an open ``aiohttp.ClientSession`` and the host's base URL, and returns plain
numbers; none of them knows which plugins the host runs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from .probe import sentences


STORIES = [f"Write a short story about a {a} who learns to {b}." for a, b in
           (("robot", "paint"), ("cat", "sing"), ("farmer", "fly"), ("child", "code"))]


class LoadError(RuntimeError):
    """A load run could not measure what it was asked to; the message says why, in one line."""


async def embeddings(http: Any, url: str, duration: float, clients: int = 32,
                     model: str = "all-minilm-l6-v2") -> dict:
    """One closed-loop round: ``clients`` concurrent callers, one sentence per request."""
    texts = sentences(256)
    lat: list[float] = []
    errors = 0

    async def client(k: int) -> None:
        nonlocal errors
        i = k
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            async with http.post(f"{url}/v1/embeddings",
                                 json={"model": model, "input": texts[i % len(texts)]}) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
                    continue
            lat.append(time.perf_counter() - t0)
            i += clients
    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    return {"req_per_s": len(lat) / wall, "lat": lat, "errors": errors}


async def embed_latency(http: Any, url: str, model: str, n: int, batch: int = 1) -> list[float]:
    """Seconds per request of ``batch`` sentences, one request at a time (run it on a host
    without caches: the field that bypasses them exists only where the cache plugin runs)."""
    texts = sentences(max(batch, 8))
    took = []
    for i in range(n):
        body = {"model": model, "input": texts[i % len(texts)] if batch == 1 else texts[:batch]}
        t0 = time.perf_counter()
        async with http.post(f"{url}/v1/embeddings", json=body) as r:
            await r.read()
            if r.status != 200:
                raise LoadError(f"embeddings on {model} answered HTTP {r.status}")
        took.append(time.perf_counter() - t0)
    return took


async def one_stream(http: Any, url: str, prompt: str, tokens: int = 64,
                     model: str = "smollm2-135m-instruct", require: bool = True) -> dict:
    """One greedy streamed chat answer: start, first and last token times, pieces received.
    An answer with no text is an error unless ``require`` is false (then ``n`` is 0: a tiny
    or random model may stop at once, and the caller leaves that sample out)."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": tokens, "temperature": 0, "stream": True}
    t0 = time.perf_counter()
    first = last = None
    n = 0
    async with http.post(f"{url}/v1/chat/completions", json=body) as r:
        if r.status != 200:
            raise LoadError(f"a benchmark stream got HTTP {r.status}: {(await r.text())[:200]}")
        async for line in r.content:
            if not line.startswith(b"data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                last = time.perf_counter()
                first = first or last
                n += 1
    if not n and require:
        raise LoadError(f"a benchmark stream on {model} produced no tokens")
    return {"start": t0, "first": first, "end": last, "n": n,
            "ttft": None if first is None else first - t0}


async def streams(http: Any, url: str, prompts: list[str], tokens: int, model: str) -> dict:
    """``len(prompts)`` concurrent streams: aggregate tokens/s over the whole span."""
    many = await asyncio.gather(*(one_stream(http, url, p, tokens, model, False) for p in prompts))
    many = [m for m in many if m["n"]]
    if not many:
        raise LoadError(f"{model} stopped at once on every prompt: no tokens to time")
    span = max(m["end"] for m in many) - min(m["start"] for m in many)
    return {"tok_per_s": sum(m["n"] for m in many) / span, "tokens": sum(m["n"] for m in many),
            "ttfts": [m["ttft"] for m in many]}


async def chat_once(http: Any, url: str, prompt: str, model: str, tokens: int) -> tuple[float, str]:
    """One greedy (cacheable) chat call: seconds taken and the ``x-clawhost-cache`` header."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": tokens, "temperature": 0}
    t0 = time.perf_counter()
    async with http.post(f"{url}/v1/chat/completions", json=body) as r:
        await r.read()
        if r.status != 200:
            raise LoadError(f"chat on {model} answered HTTP {r.status}")
        return time.perf_counter() - t0, r.headers.get("x-clawhost-cache", "none")


async def hits_beside_generation(http: Any, url: str, model: str, duration: float,
                                 tokens: int, clients: int = 8) -> dict:
    """Cache hits served per second by ``clients`` callers while one caller keeps the local
    model generating: what the event loop still does while a model runs."""
    hit_prompt = "Say hello."
    await chat_once(http, url, hit_prompt, model, 4)  # stored: every later ask is a hit
    stop = time.perf_counter() + duration
    lat: list[float] = []
    generated = 0

    async def generator() -> None:
        nonlocal generated
        i = 0
        while time.perf_counter() < stop:
            # a new prompt every time: a cache in the chain must not answer the generations
            s = await one_stream(http, url, f"{STORIES[i % len(STORIES)]} (take {i})", tokens,
                                 model, False)
            generated += s["n"]
            i += 1

    async def caller() -> None:
        while time.perf_counter() < stop:
            took, where = await chat_once(http, url, hit_prompt, model, 4)
            if not where.startswith("hit"):
                raise LoadError(f"expected a cache hit, got {where}")
            lat.append(took)
    t0 = time.perf_counter()
    await asyncio.gather(generator(), *(caller() for _ in range(clients)))
    wall = time.perf_counter() - t0
    return {"hits_per_s": len(lat) / wall, "lat": lat, "generated_tok": generated}
