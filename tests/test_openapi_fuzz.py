"""Schemathesis over every operation of ``/openapi.json`` on a real server: no 500s, and the
server and its schema agree (what the schema allows is served, what it refuses is refused)."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest

from clawhost.testing import EchoModel

CHECKS = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                   "response_schema_conformance", "response_headers_conformance",
                   "negative_data_rejection", "positive_data_acceptance", "unsupported_method",
                   "missing_required_header", "ignored_auth"])


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        clawhost_host, clawhost_server, tmp_path):
    host = await clawhost_host(EchoModel(), config={"plugins": {"cache": {}, "monitor": {}}})
    url = await clawhost_server(host)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--checks", CHECKS, "--max-examples", "25", "--seed", "1", "--phases", "examples,fuzzing",
        "--no-color", "--request-timeout", "10",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]


@pytest.mark.parametrize("field, value, good", [
    ("max_tokens", True, 5), ("stream", "yes", False), ("cache", {"ttl": True}, {"ttl": 60}),
    ("n", "1", 1), ("stop", ["a", "b", "c", "d", "e"], ["a"]), ("max_tokens", 2.5, 2.0)])
async def test_the_server_refuses_what_the_schema_refuses(clawhost_host, clawhost_server,
                                                         field, value, good):
    """Found by schemathesis: JSON's true is not 1, "yes" is not true."""
    host = await clawhost_host(EchoModel(), config={"plugins": {"cache": {}}})
    url = await clawhost_server(host)
    body = {"model": "echo", "messages": [{"role": "user", "content": "x"}], field: value}
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json=body) as r:
            assert r.status == 400 and field in (await r.json())["error"]["message"]
        async with s.post(url + "/v1/chat/completions", json={**body, field: good}) as r:
            assert r.status == 200  # the same request with an acceptable value is served
        async with s.get(url + "/v1/chat/completions") as r:  # a 405 says what is allowed
            assert r.status == 405 and r.headers["Allow"] == "POST"
