"""Where MLAS's u8 x s8 GEMM saturates (x86-64 without VNNI), int8 weights get 7 bits
(clawhost/engines/cpu.py); test_local_embed.py and test_quantized_model.py check the graph
and the rebuild."""

from __future__ import annotations

import pytest

from clawhost.engines import cpu


@pytest.mark.parametrize("flags,saturates", [
    ("flags : fpu sse2 avx avx2 fma", True),          # Zen 2/3, Skylake: vpmaddubsw in int16
    ("flags : avx2 avx512f avx512_vnni", False),      # Cascade Lake, Zen 4/5
    ("flags : avx2 avx_vnni", False),                 # Alder Lake
    ("flags : avx2 avx512f amx_int8 amx_tile", False),
])
def test_vnni_or_amx_accumulate_in_int32(monkeypatch, flags, saturates):
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    assert cpu.u8s8_saturates(flags) is saturates
    assert cpu.weight_bits(flags) == (7 if saturates else 8)


def test_other_architectures_are_left_at_eight_bits(monkeypatch):
    monkeypatch.setattr(cpu.platform, "machine", lambda: "aarch64")
    assert cpu.weight_bits("Features : fp asimd") == 8
