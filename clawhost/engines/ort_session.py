"""onnxruntime session options sized for a small CPU box, shared by the local engines."""

from __future__ import annotations

import onnxruntime as ort


def session_options(threads: int, spin: bool = False, arena: bool = False,
                    spin_us: int = 0) -> ort.SessionOptions:
    """N intra-op threads, full graph optimisation, lean memory, optional spin-waiting; the
    memory arena only where a run's size is bounded (``arena``); ``spin_us``: spin-wait that
    long between the ops of one run, never after it."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Shapes change with every request: memory patterns would be planned and thrown away,
    # and the arena would keep the peak of the largest batch or prefill ever seen. Measured:
    # arena off costs no speed here and keeps RSS flat (benchmarks/results/embed_engine.md).
    # Not so for the BERT engines: without the arena every op's output is a fresh mmap whose
    # pages fault in (~450 faults, ~1 ms of a 60-token MiniLM run, 15%; issue 19), and their
    # runs are capped (MAX_RUN_TOKENS, 128-token pairs), so the arena's peak stays small.
    so.enable_cpu_mem_arena = arena
    so.enable_mem_pattern = False
    # Spin-waiting between ops is ORT's default and fastest on an idle box, but on a 2-core
    # box shared with the event loop and the other model it starves them: measured under
    # load, greedy decode 42 tok/s spinning vs 115 without, embeddings at batch 32 doubled.
    so.add_session_config_entry("session.intra_op.allow_spinning",
                                "1" if spin or spin_us > 0 else "0")
    if spin_us > 0:
        # A short spin between the ops of one run, and none once it ends: a decode step runs
        # ~120 parallel ops, and waking a blocked worker for each cost ~20 us apiece on an
        # AMD EPYC VM (1.45x tok/s with 100 us, core warmer on in both). Unbounded spinning
        # lost 30% under a competing process; 100 us lost 5% (BENCHMARKS.md, #18 session 16).
        so.add_session_config_entry("session.force_spinning_stop", "1")
        so.add_session_config_entry("session.intra_op.spin_duration_us", str(spin_us))
    so.log_severity_level = 3  # e.g. the unused-initializer notice for the 8-bit table
    return so
