"""Resident pages of mapped model files that the process no longer reads, given back.

onnxruntime maps a graph's external data file (one private mapping per initializer) and
keeps some of those mappings after prepacking has copied what the kernels use: on the int4
SmolLM2 graph, 18 MB of the quantized weights' scales and zero points stay mapped, and a
request reads under 1 MB of them (``Referenced`` in /proc/<pid>/smaps after ``clear_refs``;
BENCHMARKS.md, "#18 session 12"). How much of such a mapping is resident depends on the page
cache, not on use: with the file all cached, as right after a model is prepared, a fault
maps 64 KB around the page (fault-around), or the whole large folio holding it (up to 2 MB
on ext4 with kernel 6.18), so ``ps`` shows more.

``MADV_DONTNEED`` on a file mapping drops this process's page-table entries only. The page
cache keeps the pages, and a later read faults the same bytes back in. It is lossless only
where the process never wrote: a private mapping's written pages are anonymous copies, and
dropping them would bring back the file's bytes. So mappings with any anonymous pages are
left alone.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import re
from pathlib import Path

_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+(?:\s+(.*))?$")


def file_mappings(folder: Path | str, pid: int | str = "self") -> list[dict]:
    """Mappings of files under `folder`: ``start``, ``end``, ``perms``, ``path`` and
    ``Rss`` / ``Anonymous`` / ``Referenced`` in bytes, read from /proc/<pid>/smaps."""
    prefix = os.path.join(os.path.realpath(folder), "")
    out: list[dict] = []
    cur: dict | None = None
    try:
        with open(f"/proc/{pid}/smaps") as fh:
            lines = fh.readlines()
    except OSError:  # not Linux
        return out
    for line in lines:
        m = _HEADER.match(line)
        if m:
            path = (m.group(4) or "").strip()
            cur = None
            if path.startswith(prefix):
                cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                       "perms": m.group(3), "path": path}
                out.append(cur)
        elif cur is not None and line.startswith(("Rss:", "Anonymous:", "Referenced:")):
            key, value = line.split()[:2]
            cur[key[:-1]] = int(value) * 1024
    return out


def release_file_pages(folder: Path | str) -> int:
    """Drop this process's resident pages of the unwritten file mappings under `folder`.

    Returns the bytes that were resident in them. Call it on mappings whose owner stays
    alive (a session's own files): an address unmapped and reused between reading smaps
    and the madvise would lose its pages."""
    libc = _libc()
    if libc is None:
        return 0
    dropped = 0
    for m in file_mappings(folder):
        if m.get("Anonymous", 0) or not m.get("Rss", 0):
            continue  # written pages would be lost; nothing resident: nothing to do
        libc.madvise(ctypes.c_void_p(m["start"]), ctypes.c_size_t(m["end"] - m["start"]),
                     mmap.MADV_DONTNEED)
        dropped += m["Rss"]
    return dropped


def _libc():
    if not hasattr(mmap, "MADV_DONTNEED"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None
