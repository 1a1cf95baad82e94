"""Token embedding lookup in numpy, reading the table straight from the model's data file.

The table is memory-mapped from the external data of the ONNX model (the tied LM head's
8-bit weights, or the float table of the reference graph): it is stored once on disk, and
only the rows actually looked up are paged into memory.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx


def _external(model_dir: Path, t: onnx.TensorProto, dtype) -> np.ndarray:
    info = {e.key: e.value for e in t.external_data}
    if not info:  # stored inline (tiny test models)
        return onnx.numpy_helper.to_array(t)
    arr = np.memmap(model_dir / info["location"], dtype=dtype, mode="r",
                    offset=int(info.get("offset", 0)), shape=(int(info["length"]) // np.dtype(dtype).itemsize,))
    return arr.reshape(tuple(t.dims))


class EmbeddingTable:
    """``lookup(ids) -> float32 [..., hidden]``."""

    def __init__(self, model_path: Path):
        model_path = Path(model_path)
        proto = onnx.load(str(model_path), load_external_data=False)
        inits = {t.name: t for t in proto.graph.initializer}
        d = model_path.parent
        self.scales = None
        for prefix in ("embed.table", "lm_head"):
            if prefix + ".qweight" in inits and inits[prefix + ".qweight"].dims[-1] == 32:
                q = _external(d, inits[prefix + ".qweight"], np.uint8)
                self.q = q.reshape(q.shape[0], -1)  # 8-bit, zero point 128, blocks of 32
                self.scales = _external(d, inits[prefix + ".scales"], np.float32)
                break
        else:
            if "embed.weight" not in inits:
                raise ValueError(f"{model_path}: no embedding table found")
            self.q = _external(d, inits["embed.weight"], np.float32)
        self.hidden = self.q.shape[1]

    def logits(self, ids: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """Exact LM-head logits of tokens `ids` for one hidden state (tied 8-bit table)."""
        return self.lookup(ids) @ hidden

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        rows = np.asarray(self.q[ids.reshape(-1)])
        if self.scales is None:
            return rows.astype(np.float32).reshape(ids.shape + (self.hidden,))
        sc = np.asarray(self.scales[ids.reshape(-1)])
        out = (rows.astype(np.float32).reshape(len(sc), -1, 32) - 128.0) * sc[:, :, None]
        return out.reshape(ids.shape + (self.hidden,))
