"""Token embedding lookup in numpy, reading the table's rows from the model's data file.

The table lives in the external data of the ONNX model (the tied LM head's 8-bit weights, or
the float table of the reference graph): it is stored once on disk, and the rows looked up
(prefill, and `LlamaSession.rescore`'s candidates) are read with ``pread`` into a small cache
of rows (`RowCache`), which is all of the table the process holds.

Why not a memory mapping, as before session 12: a mapping costs what the kernel maps on
each fault, not the 576-byte row read. With the file in the page cache in large folios (as
after a model is prepared: written in large blocks; kernel 6.18 on ext4), one row read
maps its whole 2 MB folio, and before that fault-around mapped 64 KB per row: one 7k-token
prompt left 22 MB of the 31 MB table resident (BENCHMARKS.md, "#18 session 12").
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

SIDECAR = "embedding.json"  # where the table lives in the data file: no onnx import to serve
# Rows kept (648 bytes each for SmolLM2's 8-bit table: 2.6 MB). Decode reads ~33 rows a step,
# mostly the same ones; when the cache is full it starts again empty.
CACHE_ROWS = 4096


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
        self.count = arrays[0][3][0]
        self.capacity = capacity
        self._fds: dict[Path, int] = {}
        self.sources = []  # (fd, offset, row bytes)
        self.rows: list[np.ndarray] = []
        for path, offset, dtype, shape in arrays:
            if path not in self._fds:
                self._fds[path] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            row = np.empty(shape[1:], dtype)
            self.sources.append((self._fds[path], offset, row.nbytes))
            self.rows.append(np.empty((capacity,) + tuple(shape[1:]), dtype))
        self.slot = np.full(self.count, -1, np.int32)  # row id -> where it is kept, or -1
        self.used = 0
        self._lock = threading.Lock()  # a lookup reads slots another one may be refilling

    def take(self, flat: np.ndarray) -> list[np.ndarray]:
        """Copies of rows `flat` (1-D ids) of every array."""
        with self._lock:
            where = self.slot[flat]  # an id past the table raises IndexError here
            if len(where) and where.min() < 0:
                missing = np.unique(flat[where < 0])
                if len(missing) > self.capacity:  # a prefill chunk larger than the cache
                    return self._read(flat)
                if self.used + len(missing) > self.capacity:
                    self.slot.fill(-1)  # start again: the rows still wanted are read back
                    self.used = 0
                    missing = np.unique(flat)
                self._fill(missing)
                where = self.slot[flat]
            return [rows[where] for rows in self.rows]

    def _fill(self, ids: np.ndarray) -> None:
        for i in ids.tolist():
            for (fd, offset, size), rows in zip(self.sources, self.rows):
                _pread_into(fd, rows[self.used], offset + i * size)
            self.slot[i] = self.used
            self.used += 1

    def _read(self, flat: np.ndarray) -> list[np.ndarray]:
        """Rows `flat` read straight into new arrays, bypassing the cache."""
        out = [np.empty((len(flat),) + rows.shape[1:], rows.dtype) for rows in self.rows]
        for j, i in enumerate(flat.tolist()):
            for (fd, offset, size), arr in zip(self.sources, out):
                _pread_into(fd, arr[j], offset + i * size)
        return out

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self):
        self.close()


def _pread_into(fd: int, row: np.ndarray, offset: int) -> None:
    got = os.preadv(fd, [row.reshape(-1).view(np.uint8)], offset)
    if got != row.nbytes:
        raise OSError(f"embedding table: short read at byte {offset} ({got} of {row.nbytes})")


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
