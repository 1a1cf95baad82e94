"""Long prompts' KV kept on disk (issue #18, prefix reuse that survives a restart):
`plugins/quantized_model/prefix_store.py` with the tiny llama model of test_long_prompt, and
over HTTP across a host restart.

Blocks are 32 tokens here (256 in serving) so the tiny model's context holds several.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("gguf")

from clawhost.plugins.quantized_model import STATE, prefix_cache, prefix_store  # noqa: E402
from clawhost.plugins.quantized_model.chat_engine import ChatEngine, SamplingParams  # noqa: E402
from test_long_prompt import _prompt, prefilled, tiny_dir  # noqa: E402,F401
from test_quantized_model import (CHAT, models_section, prepared, sources,  # noqa: E402,F401
                                  start_host)

BLOCK = 32


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(prefix_cache, "BLOCK", BLOCK)
    monkeypatch.setattr(prefix_store, "MIN_TOKENS", 64)


def _engine(tiny_dir, root=None, kv_cache="int8", limit_blocks=100):  # noqa: F811
    eng = ChatEngine.load(tiny_dir, threads=1, kv_cache=kv_cache)
    if root is not None:
        eng.enable_prefix_store(root, limit_blocks * (BLOCK * eng.kv_bytes_per_token + prefix_store.DIGEST))
    return eng


def _answer(eng, ids) -> tuple[list[int], str | None]:
    params = SamplingParams(max_tokens=8, temperature=0)
    params._headers = {}
    batch = eng.new_batch(2)
    slot = batch.add(ids, params)
    while slot in batch.seqs:
        seq = batch.seqs[slot]
        batch.step()
    return seq.ids, params._headers.get("x-clawhost-prefix-cache")


def _turns(eng) -> tuple[list[int], list[int]]:
    """A 100-token first turn and a 150-token second turn that starts with it."""
    turn1 = _prompt(eng, 100)
    return turn1, turn1 + _prompt(eng, 150)[100:]


def _blocks(root) -> list:
    return sorted(p for p in root.rglob("*" + prefix_store.SUFFIX))


@pytest.mark.parametrize("kv_cache", ["int8", "float32"])
def test_after_a_restart_a_turn_reads_its_prefix_from_disk_and_answers_the_same(
        tiny_dir, tmp_path, prefilled, kv_cache):  # noqa: F811
    first = _engine(tiny_dir, tmp_path, kv_cache)
    turn1, turn2 = _turns(first)
    assert _answer(first, turn1)[1] == "miss"
    assert len(_blocks(tmp_path)) == 3  # 96 of its 100 tokens, in blocks of 32
    del first
    restarted = _engine(tiny_dir, tmp_path, kv_cache)  # a new process would see the same files
    prefilled.clear()
    got, header = _answer(restarted, turn2)
    assert header == "hit 96 tokens from disk"
    assert sum(prefilled) == 150 - 96  # only what follows the stored prefix
    plain = _engine(tiny_dir, None, kv_cache)
    assert got == _answer(plain, turn2)[0]  # the answer of a full prefill
    assert restarted.prefix_store.facts()["hits"] == 1
    assert restarted.prefix_store.reused_tokens == 96


def test_a_next_turn_writes_only_its_new_blocks_and_short_prompts_write_none(tiny_dir,  # noqa: F811
                                                                             tmp_path):
    eng = _engine(tiny_dir, tmp_path)
    turn1, turn2 = _turns(eng)
    _answer(eng, _prompt(eng, 60))  # under MIN_TOKENS: nothing written, not even a lookup hit
    assert _blocks(tmp_path) == []
    _answer(eng, turn1)
    after1 = _blocks(tmp_path)
    mtimes = {p: p.stat().st_mtime_ns for p in after1}
    assert _answer(eng, turn2)[1] == "hit 96 tokens from disk"
    after2 = _blocks(tmp_path)
    assert len(after2) == 4 and set(after1) < set(after2)  # 128 of 150 tokens: one new block
    assert eng.prefix_store.writes == 4
    # the names are a hash chain: another prompt sharing only the first block reuses no later one
    other = turn1[:BLOCK] + _prompt(eng, 300)[200:268]
    assert _answer(eng, other)[1] == "miss"  # 32 tokens in common: under MIN_TOKENS
    assert all(p.stat().st_mtime_ns >= mtimes[p] for p in after1)


def test_a_damaged_or_short_block_is_a_miss_is_removed_and_changes_no_answer(
        tiny_dir, tmp_path, prefilled, caplog):  # noqa: F811
    eng = _engine(tiny_dir, tmp_path)
    turn1, turn2 = _turns(eng)
    _answer(eng, turn1)
    blocks = _blocks(tmp_path)
    good = blocks[1].read_bytes()
    data = bytearray(good)
    data[-5] ^= 0x40  # one bit of one value
    blocks[1].write_bytes(bytes(data))
    prefilled.clear()
    with caplog.at_level(logging.WARNING, "clawhost.quantized_model"):
        got, header = _answer(eng, turn2)
    assert header == "miss" and sum(prefilled) == 150
    assert "unreadable block" in caplog.text and "\n" not in caplog.text.strip()
    assert got == _answer(_engine(tiny_dir), turn2)[0]
    assert blocks[1].read_bytes() == good  # dropped, then written again from the full prefill
    # a block cut short (a crash mid-copy by hand, a full disk) is dropped when the store opens
    blocks[2].write_bytes(blocks[2].read_bytes()[:100])
    (blocks[0].parent / ".leftover.123.tmp").write_bytes(b"x")
    reopened = _engine(tiny_dir, tmp_path)
    assert not blocks[2].exists() and not (blocks[0].parent / ".leftover.123.tmp").exists()
    assert _answer(reopened, turn2)[1] == "hit 64 tokens from disk"  # the chain stops at the hole


def test_blocks_removed_by_hand_are_a_quiet_miss_and_written_again(tiny_dir, tmp_path, caplog):  # noqa: F811
    import shutil
    eng = _engine(tiny_dir, tmp_path)
    turn1, turn2 = _turns(eng)
    _answer(eng, turn1)
    shutil.rmtree(eng.prefix_store.dir)  # an operator clearing the cache under a running host
    with caplog.at_level(logging.WARNING, "clawhost.quantized_model"):
        assert _answer(eng, turn2)[1] == "miss"
    assert caplog.text == ""
    # the turn was prefilled whole and written again: the next one reads it
    assert eng.prefix_store.facts()["blocks"] == 4 and eng.prefix_store.writable
    assert _answer(eng, turn2)[1] == "hit 128 tokens from disk"


def test_the_disk_limit_drops_least_recently_used_blocks_from_a_chains_end(tiny_dir,  # noqa: F811
                                                                            tmp_path):
    eng = _engine(tiny_dir, tmp_path, limit_blocks=5)
    a = _prompt(eng, 100)
    b = list(reversed(a))  # another prompt: other blocks
    _answer(eng, a)
    _answer(eng, b)  # 3 + 3 blocks, 5 allowed: a's last one goes, not its first
    assert len(_blocks(tmp_path)) == 5 and eng.prefix_store.facts()["blocks"] == 5
    assert eng.prefix_store.bytes <= eng.prefix_store.limit
    assert _answer(eng, a + [5])[1] == "hit 64 tokens from disk"  # still a usable prefix
    # that turn used a's blocks and wrote its third again: b, now the least recent, lost its end
    assert _answer(eng, b + [5])[1] == "hit 64 tokens from disk"
    # and so on: the chain just used is whole, the other one is cut at its end
    assert len(_blocks(tmp_path)) == 5 and _answer(eng, b + [6])[1] == "hit 96 tokens from disk"


def test_a_rebuilt_model_starts_a_new_folder_and_removes_the_old_one(tiny_dir, tmp_path):  # noqa: F811
    eng = _engine(tiny_dir, tmp_path)
    _answer(eng, _prompt(eng, 100))
    (old,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    float_cache = _engine(tiny_dir, tmp_path, kv_cache="float32")  # other bytes per block
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert folders == [float_cache.prefix_store.dir] and not old.exists()


def test_a_store_that_cannot_write_turns_writing_off_and_keeps_serving(tiny_dir, tmp_path,  # noqa: F811
                                                                      caplog):
    eng = _engine(tiny_dir, tmp_path)
    turn1, turn2 = _turns(eng)
    folder = eng.prefix_store.dir
    folder.rmdir()
    folder.write_text("not a folder")  # every write under it fails (ENOTDIR)
    with caplog.at_level(logging.WARNING, "clawhost.quantized_model"):
        got1, header = _answer(eng, turn1)
        got2, _ = _answer(eng, turn2)
    assert header == "miss" and not eng.prefix_store.writable
    assert caplog.text.count("cannot write") == 1  # one warning, not one per request
    plain = _engine(tiny_dir)
    assert (got1, got2) == (_answer(plain, turn1)[0], _answer(plain, turn2)[0])


def test_block_names_are_a_chain_over_whole_blocks():
    ids = list(range(100))
    names = prefix_store.block_names(ids, 32)
    assert len(names) == 3 and len(set(names)) == 3
    assert prefix_store.block_names(ids[:64] + [7] * 36, 32)[:2] == names[:2]
    changed = prefix_store.block_names([1] + ids[1:], 32)
    assert all(a != b for a, b in zip(changed, names))  # a change early renames every later block


# -- over HTTP, across a restart ------------------------------------------------------------------

async def test_the_host_reads_a_long_system_prompt_from_disk_after_a_restart(
        prepared, sources, clawhost_server):  # noqa: F811
    import aiohttp
    models = models_section(sources, tiny_llama={"max_tokens": 8, "kv_cache": "int8"})
    system = "the agent may call read_file, write_file and run_tests"  # ~75 tokens in all
    turn = {"model": CHAT, "max_tokens": 4, "temperature": 0,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": "plan"}]}

    async def ask(url):
        async with aiohttp.ClientSession() as http, http.post(
                f"{url}/v1/chat/completions", json=turn,
                headers={"cache-control": "no-cache, no-store"}) as r:
            assert r.status == 200, await r.text()
            return (await r.json())["choices"][0]["message"]["content"], \
                r.headers.get("x-clawhost-prefix-cache")

    host = await start_host(prepared, models, prefix_cache_disk_mb=8)
    try:
        url = await clawhost_server(host)
        text, header = await ask(url)
        assert header == "miss"
        facts = host.models[CHAT].engine.memory_facts()["prefix_cache_disk"]
        assert facts["blocks"] >= 2 and facts["writable"] is True
    finally:
        await host.stop()
    host = await start_host(prepared, models, prefix_cache_disk_mb=8)
    try:
        url = await clawhost_server(host)
        again, header = await ask(url)
        assert header.startswith("hit ") and header.endswith(" tokens from disk")
        assert again == text
        figures = host.state[STATE].figures()  # the monitor's gauges
        assert figures["local_model_prefix_hits"] == {CHAT: 1}
        assert figures["local_model_prefix_reused_tokens"][CHAT] == int(header.split()[1])
    finally:
        await host.stop()
    # off: nothing is looked up or written, and no header is sent
    host = await start_host(prepared, models, prefix_cache_disk_mb=0)
    try:
        url = await clawhost_server(host)
        assert (await ask(url))[1] is None
        assert "prefix_cache_disk" not in host.models[CHAT].engine.memory_facts()
        assert host.state[STATE].figures()["local_model_prefix_hits"] == {}
    finally:
        await host.stop()


# -- the real model (slow) ------------------------------------------------------------------------

@pytest.mark.slow
def test_real_agent_turns_over_a_long_system_prompt_read_it_from_disk(real_models, tmp_path,
                                                                       monkeypatch):
    """SmolLM2 (int8 cache, 256-token blocks as served) on an agent's turns: a ~1,400-token
    system prompt with tools, then turn 2 with turn 1's answer. After a restart turn 2 reads
    the system prompt's blocks and answers token for token as a full prefill does."""
    from conftest import REAL_CHAT
    from test_long_prompt import _real_text
    from test_speculate import TOOLS_SYSTEM
    monkeypatch.setattr(prefix_cache, "BLOCK", 256)
    monkeypatch.setattr(prefix_store, "MIN_TOKENS", 1024)
    folder = real_models["folder"](REAL_CHAT)

    def engine(root):
        eng = ChatEngine.load(folder, threads=2, kv_cache="int8")
        if root is not None:
            eng.enable_prefix_store(root, 2**30)
        return eng

    def ask(eng, messages):
        params = SamplingParams(max_tokens=24, temperature=0)
        params._headers = {}
        batch = eng.new_batch(1)
        slot = batch.add(eng.encode_chat(messages), params)
        while slot in batch.seqs:
            seq = batch.seqs[slot]
            batch.step()
        return seq.ids, params._headers.get("x-clawhost-prefix-cache")  # the answer's tokens

    system = TOOLS_SYSTEM + "Notes so far:\n" + _real_text(1400)
    turn1 = [{"role": "system", "content": system},
             {"role": "user", "content": "Search the notes for the last tool used."}]
    first = engine(tmp_path)
    answer1, header = ask(first, turn1)
    assert header == "miss" and first.prefix_store.writes >= 5
    assert first.decode(answer1).strip(), answer1
    turn2 = turn1 + [{"role": "assistant", "content": first.decode(answer1)},
                     {"role": "user", "content": "Now read_file notes.md."}]
    restarted = engine(tmp_path)
    answer2, header = ask(restarted, turn2)
    n = int(header.split()[1])
    assert header.endswith("tokens from disk") and n >= 1280 and n % 256 == 0
    assert answer2 == ask(engine(None), turn2)[0]


def test_blocks_are_written_as_prefilled_so_an_abandoned_prompt_leaves_them_for_its_retry(
        tiny_dir, tmp_path, prefilled, monkeypatch):  # noqa: F811
    from clawhost.plugins.quantized_model import chat_engine
    monkeypatch.setattr(chat_engine, "PREFILL_CHUNK", 40)
    eng = _engine(tiny_dir, tmp_path)
    ids = _prompt(eng, 150)
    batch = eng.new_batch(1)
    slot = batch.add(ids, SamplingParams(max_tokens=8, temperature=0))  # the first 40 tokens
    assert len(_blocks(tmp_path)) == 1  # block 0 (tokens 0-31), done with the first chunk
    batch.step()  # tokens 40-79: block 1 is complete
    assert len(_blocks(tmp_path)) == 2 and slot in batch.filled
    batch.remove(slot)  # the client went away mid-prefill
    prefilled.clear()
    got, header = _answer(eng, ids)  # its retry
    assert header == "hit 64 tokens from disk" and sum(prefilled) == 150 - 64
    assert got == _answer(_engine(tiny_dir), ids)[0]
    assert len(_blocks(tmp_path)) == 4  # the retry wrote the rest (128 of its 150 tokens)
