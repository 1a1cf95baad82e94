"""Token embedding lookup in numpy, reading the table's rows from the model's data file.

The table lives in the external data of the ONNX model (the tied LM head's 8-bit weights, or
the float table of the reference graph): it is stored once on disk, and the rows looked up
(prefill, and `LlamaSession.rescore`'s candidates) are read with ``pread`` into a bounded cache
of rows (`RowCache`), which is all of the table the process holds.

Why not a memory mapping, as before session 12: a mapping costs what the kernel maps on
each fault, not the 576-byte row read. With the file in the page cache in large folios (as
after a model is prepared: written in large blocks; kernel 6.18 on ext4), one row read
maps its whole 2 MB folio, and before that fault-around mapped 64 KB per row: one 7k-token
prompt left 22 MB of the 31 MB table resident (BENCHMARKS.md, "#18 session 12").
"""
from __future__ import annotations

import json
import mmap
import os
import threading
from pathlib import Path

import numpy as np

SIDECAR = "embedding.json"  # where the table lives in the data file: no onnx import to serve
# Rows kept (648 bytes each for SmolLM2's 8-bit table and its scales: 10.6 MB when full, and
# only the rows read are committed). Decode reads ~40 rows a step (the token and ~38 rescored
# candidates); the candidates are varied (6,618 distinct rows in 8 prompts x 120 steps), and
# a miss costs two preads (~2 us each), so the cache is sized to hold that working set. Decode
# still pays ~0.07 ms a step at 1 row for it (0.5%; BENCHMARKS.md, "#18 session 12"). When
# full, it starts again empty.
CACHE_ROWS = 16384


def _table_tensors(proto) -> dict:
    """The initializers holding the embedding table: 8-bit (+ scales) or float."""
    inits = {t.name: t for t in proto.graph.initializer}
    for prefix in ("embed.table", "lm_head"):
        q = inits.get(prefix + ".qweight")
        if q is not None and q.dims[-1] == 32:
            return {"qweight": q, "scales": inits[prefix + ".scales"]}
    if "embed.weight" in inits:
        return {"weight": inits["embed.weight"]}
    raise ValueError("no embedding table found in the model")


def _locations(model_path: Path, sidecar: bool = True) -> dict:
    """{key: {"file", "offset", "shape"}} of the table's arrays, or {key: ndarray} for
    tensors stored inline; from the sidecar if asked and there, else from the graph
    (imports onnx)."""
    if sidecar and (model_path.parent / SIDECAR).exists():
        return json.loads((model_path.parent / SIDECAR).read_text())
    import onnx

    proto = onnx.load(str(model_path), load_external_data=False)
    out: dict = {}
    for key, t in _table_tensors(proto).items():
        info = {e.key: e.value for e in t.external_data}
        out[key] = ({"file": info["location"], "offset": int(info.get("offset", 0)),
                     "shape": list(t.dims)} if info else onnx.numpy_helper.to_array(t))
    return out


def write_sidecar(model_path: Path) -> None:
    """Record offsets and shapes of the table (called once the model is saved)."""
    model_path = Path(model_path)
    spec = _locations(model_path, sidecar=False)
    if any(isinstance(v, np.ndarray) for v in spec.values()):
        return  # inline tensors: EmbeddingTable falls back to reading the proto
    (model_path.parent / SIDECAR).write_text(json.dumps(spec))


