"""What one more row costs a matmul (issue #18): onnxruntime's MatMulNBits (the chat graph's
4- and 8-bit blocks) against DynamicQuantizeMatMul (int8, AMX) at 1, 2, 4 and 8 rows.

Why: a 4-stream decode step and a speculative verification run (speculate.py) both feed
several rows through every matrix; the weights are read once either way, so what a row
adds is the kernel's per-row work. SmolLM2's shapes: gate|up (576 x 3072), down
(1536 x 576), the LM head (576 x 49152). Random weights (the time does not depend on them),
2 threads spinning, medians of 200 runs, microseconds.

    python benchmarks/matmul_rows.py
"""
from __future__ import annotations

import time

import numpy as np

SHAPES = [(576, 3072), (1536, 576), (576, 49152)]
ROWS = (1, 2, 4, 8)


def _session(node, inits, k: int, n: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", n])],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("com.microsoft", 1)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.add_session_config_entry("session.intra_op.allow_spinning", "1")
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def nbits(k: int, n: int, bits: int, block: int, accuracy: int):
    from onnx import helper, numpy_helper
    rng = np.random.default_rng(0)
    nb = k // block
    inits = [numpy_helper.from_array(rng.integers(0, 255, (n, nb, block * bits // 8), dtype=np.uint8), "B"),
             numpy_helper.from_array(rng.random((n, nb), dtype=np.float32) * 0.01, "S"),
             numpy_helper.from_array(rng.integers(0, 255, (n, (nb * bits + 7) // 8), dtype=np.uint8), "Z")]
    node = helper.make_node("MatMulNBits", ["x", "B", "S", "Z"], ["y"], domain="com.microsoft",
                            K=k, N=n, bits=bits, block_size=block, accuracy_level=accuracy)
    return _session(node, inits, k, n)


def dynamic_int8(k: int, n: int):
    from onnx import helper, numpy_helper
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.integers(-127, 127, (k, n), dtype=np.int8), "W"),
             numpy_helper.from_array(rng.random(n, dtype=np.float32) * 0.01, "S")]
    node = helper.make_node("DynamicQuantizeMatMul", ["x", "W", "S"], ["y"], domain="com.microsoft")
    return _session(node, inits, k, n)


def timed(sess, k: int, rows: int, runs: int = 200) -> float:
    x = np.random.default_rng(rows).random((rows, k), dtype=np.float32)
    for _ in range(30):
        sess.run(None, {"x": x})
    ts = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, {"x": x})
        ts.append(time.perf_counter() - start)
    return float(np.median(ts)) * 1e6


def main() -> None:
    from clawhost.bench.probe import cpu_model
    print(f"CPU: {cpu_model()}; medians of 200 runs, µs (in brackets: the time over 1 row's)\n")
    print("| matrix | kernel | " + " | ".join(f"{m} row(s)" for m in ROWS) + " |")
    print("|---|---|" + "---|" * len(ROWS))
    for k, n in SHAPES:
        for name, sess in [("MatMulNBits 4-bit b32, accuracy 4 (shipped: gate/up, head)", nbits(k, n, 4, 32, 4)),
                           ("MatMulNBits 8-bit b64, accuracy 4 (shipped: qkv, o, down)", nbits(k, n, 8, 64, 4)),
                           ("DynamicQuantizeMatMul int8 (AMX)", dynamic_int8(k, n))]:
            t = [timed(sess, k, m) for m in ROWS]
            print(f"| {k} x {n} | {name} | " + " | ".join(f"{v:.0f} ({v / t[0]:.1f}×)" for v in t) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
