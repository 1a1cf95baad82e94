"""connection_pool hardening (issue 22): cut-off answers, slot accounting, the failure-rate
breaker and the last resort, against real fake providers on loopback."""

from __future__ import annotations

import asyncio
import gc
import json

import aiohttp
import pytest

from clawhost.plugins.connection_pool import STATE
from clawhost.plugins.connection_pool.breaker import Breaker
from clawhost.plugins.connection_pool.options import Cooldown
from test_connection_pool import MSGS, make_host, post, provider, upstreams  # noqa: F401

BODY = {"model": "a/m1", "messages": MSGS, "temperature": 0}
FULL = "Hello from the fake upstream."
CACHE = {"cache": {}}
QUIET = {"failures": 1000, "seconds": 0.5, "jitter": 0}   # a breaker that stays out of the way


async def stream(url: str, body: dict) -> tuple[int, dict, list]:
    """(status, headers, SSE data items) of a streamed chat call, errors included."""
    out: list = []
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json={**body, "stream": True}) as r:
            async for line in r.content:
                if line.startswith(b"data: "):
                    data = line[6:].strip().decode()
                    out.append(data if data == "[DONE]" else json.loads(data))
            return r.status, dict(r.headers), out


def text_of(events: list) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events
                   if isinstance(e, dict) and e.get("choices"))


# -- 1. cut-off answers ----------------------------------------------------------------------
async def test_stream_cut_off_after_content_is_an_in_band_error_and_never_stored(
        upstreams, make_host):
    up = await upstreams()
    host, url, _, rec = await make_host({"a": provider(up.url)}, before=CACHE)
    up.faults += ["cutoff:3"]         # role, "Hello", " from", then a clean close
    status, _, events = await stream(url, BODY)
    assert status == 200 and "[DONE]" not in events
    err = events[-1]["error"]
    assert "without a finish reason" in err["message"] and "not retried" in err["message"]
    assert text_of(events) == "Hello from"
    assert isinstance(rec.finished[-1][2], Exception)
    # not stored: the same request goes upstream again and gets the whole answer
    status, headers, events = await stream(url, BODY)
    assert headers["x-clawhost-cache"] == "miss" and events[-1] == "[DONE]"
    assert text_of(events) == FULL and len(up.requests) == 2
    status, body, headers = await post(url, BODY)
    assert headers["x-clawhost-cache"] == "hit-l1"
    assert body["choices"][0]["message"]["content"] == FULL


async def test_stream_cut_off_before_content_is_retried_transparently(upstreams, make_host):
    up = await upstreams()
    host, url, _, rec = await make_host({"a": provider(up.url)}, before=CACHE)
    up.faults += ["cutoff"]           # the role chunk only: nothing the client needed yet
    status, headers, events = await stream(url, BODY)
    assert status == 200 and events[-1] == "[DONE]" and text_of(events) == FULL
    assert len(up.requests) == 2 and rec.finished[-1][1]["retries"] == 1
    assert host.state[STATE].figures()["errors_total"]["a"] == 1
    _, headers, events = await stream(url, BODY)
    assert headers["x-clawhost-cache"] == "hit-l1" and text_of(events) == FULL


async def test_stream_cut_off_fails_over_before_the_first_byte(upstreams, make_host):
    a, b = await upstreams(), await upstreams()
    _, url, _, _ = await make_host({"a": provider(a.url, retries=0), "b": provider(b.url)},
                                   fallbacks={"a/m1": ["b/m1"]})
    a.faults += ["cutoff", "garbage_sse"]
    for _ in range(2):
        status, headers, events = await stream(url, BODY)
        assert status == 200 and headers["x-clawhost-fallback"] == "b/m1"
        assert events[-1] == "[DONE]" and text_of(events) == FULL


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_plain_reply_without_finish_reason_or_not_json_is_a_failure(
        upstreams, make_host, kind):
    up = await upstreams()
    host, url, _, rec = await make_host({"a": provider(up.url, kind=kind, cooldown=QUIET)},
                                        before=CACHE)
    up.faults += ["cutoff", "garbage_json"]
    status, body, _ = await post(url, BODY)
    assert status == 200 and body["choices"][0]["message"]["content"] == FULL
    assert body["choices"][0]["finish_reason"] == "stop" and len(up.requests) == 3
    up.faults += ["cutoff"] * 3
    status, body, _ = await post(url, {**BODY, "messages": MSGS + [
        {"role": "assistant", "content": "ok"}, {"role": "user", "content": "again"}]})
    assert status == 502 and "cut off" in body["error"]["message"]
    assert len(body["error"]["message"].splitlines()) == 1


