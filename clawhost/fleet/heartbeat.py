"""Heartbeats: each host's record in Redis, and the list of hosts the fleet has seen.

Two keys per fleet, both in its namespace:
- ``<ns>:fleet:host:<name>``: the host's record (JSON: name, version, pid, address, started,
  instance), with an expiry of a few heartbeats, so a host killed with ``kill -9`` leaves
  only a record that runs out;
- ``<ns>:fleet:hosts``: a sorted set, name -> time of its last beat (Redis's own clock, so
  hosts with skewed clocks agree on ages). Names not heard from for ``FORGET_S`` are dropped.

A beat is one Lua script (atomic, one round trip): write the record, stamp the set, prune
it, and return the names seen recently, from which ``hosts_seen`` is answered offline.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..contracts import fleet_key

FORGET_S = 3600.0  # a host gone this long leaves the list (until then it shows as stale)

BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
local seen = redis.call('ZRANGEBYSCORE', KEYS[2], now - tonumber(ARGV[5]), '+inf', 'WITHSCORES')
return {tostring(now), seen, prev or ''}
"""

LEAVE = """
local prev = redis.call('GET', KEYS[1])
if prev and string.find(prev, ARGV[2], 1, true) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


def record(name: str, instance: str, started: float, address: str | None) -> str:
    from .. import __version__
    return json.dumps({"name": name, "version": __version__, "pid": os.getpid(),
                       "address": address, "started": round(started, 3),
                       "instance": instance}, separators=(",", ":"))


def parse_seen(flat: list) -> dict[str, float]:
    """ZRANGEBYSCORE ... WITHSCORES as a Lua reply (name, score, name, score ...)."""
    out = {}
    for i in range(0, len(flat) - 1, 2):
        name = flat[i].decode() if isinstance(flat[i], bytes) else str(flat[i])
        out[name] = float(flat[i + 1])
    return out


def host_key(ns: str, name: str) -> str:
    return fleet_key(ns, "fleet", "host", name)


def hosts_key(ns: str) -> str:
    return fleet_key(ns, "fleet", "hosts")


async def read_hosts(redis: Any, ns: str, stale_after_s: float) -> list[dict[str, Any]]:
    """Every host the fleet has seen in the last ``FORGET_S``, newest beat first."""
    secs, micros = await redis.time()
    now = secs + micros / 1e6
    seen = await redis.zrange(hosts_key(ns), 0, -1, withscores=True)
    names = [n.decode() if isinstance(n, bytes) else n for n, _ in seen]
    blobs = await redis.mget([host_key(ns, n) for n in names]) if names else []
    hosts = []
    for (name, (_, beat)), blob in zip(zip(names, seen), blobs):
        try:
            rec = json.loads(blob) if blob else {}
        except ValueError:  # a damaged record: the name and beat still say something
            rec = {}
        age = max(0.0, now - beat)
        rec.pop("instance", None)
        hosts.append({**rec, "name": name, "beat": round(beat, 3), "age_s": round(age, 2),
                      "stale": age > stale_after_s or not blob})
    hosts.sort(key=lambda h: h["age_s"])
    return hosts
