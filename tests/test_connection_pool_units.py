"""connection_pool pieces on their own: options, backoff, Retry-After, breaker, buckets,
and the Anthropic translation (streams with no network)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from clawhost.config import ConfigError
from clawhost.errors import Overloaded
from clawhost.plugins.connection_pool.anthropic import Anthropic, messages, tool_choice
from clawhost.plugins.connection_pool.breaker import Breaker
from clawhost.plugins.connection_pool.limits import Bucket, Limiter
from clawhost.plugins.connection_pool.openai_compat import StreamState
from clawhost.plugins.connection_pool.options import Cooldown, PoolOptions, Provider
from clawhost.plugins.connection_pool.retry import AttemptFailed, backoff, parse_retry_after, retry_after_of
from clawhost.testing import make_config
from clawhost.types import ChatRequest, ModelRequest


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_options_shorthands_and_one_line_errors():
    p = Provider(base_url="http://x:1/v1/", retries=3, cooldown=10, timeouts=60)
    assert p.base_url == "http://x:1/v1" and p.retries.attempts == 3
    assert p.cooldown.seconds == 10 and p.timeouts.total == 60
    assert Provider(base_url="http://x", api_key="").api_key is None
    with pytest.raises(ValidationError, match="http:// or https://"):
        Provider(base_url="localhost:8080")
    with pytest.raises(ValidationError, match="lists the model itself"):
        PoolOptions(fallbacks={"a/x": ["a/x"]})
    with pytest.raises(ValidationError, match="provider name"):
        PoolOptions(providers={"bad name": {"base_url": "http://x"}})


def test_bad_config_names_the_path_and_hides_the_key(tmp_path, monkeypatch):
    from clawhost.host import Host
    monkeypatch.setenv("CP_UNIT_KEY", "sk-unit-secret")
    cfg = make_config(tmp_path, {"plugins": {"connection_pool": {"providers": {"a": {
        "base_url": "ftp://nope", "api_key": "${CP_UNIT_KEY}", "limit_mode": "maybe"}}}}})
    with pytest.raises(ConfigError) as info:
        Host(cfg)
    msg = str(info.value)
    assert "plugins.connection_pool.providers.a.base_url" in msg and "limit_mode" in msg
    assert "sk-unit-secret" not in msg


def test_retry_after_forms():
    assert parse_retry_after("3") == 3.0 and parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert retry_after_of({"retry-after-ms": "250", "Retry-After": "1"}) == 0.25


def test_backoff_is_full_jitter_and_capped():
    rng = random.Random(1)
    draws = [backoff(3, 0.5, 2.0, rng) for _ in range(500)]
    assert 0 <= min(draws) < 0.1 and 1.9 < max(draws) <= 2.0    # U(0, min(cap, base*2^n))
    assert max(backoff(1, 0.5, 9, rng) for _ in range(200)) <= 1.0


def test_breaker_opens_probes_once_and_backs_off():
    clock = Clock()
    b = Breaker(Cooldown(failures=2, min_calls=2, seconds=10, jitter=0, max_seconds=15),
                clock=clock)
    b.failure()
    assert b.allow() and not b.cooling
    b.failure()
    assert b.cooling and not b.allow() and b.remaining() == 10
    clock.t += 10.01
    assert b.allow() and not b.allow()      # one probe at a time
    b.failure()                             # the probe failed: twice the cooldown, capped
    assert b.remaining() == pytest.approx(15)
    clock.t += 15.01
    assert b.allow()
    b.success()
    assert b.allow() and b.allow() and not b.cooling
    b.failure(retry_after=40)               # the provider asked for a long pause
    assert b.remaining() == 40


def test_bucket_refills_and_goes_into_debt():
    clock = Clock()
    b = Bucket(60, clock=clock)             # one a second, burst 60
    assert b.take(60) == 0 and b.wait_for(1) == pytest.approx(1.0)
    assert b.take(2) == pytest.approx(2.0)  # reserved ahead: the next caller waits behind it
    assert b.wait_for(1) == pytest.approx(3.0)
    clock.t += 3
    assert b.wait_for(1) == pytest.approx(0.0)
    b.give(1000)
    assert b.level == 60


async def test_limiter_reject_reports_retry_after():
    lim = Limiter("p", max_concurrency=2, rpm=1, tpm=None, mode="wait", max_wait=5)
    import asyncio
    deadline = asyncio.get_running_loop().time() + 30
    await lim.acquire(10, deadline)
    assert lim.inflight == 1
    with pytest.raises(Overloaded) as info:       # next slot in 60 s > max_wait: at once
        await lim.acquire(10, deadline)
    assert int(info.value.headers["Retry-After"]) == 60 and "'p'" in info.value.message
    lim.release(10, 12)
    assert lim.inflight == 0


def _chat(**kw) -> ModelRequest:
    return ModelRequest(kind="chat", body=ChatRequest(model="c/m", **kw))


def test_anthropic_messages_turns_images_and_tool_results():
    req = _chat(messages=[
        {"role": "developer", "content": "rule 1"}, {"role": "system", "content": "rule 2"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url",
         "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": "calling", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"id": "t2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "one"},
        {"role": "tool", "tool_call_id": "t2", "content": "two"},
        {"role": "user", "content": "and?"}])
    system, msgs = messages(req)
    assert system == "rule 1\n\nrule 2"
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0]["content"][1] == {"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "AAAA"}}
    assert msgs[1]["content"][1]["input"] == {"a": 1}
    assert [b["type"] for b in msgs[2]["content"]] == ["tool_result", "tool_result", "text"]
    assert tool_choice({"type": "function", "function": {"name": "f"}}, False) == {
        "type": "tool", "name": "f", "disable_parallel_tool_use": True}
    assert tool_choice("none", False) == {"type": "none"}


async def _events(*items):
    import json
    for item in items:
        yield json.dumps(item)


async def test_anthropic_stream_errors_and_truncation_raise():
    ad = Anthropic(Provider(kind="anthropic", base_url="http://x"))
    req = _chat(messages=[{"role": "user", "content": "hi"}], stream=True)
    start = {"type": "message_start", "message": {"id": "m", "model": "c", "usage": {}}}
    with pytest.raises(AttemptFailed, match="message_stop"):
        [c async for c in ad.chunks(req, _events(start), StreamState())]
    with pytest.raises(AttemptFailed, match="Overloaded"):
        [c async for c in ad.chunks(req, _events(start, {"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}}), StreamState())]
    state = StreamState()
    out = [c async for c in ad.chunks(req, _events(
        start, {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"}), state)]
    assert out[1]["choices"][0]["delta"] == {"content": "x"}
    assert out[-1]["choices"][0]["finish_reason"] == "length" and state.usage == 3


def test_anthropic_reply_maps_stop_reason_and_usage():
    ad = Anthropic(Provider(kind="anthropic", base_url="http://x/v1"))
    assert ad.url("chat") == "http://x/v1/messages"
    body = ad.reply(_chat(messages=[{"role": "user", "content": "hi"}]), {
        "id": "m", "model": "c", "content": [{"type": "text", "text": "a"}],
        "stop_reason": "max_tokens", "usage": {"input_tokens": 5, "cache_read_input_tokens": 2,
                                               "output_tokens": 4}})
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
