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


# Anthropic Messages and OpenAI Responses bodies have rules a JSON Schema does not carry
# (which content blocks a role may hold, how items pair up): there the server must still
# never fail and never break its schema, but a schema-valid body may be a 400.
PROTOCOL_PATHS = "^/v1/(messages|responses)"


async def _schemathesis(url: str, cwd, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--max-examples", "15", "--seed", "1", "--phases", "examples,fuzzing",
        "--no-color", "--request-timeout", "10", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=cwd)
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    text = out.decode(errors="replace")
    return proc.returncode, text[text.find("FAILURES"):][:3000] + text[-1500:]


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        clawhost_host, clawhost_server, tmp_path):
    host = await clawhost_host(EchoModel(), config={"plugins": {"cache": {}, "monitor": {}}})
    url = await clawhost_server(host)
    code, text = await _schemathesis(url, tmp_path, "--checks", CHECKS,
                                     "--exclude-path-regex", PROTOCOL_PATHS)
    assert code == 0, text
    code, text = await _schemathesis(url, tmp_path, "--checks", CHECKS,
                                     "--exclude-checks", "positive_data_acceptance",
                                     "--include-path-regex", PROTOCOL_PATHS)
    assert code == 0, text


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
