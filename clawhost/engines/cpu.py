"""What this CPU's int8 kernels do, read from /proc/cpuinfo.

MLAS multiplies uint8 activations by int8 weights with ``vpmaddubsw`` where the CPU has no
VNNI: it adds two products into an int16 and saturates there (255 x 127 x 2 > 32,767). ORT's
quantizer has ``reduce_range`` (7-bit weights) for such CPUs; ``weight_bits`` is that choice.
Measured on an AVX2-only AMD EPYC (benchmarks/int8_range.py): a statement's embedding against
fp32, cosine mean 0.9953 / min 0.9885 with 8-bit weights, 0.9982 / 0.9949 with 7-bit ones.
"""

from __future__ import annotations

import platform
from functools import lru_cache

# Any of these gives MLAS a u8 x s8 dot product that accumulates in int32.
_EXACT_INT8_DOT = ("avx512_vnni", "avx_vnni", "amx_int8")


@lru_cache(maxsize=1)  # the flags do not change while the process runs
def cpu_flags() -> str:
    """The flags line of /proc/cpuinfo ("" where there is none)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((line for line in fh if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def u8s8_saturates(flags: str | None = None) -> bool:
    """An x86-64 CPU without VNNI: its u8 x s8 GEMM saturates in int16."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    words = set((cpu_flags() if flags is None else flags).split())
    return not words.intersection(_EXACT_INT8_DOT)


def weight_bits(flags: str | None = None) -> int:
    """Bits for int8 weights on this CPU: 7 where the u8 x s8 GEMM saturates, else 8."""
    return 7 if u8s8_saturates(flags) else 8
