"""Block quantization into onnxruntime's MatMulNBits / GatherBlockQuantized layouts (numpy only).

Layout (com.microsoft MatMulNBits, block along K): ``B[N, K/block, block*bits/8]`` uint8,
``scales[N, K/block]`` float32, ``zero_points[N, ceil(K/block*bits/8)]`` uint8, and the
dequantized weight is ``(q - zp) * scale``. 4-bit values are packed low nibble first.

Why uint8 zero points and not float ones (which would map GGUF Q4_1 exactly): measured on
this CPU, MatMulNBits with float zero points falls back to a dequantize-then-GEMM path that is
~60x slower per decode step (468 us vs 7.7 us for a 1536x576 matrix).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class NBits(NamedTuple):
    weight: np.ndarray  # uint8 [N, n_blocks, block*bits/8]
    scales: np.ndarray  # float32 [N, n_blocks]
    zero_points: np.ndarray  # uint8 [N, ceil(n_blocks*bits/8)]
    bits: int
    block: int

    def rows(self, start: int, stop: int) -> "NBits":
        return NBits(self.weight[start:stop], self.scales[start:stop],
                     self.zero_points[start:stop], self.bits, self.block)

    def dequantize(self) -> np.ndarray:
        q = unpack4(self.weight) if self.bits == 4 else self.weight.astype(np.float32)
        zp = unpack4(self.zero_points) if self.bits == 4 else self.zero_points.astype(np.float32)
        n, nb = self.scales.shape
        zp = zp.reshape(n, -1)[:, :nb]
        return ((q.reshape(n, nb, -1) - zp[:, :, None]) * self.scales[:, :, None]).reshape(n, -1)


def pack4(q: np.ndarray) -> np.ndarray:
    """[..., 2m] values 0..15 -> [..., m] bytes, element 2i in the low nibble."""
    q = q.astype(np.uint8)
    return (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)


def unpack4(b: np.ndarray) -> np.ndarray:
    out = np.empty(b.shape[:-1] + (b.shape[-1] * 2,), np.float32)
    out[..., 0::2] = b & 0x0F
    out[..., 1::2] = b >> 4
    return out


_CHUNK_ELEMENTS = 1 << 20  # weights quantized at once (4 MB of float32)


def quantize(w: np.ndarray, bits: int, block: int = 32, search: bool = True) -> NBits:
    """Asymmetric round-to-nearest block quantization of an [N, K] float matrix.

    With ``search``, each block also tries a few narrower ranges (clipping outliers a bit)
    and keeps the one with the lowest squared error, like llama.cpp's make_qkx search."""
    n, k = w.shape
    if k % block:
        raise ValueError(f"K={k} is not a multiple of the block size {block}")
    # Rows are independent: quantizing a few at a time bounds the search's temporaries
    # (~20 arrays of the chunk's size) instead of ~20 copies of the whole matrix (the
    # 49152x576 LM head alone took ~900 MB in one go); the result is the same.
    rows = max(1, _CHUNK_ELEMENTS // k)
    if n > rows:
        return _concat([quantize(w[i:i + rows], bits, block, search) for i in range(0, n, rows)])
    qmax = (1 << bits) - 1
    wb = w.reshape(n, k // block, block).astype(np.float32)
    lo0 = np.minimum(wb.min(-1), 0.0)
    hi0 = np.maximum(wb.max(-1), 0.0)
    best_err = best_q = best_s = best_z = None
    shrinks = (1.0, 0.97, 0.94, 0.91, 0.88, 0.85) if search else (1.0,)
    for f_lo in shrinks:
        for f_hi in shrinks:
            lo, hi = lo0 * f_lo, hi0 * f_hi
            scale = (hi - lo) / qmax
            scale = np.where(scale == 0, 1.0, scale)
            zp = np.clip(np.round(-lo / scale), 0, qmax)
            q = np.clip(np.round(wb / scale[..., None] + zp[..., None]), 0, qmax)
            err = (((q - zp[..., None]) * scale[..., None] - wb) ** 2).sum(-1)
            if best_err is None:
                best_err, best_q, best_s, best_z = err, q, scale, zp
            else:
                better = err < best_err
                best_err = np.where(better, err, best_err)
                best_q = np.where(better[..., None], q, best_q)
                best_s = np.where(better, scale, best_s)
                best_z = np.where(better, zp, best_z)
    return _pack(best_q, best_s.astype(np.float32), best_z, bits, block)


def requantize(q: NBits, bits: int, block: int = 32) -> NBits:
    """`quantize(q.dequantize(), ...)` a few rows at a time (no float copy of the matrix)."""
    n = q.scales.shape[0]
    rows = max(1, _CHUNK_ELEMENTS // (q.scales.shape[1] * q.block))
    return _concat([quantize(q.rows(i, i + rows).dequantize(), bits, block)
                    for i in range(0, n, rows)])


def _concat(parts: list[NBits]) -> NBits:
    return NBits(*(np.concatenate([getattr(p, f) for p in parts])
                   for f in ("weight", "scales", "zero_points")), parts[0].bits, parts[0].block)


def _pack(q: np.ndarray, scales: np.ndarray, zp: np.ndarray, bits: int, block: int) -> NBits:
    n, nb = scales.shape
    if bits == 4:
        weight = pack4(q)
        zpad = np.concatenate([zp, np.zeros((n, nb % 2))], axis=1) if nb % 2 else zp
        zps = pack4(zpad)
    elif bits == 8:
        weight, zps = q.astype(np.uint8), zp.astype(np.uint8)
    else:
        raise ValueError(f"unsupported bit width {bits}")
    return NBits(np.ascontiguousarray(weight), np.ascontiguousarray(scales),
                 np.ascontiguousarray(zps), bits, block)


def from_q8_0(raw: np.ndarray) -> NBits:
    """GGUF Q8_0 rows (per 32: fp16 scale + 32 int8) -> 8-bit blocks, exactly (zp = 128)."""
    n = raw.shape[0]
    blocks = raw.reshape(n, -1, 34)
    scales = blocks[:, :, :2].copy().view(np.float16)[:, :, 0].astype(np.float32)
    q = (blocks[:, :, 2:].view(np.int8).astype(np.int16) + 128).astype(np.uint8)
    zp = np.full(scales.shape, 128, np.uint8)
    return NBits(np.ascontiguousarray(q), scales, zp, 8, 32)
