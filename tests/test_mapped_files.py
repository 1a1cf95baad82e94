"""Model files cost the process only what it reads (issue #18, the fresh clone's peak RSS):
the embedding table is read row by row into a small cache instead of through a mapping, and
the weight files onnxruntime keeps mapped give their resident pages back without losing a
byte. Read from /proc/self/smaps, so Linux only.
"""
from __future__ import annotations

import json
import mmap
import sys

import numpy as np
import pytest
from clawhost.plugins.quantized_model import embedding
from clawhost.plugins.quantized_model.embedding import SIDECAR, EmbeddingTable

from clawhost.engines.mapped_files import file_mappings, release_file_pages

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/smaps")
PAGE = mmap.PAGESIZE
VOCAB, HIDDEN = 16384, 576  # SmolLM2's row width: a row is 576 bytes, its scales 72


def _rss(m: mmap.mmap, folder) -> int:
    """The RSS of mapping `m` of a file under `folder`."""
    address = np.frombuffer(m, np.uint8).ctypes.data
    return sum(x.get("Rss", 0) for x in file_mappings(folder) if x["start"] <= address < x["end"])


@pytest.fixture
def table_dir(tmp_path):
    """An 8-bit table laid out as the chat graphs store theirs: qweight, then scales."""
    rng = np.random.default_rng(3)
    q = rng.integers(0, 256, (VOCAB, HIDDEN // 32, 32), dtype=np.uint8)
    scales = rng.random((VOCAB, HIDDEN // 32), dtype=np.float32)
    (tmp_path / "model.onnx.data").write_bytes(q.tobytes() + scales.tobytes())
    (tmp_path / SIDECAR).write_text(json.dumps({
        "qweight": {"file": "model.onnx.data", "offset": 0, "shape": list(q.shape)},
        "scales": {"file": "model.onnx.data", "offset": q.nbytes, "shape": list(scales.shape)}}))
    return tmp_path, q, scales


def _want(q, scales, ids):
    ids = np.asarray(ids)
    out = (q[ids.reshape(-1)].astype(np.float32) - 128.0) * scales[ids.reshape(-1)][:, :, None]
    return out.reshape(ids.shape + (HIDDEN,))


def test_the_table_reads_the_right_rows_and_maps_none_of_the_file(table_dir):
    folder, q, scales = table_dir
    table = EmbeddingTable(folder / "model.onnx")
    ids = np.array([[5, 9000, VOCAB - 1, 5, 0]])
    np.testing.assert_array_equal(table.lookup(ids), _want(q, scales, ids))
    many = np.random.default_rng(5).integers(0, VOCAB, 3000)
    np.testing.assert_array_equal(table.lookup(many), _want(q, scales, many))
    # the exact logits the rescore uses: the same rows, dotted with hidden states
    hidden = np.random.default_rng(6).standard_normal((3, HIDDEN)).astype(np.float32)
    np.testing.assert_allclose(table.logits(many[:3], hidden),
                               np.einsum("jh,jh->j", _want(q, scales, many[:3]), hidden),
                               rtol=1e-5)
    # none of the file is mapped: what the process holds of the table is the cache
    assert file_mappings(folder) == []
    assert table.cache.used <= embedding.CACHE_ROWS
    with pytest.raises(IndexError):
        table.lookup(np.array([VOCAB]))


def test_a_full_cache_starts_again_and_a_chunk_larger_than_it_bypasses_it(table_dir):
    folder, q, scales = table_dir
    table = EmbeddingTable(folder / "model.onnx", cache_rows=8)
    first = np.array([1, 2, 3, 4, 5, 1])
    np.testing.assert_array_equal(table.lookup(first), _want(q, scales, first))
    assert table.cache.used == 5
    more = np.array([6, 7, 8, 9, 2])  # 4 new rows do not fit beside 5: the cache restarts
    np.testing.assert_array_equal(table.lookup(more), _want(q, scales, more))
    assert table.cache.used == 5 and table.cache.slot[1] == -1  # only what this lookup wants
    chunk = np.arange(100, 120)  # 20 rows > 8: read straight, the cache left as it was
    np.testing.assert_array_equal(table.lookup(chunk), _want(q, scales, chunk))
    assert table.cache.used == 5 and (table.cache.slot[chunk] == -1).all()
    np.testing.assert_array_equal(table.lookup(first), _want(q, scales, first))
    # 9 rows, 4 of them kept: too many for the cache even empty, so read straight too
    mixed = np.array([1, 2, 3, 4, 20, 21, 22, 23, 24])
    np.testing.assert_array_equal(table.lookup(mixed), _want(q, scales, mixed))
    assert table.cache.used <= 8


def test_release_file_pages_drops_resident_pages_and_keeps_the_bytes(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, 64 * PAGE, dtype=np.uint8).tobytes()
    (tmp_path / "w.data").write_bytes(data)
    with open(tmp_path / "w.data", "rb") as fh:
        ro = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        cow = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)  # private, written below
    assert bytes(ro) == data and bytes(cow) == data  # every page read: all resident
    cow[PAGE:PAGE + 5] = b"hello"  # one written page: its mapping must be left alone
    assert _rss(ro, tmp_path) == 64 * PAGE
    dropped = release_file_pages(tmp_path)
    assert dropped == 64 * PAGE  # the read-only mapping's pages; not the written one's
    assert _rss(ro, tmp_path) == 0 and _rss(cow, tmp_path) == 64 * PAGE
    assert bytes(ro) == data  # read again from the page cache
    assert bytes(cow[PAGE:PAGE + 5]) == b"hello"
    assert release_file_pages(tmp_path / "elsewhere") == 0
