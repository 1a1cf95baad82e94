"""Fleet-mode scale simulation: 20 hosts (Host objects in one process) and one redis-server.

    python benchmarks/fleet.py [--hosts 20] [--entries 400] [--lookups 300]
                               [--out benchmarks/results/fleet.md]

Measures, with the real plugins (cache + semantic_cache) and the real replication code:
- entries per second replicated: every host stores its share of ``--entries`` new answers
  (through ``Host.handle``), timed until every host's index holds all of them;
- replication lag p50/p99: from the event's time in Redis to the moment a host applied it
  (its entry fetched and in the index), over every (event, other host) pair;
- Redis memory per semantic entry (``INFO memory`` before/after, stream and id set
  included; ``MEMORY USAGE`` of one entry hash) next to the local index's bytes per entry;
- the cost fleet mode adds to a lookup at p50: the same paraphrase lookups (hit-semantic)
  and exact repeats (hit-l1) on a fleet host and on a host alone, in alternating rounds;
- Redis's CPU per command (``INFO commandstats``), for what one Redis sustains on paper.

The embedder is a cheap deterministic 384-d bag of words (MiniLM's size), so the figures
are about replication, not about embedding.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


from clawhost.bench.probe import cpu_model
from clawhost.host import Host
from clawhost.testing import BagModel, EchoModel, make_config
from clawhost.types import ChatRequest, ModelRequest

DIM = 384
ROOT = Path(__file__).resolve().parents[1]


def config(folder: Path, url: str | None, name: str) -> dict:
    sem = {"embedding_model": "vec-embed", "verifier": False, "min_similarity": 0.9,
           "normalized": False, "max_entries": 100_000}
    cfg = {"plugins": {"cache": {}, "semantic_cache": sem}}
    if url:
        cfg["fleet"] = {"url": url, "name": name, "heartbeat_s": 2}
    return cfg


async def new_host(folder: Path, url: str | None, name: str) -> Host:
    host = Host(make_config(folder / name, config(folder, url, name)),
                extra_plugins=[("echo", EchoModel()), ("vec", BagModel("vec-embed", dim=DIM))])
    await host.start()
    return host


def chat(text: str) -> ModelRequest:
    return ModelRequest(kind="chat", body=ChatRequest(
        model="echo", temperature=0, messages=[{"role": "user", "content": text}]))


def question(i: int) -> str:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    return f"Question {i}: how does {words[i % 8]} relate to item {i * 7919 % 100003}?"


def sem(host):
    from clawhost.plugins.semantic_cache import STATE
    return host.state[STATE]


def exact_l2(host):
    from clawhost.plugins.cache import STATE
    return host.state[STATE].l2


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


async def wait_all(hosts, n, timeout=120.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if all(len(sem(h).index or ()) >= n for h in hosts):
            return time.perf_counter() - t0
        await asyncio.sleep(0.005)
    raise RuntimeError(f"not every host reached {n} entries in {timeout}s: "
                       f"{[len(sem(h).index or ()) for h in hosts]}")


async def lookup_ms(host, texts) -> list[float]:
    out = []
    for text in texts:
        req = chat(text)
        t0 = time.perf_counter()
        reply = await host.handle(req)
        out.append((time.perf_counter() - t0) * 1000)
        assert reply.source != "model", (text, reply.headers)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--entries", type=int, default=400)
    ap.add_argument("--lookups", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--paced-rate", type=int, default=10, help="entries/s in the paced phase")
    ap.add_argument("--paced-s", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fleet.md"))
    args = ap.parse_args()
    import redis.asyncio as aioredis
    tmp = Path(tempfile.mkdtemp(prefix="clawhost-fleet-bench-"))
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_server import RedisServer  # the tests' starter: a free port, PING before use
    server = RedisServer(tmp)
    server.start()
    url = server.url
    r = aioredis.Redis.from_url(url)
    hosts: list[Host] = []
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    try:
        load0 = os.getloadavg()
        hosts = [await new_host(tmp, url, f"h{i:02d}") for i in range(args.hosts)]
        for h in hosts:  # each opens its index and catches up
            while not (sem(h).fleet and sem(h).fleet.caught_up):
                await asyncio.sleep(0.01)
        mem0 = (await r.info("memory"))["used_memory"]
        await r.config_resetstat()

        # 1. replication: every host stores its share, until every index holds them all
        n = args.entries
        t0 = time.perf_counter()
        for i in range(n):
            await hosts[i % len(hosts)].handle(chat(question(i)))
        store_s = time.perf_counter() - t0
        for h in hosts:
            await sem(h).fleet.flush()
        total_s = store_s + await wait_all(hosts, n)
        lags = [lag for h in hosts for lag in sem(h).fleet.lags_ms]
        # 1b. lag at a steady pace (what a fleet sees day to day), not at saturation
        for h in hosts:
            sem(h).fleet.lags_ms.clear()
        paced = args.paced_rate * args.paced_s
        t0 = time.perf_counter()
        for j in range(paced):
            await asyncio.sleep(max(0.0, t0 + j / args.paced_rate - time.perf_counter()))
            await hosts[j % len(hosts)].handle(chat(question(n + j)))
        await wait_all(hosts, n + paced)
        paced_lags = [lag for h in hosts for lag in sem(h).fleet.lags_ms]
        n += paced
        mem1 = (await r.info("memory"))["used_memory"]
        keys = sem(hosts[0]).fleet.keys  # the semantic cache's key names (FleetKeys)
        entry_keys = await r.keys(keys.entry_prefix + "*")
        # SAMPLES 0: every field counted (the default samples 5 of a hash's fields)
        sizes = [await r.memory_usage(k, samples=0) or 0 for k in entry_keys]
        hash_bytes = statistics.median(sizes)
        sem_bytes = sum(sizes) + sum([await r.memory_usage(k, samples=0) or 0 for k in (
            keys.ids, keys.log)])
        l2_keys = await r.keys(exact_l2(hosts[0]).keys.in_namespace(None))
        l2_bytes = sum([await r.memory_usage(k, samples=0) or 0 for k in l2_keys])
        stats = await r.info("commandstats")
        ix = sem(hosts[0]).index
        index_bytes = ix.bytes / len(ix)
        ix.db.commit()
        ix.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL's pages into the file
        sqlite_bytes = (Path(sem(hosts[0]).folder) / "index.sqlite").stat().st_size / len(ix)

        # 2. lookups: a fleet host against a host alone, alternating rounds, same entries
        alone = await new_host(tmp, None, "alone")
        for i in range(n):
            await alone.handle(chat(question(i)))
        k = args.lookups
        paraphrases = [question(i).lower().rstrip("?") for i in range(k)]  # hit-semantic
        repeats = [question(i) for i in range(k)]                          # hit-l1
        fleet_host = hosts[1]
        for h in (fleet_host, alone):  # warm both: the repeats become L1 hits on each
            await lookup_ms(h, repeats)
        times = {("fleet", "semantic"): [], ("alone", "semantic"): [],
                 ("fleet", "l1"): [], ("alone", "l1"): []}
        rounds_p50 = {key: [] for key in times}
        for rnd in range(args.rounds):
            order = [("fleet", fleet_host), ("alone", alone)]
            if rnd % 2:
                order.reverse()
            for who, h in order:
                for kind, texts in (("semantic", paraphrases), ("l1", repeats)):
                    ms = await lookup_ms(h, texts)
                    times[(who, kind)] += ms
                    rounds_p50[(who, kind)].append(statistics.median(ms))
        await alone.stop()
        load1 = os.getloadavg()
        calls = {name.removeprefix("cmdstat_"): v for name, v in stats.items()
                 if name.startswith("cmdstat_")}

        say(f"# Fleet mode: {args.hosts} hosts in one process, one redis-server 7")
        say()
        say(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; CPU {cpu_model()}, "
            f"{os.cpu_count()} cores; load average {load0[0]:.1f} before, {load1[0]:.1f} after; "
            f"Python {sys.version.split()[0]}")
        say()
        say("| figure | value |")
        say("|---|---|")
        burst = args.entries
        say(f"| burst: entries stored back to back (Host.handle, spread over {args.hosts} "
            f"hosts) | {burst} |")
        say(f"| burst: replicated to all {args.hosts} hosts in | {total_s:.2f} s "
            f"(stores alone took {store_s:.2f} s) |")
        say(f"| burst: entries/s replicated (each to {args.hosts - 1} other hosts) | "
            f"{burst / total_s:.0f} ({burst * (args.hosts - 1) / total_s:.0f} "
            "host-entries/s applied, all in this one process) |")
        say(f"| burst: replication lag p50 / p99 / max ({len(lags)} applications) | "
            f"{pct(lags, 0.5):.1f} / {pct(lags, 0.99):.1f} / {max(lags):.1f} ms |")
        say(f"| paced, {args.paced_rate} entries/s for {args.paced_s} s: lag p50 / p99 / max "
            f"({len(paced_lags)} applications) | {pct(paced_lags, 0.5):.1f} / "
            f"{pct(paced_lags, 0.99):.1f} / {max(paced_lags):.1f} ms |")
        say(f"| Redis memory per semantic entry (MEMORY USAGE of the hashes, id set and "
            f"stream / entries) | {sem_bytes / n:.0f} B |")
        say(f"| one entry hash, median (MEMORY USAGE; its vector alone is {DIM * 4} B) | "
            f"{hash_bytes:.0f} B |")
        say(f"| the exact cache's L2 entry beside it (fleet Redis) | "
            f"{l2_bytes / max(1, len(l2_keys)):.0f} B |")
        say(f"| Redis used_memory delta / entries (both caches, allocator included) | "
            f"{(mem1 - mem0) / n:.0f} B |")
        say(f"| local index per entry (SemanticIndex.bytes / entries; sqlite file) | "
            f"{index_bytes:.0f} B; {sqlite_bytes:.0f} B |")
        for kind, label in (("semantic", "hit-semantic"), ("l1", "hit-l1")):
            f50 = statistics.median(times[("fleet", kind)])
            a50 = statistics.median(times[("alone", kind)])
            say(f"| lookup p50, {label}: fleet / alone (anchor) / added | {f50:.3f} / "
                f"{a50:.3f} / {f50 - a50:+.3f} ms |")
        say(f"| per-round p50 (fleet, semantic) | "
            f"{', '.join(f'{x:.3f}' for x in rounds_p50[('fleet', 'semantic')])} ms |")
        say(f"| per-round p50 (alone, semantic) | "
            f"{', '.join(f'{x:.3f}' for x in rounds_p50[('alone', 'semantic')])} ms |")
        say()
        say("Redis CPU per command during replication (INFO commandstats):")
        say()
        say("| command | calls | µs per call |")
        say("|---|---|---|")
        for name in ("evalsha", "eval", "hgetall", "xread", "get", "set"):
            if name in calls:
                say(f"| {name} | {calls[name]['calls']} | {calls[name]['usec_per_call']:.1f} |")
        per_entry_us = sum(calls[c]["usec"] for c in calls if c in (
            "eval", "evalsha", "hgetall", "xread")) / n
        say()
        say(f"Redis CPU per entry replicated to {args.hosts} hosts (eval + hgetall + xread): "
            f"{per_entry_us:.0f} µs, i.e. {per_entry_us / args.hosts:.1f} µs per host "
            "that receives it.")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
    finally:
        for h in hosts:
            await h.stop()
        await r.aclose()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
