"""Fleet mode's shared caches: three hosts and one real redis-server. Cross-host exact and
semantic hits, fleet-wide clear, bound and TTL, damaged or half-written entries, Redis
restarted mid-run, and a host restarted catching up."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from clawhost.api import fleet_of
from clawhost.plugins.cache import STATE as CACHE_STATE
from clawhost.plugins.semantic_cache import STATE as SEM_STATE
from clawhost.plugins.semantic_cache.fleet_store import checksum
from clawhost.api import hookimpl
from clawhost.testing import BagModel, EchoModel
from test_fleet import until
from test_semantic_cache import answer, chat

QUESTIONS = [("How do I reset my password?", "how do I reset MY password"),
             ("What is the capital of France?", "what is the capital of france"),
             ("Which port does Redis listen on?", "which port does redis listen on")]


class VersionedEcho(EchoModel):
    """Echo, with the current ``version`` after the text: a changed answer to one question."""

    version = "v1"

    @hookimpl
    async def clawhost_infer(self, request):
        reply = await super().clawhost_infer(request)
        if reply is not None and reply.body is not None:
            reply.body["choices"][0]["message"]["content"] += f" ({self.version})"
        return reply


def config(server, name, sem=None, cache=None, **fleet):
    sem_opts = {"embedding_model": "bag-embed", "verifier": False, "min_similarity": 0.9,
                "normalized": False, **(sem or {})}
    return {"fleet": {"url": server.url, "name": name, "heartbeat_s": 0.1,
                      "stale_after_s": 1.0, "timeout_s": 0.3, "retry_max_s": 0.3, **fleet},
            "plugins": {"cache": cache or {}, "semantic_cache": sem_opts}}


async def start(clawhost_host, server, name, echo=None, **kw):
    echo = echo or EchoModel()
    host = await clawhost_host(echo, BagModel(), config=config(server, name, **kw))
    assert await until(lambda: sem(host).fleet.caught_up)
    return host, echo


def sem(host):
    return host.state[SEM_STATE]


async def ask(host, text, **kw):
    req = chat(text, **kw)
    return req, await host.handle(req)


async def settle(*hosts):
    for h in hosts:
        await sem(h).fleet.flush()
        l2 = h.state[CACHE_STATE].l2
        if l2 is not None:
            await l2.flush()


async def test_cross_host_exact_and_semantic_hits(clawhost_host, redis_server):
    (a, ea), (b, eb), (c, ec) = [await start(clawhost_host, redis_server, n)
                                 for n in ("a", "b", "c")]
    await ask(a, QUESTIONS[0][0])
    await settle(a)
    t0 = time.monotonic()
    # the paraphrase on b: a hit-semantic within a second, from a's answer
    assert await until(lambda: len(sem(b).index) == 1, timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    req, reply = await ask(b, QUESTIONS[0][1])
    assert reply.headers["x-clawhost-cache"] == "hit-semantic" and eb.calls == 0
    assert answer(reply) == QUESTIONS[0][0]
    # the same words on c: an exact hit from the fleet's Redis (the L2 defaults to it)
    _, reply = await ask(c, QUESTIONS[0][0])
    assert reply.headers["x-clawhost-cache"] == "hit-l2" and ec.calls == 0
    assert answer(reply) == QUESTIONS[0][0]
    assert c.state[CACHE_STATE].l2.prefix == "clawhost:cache:"
    # each entry is in Redis once, however many hosts hold it
    r = fleet_of(a).redis
    assert await r.zcard("clawhost:semcache:ids") == 1
    assert len(await r.keys("clawhost:semcache:e:*")) == 1
    # a different question misses everywhere and costs one model call on its host
    _, reply = await ask(c, "How do I delete my account?")
    assert reply.source == "model" and ec.calls == 1


async def test_clear_bound_and_ttl_are_fleet_wide(clawhost_host, redis_server):
    (a, _), (b, _), (c, _) = [await start(clawhost_host, redis_server, n,
                                          sem={"max_entries": 3}) for n in "abc"]
    for i in range(5):
        await ask(a, f"Question number {i} about topic {i * 7}?")
    await settle(a)
    r = fleet_of(a).redis
    assert await r.zcard("clawhost:semcache:ids") == 3
    # the two oldest left Redis with a del event each; b and c hold the same three
    want = {f"Question number {i} about topic {i * 7}?" for i in (2, 3, 4)}
    for h in (b, c):
        assert await until(lambda: {e.query for e in sem(h).index.entries.values()} == want)
    # clearing on one host clears all of them (and Redis)
    assert await sem(b).clear() == 3
    for h in (a, c):
        assert await until(lambda: len(sem(h).index) == 0)
    assert await r.zcard("clawhost:semcache:ids") == 0
    assert not await r.keys("clawhost:semcache:e:*")
    # a short TTL is Redis's too: the entry's hash expires, and no host serves it after
    await ask(a, QUESTIONS[1][0], cache={"ttl": 1})
    await settle(a)
    assert await until(lambda: len(sem(c).index) == 1)
    ttl_ms = await r.pttl((await r.keys("clawhost:semcache:e:*"))[0])
    assert 0 < ttl_ms <= 1000
    await asyncio.sleep(1.1)
    _, reply = await ask(c, QUESTIONS[1][1], cache={"no-store": True})
    assert reply.source == "model"
    assert not await r.keys("clawhost:semcache:e:*")


async def test_damaged_and_half_written_entries_are_never_served(clawhost_host, redis_server):
    (a, _), (b, eb) = [await start(clawhost_host, redis_server, n) for n in "ab"]
    await ask(a, QUESTIONS[2][0])
    await settle(a)
    assert await until(lambda: len(sem(b).index) == 1)
    r = fleet_of(a).redis
    (key,) = await r.keys("clawhost:semcache:e:*")
    good = await r.hgetall(key)
    fields = {k.decode(): v for k, v in good.items()}
    scope = fields["scope"].decode()
    vec = np.frombuffer(fields["vec"], np.float32)

    async def forge(fid, mapping):
        await r.hset(f"clawhost:semcache:e:{fid}", mapping=mapping)
        await r.xadd("clawhost:semcache:log", {"op": "add", "id": fid, "h": "evil"})

    # a wrong answer under a vector that matches "What is the capital of France?" exactly,
    # in three broken shapes: a bad checksum, a half-written hash (no checksum, no answer:
    # what a writer killed between commands would leave without the script), and an
    # event whose entry never arrived
    bag = sem(b).embedder
    q = QUESTIONS[1][0]
    qvec = (await bag.embed(q)).astype(np.float32)
    base = {**fields, "query": q.encode(), "vec": qvec.tobytes(),
            "answer": b'{"choices":[{"message":{"role":"assistant","content":"WRONG"}}]}'}
    await forge("badsum", {**base, "sum": b"0" * 24})
    await forge("half", {k: v for k, v in base.items() if k not in ("sum", "answer")})
    await r.xadd("clawhost:semcache:log", {"op": "add", "id": "ghost", "h": "evil"})
    # and a well-formed one from another embedder, which means nothing here
    other = {**base, "fp": b"other-model:64:fp32"}
    other["sum"] = checksum(other)
    await forge("otherfp", other)
    assert await until(lambda: sum(sem(b).fleet.counts[k] for k in
                                   ("damaged", "missing", "other_embedder")) == 4)
    counts = sem(b).fleet.counts
    assert (counts["damaged"], counts["missing"], counts["other_embedder"]) == (2, 1, 1)
    assert len(sem(b).index) == 1 and scope
    _, reply = await ask(b, QUESTIONS[1][1])
    assert reply.source == "model" and answer(reply) == QUESTIONS[1][1]
    assert vec.shape == qvec.shape


async def test_redis_restarted_mid_run(clawhost_host, redis_server):
    (a, ea), (b, eb), (c, ec) = [await start(clawhost_host, redis_server, n) for n in "abc"]
    await ask(a, QUESTIONS[0][0])
    await settle(a)
    assert await until(lambda: len(sem(b).index) == 1 and len(sem(c).index) == 1)
    # traffic on all three hosts the whole time Redis goes and comes back: every request
    # answered, and with its own question's answer
    served, stop = [], asyncio.Event()

    async def traffic(host, tag):
        i = 0
        while not stop.is_set():
            text = QUESTIONS[0][1] if i % 2 else f"Traffic {tag} number {i}?"
            _, reply = await ask(host, text)
            # a hit gives the stored question's answer, a miss the model's (echo: the text);
            # anything else would be a wrong hit
            ok = {QUESTIONS[0][0], text} if i % 2 else {text}
            served.append(answer(reply) in ok or (host.fleet.name, text, answer(reply)))
            i += 1
            await asyncio.sleep(0.005)

    runners = [asyncio.create_task(traffic(h, t)) for h, t in ((a, "a"), (b, "b"), (c, "c"))]
    await asyncio.sleep(0.2)
    redis_server.stop()
    assert await until(lambda: not fleet_of(b).available)
    # while it is down: every request answers, hits come from the local tiers, and each
    # answer is the one for its own question
    for i in range(10):
        host = (a, b, c)[i % 3]
        _, reply = await ask(host, QUESTIONS[0][1])
        assert reply.headers.get("x-clawhost-cache") == "hit-semantic"
        assert answer(reply) == QUESTIONS[0][0]
        _, reply = await ask(host, f"Something new number {i}?")
        assert answer(reply) == f"Something new number {i}?"
    _, reply = await ask(b, QUESTIONS[2][0])  # stored on b only, for now
    assert reply.source == "model"
    redis_server.start()  # empty: no persistence
    for h in (a, b, c):
        assert await until(lambda: fleet_of(h).available and sem(h).fleet.caught_up)
    await settle(a, b, c)
    # the hosts seeded the new Redis from their indexes: b's entry reaches c
    assert await until(lambda: any(e.query == QUESTIONS[2][0]
                                   for e in sem(c).index.entries.values()))
    _, reply = await ask(c, QUESTIONS[2][1])
    assert reply.headers["x-clawhost-cache"] == "hit-semantic"
    assert answer(reply) == QUESTIONS[2][0]
    r = fleet_of(a).redis
    queries = {(await r.hget(k, "query")).decode() for k in await r.keys("clawhost:semcache:e:*")}
    assert QUESTIONS[0][0] in queries and QUESTIONS[2][0] in queries
    stop.set()
    await asyncio.gather(*runners)  # a failed request would raise here
    assert len(served) > 30 and [x for x in served if x is not True] == []


async def test_a_restarted_host_catches_up(clawhost_host, redis_server, tmp_path):
    from clawhost.host import Host
    from clawhost.testing import make_config
    model = VersionedEcho()
    (a, _) = await start(clawhost_host, redis_server, "a", echo=model)
    (b, _) = await start(clawhost_host, redis_server, "b")
    ws = tmp_path / "restarted"
    cfg = config(redis_server, "c")

    async def boot():
        host = Host(make_config(ws, cfg), extra_plugins=[("echo", EchoModel()),
                                                         ("bag", BagModel())])
        await host.start()
        assert await until(lambda: sem(host).fleet.caught_up)
        return host

    c = await boot()
    await ask(a, QUESTIONS[0][0])
    await ask(a, QUESTIONS[1][0])
    await settle(a)
    assert await until(lambda: len(sem(c).index) == 2)
    kept = {e.query: eid for eid, e in sem(c).index.entries.items()}
    await c.stop()
    # while c is away: one answer changes (a refresh replaces it), one question is added
    model.version = "v2"
    await ask(a, QUESTIONS[2][0])
    _, fresh = await ask(a, QUESTIONS[0][0], cache={"no-cache": True})
    assert answer(fresh) == f"{QUESTIONS[0][0]} (v2)"
    await settle(a)
    c = await boot()
    try:
        entries = sem(c).index.entries
        assert sorted(e.query for e in entries.values()) == sorted(q for q, _ in QUESTIONS)
        # the unchanged entry from before the restart was matched, not copied; the replaced
        # one is gone, its new answer came from the fleet
        assert kept[QUESTIONS[1][0]] in entries and kept[QUESTIONS[0][0]] not in entries
        assert sem(c).fleet.counts["applied"] == 2
        for q, para in QUESTIONS:
            _, reply = await ask(c, para)
            assert reply.headers["x-clawhost-cache"] == "hit-semantic"
            assert answer(reply) == f"{q} ({'v1' if q == QUESTIONS[1][0] else 'v2'})"
    finally:
        await c.stop()


async def test_cli_clear_without_a_running_host_clears_the_fleet(clawhost_host, redis_server,
                                                                 tmp_path):
    import textwrap
    from conftest import free_port, run_cli
    (a, _), (b, _) = [await start(clawhost_host, redis_server, n) for n in "ab"]
    await ask(a, QUESTIONS[0][0])
    await ask(b, QUESTIONS[1][0])
    await settle(a, b)
    assert await until(lambda: len(sem(a).index) == 2 and len(sem(b).index) == 2)
    cfg = tmp_path / "cli.yaml"
    cfg.write_text(textwrap.dedent(f"""
        workspace: ./cli-ws
        server: {{port: {free_port()}}}
        plugins: {{semantic_cache: {{}}}}
        fleet: {{url: "{redis_server.url}"}}
    """))
    res = await asyncio.to_thread(run_cli, "semantic-cache", "clear", "--config", str(cfg))
    assert res.returncode == 0, res.stderr
    assert "cleared 2 entries in the fleet's redis" in res.stdout
    assert await until(lambda: len(sem(a).index) == 0 and len(sem(b).index) == 0)
    _, reply = await ask(b, QUESTIONS[0][1])
    assert reply.source == "model"


WRITER = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from clawhost.host import Host
from clawhost.testing import BagModel, EchoModel, make_config
from test_semantic_cache import chat

async def main():
    cfg = {{"fleet": {{"url": {url!r}, "name": "doomed"}},
           "plugins": {{"semantic_cache": {{"embedding_model": "bag-embed", "verifier": False,
                                           "normalized": False}}}}}}
    host = Host(make_config({ws!r}, cfg), extra_plugins=[("e", EchoModel()), ("b", BagModel())])
    await host.start()
    i = 0
    while True:
        await host.handle(chat(f"Doomed question number {{i}} about thing {{i * 31}}?"))
        if i == 20:
            print("writing", flush=True)
        i += 1

asyncio.run(main())
"""


