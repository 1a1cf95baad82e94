"""server.access_log: one line per API request, with no prompt, header value or secret."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from clawhost.testing import EchoModel

TOKEN = "tok-access-log-secret-1234"
PROMPT = "my private prompt text"


async def _requests(url: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    chat = {"model": "gpt-4o-mini", "temperature": 0,
            "messages": [{"role": "user", "content": PROMPT}]}
    async with aiohttp.ClientSession(headers=auth) as s:
        for body in (chat, chat, {**chat, "stream": True,
                                  "stream_options": {"include_usage": True},
                                  "messages": [{"role": "user", "content": "a b c"}]}):
            async with s.post(url + "/v1/chat/completions", json=body) as r:
                assert r.status == 200
                await r.read()
        async with s.post(url + "/v1/embeddings", json={"model": "echo-embed",
                                                        "input": ["x", "y"]}) as r:
            assert r.status == 200
        async with s.post(url + "/v1/chat/completions", json={
                "model": f"sk-{TOKEN}", "messages": [{"role": "user", "content": PROMPT}]}) as r:
            assert r.status == 404
        async with s.get(url + "/v1/models/secret-model-name?key=" + TOKEN) as r:
            assert r.status == 404
        async with s.get(url + "/readyz") as r:  # probes are not logged
            assert r.status == 200
    async with aiohttp.ClientSession() as s:  # no token: 401, still one line
        async with s.get(url + "/v1/models") as r:
            assert r.status == 401


async def test_access_log_file_lines(clawhost_host, clawhost_server, tmp_path):
    log_path = tmp_path / "logs" / "access.log"
    host = await clawhost_host(EchoModel(), config={
        "aliases": {"gpt-4o-mini": "echo"}, "plugins": {"cache": {}},
        "server": {"token": TOKEN, "access_log": str(log_path)}})
    url = await clawhost_server(host)
    await _requests(url)
    text = log_path.read_text()
    lines = [line.split(" clawhost.access: ", 1)[1] for line in text.splitlines()]
    shapes = [line.rsplit(" ms=", 1)[0] for line in lines]
    assert shapes == [
        "POST /v1/chat/completions model=echo alias=gpt-4o-mini status=200 cache=miss tokens=4/4",
        "POST /v1/chat/completions model=echo alias=gpt-4o-mini status=200 cache=hit-l1 tokens=4/4",
        "POST /v1/chat/completions model=echo alias=gpt-4o-mini status=200 cache=miss tokens=3/3",
        "POST /v1/embeddings model=echo-embed status=200 cache=miss tokens=0/0",
        "POST /v1/chat/completions model=- status=404 cache=- tokens=-/-",
        "GET /v1/models/{model} model=- status=404 cache=- tokens=-/-",
        "GET /v1/models model=- status=401 cache=- tokens=-/-",
    ]
    assert all(float(line.rsplit(" ms=", 1)[1]) >= 0 for line in lines)
    assert TOKEN not in text and "private prompt" not in text and "secret-model" not in text


async def test_access_log_true_goes_to_the_host_log(clawhost_host, clawhost_server, caplog):
    caplog.set_level(logging.INFO, "clawhost.access")
    host = await clawhost_host(EchoModel(), config={"server": {"access_log": True}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/embeddings", json={"model": "echo-embed", "input": "x"}) as r:
            assert r.status == 200
    assert [r.getMessage().rsplit(" ms=", 1)[0] for r in caplog.records
            if r.name == "clawhost.access"] == [
        "POST /v1/embeddings model=echo-embed status=200 cache=- tokens=0/0"]


async def test_no_access_log_by_default(clawhost_host, clawhost_server, caplog):
    caplog.set_level(logging.INFO, "clawhost.access")
    host = await clawhost_host(EchoModel())
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v1/models") as r:
            assert r.status == 200
    assert not [r for r in caplog.records if r.name == "clawhost.access"]


def test_a_bad_access_log_value_is_one_line():
    import yaml

    from clawhost.config import load_config
    from clawhost.errors import ConfigError
    with pytest.raises(ConfigError) as exc:
        load_config(text=yaml.safe_dump({"server": {"access_log": 3}}))
    assert str(exc.value) == ("config: server.access_log: must be true, false or a file path "
                              "(got 3)")
