"""batcher + quantized_model with tiny generated models: batched answers equal unbatched ones.

The tiny llama GGUF and BERT come from the quantized_model and embedding-engine tests' own
builders, prepared through `clawhost model prepare` like a user would.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from clawhost.host import Host
from clawhost.testing import make_config
from clawhost.plugins.batcher import STATE as BATCHER_STATE

qm = pytest.importorskip("test_quantized_model")  # its tiny-model builders (tests/ is on sys.path)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("batcher_real")
    src = {"bert": qm.tiny_bert(root / "bert"), "gguf": qm.tiny_gguf(root / "tiny.gguf")}
    models = qm.models_section(src)
    cfg = qm.write_config(root / "config.yaml", qm.config_dict(root / "ws", models))
    for model_id in (qm.EMBED, qm.CHAT):
        done = qm.run_cli("model", "prepare", model_id, "--config", str(cfg))
        assert done.returncode == 0, done.stderr
    return root / "ws", models


async def test_batched_greedy_output_equals_unbatched(prepared):
    from clawhost.types import ChatRequest, EmbeddingRequest, ModelRequest
    workspace, models = prepared
    config = qm.config_dict(workspace, models)
    config["plugins"] = {"batcher": {"max_slots": 4, "max_wait_ms": 50}, **config["plugins"]}
    host = Host(make_config(workspace, config))
    await host.start()
    try:
        def chat(p):
            return ModelRequest(kind="chat", body=ChatRequest(
                model=qm.CHAT, messages=[{"role": "user", "content": p}], max_tokens=16,
                temperature=0))

        prompts = ["hello world", "what is the capital of france", "the cat sat on the mat",
                   "one two three", "paris is the capital"]
        alone = [(await host.handle(chat(p))).body["choices"][0]["message"]["content"]
                 for p in prompts]
        sched = host.state[BATCHER_STATE].batchers[qm.CHAT]
        steps0, batched0 = sched.stats.batches, sched.stats.batched
        assert sched.stats.mean_batch == 1.0  # one at a time so far

        async def late(p, delay):  # joins a batch that is already decoding
            await asyncio.sleep(delay)
            return await host.handle(chat(p))
        replies = await asyncio.gather(*(late(p, 0.0 if i < 3 else 0.02)
                                         for i, p in enumerate(prompts)))
        together = [r.body["choices"][0]["message"]["content"] for r in replies]
        assert together == alone
        steps, batched = sched.stats.batches - steps0, sched.stats.batched - batched0
        assert batched / steps > 1.5  # really decoded together

        def emb(t):
            return ModelRequest(kind="embedding", body=EmbeddingRequest(model=qm.EMBED, input=t))
        solo = [(await host.handle(emb(p))).body["data"][0]["embedding"] for p in prompts]
        eb = host.state[BATCHER_STATE].batchers[qm.EMBED]
        before = eb.stats.batches
        many = await asyncio.gather(*(host.handle(emb(p)) for p in prompts))
        assert eb.stats.batches - before < len(prompts)
        for a, b in zip(solo, many):
            np.testing.assert_allclose(a, b.body["data"][0]["embedding"], atol=1e-4)
    finally:
        await host.stop()
