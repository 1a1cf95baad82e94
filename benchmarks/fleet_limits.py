"""Shared limits in fleet mode (issue 21): overshoot at twice the limit, and what a limited
call costs in fleet mode against the same host alone.

    python benchmarks/fleet_limits.py                # 2 and 3 hosts, 60 s each, with and
                                                     # without a Redis outage; then latency
    python benchmarks/fleet_limits.py --quick        # 15 s runs, fewer calls
    python benchmarks/fleet_limits.py --latency      # the latency part alone

Hosts are ``clawhost.host.Host`` objects in this process (the full request loop, the
connection_pool plugin, each with its own fleet link and Redis client), one real
``redis-server`` on loopback, and one fake OpenAI upstream (tests/fake_upstream.py) that
stamps every request it receives.

1. **Overshoot.** Every host is configured for the same ``rpm`` (reject mode). The minute's
   burst is spent first (``rpm`` calls at once, spread over the hosts), then for the run's
   length the hosts are offered twice the limit, evenly spread. Overshoot = the requests the
   upstream received that one exact limiter of ``rpm`` (burst one minute's budget, refilled
   continuously: the rule a single host applies) would have refused, forgiving 50 ms of
   clock difference. "outage": Redis is killed a third of the way in and started again
   (empty) at two thirds; the hosts count on their shares meanwhile.
2. **Latency.** One host alone and one in a fleet, the same provider with RPM, TPM and a
   concurrency cap set high enough never to refuse, one call at a time; p50 per round,
   rounds alternating; the anchor is the host alone in the same round. Redis's own PING
   round trip is given beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from clawhost.bench.probe import machine, overshoot, pct  # noqa: E402

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def provider(url: str, **limits) -> dict:
    return {"base_url": url + "/v1", "models": ["m1"], "retries": {"attempts": 0},
            "timeouts": {"connect": 2, "first_byte": 5, "idle": 5, "total": 10}, **limits}


async def make_host(tmp: Path, name: str, prov: dict, redis_url: str | None,
                    namespace: str = "bench"):
    from clawhost.host import Host
    from clawhost.testing import make_config
    cfg = {"plugins": {"connection_pool": {"providers": {"a": prov}, "deadline": 20}}}
    if redis_url:
        cfg["fleet"] = {"url": redis_url, "name": name, "namespace": namespace,
                        "heartbeat_s": 0.5,
                        "stale_after_s": 3.0, "timeout_s": 0.3, "retry_max_s": 0.5}
    host = Host(make_config(tmp / name, cfg))
    await host.start()
    return host


async def call(host) -> int:
    from clawhost.errors import ClawhostError
    from clawhost.types import ChatRequest, ModelRequest
    req = ModelRequest(kind="chat", body=ChatRequest(model="a/m1", messages=MSGS))
    try:
        await host.handle(req)
        return 200
    except ClawhostError as exc:
        return exc.status


async def run_overshoot(tmp: Path, redis, n_hosts: int, rpm: int, seconds: float,
                        outage: bool) -> dict:
    from fake_upstream import FakeUpstream
    from clawhost.api import fleet_of
    if redis.proc is None:
        redis.start()
    up = FakeUpstream()
    await up.start()
    tag = f"{n_hosts}h-{'out' if outage else 'up'}-{time.monotonic_ns()}"
    # a namespace per run: each starts with the whole minute's budget, as the check assumes
    hosts = [await make_host(tmp, f"{tag}-{i}", provider(up.url, rpm=rpm, limit_mode="reject",
                                                         max_concurrency=1000), redis.url,
                             namespace=tag)
             for i in range(n_hosts)]
    for _ in range(200):
        if all(fleet_of(h).hosts_seen() == n_hosts for h in hosts):
            break
        await asyncio.sleep(0.05)
    statuses: list[int] = []
    tasks = []
    # the minute's burst, spent at once
    statuses += await asyncio.gather(*(call(hosts[i % n_hosts]) for i in range(rpm)))
    start = time.monotonic()
    gap = 60.0 / (2 * rpm)  # twice the limit, across the fleet
    i = 0
    events = []
    while (now := time.monotonic()) < start + seconds:
        if outage and not events and now >= start + seconds / 3:
            redis.stop()
            events.append(("redis stopped", now - start))
        elif outage and len(events) == 1 and now >= start + 2 * seconds / 3:
            redis.start()
            events.append(("redis started", now - start))
        tasks.append(asyncio.ensure_future(call(hosts[i % n_hosts])))
        i += 1
        await asyncio.sleep(max(0.0, start + i * gap - time.monotonic()))
    statuses += await asyncio.gather(*tasks)
    for h in hosts:
        await h.stop()
    await up.stop()
    during = [t for t in up.times if t >= start]
    return {"hosts": n_hosts, "rpm": rpm, "seconds": seconds, "outage": outage,
            "offered": i, "sent_in_run": len(during), "allowed_in_run": int(rpm * seconds / 60),
            "overshoot": overshoot(up.times, rpm),
            "refused_429": statuses.count(429),
            "other_errors": sum(s not in (200, 429) for s in statuses), "events": events}


async def run_latency(tmp: Path, redis, calls: int, rounds: int) -> dict:
    from fake_upstream import FakeUpstream
    from clawhost.api import fleet_of
    if redis.proc is None:
        redis.start()
    up = FakeUpstream()
    await up.start()
    big = dict(rpm=10_000_000, tpm=1_000_000_000, max_concurrency=64, limit_mode="reject")
    alone = await make_host(tmp, "lat-alone", provider(up.url, **big), None)
    fleet = await make_host(tmp, "lat-fleet", provider(up.url, **big), redis.url)
    link = fleet_of(fleet)
    for h in (alone, fleet):  # warm the connections and the script cache
        for _ in range(50):
            assert await call(h) == 200
    out = {"alone": [], "fleet": [], "ping": []}
    for r in range(rounds):
        for name, host in ((("alone", alone), ("fleet", fleet)) if r % 2 == 0 else
                           (("fleet", fleet), ("alone", alone))):
            took = []
            for _ in range(calls):
                t = time.perf_counter()
                assert await call(host) == 200
                took.append(time.perf_counter() - t)
            out[name].append(pct(took, 50) * 1e3)
        pings = []
        for _ in range(200):
            t = time.perf_counter()
            await link.redis.ping()
            pings.append(time.perf_counter() - t)
        out["ping"].append(pct(pings, 50) * 1e3)
    for h in (alone, fleet):
        await h.stop()
    await up.stop()
    diffs = [f - a for f, a in zip(out["fleet"], out["alone"])]
    return {**out, "diffs": diffs, "added_p50_ms": statistics.median(diffs)}


async def main(args) -> None:
    from redis_server import REDIS, RedisServer
    if REDIS is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server)")
    seconds = 15.0 if args.quick else 60.0
    print(f"# fleet limits, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}, "
          f"load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        redis = RedisServer(tmp)
        redis.start()
        try:
            print("\n| hosts | rpm each | Redis | offered in run | sent in run | limit allows "
                  "| overshoot | 429s | other errors |")
            print("|---|---|---|---|---|---|---|---|---|")
            for n in () if args.latency else (2, 3):
                for outage in (False, True):
                    r = await run_overshoot(tmp, redis, n, args.rpm, seconds, outage)
                    where = ("down " + "–".join(f"{t:.0f}" for _, t in r["events"]) + " s"
                             if outage else "up")
                    print(f"| {n} | {args.rpm} | {where} | {r['offered']} | {r['sent_in_run']} "
                          f"| {r['allowed_in_run']} | **{r['overshoot']}** | "
                          f"{r['refused_429']} | {r['other_errors']} |", flush=True)
            lat = await run_latency(tmp, redis, 100 if args.quick else 400, 4 if args.quick else 6)
            print(f"\nlatency of one limited call, p50 per round (ms), load "
                  f"{os.getloadavg()[0]:.1f}:")
            print(f"- alone:  {', '.join(f'{x:.3f}' for x in lat['alone'])}")
            print(f"- fleet:  {', '.join(f'{x:.3f}' for x in lat['fleet'])}")
            print(f"- added:  {', '.join(f'{x:+.3f}' for x in lat['diffs'])} -> median "
                  f"**{lat['added_p50_ms']:+.3f} ms**")
            print(f"- Redis PING p50: {', '.join(f'{x:.3f}' for x in lat['ping'])}")
        finally:
            redis.stop()
    print(f"\nload at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--latency", action="store_true", help="only the latency part")
    ap.add_argument("--rpm", type=int, default=300)
    asyncio.run(main(ap.parse_args()))
