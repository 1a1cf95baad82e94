"""Catching up with the fleet: one host's index brought to the fleet's state in Redis.

The ``Replicator`` runs it when the index opens and whenever Redis comes back (or lost its
data), then follows the change log from the point it read. Catch-up reads every live
entry's id, fetches those the index lacks, drops those the fleet deleted, cleared or
evicted while this host was away, and sends what only this host holds (entries stored while
Redis was down, or from before it joined).

Whether "deleted while away" can be trusted depends on the fleet's epoch (``fleet_store``):
the one this index last caught up with is kept in its folder (``EpochFile``). The same epoch
means Redis kept its data, so an entry the fleet does not hold was deleted there and goes
here too; a new epoch (or none saved) means Redis is new to this index or lost its data,
and every host seeds it from its index.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from .fleet_store import encode

if TYPE_CHECKING:  # annotations only: the replicator imports this module
    from .replication import Replicator

log = logging.getLogger("clawhost.semantic")

EPOCH_FILE = "fleet-epoch"


class EpochFile:
    """The fleet epoch this index last caught up with (``<semantic path>/fleet-epoch``)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / EPOCH_FILE

    def read(self) -> str | None:
        try:
            return self.path.read_text().strip() or None
        except OSError:
            return None

    def write(self, epoch: str) -> None:
        try:
            self.path.write_text(epoch)
        except OSError:
            pass  # then the next start seeds the fleet instead of trusting it: no harm


async def catch_up(rep: Replicator) -> None:
    """Bring the local index to the fleet's state, then follow the log from here."""
    r, index = rep.link.redis, rep.cache.index
    t0 = time.perf_counter()
    await r.set(rep.keys.epoch, uuid.uuid4().hex, nx=True)
    epoch = (await r.get(rep.keys.epoch)).decode()
    known = rep.epoch or rep.epoch_file.read()
    same_data = known == epoch  # else Redis is new to this index, or lost its data
    last = await r.xrevrange(rep.keys.log, count=1)
    start_id = last[0][0] if last else b"0-0"
    now = time.time()
    live = [f.decode() for f in await r.zrangebyscore(rep.keys.ids, now, "+inf")]
    live_set = set(live)
    # what this index holds that the fleet may know under another id (after a restart)
    mapped = {eid for eid in rep.fid_of if eid in index.entries}
    local_keys = {(e.scope, e.query, e.answer_key): eid for eid, e in index.entries.items()
                  if eid not in mapped}
    missing = [fid for fid in live if fid not in rep.eid_of]
    await rep.fetch_and_add(missing, r, now, local_keys)
    dropped = 0
    for fid, eid in list(rep.eid_of.items()):
        if fid in live_set:
            continue
        rep.eid_of.pop(fid, None)
        rep.fid_of.pop(eid, None)
        if eid not in index.entries:
            continue
        if same_data:  # deleted, cleared or evicted in the fleet while this host was away
            index.remove(eid)
            dropped += 1
        else:
            local_keys[(index.entries[eid].scope, index.entries[eid].query,
                        index.entries[eid].answer_key)] = eid
    # entries only this index holds: stored while Redis was down, or from before this
    # host joined (or Redis lost its data): the fleet gets them; when the fleet's data is
    # the same as before, an unknown old entry was deleted there and goes here too
    seed = 0
    for eid in local_keys.values():
        if eid not in index.entries:
            continue
        if same_data and eid not in rep.pending:
            index.remove(eid)
            dropped += 1
            continue
        blob = rep.pending.pop(eid, None)
        if blob is None and (body := index.answer(eid)) is not None:
            blob = encode(body)
        if blob is not None:
            await rep.publish(eid, blob)
            seed += 1
    for eid, answer in list(rep.pending.items()):  # stored meanwhile, not yet matched
        rep.pending.pop(eid)
        if eid in index.entries and eid not in rep.fid_of:
            await rep.publish(eid, answer)
            seed += 1
    if dropped:
        index.purge_expired()  # commits the removals
        rep.cache.normal.rebuild(index)
    rep.last_id = start_id
    rep.epoch = epoch
    rep.epoch_file.write(epoch)
    rep.caught_up = True
    rep.counts["catch_ups"] += 1
    log.info("semantic_cache: caught up with the fleet in %.0f ms (%d entries there, "
             "%d added here, %d dropped, %d sent)", (time.perf_counter() - t0) * 1000,
             len(live), len(missing), dropped, seed)