async def test_anthropic_stream_cut_off_is_retried_or_reported(upstreams, make_host):
    up = await upstreams()
    _, url, _, _ = await make_host({"a": provider(up.url, kind="anthropic")}, before=CACHE)
    up.faults += ["cutoff"]           # message_start only
    status, _, events = await stream(url, BODY)
    assert events[-1] == "[DONE]" and text_of(events) == FULL and len(up.requests) == 2
    body = {**BODY, "messages": [{"role": "user", "content": "other"}]}
    up.faults += ["cutoff:5"]         # some text, then a clean close before message_stop
    status, _, events = await stream(url, body)
    assert "[DONE]" not in events and "message_stop" in events[-1]["error"]["message"]
    _, headers, _ = await stream(url, body)
    assert headers["x-clawhost-cache"] == "miss"


def test_preamble_chunks_are_the_ones_that_say_nothing():
    from clawhost.plugins.connection_pool.openai_compat import is_preamble

    def chunk(delta=None, finish=None, **kw):
        return {"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **kw}
    assert is_preamble(chunk({"role": "assistant", "content": ""}))
    assert is_preamble({"choices": [], "prompt_filter_results": []})     # Azure's first
    assert not is_preamble(chunk({"content": "Hi"}))
    assert not is_preamble(chunk({"tool_calls": [{"index": 0}]}))
    assert not is_preamble(chunk({}, "stop"))
    assert not is_preamble({"choices": [], "usage": {"total_tokens": 3}})
    assert not is_preamble({"choices": [{"index": 0, "text": "x", "finish_reason": None}]})


# -- 2. one release per slot -----------------------------------------------------------------
FAULTS = ["500", "503", "reset", "stall_first:1", "garbage_json", "garbage_sse", "cutoff",
          "cutoff:3"]


async def test_inflight_returns_to_zero_after_every_failure_and_never_goes_negative(
        upstreams, make_host):
    up = await upstreams(chunk_delay=0.02, words=["w"] * 20)
    host, url, _, rec = await make_host(
        {"a": provider(up.url, retries=0, max_concurrency=2, cooldown=QUIET)})
    limiter = host.state[STATE].providers["a"].limiter
    low = [0, 0]                      # lowest inflight seen, most free semaphore slots seen
    high = [0]                        # most calls in flight seen

    async def watch():
        while True:
            low[0] = min(low[0], limiter.inflight)
            low[1] = max(low[1], limiter.slots._value)
            high[0] = max(high[0], limiter.inflight)
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    try:
        for _ in range(2):
            for fault in FAULTS:
                for streamed in (False, True):
                    up.faults.append(fault)
                    if streamed:
                        await stream(url, BODY)
                    else:
                        await post(url, BODY)
                    # once the failed attempt is garbage (the recorder keeps errors, and
                    # their tracebacks the attempt), nothing may free its slot again
                    rec.finished.clear()
                    gc.collect()
                    assert limiter.inflight == 0, (fault, streamed)
        for _ in range(3):            # the client goes away mid-stream
            async with aiohttp.ClientSession() as s:
                r = await s.post(url + "/v1/chat/completions", json={**BODY, "stream": True})
                await r.content.readline()
                r.close()
            for _ in range(50):
                if limiter.inflight == 0:
                    break
                await asyncio.sleep(0.02)
            assert limiter.inflight == 0
        gc.collect()                  # collected StreamCalls must not free a slot again
        await asyncio.sleep(0.05)
        assert limiter.inflight == 0 and limiter.slots._value == 2
        assert low == [0, 2]
        # and the cap still holds: 8 slow streams at once, at most 2 in flight
        high[0] = 0
        await asyncio.gather(*(stream(url, BODY) for _ in range(8)))
        assert high[0] == 2 and low == [0, 2] and limiter.inflight == 0
    finally:
        watcher.cancel()


# -- 7. the breaker reacts to a failure rate; the last route is tried anyway ------------------
class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_breaker_opens_on_a_failure_rate_not_on_a_burst():
    clock = Clock()
    b = Breaker(Cooldown(failures=5, failure_rate=0.5, window=10, seconds=10, jitter=0),
                clock=clock)
    for _ in range(20):
        b.success()
    for _ in range(8):                # a burst of concurrent failures: 8 of 28
        b.failure()
    assert not b.cooling and b.failures == 8
    for _ in range(12):               # 20 of 40: half
        b.failure()
    assert b.cooling and b.remaining() == 10
    clock.t += 10.01
    assert b.allow() and not b.allow()    # one probe
    b.success()
    assert not b.cooling and b.failures == 0
    # fast failures while many calls are still in flight are no majority yet
    b = Breaker(Cooldown(failures=5, min_calls=5, seconds=10, jitter=0), clock=clock)
    for _ in range(6):
        b.failure(pending=20)
    assert not b.cooling
    b.failure(pending=0)
    assert b.cooling


def test_breaker_window_forgets_and_late_calls_do_not_flip_it():
    clock = Clock()
    b = Breaker(Cooldown(failures=3, min_calls=3, failure_rate=0.5, window=5, seconds=10,
                         jitter=0),
                clock=clock)
    b.failure()
    b.failure()
    clock.t += 6                      # those two left the window
    b.failure()
    assert not b.cooling and b.failures == 1
    b.failure()
    b.failure()
    assert b.cooling
    before = clock.t - 1              # a call that began before the breaker opened
    b.success(started=before)
    assert b.cooling                  # ... does not close it
    assert b.allow(force=True)        # a request's last resort may go anyway
    b.failure(started=clock.t)        # ... and its failure does not extend the cooldown
    assert b.remaining() == 10
    b.success(started=clock.t)        # its success closes the breaker
    assert not b.cooling
    b.failure(retry_after=30)         # the provider's own pause is honoured even then
    assert b.held and not b.allow(force=True)


async def test_last_resort_tries_cooling_providers_once_before_503(upstreams, make_host):
    a, b = await upstreams(), await upstreams()
    host, url, _, rec = await make_host({"a": provider(a.url), "b": provider(b.url)},
                                        fallbacks={"a/m1": ["b/m1"]})
    pool = host.state[STATE]
    for p in pool.providers.values():
        p.breaker.trip()
    assert pool.figures()["cooldown"] == {"a": 1, "b": 1}
    status, body, headers = await post(url, BODY)
    assert status == 200 and "x-clawhost-fallback" not in headers
    assert len(a.requests) == 1 and not b.requests
    assert pool.figures()["cooldown"] == {"a": 0, "b": 1}    # its success closed a's breaker
    pool.providers["a"].breaker.trip()
    a.faults += ["500"] * 3
    status, body, headers = await post(url, BODY)            # a fails once (no retries), b
    assert status == 200 and headers["x-clawhost-fallback"] == "b/m1"
    assert len(a.requests) == 2 and len(b.requests) == 1


async def test_thirty_percent_faults_under_concurrency_cool_nobody(upstreams, make_host):
    mix = ["500", "503", "reset", "garbage_json", "garbage_sse", "cutoff"]
    a = await upstreams(fail_rate=0.3, fault_mix=mix, seed=1)
    b = await upstreams(fail_rate=0.3, fault_mix=mix, seed=2)
    cool = {"failures": 5, "seconds": 5, "jitter": 0}
    host, url, _, _ = await make_host(
        {"a": provider(a.url, cooldown=cool), "b": provider(b.url, cooldown=cool)},
        fallbacks={"a/m1": ["b/m1"]}, last_resort=False)
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> bool:
        async with sem:
            body = {**BODY, "messages": [{"role": "user", "content": f"q{i}"}]}
            if i % 2:
                status, _, events = await stream(url, body)
                ok = status == 200 and events[-1:] == ["[DONE]"] and text_of(events) == FULL
                return ok
            status, body, _ = await post(url, body)
            ok = status == 200 and body["choices"][0]["message"]["content"] == FULL
            return ok

    results = await asyncio.gather(*(one(i) for i in range(300)))
    # 0.3^6 of requests fail on both providers after 2 retries each: a few may, by chance
    assert results.count(False) <= 2
    pool = host.state[STATE]
    assert all(p.breaker.trips == 0 and not p.breaker.opened_at for p in pool.providers.values())
    assert pool.figures()["inflight"] == {"a": 0, "b": 0}
