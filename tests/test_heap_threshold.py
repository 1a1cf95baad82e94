"""quantized_model's ``memory.large_blocks_mapped`` sets glibc's mmap threshold, which holds
for the whole process: it must be set back after the last open scope, on error too, and a
scope must not lose it because another one closed first.

glibc cannot report its threshold, so each check asks malloc itself: a 1 MB block is mapped
on its own (``mallinfo2().hblks`` grows) or taken from the heap. The checks run in a fresh
interpreter, so this test process's heap is left as it was."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import pytest


def _glibc_with_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _glibc_with_mallinfo2(),
                                reason="needs glibc 2.33+ (mallopt, mallinfo2)")

PROBE = textwrap.dedent("""
    import ctypes, threading
    from clawhost.plugins.quantized_model import memory
    from clawhost.plugins.quantized_model.memory import HEAP, large_blocks_mapped

    libc = ctypes.CDLL("libc.so.6")
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    libc.mallinfo2.restype = Info
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def mapped(size=2**20):
        before = libc.mallinfo2().hblks
        block = libc.malloc(size)
        grew = libc.mallinfo2().hblks > before
        libc.free(block)
        return grew

    def check(what, got, want):
        assert got == want, f"{what}: mapped={got}, expected {want}"
""")


def run(body: str) -> None:
    code = PROBE + textwrap.dedent(body) + "\nprint('ok')\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_inside_large_blocks_are_mapped_and_afterwards_they_are_not():
    run("""
        with large_blocks_mapped():
            check("inside", mapped(), True)
        check("after", mapped(), False)
        check("threshold outside", HEAP.current, memory.DYNAMIC_THRESHOLD_MAX)
        with large_blocks_mapped():  # a second run sets it again
            check("inside again", mapped(), True)
        check("after again", mapped(), False)
    """)


def test_the_threshold_is_restored_when_the_run_raises():
    run("""
        try:
            with large_blocks_mapped():
                check("inside", mapped(), True)
                raise RuntimeError("the run failed")
        except RuntimeError:
            pass
        check("after the error", mapped(), False)
        check("no scope left open", dict(HEAP.open), {})
    """)


def test_a_run_keeps_its_threshold_when_a_concurrent_one_finishes_first():
    run("""
        a_in, b_in, a_out, release = (threading.Event() for _ in range(4))

        def first():
            with large_blocks_mapped():
                a_in.set()
                b_in.wait(10)
            a_out.set()

        def second():
            a_in.wait(10)
            with large_blocks_mapped():
                b_in.set()
                release.wait(10)

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        assert a_out.wait(10)
        check("first finished, second still running", mapped(), True)
        release.set()
        for t in threads:
            t.join(10)
        check("both finished", mapped(), False)
        check("no scope left open", dict(HEAP.open), {})
    """)


def test_the_lowest_threshold_of_the_open_scopes_holds():
    run("""
        with large_blocks_mapped(4 * 2**20):  # blocks of 4 MB or more map
            check("1 MB under a 4 MB threshold", mapped(), False)
            with large_blocks_mapped(256 * 2**10):
                check("1 MB under 256 KB", mapped(), True)
            check("back to 4 MB: 1 MB", mapped(), False)
            check("back to 4 MB: 8 MB", mapped(8 * 2**20), True)
        check("outside: 8 MB", mapped(8 * 2**20), False)
    """)
