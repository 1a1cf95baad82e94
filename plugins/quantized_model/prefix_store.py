"""Long prompt prefixes' KV on disk: an agent's system prompt is prefilled once, not once
per turn, and not again after a restart.

Why: agents resend the same long system prompt (OpenClaw's is ~10k tokens) on every turn,
and its prefill is most of a turn's time on a 2-core CPU (30–50 s for 7k tokens). Keeping its KV
in memory (`prefix_cache.py`) costs 80 MB of a small box's RAM per 7k-token prefix and is
gone with the process. On disk it costs no RAM (the page cache gives it back under
pressure), is shared by every stream that starts with it, and survives `clawhost stop` /
`start`. Reading 7k tokens' blocks takes tens of milliseconds.

How (vLLM's automatic prefix caching, on disk): a prompt is cut into blocks of
``prefix_cache.BLOCK`` (256) tokens. Block i is named by a hash of every token up to its
end, so a name says the whole prefix, and turn 2 (turn 1's prompt + answer + a new message,
as a chat template renders it) shares turn 1's blocks by name and writes only its new ones.
Blocks are written as the prefill completes them (`SlotBatch._prefill_chunk`), so a prompt
abandoned halfway leaves what was done for its retry.
A file holds one block's keys and values for every layer, as they are in the cache (int8
stays int8), after a checksum of them. The folder is per model and per *fingerprint*: the
weights, the KV graph and its element type; a rebuilt model starts a new folder and the
old ones are removed. Past ``limit_bytes`` the least recently used blocks go first, a chain's
last block before its first, so what stays of it is still a prefix.

Faults lose nothing: a file that is short or fails its checksum is a miss (and is removed); a
write that fails (disk full, read-only) turns writing off with one warning, and serving
goes on. Files are written under a temporary name and renamed, so a crash leaves no half
block behind a real name. Driven from one thread (the model's batch), like `SlotBatch`.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("clawhost.quantized_model")

SUFFIX = ".kv"
MIN_TOKENS = 512  # shorter prompts are not written: their prefill is cheap (~0.7 s for 512)
DIGEST = 4  # a CRC-32 of the payload at the start of a block file (for damage, not tampering:
# 0.7 ms a block where blake2b took 3.9, ~90 ms of a 7k-token prefix each way)


def _crc(payload: np.ndarray) -> bytes:
    return zlib.crc32(payload).to_bytes(DIGEST, "little")


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # gone with its folder, or a read-only disk: nothing to keep in order
        pass


def fingerprint(folder: Path, graph: str, kv_dtype: str, block: int) -> str:
    """What a cached block's bytes depend on: the weights (their file's size and time: a
    re-prepared model writes it anew), the KV graph file itself (rotary, the scales of an
    int8 cache), the element type and the block length."""
    h = hashlib.blake2b(digest_size=8)
    data = folder / "model.onnx.data"
    if data.exists():
        st = data.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    h.update((folder / graph).read_bytes())
    h.update(f"{kv_dtype}:{block}".encode())
    return h.hexdigest()


def block_names(ids: list[int], block: int) -> list[str]:
    """One name per whole block of `ids`: a hash chain, so name i depends on tokens
    0 .. (i + 1) * block - 1 and never on what follows."""
    names, prev = [], b""
    arr = np.asarray(ids[:len(ids) // block * block], np.int64)
    for i in range(len(arr) // block):
        prev = hashlib.blake2b(prev + arr[i * block:(i + 1) * block].tobytes(),
                               digest_size=16).digest()
        names.append(prev.hex())
    return names


@dataclass
class DiskPrefix:
    """A stored prefix found for a prompt: its length and its blocks, in order."""

    tokens: int
    names: list[str]
    store: "PrefixStore"
    tier: str = "disk"

    def copy_into(self, kv: list[np.ndarray], row: int) -> bool:
        """Read the blocks into row `row` of the cache. False when one cannot be read (the
        row then holds no usable prefix: prefill it all)."""
        return self.store.read(self.names, kv, row)


class PrefixStore:
    """Blocks of long prompts' KV under `root` (see the module docstring)."""

    def __init__(self, root: Path, fingerprint: str, bytes_per_token: int, limit_bytes: int,
                 block: int, min_tokens: int | None = None):
        self.dir = Path(root) / fingerprint
        self.block = block
        self.min_tokens = max(MIN_TOKENS if min_tokens is None else min_tokens, block)
        self.block_bytes = block * bytes_per_token
        self.limit = limit_bytes
        self.writable = True
        self.hits = self.misses = self.writes = 0
        self.reused_tokens = 0
        self.dir.mkdir(parents=True, exist_ok=True)
        for other in Path(root).iterdir():  # blocks of an older build of this model
            if other.is_dir() and other != self.dir:
                shutil.rmtree(other, ignore_errors=True)
        # name -> nothing, least recently used first (the files' times order it at start)
        self.index: OrderedDict[str, None] = OrderedDict()
        found = []
        for f in self.dir.iterdir():
            if f.suffix == SUFFIX and f.stat().st_size == DIGEST + self.block_bytes:
                found.append((f.stat().st_mtime_ns, f.stem))
            else:  # a temporary left by a crash, or a block of another size
                _remove(f)
        for _, name in sorted(found):
            self.index[name] = None
        self._evict()

    @property
    def bytes(self) -> int:
        return len(self.index) * (DIGEST + self.block_bytes)

    def _path(self, name: str) -> Path:
        return self.dir / (name + SUFFIX)

    def lookup(self, ids: list[int]) -> DiskPrefix | None:
        """The longest stored prefix of `ids` (at least `min_tokens`), leaving one token or
        more to prefill (its logits start the answer)."""
        if len(ids) - 1 < self.min_tokens:  # a short prompt: nothing to hash
            self.misses += 1
            return None
        names = block_names(ids[:len(ids) - 1], self.block)
        have = 0
        while have < len(names) and names[have] in self.index:
            have += 1
        if have * self.block < self.min_tokens:
            self.misses += 1
            return None
        return DiskPrefix(have * self.block, names[:have], self)

    def read(self, names: list[str], kv: list[np.ndarray], row: int) -> bool:
        buf = np.empty(DIGEST + self.block_bytes, np.uint8)
        for i, name in enumerate(names):
            try:
                with open(self._path(name), "rb") as f:
                    got = f.readinto(memoryview(buf))
            except FileNotFoundError:  # removed by hand (rm -r .cache/prefix-kv): a plain miss
                got = -1
            except OSError:
                got = 0
            payload = buf[DIGEST:]
            if got != buf.nbytes or _crc(payload) != buf[:DIGEST].tobytes():
                if got != -1:
                    log.warning("prefix cache: dropped an unreadable block %s (prefilling "
                                "instead)", name[:12])
                    self._forget(name)
                elif self.dir.exists():
                    self.index.pop(name, None)
                else:  # the whole folder was cleared: forget every block, write anew
                    self.index.clear()
                self.misses += 1
                return False
            for part, at in self._parts(kv, row, i):
                part[...] = payload[at:at + part.nbytes].view(part.dtype).reshape(part.shape)
        self._used(names, touch=True)
        self.hits += 1
        self.reused_tokens += len(names) * self.block
        return True

    def save(self, ids: list[int], kv: list[np.ndarray], row: int, upto: int | None = None) -> int:
        """Write the blocks of `ids` (the prompt in row `row`) not stored yet, of its first
        `upto` tokens (those prefilled so far; all by default); how many."""
        if not self.writable or len(ids) < self.min_tokens:
            return 0
        names = block_names(ids if upto is None else ids[:upto], self.block)
        if not names:
            return 0
        if all(name in self.index for name in names):
            self._used(names)
            return 0
        buf = np.empty(DIGEST + self.block_bytes, np.uint8)
        written = 0
        try:  # cleared by hand while the host runs: start it again
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # the write below says why
        for i in reversed(range(len(names))):  # the first block last: the newest file
            name = names[i]
            if name in self.index:
                continue
            for part, at in self._parts(kv, row, i):
                at += DIGEST
                buf[at:at + part.nbytes].view(part.dtype).reshape(part.shape)[...] = part
            buf[:DIGEST] = np.frombuffer(_crc(buf[DIGEST:]), np.uint8)
            tmp = self.dir / f".{name}.{os.getpid()}.tmp"
            try:
                with open(tmp, "wb") as f:
                    f.write(memoryview(buf))
                os.replace(tmp, self._path(name))
            except OSError as exc:
                _remove(tmp)
                self.writable = False
                log.warning("prefix cache: cannot write under %s (%s); no more prompt prefixes "
                            "are written until restart", self.dir, exc.strerror or exc)
                break
            self.index[name] = None
            written += 1
        self.writes += written
        self._used([n for n in names if n in self.index])
        self._evict()
        return written

    def _parts(self, kv: list[np.ndarray], row: int, i: int):
        """Block i of row `row`, array by array ([rows, kv_heads, capacity, head_dim], layer
        by layer, keys then values), with each part's offset in the block's payload: the
        file layout, for reading and writing alike."""
        start, at = i * self.block, 0
        for arr in kv:
            part = arr[row, :, start:start + self.block]
            yield part, at
            at += part.nbytes

    def _used(self, names: list[str], touch: bool = False) -> None:
        """`names` (a chain, in order) were just used. The first block becomes the most
        recent, so eviction cuts a chain from its end and what is left is still a usable
        (shorter) prefix. `touch` sets the files' times the same way, for the next start."""
        for name in reversed(names):
            self.index.move_to_end(name)
            if touch:
                try:
                    os.utime(self._path(name))
                except OSError:
                    pass

    def _forget(self, name: str) -> None:
        self.index.pop(name, None)
        _remove(self._path(name))

    def _evict(self) -> None:
        while self.index and self.bytes > self.limit:
            self._forget(next(iter(self.index)))

    def facts(self) -> dict:
        return {"blocks": len(self.index), "mb": round(self.bytes / 2**20, 1),
                "limit_mb": round(self.limit / 2**20, 1), "hits": self.hits,
                "misses": self.misses, "writable": self.writable}
