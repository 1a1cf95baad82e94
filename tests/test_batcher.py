"""batcher plugin, embeddings side: coalescing, timer/size flush, 429, 503, priority, isolation."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from batcher_fakes import FakeModels, embed_request
from clawhost.api import EmbeddingRequest, ModelRequest
from clawhost.errors import ClawhostError, Overloaded, Unavailable
from clawhost.plugins import batcher
from clawhost.api import BATCH_SIZE
from clawhost.plugins.batcher import STATE as BATCHER_STATE


def cfg(**opts):
    return {"plugins": {"batcher": {"owners": ["fake"], **opts}}}


async def test_concurrent_requests_coalesce_into_one_call(clawhost_host):
    fake = FakeModels(delay=0.01)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=100, max_batch_size=32))
    reqs = [embed_request("x" * (i + 1)) for i in range(8)]
    replies = await asyncio.gather(*(host.handle(r) for r in reqs))
    assert len(fake.calls) == 1 and len(fake.calls[0]) == 8
    for i, (r, rep) in enumerate(zip(reqs, replies)):  # each got its own answer back
        assert rep.body["data"][0]["embedding"][0] == i + 1
        assert r.notes[BATCH_SIZE] == 8 and r.timings["queue"] >= 0
    figs = host.state[BATCHER_STATE].figures()
    assert figs["batches_total"]["fake-embed"] == 1 and figs["mean_batch_size"]["fake-embed"] == 8


async def test_lone_request_flushes_on_the_timer(clawhost_host):
    fake = FakeModels(delay=0.0)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=150, max_batch_size=32))
    t0 = time.perf_counter()
    await asyncio.wait_for(host.handle(embed_request("alone")), 5)
    took = time.perf_counter() - t0
    assert 0.14 <= took < 2.0  # waited for company up to max_wait_ms, then went alone
    assert fake.calls == [["alone"]]


async def test_size_flush_does_not_wait_for_the_timer(clawhost_host):
    fake = FakeModels(delay=0.0)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=20_000, max_batch_size=4))
    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(host.handle(embed_request(f"t{i}")) for i in range(8))), 10)
    assert time.perf_counter() - t0 < 5  # far below the 20 s timer
    assert [len(c) for c in fake.calls] == [4, 4]


async def test_batch_size_counts_texts_not_requests(clawhost_host):
    fake = FakeModels(delay=0.0)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=20_000, max_batch_size=4))
    await asyncio.wait_for(asyncio.gather(host.handle(embed_request(["a", "b"])),
                                          host.handle(embed_request(["c", "d"]))), 10)
    assert fake.calls == [["a", "b", "c", "d"]]


async def test_full_queue_answers_429_at_once(clawhost_host, clawhost_server):
    fake = FakeModels(delay=0.5)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=0, max_batch_size=1, max_queue=2))
    url = await clawhost_server(host)
    body = lambda t: {"model": "fake-embed", "input": t}  # noqa: E731
    async with aiohttp.ClientSession() as http:
        first = asyncio.ensure_future(http.post(f"{url}/v1/embeddings", json=body("run")))
        await asyncio.wait_for(fake.started.wait(), 5)  # "run" is in the model now
        queued = [asyncio.ensure_future(http.post(f"{url}/v1/embeddings", json=body(f"q{i}")))
                  for i in range(2)]
        while len(host.state[BATCHER_STATE].batchers["fake-embed"].queue) < 2:
            await asyncio.sleep(0.005)
        t0 = time.perf_counter()
        async with http.post(f"{url}/v1/embeddings", json=body("over")) as resp:
            rejected_in = time.perf_counter() - t0
            assert resp.status == 429
            assert int(resp.headers["Retry-After"]) >= 1
            assert (await resp.json())["error"]["code"] == "overloaded"
        assert rejected_in < 0.4  # not after the running batch (0.5 s)
        for fut in [first, *queued]:  # everyone admitted still completes
            async with await fut as resp:
                assert resp.status == 200
    assert host.state[BATCHER_STATE].figures()["rejected_total"]["fake-embed"] == 1


async def test_queue_timeout_503_does_not_delay_the_next_batch(clawhost_host):
    fake = FakeModels(delay=0.6)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=0, max_batch_size=1,
                                                queue_timeout_ms=200))
    running = asyncio.ensure_future(host.handle(embed_request("running")))
    await fake.started.wait()
    t0 = time.perf_counter()
    late = asyncio.ensure_future(host.handle(embed_request("expires")))
    with pytest.raises(Unavailable):
        await late
    assert time.perf_counter() - t0 < 0.5  # answered by its own timer, before the batch ended
    await asyncio.sleep(max(0.0, t0 + 0.45 - time.perf_counter()))
    after = asyncio.ensure_future(host.handle(embed_request("after")))  # waits < 200 ms
    await asyncio.gather(running, after)
    assert fake.calls == [["running"], ["after"]]  # the expired one joined nothing
    assert host.state[BATCHER_STATE].figures()["timed_out_total"]["fake-embed"] == 1


async def test_interactive_goes_before_background(clawhost_host):
    fake = FakeModels(delay=0.05)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=0, max_batch_size=1,
                                                priority="background"))
    first = asyncio.ensure_future(host.handle(embed_request("first")))
    await fake.started.wait()
    rest = [asyncio.ensure_future(host.handle(embed_request(f"bg{i}"))) for i in range(3)]
    rest.append(asyncio.ensure_future(host.handle(embed_request("urgent", priority="interactive"))))
    await asyncio.sleep(0)
    await asyncio.gather(first, *rest)
    assert [c[0] for c in fake.calls] == ["first", "urgent", "bg0", "bg1", "bg2"]


async def test_poisoned_request_is_retried_alone(clawhost_host):
    fake = FakeModels(delay=0.0)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=100, max_batch_size=32))
    texts = ["ok1", "POISON", "ok2", "ok3"]
    results = await asyncio.gather(*(host.handle(embed_request(t)) for t in texts),
                                   return_exceptions=True)
    assert isinstance(results[1], ClawhostError) and results[1].status == 500
    for i in (0, 2, 3):
        assert results[i].body["data"][0]["embedding"][0] == 3.0
    assert sorted(map(len, fake.calls)) == [1, 1, 1, 1, 4]
    assert host.state[BATCHER_STATE].figures()["retried_alone_total"]["fake-embed"] == 4


async def test_loop_crash_is_logged_and_the_loop_restarts(clawhost_host, caplog):
    fake = FakeModels(delay=0.0)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=10))
    hub = host.state[BATCHER_STATE]
    await host.handle(embed_request("warm"))
    queue = hub.batchers["fake-embed"].queue
    real_pick, crashes = queue.pick, []

    def broken_pick(budget):
        if not crashes:
            crashes.append(1)
            raise RuntimeError("bug in the batcher loop")
        return real_pick(budget)

    queue.pick = broken_pick
    reply = await asyncio.wait_for(host.handle(embed_request("survives")), 5)
    assert reply.body["data"][0]["embedding"][0] == len("survives")
    assert crashes and hub.figures()["restarts_total"]["fake-embed"] == 1
    assert "restarting" in caplog.text


async def test_client_that_leaves_the_queue_is_not_batched(clawhost_host):
    fake = FakeModels(delay=0.3)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=0, max_batch_size=1))
    running = asyncio.ensure_future(host.handle(embed_request("running")))
    await fake.started.wait()
    gone = asyncio.ensure_future(host.handle(embed_request("gone")))
    await asyncio.sleep(0.02)
    gone.cancel()
    stays = asyncio.ensure_future(host.handle(embed_request("stays")))
    await asyncio.gather(running, stays)
    assert fake.calls == [["running"], ["stays"]]


async def test_models_not_selected_pass_through(clawhost_host):
    from clawhost.testing import EchoModel
    fake = FakeModels()
    host = await clawhost_host(EchoModel(), fake, config=cfg())
    reply = await host.handle(embed_request("hello", model="echo-embed"))  # owner "echo": not ours
    assert reply.body["data"] and "echo-embed" not in host.state[BATCHER_STATE].batchers
    assert fake.calls == []


def test_options_reject_bad_values():
    with pytest.raises(Exception):
        batcher.Options(max_batch_size=0)
    with pytest.raises(Exception):
        batcher.Options(per_model={"m": {"priority": "urgent"}})
    o = batcher.Options(per_model={"fake-*": {"max_wait_ms": 1}})
    assert o.per_model["fake-*"].max_wait_ms == 1


def test_overloaded_carries_retry_after():
    exc = Overloaded("full", retry_after=2.4)
    assert exc.status == 429 and exc.headers["Retry-After"] == "2"


async def test_queue_sheds_at_once_when_it_cannot_drain_in_time():
    from clawhost.plugins.batcher.queue import BoundedQueue, Entry
    q = BoundedQueue(100, timeout_s=0.4, name="m")
    for i in range(5):  # no service rate known yet: only max_queue limits
        q.put(Entry(i, priority=1))
    while q.pop():
        pass
    for _ in range(5):
        q.note_service(0.24, 4)  # batches of 4 in 240 ms: 60 ms per request
    assert q.interval == pytest.approx(0.06)
    for i in range(2):  # at most one ahead (60 ms): inside a quarter of the 400 ms timeout
        q.put(Entry(i, priority=1))
    t0 = time.perf_counter()
    with pytest.raises(Overloaded) as info:
        for i in range(5):
            q.put(Entry(i, priority=1))
    assert time.perf_counter() - t0 < 0.05 and "drain" in info.value.message
    assert len(q) == 2
    q.put(Entry("vip", priority=0))  # nobody ahead at its level: admitted
    slow = q.levels[1][1]  # the queue expected ~60 ms for it; make it wait 3x that
    await asyncio.sleep(max(0.0, slow.enqueued + 3 * slow.predicted - time.perf_counter()))
    while q.pop():
        pass
    assert q.bias > 1.2  # later estimates are scaled up by what it learned
    assert q.expected_wait(1) == 0  # nobody ahead now
    q.free = lambda: 2  # two could start right now: they wait for no departure
    q.put(Entry("fits", priority=1))
    no_shed = BoundedQueue(100, timeout_s=0.2, name="m", shed=False)
    no_shed.note_service(1.0, 1)
    for i in range(10):
        no_shed.put(Entry(i, priority=1))
    q.fail_all(lambda: Unavailable("x"))
    no_shed.fail_all(lambda: Unavailable("x"))


async def test_batches_group_similar_lengths_around_the_oldest():
    from clawhost.plugins.batcher.queue import BoundedQueue, Entry
    q = BoundedQueue(100, timeout_s=10, name="m")
    for name, length in [("a", 10), ("b", 200), ("c", 12), ("d", 190), ("e", 11)]:
        q.put(Entry(name, priority=1, length=length))
    assert [e.request for e in q.pick(3)] == ["a", "e", "c"]  # short with short
    assert [e.request for e in q.pick(3)] == ["b", "d"]
    q.put(Entry("big", priority=1, size=50))
    assert [e.request for e in q.pick(32)] == ["big"]  # larger than a batch: runs alone


async def test_a_huge_request_runs_in_slices_and_small_ones_get_in_between(clawhost_host):
    """Issue 22: one 2,048-input request held the model and small requests got 503. Sliced,
    a small request that arrives while it runs finishes long before it, and the big one's
    answer is whole and in order."""
    fake = FakeModels(delay=0.05)
    host = await clawhost_host(fake, config=cfg(max_wait_ms=1, max_batch_size=8))
    texts = ["t" * (1 + i % 5) for i in range(64)]
    big = ModelRequest(kind="embedding", body=EmbeddingRequest(model="fake-embed", input=texts))
    big_task = asyncio.create_task(host.handle(big))
    await fake.started.wait()
    small = await asyncio.wait_for(host.handle(embed_request("small")), 5)
    assert not big_task.done() and small.body["data"][0]["embedding"][0] == 5.0
    reply = await big_task
    data = reply.body["data"]
    assert [d["index"] for d in data] == list(range(64))
    assert [d["embedding"][0] for d in data] == [float(len(t)) for t in texts]
    assert all(len(call) <= 8 for call in fake.calls) and len(fake.calls) >= 9
    assert ["small"] in fake.calls or any("small" in c for c in fake.calls[:-1])
