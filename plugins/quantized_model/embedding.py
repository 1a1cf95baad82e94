"""Token embedding lookup in numpy, reading the table straight from the model's data file.

The table is memory-mapped from the external data of the ONNX model (the tied LM head's
8-bit weights, or the float table of the reference graph): it is stored once on disk, and
only the rows actually looked up are paged into memory.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SIDECAR = "embedding.json"  # where the table lives in the data file: no onnx import to serve


def _external(model_dir: Path, t, dtype) -> np.ndarray:
    import onnx

    info = {e.key: e.value for e in t.external_data}
    if not info:  # stored inline (tiny tensors)
        return onnx.numpy_helper.to_array(t)
    arr = np.memmap(model_dir / info["location"], dtype=dtype, mode="r",
                    offset=int(info.get("offset", 0)), shape=(int(info["length"]) // np.dtype(dtype).itemsize,))
    return arr.reshape(tuple(t.dims))


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


def write_sidecar(model_path: Path) -> None:
    """Record offsets and shapes of the table (called once the model is saved)."""
    import onnx

    model_path = Path(model_path)
    proto = onnx.load(str(model_path), load_external_data=False)
    out = {}
    for key, t in _table_tensors(proto).items():
        info = {e.key: e.value for e in t.external_data}
        if not info:
            return  # inline tensors: EmbeddingTable falls back to reading the proto
        out[key] = {"file": info["location"], "offset": int(info.get("offset", 0)),
                    "shape": list(t.dims)}
    (model_path.parent / SIDECAR).write_text(json.dumps(out))


class EmbeddingTable:
    """``lookup(ids) -> float32 [..., hidden]``."""

    def __init__(self, model_path: Path):
        model_path = Path(model_path)
        d = model_path.parent
        self.scales = None
        if (d / SIDECAR).exists():
            spec = json.loads((d / SIDECAR).read_text())
            arrays = {k: np.memmap(d / v["file"], mode="r", offset=v["offset"],
                                   dtype=np.float32 if k != "qweight" else np.uint8,
                                   shape=tuple(v["shape"])) for k, v in spec.items()}
        else:  # no sidecar: read the locations from the graph (imports onnx)
            import onnx

            proto = onnx.load(str(model_path), load_external_data=False)
            arrays = {k: _external(d, t, np.float32 if k != "qweight" else np.uint8)
                      for k, t in _table_tensors(proto).items()}
        # plain ndarray views of the maps (memmap subclass indexing is slow per token)
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        if "qweight" in arrays:
            q = arrays["qweight"]
            self.q = q.reshape(q.shape[0], -1)  # 8-bit, zero point 128, blocks of 32
            self.scales = arrays["scales"]
        else:
            self.q = arrays["weight"]
        self.hidden = self.q.shape[1]

    def logits(self, ids: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """Exact LM-head logits: token ``ids[j]`` against hidden state ``hidden[j]``."""
        return np.einsum("jh,jh->j", self.lookup(ids), hidden)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        rows = np.asarray(self.q[ids.reshape(-1)])
        if self.scales is None:
            return rows.astype(np.float32).reshape(ids.shape + (self.hidden,))
        sc = np.asarray(self.scales[ids.reshape(-1)])
        out = (rows.astype(np.float32).reshape(len(sc), -1, 32) - 128.0) * sc[:, :, None]
        return out.reshape(ids.shape + (self.hidden,))
