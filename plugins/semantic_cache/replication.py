"""Fleet mode for the semantic cache: every host's entries in Redis, every index in sync.

Redis 7.0 has no vector search, so Redis holds the entries as data (``fleet_store``: its
keys, the write scripts, each entry's checksum) and each host searches its own
``SemanticIndex``, which this module keeps in sync.

A host catches up (``catch_up``: reads every live entry it lacks, drops those the fleet
deleted) when it starts and whenever Redis comes back, then follows the fleet's change log;
it serves semantic hits only once it has caught up (or while Redis is down: then its local
index serves, as on a host alone).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter, deque
from typing import Any

import numpy as np

from clawhost.api import FleetLink

from .catch_up import EpochFile, catch_up
from .fleet_store import ADD, CLEAR, FIELDS, REMOVE, STREAM_MAX, FleetKeys, checksum, encode

log = logging.getLogger("clawhost.semantic")

BLOCK_MS = 1000       # XREAD BLOCK: a follower wakes at least this often
STOP_WAIT_S = 3.0
BATCH = 256           # entries per pipelined read during catch-up


class Replicator:
    """The bridge between one host's ``SemanticCache`` and the fleet's Redis."""

    def __init__(self, cache: Any, link: FleetLink) -> None:
        self.cache, self.link = cache, link
        self.fid_of: dict[int, str] = {}  # local entry id -> fleet id
        self.eid_of: dict[str, int] = {}
        self.pending: dict[int, bytes] = {}  # stored while Redis was down: eid -> answer JSON
        self.last_id = b"0-0"
        self.caught_up = False
        self.counts: Counter[str] = Counter()
        self.lags_ms: deque[float] = deque(maxlen=4096)  # event age when applied
        self._task: asyncio.Task | None = None
        self._writes: set[asyncio.Task] = set()
        # one write at a time, in the order of the stores: the log then says what happened
        # in the order it happened here (asyncio's lock wakes its waiters first come first)
        self._write_order = asyncio.Lock()
        self.epoch: str | None = None  # the fleet epoch this index last caught up with
        self.epoch_file = EpochFile(cache.folder)
        self._stopping = False
        self.keys = FleetKeys.under(link.namespace)
        # EVALSHA with the script's hash, sent in full only when Redis does not know it
        self._add = link.redis.register_script(ADD)
        self._del = link.redis.register_script(REMOVE)
        self._clear = link.redis.register_script(CLEAR)

    # -- the cache's side ------------------------------------------------------------------
    @property
    def serving(self) -> bool:
        """Whether the local index may answer: caught up, or Redis is down (local tiers)."""
        return self.caught_up or not self.link.available

    def stored(self, eid: int, answer: dict) -> None:
        """A new local entry: written to Redis after the reply, not before it (its JSON is
        taken now: nothing done to the reply afterwards reaches the fleet)."""
        blob = encode(answer)
        if not self.link.available:
            self.pending[eid] = blob
            return
        self._spawn(self.publish(eid, blob))

    def removed(self, eid: int) -> None:
        """A local entry replaced by a refreshed answer: the fleet drops it too."""
        self.pending.pop(eid, None)
        fid = self.fid_of.pop(eid, None)
        if fid is not None:
            self.eid_of.pop(fid, None)
            self._spawn(self._remove(fid))

    async def clear(self) -> int:
        """Clear the fleet's entries (each host clears its index on the event)."""
        self.pending.clear()
        try:
            async with self._write_order:  # after the stores made before it
                n = await self._clear(keys=[self.keys.ids, self.keys.log],
                                      args=[self.keys.entry_prefix, STREAM_MAX, self.link.name])
        except Exception as exc:  # noqa: BLE001 - said by the link; the local clear stands
            self._failed(exc)
            return 0
        self.fid_of.clear()
        self.eid_of.clear()
        return int(n)

    # -- writes ----------------------------------------------------------------------------
    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    def _fields(self, eid: int, answer: bytes) -> dict[str, bytes] | None:
        index = self.cache.index
        entry = index.entries.get(eid) if index is not None else None
        if entry is None:
            return None
        fields = {"scope": entry.scope.encode(), "query": entry.query.encode(),
                  "vec": np.ascontiguousarray(index.vector(eid), np.float32).tobytes(),
                  "answer": answer,
                  "created": repr(entry.created).encode(), "expires": repr(entry.expires).encode(),
                  "fp": self.cache.embedder.fingerprint.encode()}
        fields["sum"] = checksum(fields)
        fields["host"] = self.link.name.encode()
        return fields

    async def publish(self, eid: int, answer: bytes) -> None:
        async with self._write_order:
            await self._publish_now(eid, answer)

    async def _publish_now(self, eid: int, answer: bytes) -> None:
        fields = self._fields(eid, answer)
        if fields is None:  # evicted or replaced meanwhile
            return
        fid = uuid.uuid4().hex[:20]
        expires = float(fields["expires"])
        flat = [x for kv in fields.items() for x in kv]
        try:
            await self._add(keys=[self.keys.entry(fid), self.keys.ids, self.keys.log],
                            args=[fid, int(expires * 1000), expires, self.cache.opts.max_entries,
                                  self.keys.entry_prefix, STREAM_MAX, self.link.name, *flat])
        except Exception as exc:  # noqa: BLE001
            if self._failed(exc):
                self.pending[eid] = answer
            return
        if eid in self.cache.index.entries:
            self.fid_of[eid], self.eid_of[fid] = fid, eid
        self.counts["published"] += 1

    async def _remove(self, fid: str) -> None:
        async with self._write_order:
            await self._remove_now(fid)

    async def _remove_now(self, fid: str) -> None:
        try:
            await self._del(keys=[self.keys.entry(fid), self.keys.ids, self.keys.log],
                            args=[fid, STREAM_MAX, self.link.name])
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)

    def _failed(self, exc: BaseException) -> bool:
        """True for a connection error (the link goes down and reconnects)."""
        import redis.exceptions as rexc
        if isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError, OSError,
                            asyncio.TimeoutError)):
            self.link.report_failure(exc)
            return True
        self.counts["redis_errors"] += 1
        log.debug("semantic_cache: fleet write refused: %s", exc)
        return False

    # -- following the fleet ---------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="semcache-follow")

    async def stop(self) -> None:
        """Finish the writes under way (a few seconds at most) and stop following. Never
        hangs a host's shutdown: a task that does not end in time is left to the loop."""
        self._stopping = True
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=STOP_WAIT_S)
        if self._task is not None:
            self._task.cancel()
            _, late = await asyncio.wait({self._task}, timeout=STOP_WAIT_S)
            if late:
                log.warning("semantic_cache: the fleet follower did not stop in %ss",
                            STOP_WAIT_S)
            self._task = None

    async def _run(self) -> None:
        while not await self.cache._ready():  # the index opens once the embedder is ready
            await asyncio.sleep(0.2)
        # a blocking read gets a client of its own: the shared one times out quickly
        client = self.link.open_client(read_timeout_s=BLOCK_MS / 1000 + 5)
        try:
            while not self._stopping:
                await self.link.wait_available()
                try:
                    if not self.caught_up:
                        await catch_up(self)
                    reply = await client.xread({self.keys.log: self.last_id}, count=512,
                                               block=BLOCK_MS)
                    for _stream, events in reply or ():
                        await self.apply(events)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    if self._failed(exc):
                        self.caught_up = False  # Redis may have lost or changed data meanwhile
                    await asyncio.sleep(0.1)
        finally:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001
                pass

    async def apply(self, events: list) -> None:
        """Apply a batch of stream events to the local index.

        Between two clears, a batch's deletions go first: a fleet id is never reused, so a
        deletion cannot precede its entry's addition in effect, and an entry added and
        deleted in one batch is never fetched (nor pushes a live entry out of a full index)."""
        me = self.link.name.encode()
        adds: list[str] = []
        dels: set[str] = set()
        for event_id, fields in events:
            self.last_id = event_id
            op, fid, writer = fields.get(b"op"), fields.get(b"id", b"").decode(), fields.get(b"h")
            if op == b"add":
                if writer != me and fid not in self.eid_of:
                    adds.append(fid)
            elif op == b"del":
                dels.add(fid)
            elif op == b"clear":
                await self._apply_run(adds, dels)
                adds, dels = [], set()
                self._apply_clear(writer != me)
        await self._apply_run(adds, dels)
        # the lag: from the event's time in Redis (its id) to now, applied here (one box's
        # clock against Redis's; hosts on other boxes add their clock skew)
        done_ms = time.time() * 1000
        self.lags_ms.extend(done_ms - int(event_id.split(b"-")[0]) for event_id, fields in events
                            if fields.get(b"h") != me)

    async def _apply_run(self, adds: list[str], dels: set[str]) -> None:
        index = self.cache.index
        for fid in dels:
            eid = self.eid_of.pop(fid, None)
            if eid is not None:
                self.fid_of.pop(eid, None)
                if eid in index.entries:
                    index.remove(eid)
                    self.counts["removed"] += 1
        adds = [fid for fid in adds if fid not in dels]
        if adds:
            await self.fetch_and_add(adds)

    def _apply_clear(self, from_another_host: bool) -> None:
        index = self.cache.index
        if from_another_host:  # this host's own clear emptied its index already
            index.clear()
            self.cache.normal.rebuild(index)
        self.fid_of.clear()
        self.eid_of.clear()
        self.counts["cleared"] += 1

    async def fetch_and_add(self, fids: list[str], client: Any = None, now: float | None = None,
                             local_keys: dict | None = None) -> int:
        """Read ``fids``' entries, ``BATCH`` to a pipelined round trip, and add them here
        (``_add_local``; one index commit per batch). ``client`` and ``now`` default to the
        link's client and the time each batch arrived; catch-up fixes both for its run."""
        added = 0
        for i in range(0, len(fids), BATCH):
            part = fids[i:i + BATCH]
            async with (self.link.redis if client is None else client).pipeline(
                    transaction=False) as pipe:
                for fid in part:
                    pipe.hgetall(self.keys.entry(fid))
                rows = await pipe.execute()
            at = time.time() if now is None else now
            for n, (fid, row) in enumerate(zip(part, rows)):
                added += self._add_local(fid, row, at, commit=n == len(part) - 1,
                                         local_keys=local_keys)
        return added

    def _valid(self, row: dict) -> dict | None:
        """The entry's fields when whole and usable here, else None (counted)."""
        fields = {k.decode(): v for k, v in row.items()} if row else {}
        if not fields:
            self.counts["missing"] += 1  # removed, expired or evicted since its event
            return None
        if any(f not in fields for f in FIELDS) or fields.get("sum") != checksum(fields):
            self.counts["damaged"] += 1
            return None
        if fields["fp"].decode() != self.cache.embedder.fingerprint or \
                len(fields["vec"]) != 4 * self.cache.index.dim:
            self.counts["other_embedder"] += 1
            return None
        return fields

    def _add_local(self, fid: str, row: dict, now: float, commit: bool = True,
                   local_keys: dict | None = None) -> int:
        fields = self._valid(row)
        if fields is None:
            return 0
        expires = float(fields["expires"])
        if expires <= now:
            return 0
        scope, query = fields["scope"].decode(), fields["query"].decode()
        try:
            answer = json.loads(fields["answer"])
        except ValueError:
            self.counts["damaged"] += 1
            return 0
        index = self.cache.index
        if local_keys is not None:  # catch-up: an entry this index already holds
            _, akey = index.answer_key(answer)
            eid = local_keys.pop((scope, query, akey), None)
            if eid is not None and eid in index.entries:
                self.fid_of[eid], self.eid_of[fid] = fid, eid
                return 0
        vec = np.frombuffer(fields["vec"], np.float32)
        eid = index.add(scope, query, vec, answer, expires - now, now=now, commit=commit)
        if eid is None:
            return 0
        self.cache.normal.add(scope, query, eid)
        self.fid_of[eid], self.eid_of[fid] = fid, eid
        self.counts["applied"] += 1
        return 1

    # -- reports ---------------------------------------------------------------------------
    def lag_p99_ms(self) -> float | None:
        """The 99th percentile of how old an event was when this host applied it."""
        lags = sorted(self.lags_ms)
        return round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 1) if lags else None

    def facts(self) -> dict[str, Any]:
        return {"caught_up": self.caught_up, "shared": len(self.eid_of),
                "pending": len(self.pending), "lag_p99_ms": self.lag_p99_ms(),
                **{k: v for k, v in self.counts.items()}}

    def figures(self) -> dict[str, Any]:
        """For the monitor's gauges (clawhost_semantic_cache_fleet_*)."""
        lag = self.lag_p99_ms()
        return {"fleet_shared": len(self.eid_of), "fleet_pending": len(self.pending),
                "fleet_caught_up": int(self.caught_up),
                **({"fleet_lag_p99_seconds": lag / 1000} if lag is not None else {}),
                **{f"fleet_{k}": self.counts[k] for k in (
                    "published", "applied", "removed", "missing", "damaged", "catch_ups")}}