async def test_a_writer_killed_mid_write_leaves_only_whole_entries(clawhost_host, redis_server,
                                                                   tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path
    from clawhost.plugins.semantic_cache.fleet_store import FIELDS
    script = WRITER.format(tests=str(Path(__file__).parent), url=redis_server.url,
                           ws=str(tmp_path / "doomed"))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script,
                                                stdout=subprocess.PIPE)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"writing"
        await asyncio.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    (b, eb) = await start(clawhost_host, redis_server, "b")
    r = fleet_of(b).redis
    events = await r.xrange("clawhost:semcache:log")
    adds = [f[b"id"].decode() for _, f in events if f[b"op"] == b"add"]
    assert len(adds) > 20
    for fid in adds:  # every event's entry is whole: the script wrote both or neither
        row = {k.decode(): v for k, v in (await r.hgetall(f"clawhost:semcache:e:{fid}")).items()}
        assert set(FIELDS) <= set(row) and row["sum"] == checksum(row)
    assert await r.zcard("clawhost:semcache:ids") == len(adds)
    # and the host that joins afterwards holds every one of them and serves them
    assert len(sem(b).index) == len(adds)
    _, reply = await ask(b, "doomed question number 3 about thing 93")
    assert reply.headers["x-clawhost-cache"] == "hit-semantic" and eb.calls == 0
