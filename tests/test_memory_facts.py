"""The chat models' memory budget, told the same everywhere (issue #18): /readyz, /v1/models
(under ``x_clawhost``, OpenAI's shape kept: the openai SDK still lists the models) and
``clawhost status`` (plain text and ``--json``), all from ``LocalChat.memory_facts``.

The tiny llama of test_quantized_model: 2 layers, 2 KV heads of 16, so an int8 KV cache takes
2 (K, V) x 2 x 2 x 16 = 128 bytes per token.
"""
from __future__ import annotations

import json

import aiohttp
import pytest
from openai import AsyncOpenAI

from clawhost.api import MemoryFacts, engine_of
from conftest import free_port, run_cli
from test_quantized_model import (CHAT, EMBED, config_dict, models_section, prepared,  # noqa: F401
                                  sources, start_host, write_config)

PER_TOKEN = 128
MB = 2**20
BUDGET_MB = 200 * PER_TOKEN / MB  # 200 tokens: the 96-token context fits twice


def chat_models(sources) -> dict:
    return models_section(sources, tiny_llama={"max_tokens": 16, "max_slots": 3,
                                               "kv_cache": "int8"})


EXPECTED = {"context_length": 96, "kv_cache_dtype": "int8", "kv_bytes_per_token": PER_TOKEN,
            "kv_mb_full_context": round(96 * PER_TOKEN / MB, 1), "kv_cache_mb": round(BUDGET_MB, 2),
            "full_context_streams": 2, "max_slots": 3,
            "prefix_cache_disk": {"blocks": 0, "mb": 0.0, "limit_mb": 1024.0, "hits": 0,
                                  "misses": 0, "writable": True}}


async def test_models_and_readyz_show_the_same_memory_facts(prepared, sources,  # noqa: F811
                                                          clawhost_server):
    host = await start_host(prepared, chat_models(sources), kv_cache_mb=BUDGET_MB)
    try:
        url = await clawhost_server(host)
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/readyz") as r:
                ready = await r.json()
            async with http.get(url + "/v1/models") as r:
                listing = await r.json()
            async with http.get(f"{url}/v1/models/{CHAT}") as r:
                one = await r.json()
        assert ready["kv_cache"]["models"][CHAT] == EXPECTED
        card = next(m for m in listing["data"] if m["id"] == CHAT)
        # OpenAI's fields as OpenAI sends them; ours beside them, the memory under one key
        assert (card["object"], card["owned_by"], type(card["created"])) == (
            "model", "quantized_model", int)
        assert card["x_clawhost"] == one["x_clawhost"] == EXPECTED
        assert card["context_length"] == EXPECTED["context_length"]
        embed = next(m for m in listing["data"] if m["id"] == EMBED)
        assert "x_clawhost" not in embed  # no KV cache: nothing to tell
        # the openai SDK lists them, and hands the extra key through
        client = AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        try:
            models = {m.id: m async for m in client.models.list()}
            got = await client.models.retrieve(CHAT)
        finally:
            await client.close()
        assert {CHAT, EMBED} <= set(models)
        assert models[CHAT].owned_by == "quantized_model"
        assert models[CHAT].model_extra["x_clawhost"] == got.model_extra["x_clawhost"] == EXPECTED
        # the contract the host's card reads is the one the plugin's readiness calls
        engine = engine_of(host.models[CHAT], MemoryFacts)
        assert engine is not None and engine.memory_facts() == EXPECTED
    finally:
        await host.stop()


def test_status_says_it_in_plain_text_and_in_json(prepared, sources, tmp_path):  # noqa: F811
    data = config_dict(prepared, chat_models(sources), kv_cache_mb=BUDGET_MB)
    data["server"] = {"port": free_port(), "drain_timeout_s": 5}
    cfg = str(write_config(tmp_path / "config.yaml", data))
    started = run_cli("start", "--config", cfg, timeout=300)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        as_json = json.loads(run_cli("status", "--json", "--config", cfg).stdout)
        assert as_json["kv_cache"]["models"][CHAT] == EXPECTED
        human = run_cli("status", "--config", cfg).stdout
        line = next(ln for ln in human.splitlines() if "KV cache int8" in ln)
        assert line.strip() == (
            f"context 96 tokens; KV cache int8, 128 B per token, {EXPECTED['kv_mb_full_context']:g} "
            f"MB for a full context; 2 full-context stream(s) fit in kv_cache_mb "
            f"{EXPECTED['kv_cache_mb']:g}; 3 slots")
        lines = human.splitlines()
        assert lines[lines.index(line) - 1].strip() == f"model {CHAT}: ready"
        assert lines[lines.index(line) + 1].strip() == \
            "kept prompt prefixes: 0 of 1024 MB on disk, 0 hit(s)"
        assert f"KV cache: 0 of kv_cache_mb {EXPECTED['kv_cache_mb']:g} reserved by 0 stream(s)" in human
    finally:
        stopped = run_cli("stop", "--config", cfg)
        assert stopped.returncode == 0, stopped.stderr
