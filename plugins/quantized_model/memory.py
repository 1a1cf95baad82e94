"""Giving freed heap back to the OS, for the engines and the workers alike."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise).

    Loading a model frees its unpacked weights once onnxruntime prepacked them; without this
    the host's RSS keeps ~30 MB that nothing uses (measured with both default models)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


# glibc's mallopt parameter, and the largest value its dynamic threshold reaches (64-bit)
M_MMAP_THRESHOLD = -3
DYNAMIC_THRESHOLD_MAX = 32 * 2**20


@contextmanager
def large_blocks_mapped(threshold: int = 256 * 2**10) -> Iterator[None]:
    """Inside: every malloc of `threshold` bytes or more is its own mapping, unmapped when
    freed; afterwards glibc keeps blocks up to DYNAMIC_THRESHOLD_MAX on its heap again.

    For the int8 cache's prefill runs (`kv_prefill`): each layer allocates and frees a float
    view of its cache (21 MB at 7k tokens) between smaller activations, and glibc's heap -
    where such blocks land once its dynamic mmap threshold has risen past them, as loading
    a model makes it - kept about three layers' worth that nothing used (measured on 30
    layers at 6,000 tokens: 32 MB in use at most, RSS +100 MB even with a trim after every
    run). Freed heap pages go back on the way in too (a few ms per chunk): the chunk's peak
    then holds no free heap left by the request's parsing or earlier chunks. Outside, the
    default stands: mapping every block costs page faults."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        set_threshold = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        yield
        return
    set_threshold(M_MMAP_THRESHOLD, threshold)
    libc.malloc_trim(0)  # and what the heap holds free now goes back first (a few ms)
    try:
        yield
    finally:
        set_threshold(M_MMAP_THRESHOLD, DYNAMIC_THRESHOLD_MAX)