class RowCache:
    """Rows of same-length arrays stored in files (``(path, offset, dtype, shape)`` each),
    read with ``pread`` on a miss and kept, up to `capacity` rows, in ordinary memory."""

    def __init__(self, arrays: list[tuple[Path, int, np.dtype, tuple[int, ...]]],
                 capacity: int = CACHE_ROWS):
        self._fds: dict[Path, int] = {}
        self.count = arrays[0][3][0]
        self.capacity = capacity
        self.sources = []  # (fd, offset in the file, row bytes, field)
        fields = []
        for n, (path, offset, dtype, shape) in enumerate(arrays):
            if path not in self._fds:
                self._fds[path] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            fields.append((f"f{n}", np.dtype(dtype), tuple(shape[1:])))
            self.sources.append((self._fds[path], offset, np.dtype(fields[-1][1:]).itemsize, f"f{n}"))
        # one record per cached id holding every array's row: a lookup gathers once
        self.record = np.dtype(fields)
        # its own anonymous mapping, as runner.kv_buffer: only the rows written are committed
        # (an np.empty this size can come from heap pages glibc keeps resident)
        self._map = mmap.mmap(-1, max(capacity * self.record.itemsize, 1),
                              flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.rows = np.frombuffer(self._map, self.record, capacity)
        self.slot = np.full(self.count, -1, np.int32)  # row id -> where it is kept, or -1
        self.used = 0
        self._lock = threading.Lock()  # a lookup reads slots another one may be refilling

    def take(self, flat: np.ndarray) -> list[np.ndarray]:
        """Rows `flat` (1-D ids) of every array (views of one new array)."""
        with self._lock:
            where = self.slot[flat]  # an id past the table raises IndexError here
            if len(where) and where.min() < 0:
                missing = np.unique(flat[where < 0])
                if self.used + len(missing) > self.capacity:
                    wanted = np.unique(flat)
                    if len(wanted) > self.capacity:  # a prefill chunk larger than the cache:
                        return self._split(self._read(flat))  # read straight, keep the cache
                    self.slot.fill(-1)  # start again with the rows this lookup wants
                    self.used = 0
                    missing = wanted
                self._fill(missing, self.rows[self.used:self.used + len(missing)])
                self.slot[missing] = np.arange(self.used, self.used + len(missing))
                self.used += len(missing)
                where = self.slot[flat]
            return self._split(self.rows[where])

    def _split(self, got: np.ndarray) -> list[np.ndarray]:
        return [got[name] for name in self.record.names]

    def _fill(self, ids: np.ndarray, out: np.ndarray) -> None:
        """Read rows `ids` of every array into the records `out`."""
        raw = out.view(np.uint8).reshape(len(out), self.record.itemsize)
        for j, i in enumerate(ids.tolist()):
            for fd, offset, size, name in self.sources:
                at = self.record.fields[name][1]
                got = os.preadv(fd, [raw[j, at:at + size]], offset + i * size)
                if got != size:
                    raise OSError(f"embedding table: short read of row {i} ({got} of {size} bytes)")

    def _read(self, flat: np.ndarray) -> np.ndarray:
        out = np.empty(len(flat), self.record)
        self._fill(flat, out)
        return out

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self):
        self.close()


class EmbeddingTable:
    """``lookup(ids) -> float32 [..., hidden]``."""

    def __init__(self, model_path: Path, cache_rows: int = CACHE_ROWS):
        model_path = Path(model_path)
        spec = _locations(model_path)
        keys = ["qweight", "scales"] if "qweight" in spec else ["weight"]
        dtypes = {"qweight": np.uint8, "scales": np.float32, "weight": np.float32}
        self.cache: RowCache | None = None
        self.inline: list[np.ndarray] | None = None
        if all(isinstance(spec[k], dict) for k in keys):
            self.cache = RowCache([(model_path.parent / spec[k]["file"], spec[k]["offset"],
                                    np.dtype(dtypes[k]), tuple(spec[k]["shape"])) for k in keys],
                                  cache_rows)
            shapes = [tuple(spec[k]["shape"]) for k in keys]
        else:  # tiny graphs store the table inline: it is in memory anyway
            self.inline = [np.asarray(spec[k]).astype(dtypes[k], copy=False) for k in keys]
            shapes = [a.shape for a in self.inline]
        self.quantized = keys[0] == "qweight"
        self.hidden = int(np.prod(shapes[0][1:]))

    def logits(self, ids: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """Exact LM-head logits: token ``ids[j]`` against hidden state ``hidden[j]``."""
        return np.einsum("jh,jh->j", self.lookup(ids), hidden)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        flat = ids.reshape(-1)
        got = self.cache.take(flat) if self.cache else [a[flat] for a in self.inline]
        if not self.quantized:
            return got[0].astype(np.float32, copy=False).reshape(ids.shape + (self.hidden,))
        q, sc = got
        out = (q.astype(np.float32).reshape(len(sc), -1, 32) - 128.0) * sc[:, :, None]
        return out.reshape(ids.shape + (self.hidden,))
