"""The core warmer (clawhost/engines/core_warmer.py): SCHED_IDLE busy loops that run only
while a chat model decodes, and never outlive the process. Real processes, a real engine."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from clawhost.engines import core_warmer
from clawhost.engines.core_warmer import CoreWarmer

pytestmark = pytest.mark.skipif(not core_warmer.available(), reason="needs Linux SCHED_IDLE")


def state(pid: int) -> str:
    """The process's state letter from /proc (R, S, T, Z...), or '' once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return ""


def wait_state(pid: int, want: set[str], timeout: float = 10.0) -> str:
    end = time.monotonic() + timeout
    while (s := state(pid)) not in want and time.monotonic() < end:
        time.sleep(0.02)
    return s


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_loops_run_only_while_held_at_idle_priority():
    w = CoreWarmer(2)
    assert w.pids == [] and not w.running  # nothing is started before the first hold
    try:
        w.hold()
        assert len(w.pids) == 2 and w.running
        for pid in w.pids:
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE
            assert wait_state(pid, {"R", "S"}) in ("R", "S")
        w.hold()  # a second holder (two streams) ...
        w.release()  # ... leaving keeps them running for the first
        for pid in w.pids:
            assert state(pid) != "T"
        busy = [cpu_ticks(pid) for pid in w.pids]
        time.sleep(0.3)
        assert any(cpu_ticks(pid) > t for pid, t in zip(w.pids, busy))  # really spinning
        w.release()
        for pid in w.pids:
            assert wait_state(pid, {"T"}) == "T"  # stopped: an idle box stays idle
        stopped = [cpu_ticks(pid) for pid in w.pids]
        time.sleep(0.3)
        assert [cpu_ticks(pid) for pid in w.pids] == stopped
        w.release()  # more releases than holds are ignored
        w.hold()  # resumed, not spawned again
        assert all(wait_state(pid, {"R", "S"}) in ("R", "S") for pid in w.pids)
        pids = w.pids
    finally:
        w.close()
    assert all(state(pid) == "" for pid in pids)  # killed and reaped
    assert not w.running and CoreWarmer(0).pids == []


@pytest.mark.parametrize("held", [True, False])
def test_loops_end_with_their_process(held):
    """kill -9 of the owner: a running loop sees it gone, a stopped one is hung up."""
    code = ("import sys, time\n"
            "from clawhost.engines.core_warmer import CoreWarmer\n"
            "w = CoreWarmer(1); w.hold()\n"
            f"{'' if held else 'w.release()'}\n"
            "print(w.pids[0], flush=True); time.sleep(60)\n")
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(owner.stdout.readline())
        assert wait_state(pid, {"R", "S"} if held else {"T"}) in (("R", "S") if held else ("T",))
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        # gone, or a zombie waiting for whoever adopted it to reap it: either way not running
        assert wait_state(pid, {"", "Z"}) in ("", "Z")
    finally:
        if owner.poll() is None:
            owner.kill()


def test_engine_holds_the_warmer_while_it_decodes(tiny_chat_dir):
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine, SamplingParams

    warm = ChatEngine.load(tiny_chat_dir, threads=2, kv_cache="int8")
    cold = ChatEngine.load(tiny_chat_dir, threads=2, kv_cache="int8", warm_cores=False)
    w = warm.model.warmer
    try:
        assert w.count == min(2, os.cpu_count() or 1) - 1 and cold.model.warmer.count == 0
        if w.count == 0:
            pytest.skip("one core: no pool worker to keep awake")
        ids = warm.encode_chat([{"role": "user", "content": "hello world"}])
        p = SamplingParams(max_tokens=12, temperature=0)
        gen = warm.generate(ids, p)
        events = gen.events()
        next(events)
        assert w.running and all(state(pid) != "T" for pid in w.pids)
        rest = [ev.token_id for ev in events]
        assert not w.running and all(wait_state(pid, {"T"}) == "T" for pid in w.pids)
        # the same greedy tokens as without it (it only changes who waits for a core)
        assert gen.result.token_ids == cold.generate(ids, p).complete().token_ids
        assert len(rest) == len(gen.result.token_ids) - 1
        # a generator dropped mid-answer (client gone) lets go too
        early = warm.generate(ids, p).events()
        next(early)
        assert w.running
        early.close()
        assert not w.running
        # continuous batching: held from the first slot in to the last one out
        batch = warm.new_batch(max_slots=2)
        a = batch.add(ids, p)
        assert w.running
        b = batch.add(ids, p)
        batch.remove(a)
        assert w.running
        batch.remove(b)
        assert not w.running
    finally:
        w.close()
        cold.model.warmer.close()
