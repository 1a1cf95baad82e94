"""The semantic cache's entries as the fleet's Redis keeps them (``replication`` keeps
each host's index in sync with them):

- ``<ns>:semcache:e:<fid>``: one hash per entry (scope, query, vector as float32 bytes,
  answer JSON, created, expires, writer, embedder fingerprint, and a checksum over them),
  expiring at the entry's own expiry (Redis's clock does the fleet-wide TTL);
- ``<ns>:semcache:ids``: a sorted set fid -> expires, for catch-up and the fleet-wide bound
  (past ``max_entries`` the soonest-expiring entries go, with a ``del`` event each);
- ``<ns>:semcache:log``: a Redis Stream of ``add`` / ``del`` / ``clear`` events that every
  host follows with ``XREAD BLOCK`` (capped near ``STREAM_MAX`` events);
- ``<ns>:semcache:epoch``: a random id set once: when it changes, Redis lost its data (a
  restart without persistence) and the hosts seed it again from their indexes.

A write is one Lua script (hash, expiry, set, event, bound), atomic in Redis: a host killed
with ``kill -9`` mid-write leaves either the whole entry and its event or nothing. A reader
still checks every entry (present, checksum, vector size, fingerprint) and skips a bad one.

``FleetKeys`` builds these names (the only place that does); ``clear_in_redis`` is
``clawhost semantic-cache clear`` when no host runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from clawhost.api import fleet_key

STREAM_MAX = 100_000  # events kept in the change log (approximate trim)

# KEYS: entry hash, id set, stream. ARGV: fid, expires_ms, expires (s), cap, prefix of entry
# keys, stream cap, host, then the hash's field/value pairs.
ADD = """
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'op', 'add', 'id', ARGV[1], 'h', ARGV[7])
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(t[1]))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #gone, 2 do
    redis.call('UNLINK', ARGV[5] .. gone[i])
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'op', 'del', 'id', gone[i], 'h', ARGV[7])
  end
end
return over
"""

# KEYS: entry hash, id set, stream. ARGV: fid, stream cap, host.
REMOVE = """
local n = redis.call('UNLINK', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', 'del', 'id', ARGV[1], 'h', ARGV[3])
return n
"""

# KEYS: id set, stream. ARGV: prefix of entry keys, stream cap, host.
CLEAR = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #ids, 500 do
  local batch = {}
  for j = i, math.min(i + 499, #ids) do batch[#batch + 1] = ARGV[1] .. ids[j] end
  redis.call('UNLINK', unpack(batch))
end
redis.call('UNLINK', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'op', 'clear', 'id', '', 'h', ARGV[3])
return #ids
"""


@dataclass(frozen=True, slots=True)
class FleetKeys:
    """The semantic cache's key names in one fleet namespace (the layout above)."""

    ids: str
    log: str
    epoch: str
    entry_prefix: str  # + a fleet id: that entry's hash (the scripts build the ones they evict)

    @classmethod
    def under(cls, namespace: str) -> FleetKeys:
        def key(*parts: str) -> str:
            return fleet_key(namespace, "semcache", *parts)
        return cls(ids=key("ids"), log=key("log"), epoch=key("epoch"), entry_prefix=key("e", ""))

    def entry(self, fid: str) -> str:
        return self.entry_prefix + fid


FIELDS = ("scope", "query", "vec", "answer", "created", "expires", "fp")


def checksum(fields: dict[str, bytes]) -> bytes:
    h = hashlib.sha256()
    for name in FIELDS:
        value = fields[name]
        h.update(len(value).to_bytes(8, "little"))
        h.update(value)
    return h.hexdigest()[:24].encode()


def encode(answer: dict) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()


def clear_in_redis(fleet_options: Any) -> int:
    """``clawhost semantic-cache clear`` with no host running: clear the fleet's entries in
    Redis too (the running hosts clear their indexes on the event). Raises OSError or
    redis's errors when Redis cannot be reached."""
    import redis
    keys = FleetKeys.under(fleet_options.namespace)
    client = redis.Redis.from_url(fleet_options.url.get_secret_value(),
                                  socket_timeout=fleet_options.timeout_s * 4,
                                  socket_connect_timeout=fleet_options.timeout_s * 4)
    try:
        return int(client.eval(CLEAR, 2, keys.ids, keys.log, keys.entry_prefix, STREAM_MAX,
                               "cli"))
    finally:
        client.close()
