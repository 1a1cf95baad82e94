"""Preparation's low-memory paths give exactly what the whole-matrix / in-memory paths gave.

Chat preparation streams weights into the data file, quantizes a few rows at a time and
computes perplexity in chunks (benchmarks/results/prepare_memory.md: 2.4 GB -> 0.77 GB).
These tests pin that each of those is exact, on a tiny random llama GGUF; the slow test
checks the peak itself on the real model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gguf")

from clawhost.plugins.quantized_model import quantize as qz  # noqa: E402
from clawhost.plugins.quantized_model.chat_build import PRESETS  # noqa: E402
from clawhost.plugins.quantized_model.llama_graph import build_llama, save_model, write_llama  # noqa: E402
from clawhost.plugins.quantized_model.weights import open_weights  # noqa: E402
from test_local_chat import write_tiny_gguf  # noqa: E402


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prepmem") / "tiny.gguf"
    write_tiny_gguf(path, seed=3)
    return path


@pytest.mark.parametrize("preset", ["int4-mixed", "int8", "fp32"])
def test_streamed_graph_is_byte_identical_to_build_then_save(tiny_gguf, tmp_path, preset):
    w = open_weights(tiny_gguf)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    save_model(build_llama(w, PRESETS[preset]), tmp_path / "a" / "model.onnx")
    write_llama(w, PRESETS[preset], tmp_path / "b" / "model.onnx")
    for name in ("model.onnx", "model.onnx.data", "embedding.json"):
        a, b = (tmp_path / d / name for d in "ab")
        assert a.read_bytes() == b.read_bytes(), name
    assert (tmp_path / "b" / "model.onnx.data").stat().st_size > 10_000  # weights went there


@pytest.mark.parametrize("bits", [4, 8])
def test_quantizing_in_row_chunks_is_exact(monkeypatch, bits):
    w = np.random.default_rng(bits).standard_normal((100, 64)).astype(np.float32)
    whole = qz.quantize(w, bits, 32)
    monkeypatch.setattr(qz, "_CHUNK_ELEMENTS", 7 * 64)  # 7 rows at a time: uneven last chunk
    chunked = qz.quantize(w, bits, 32)
    for field in ("weight", "scales", "zero_points"):
        assert np.array_equal(getattr(whole, field), getattr(chunked, field)), field
    table = qz.quantize(w, 8, 32)
    again, direct = qz.requantize(table, bits, 32), qz.quantize(table.dequantize(), bits, 32)
    for field in ("weight", "scales", "zero_points"):
        assert np.array_equal(getattr(again, field), getattr(direct, field)), field


def test_chunked_perplexity_matches_one_prefill(tiny_gguf, tmp_path):
    from clawhost.plugins.quantized_model.chat_build import write_artifacts
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    from clawhost.plugins.quantized_model.quality import PPL_TEXT, perplexity
    from clawhost.plugins.quantized_model.runner import Runner

    write_artifacts(open_weights(tiny_gguf), tiny_gguf, tmp_path, PRESETS["int8"])
    eng = ChatEngine.load(tmp_path, threads=1)
    ids = eng.encode(PPL_TEXT)[:200]
    got = [perplexity(Runner(eng.model, rows=1, capacity=len(ids)), ids, chunk=c, rows=r)
           for c, r in ((len(ids), len(ids)), (64, 8), (7, 3))]
    assert got[0] > 1
    assert got[1] == pytest.approx(got[0], rel=1e-6) and got[2] == pytest.approx(got[0], rel=1e-6)
