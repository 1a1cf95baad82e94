"""glibc's heap, for the engines and the workers alike: giving freed pages back to the OS,
and mapping large blocks on their own during the int8 prefill runs.

Both act on the whole process, not on the caller: ``malloc_trim`` trims every thread's
heap, and ``mallopt(M_MMAP_THRESHOLD)`` decides for every malloc in every thread (each
model's runs, the server, numpy, onnxruntime). That is why ``large_blocks_mapped`` counts
its open scopes in one object, ``HEAP``, the only state of this module: a second run
entering while the first is inside must not have the threshold raised under it when the
first one leaves. Outside glibc (musl, macOS) both do nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

# glibc's mallopt parameter, and the largest value its dynamic threshold reaches (64-bit)
M_MMAP_THRESHOLD = -3
DYNAMIC_THRESHOLD_MAX = 32 * 2**20
MAPPED_FROM = 256 * 2**10  # the threshold inside a scope: a prefill's float views map


def _libc():
    """glibc, or None elsewhere."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist
        return libc
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise).

    Loading a model frees its unpacked weights once onnxruntime prepacked them; without this
    the host's RSS keeps ~30 MB that nothing uses (measured with both default models)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class HeapThreshold:
    """The process's mmap threshold, shared by every open ``large_blocks_mapped`` scope.

    The lowest threshold any open scope asked for holds until the last one closes; then
    the threshold outside scopes is set again, on error as on return. glibc cannot tell
    what its threshold is, and setting it turns glibc's dynamic threshold off for good, so
    "outside" is DYNAMIC_THRESHOLD_MAX: where that dynamic threshold stands once a model's
    load has freed blocks that large, which is what the host ran with before."""

    def __init__(self, outside: int = DYNAMIC_THRESHOLD_MAX):
        self.outside = outside
        self.open: Counter[int] = Counter()  # threshold asked -> scopes open with it
        self.current: int | None = None      # what this object last set (None: not yet)
        self._lock = threading.Lock()

    def _apply(self, libc) -> None:
        want = min(self.open) if self.open else self.outside
        if want != self.current:
            libc.mallopt(M_MMAP_THRESHOLD, want)
            self.current = want

    @contextmanager
    def mapped(self, threshold: int = MAPPED_FROM) -> Iterator[None]:
        libc = _libc()
        if libc is None:
            yield
            return
        with self._lock:
            self.open[threshold] += 1
            self._apply(libc)
        try:
            # what the heap holds free goes back first (a few ms): the run's peak then holds
            # no free heap left by the request's parsing or by earlier chunks
            libc.malloc_trim(0)
            yield
        finally:
            with self._lock:
                self.open[threshold] -= 1
                if not self.open[threshold]:
                    del self.open[threshold]
                self._apply(libc)


HEAP = HeapThreshold()


def large_blocks_mapped(threshold: int = MAPPED_FROM):
    """Inside: every malloc of `threshold` bytes or more, in any thread, is its own mapping,
    unmapped when freed; after the last open scope glibc keeps blocks up to
    DYNAMIC_THRESHOLD_MAX on its heap again (see ``HeapThreshold``).

    For the int8 cache's prefill runs (`kv_prefill`): each layer allocates and frees a float
    view of its cache (21 MB at 7k tokens) between smaller activations, and glibc's heap -
    where such blocks land once its dynamic mmap threshold has risen past them, as loading
    a model makes it - kept about three layers' worth that nothing used (measured on 30
    layers at 6,000 tokens: 32 MB in use at most, RSS +100 MB even with a trim after every
    run). Freed heap pages go back on the way in too. Outside, the default stands: mapping
    every block costs page faults."""
    return HEAP.mapped(threshold)
