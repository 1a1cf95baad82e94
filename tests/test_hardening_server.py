"""Issue 22, items 3, 8, 9, 15 and 16: what a probe of the running host broke.

Every test talks to a real server on loopback started by ``clawhost.server.serve`` (the
code path ``clawhost run`` uses), mostly over raw sockets so that every header and byte
is exactly what an attacker would send."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request

import aiohttp
import openai
import pytest

from clawhost.client import Client
from clawhost.host import Host
from clawhost.server import serve
from clawhost.testing import EchoModel, make_config

CHAT = {"model": "echo", "temperature": 0, "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
async def live(tmp_path):
    """``host, port = await live(config, *plugins)``: serve() on a free loopback port."""
    running = []

    async def start(config: dict | None = None, *plugins):
        cfg = make_config(tmp_path / f"ws{len(running)}",
                          {**(config or {}), "server": {"port": 0, **(config or {}).get("server", {})}})
        host = Host(cfg, extra_plugins=[(f"p{i}", p) for i, p in enumerate(plugins or (EchoModel(),))])
        listening = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(serve(host, on_listening=listening.set_result, stop=stop))
        running.append((stop, task))
        port = await asyncio.wait_for(listening, 5)
        for _ in range(200):
            if host.ready:
                break
            await asyncio.sleep(0.01)
        return host, port

    yield start
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 10)


async def http(port: int, method: str, path: str, headers: dict | None = None,
               body: bytes = b"", timeout: float = 3.0) -> tuple[int, dict, bytes]:
    """One request over a fresh socket, exactly these headers; (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = {"Host": f"127.0.0.1:{port}", "Connection": "close", **(headers or {})}
    if body or method == "POST":
        head.setdefault("Content-Length", str(len(body)))
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items() if v is not None]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    header_block, _, payload = rest.partition(b"\r\n\r\n")
    got = {}
    for line in header_block.decode().split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            got[k.strip().lower()] = v.strip()
    return int(status_line.split()[1]), got, payload


def one_line_error(payload: bytes) -> dict:
    err = json.loads(payload)["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert "\n" not in err["message"] and "Traceback" not in err["message"]
    return err


JSON = {"Content-Type": "application/json"}


# -- item 3: browsers ----------------------------------------------------------------

@pytest.mark.parametrize("content_type", [
    "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", None])
async def test_a_body_a_web_page_could_post_without_preflight_is_415(live, content_type):
    echo = EchoModel()
    _, port = await live(None, echo)
    status, _, payload = await http(port, "POST", "/v1/chat/completions",
                                    {"Content-Type": content_type}, json.dumps(CHAT).encode())
    assert status == 415 and "application/json" in one_line_error(payload)["message"]
    assert echo.calls == 0  # nothing reached the model (or, on a real host, upstream)


async def test_a_foreign_origin_is_403_and_cannot_clear_the_cache(live):
    echo = EchoModel()
    _, port = await live({"plugins": {"cache": {}}}, echo)
    status, head, _ = await http(port, "POST", "/v1/chat/completions", JSON, json.dumps(CHAT).encode())
    assert status == 200 and head["x-clawhost-cache"] == "miss"
    evil = {"Origin": "http://evil.example"}
    status, _, payload = await http(port, "POST", "/v1/cache/clear", {**evil, "Content-Type": "text/plain"}, b"x")
    assert status == 403 and "Origin" in one_line_error(payload)["message"]
    status, _, _ = await http(port, "POST", "/v1/cache/clear", {"Content-Type": "text/plain"}, b"x")
    assert status == 415
    status, _, _ = await http(port, "POST", "/v1/cache/clear", evil)  # no body at all
    assert status == 403
    for origin in ("null", "http://127.0.0.1:1", f"http://evil.example:{port}"):
        status, _, _ = await http(port, "POST", "/v1/chat/completions", {**JSON, "Origin": origin},
                                  json.dumps(CHAT).encode())
        assert status == 403, origin
    status, head, _ = await http(port, "POST", "/v1/chat/completions", JSON, json.dumps(CHAT).encode())
    assert head["x-clawhost-cache"] == "hit-l1"  # the cache was never cleared
    assert echo.calls == 1


async def test_own_and_configured_origins_and_hosts_are_served(live):
    _, port = await live({"server": {"allowed_origins": ["http://localhost:3000"],
                                     "allowed_hosts": ["clawhost.lan"]}})
    body = json.dumps(CHAT).encode()
    for extra in ({"Origin": f"http://127.0.0.1:{port}"}, {"Origin": f"http://localhost:{port}"},
                  {"Origin": "http://localhost:3000"}, {"Host": f"localhost:{port}"},
                  {"Host": f"[::1]:{port}"}, {"Host": "clawhost.lan:8787"}):
        status, _, payload = await http(port, "POST", "/v1/chat/completions", {**JSON, **extra}, body)
        assert status == 200, (extra, payload)


async def test_a_foreign_host_header_is_403_dns_rebinding(live):
    _, port = await live()
    for path in ("/v1/models", "/readyz", "/"):
        status, _, payload = await http(port, "GET", path, {"Host": "attacker.example"})
        assert status == 403 and "Host" in one_line_error(payload)["message"]
    status, _, _ = await http(port, "POST", "/v1/chat/completions",
                              {**JSON, "Host": f"attacker.example:{port}"}, json.dumps(CHAT).encode())
    assert status == 403


async def test_the_shipped_clients_still_work(live):
    host, port = await live({"plugins": {"cache": {}}})
    url = f"http://127.0.0.1:{port}"
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    resp = await client.chat.completions.create(model="echo", messages=CHAT["messages"])
    assert resp.choices[0].message.content == "hello there"
    await client.close()
    ours = Client(url)
    assert await asyncio.to_thread(ours.chat, "from the client", model="echo") == "from the client"

    def empty_post():  # what `clawhost cache clear` sends: urllib, empty form-encoded body
        req = urllib.request.Request(url + "/v1/cache/clear", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=3) as r:
            return r.status
    assert await asyncio.to_thread(empty_post) == 200


# -- item 8: bodies that crashed the parser ---------------------------------------------

@pytest.mark.parametrize("raw, needle", [
    ('{"model": "echo", "messages": [], "metadata": ' + "[" * 1000 + "]" * 1000 + "}", "nested too deeply"),
    ('{"model": "echo", "messages": [], "x": ' + "[" * 150 + "]" * 150 + "}", "nested too deeply"),
    ('{"model": "echo", "seed": ' + "9" * 5000 + ', "messages": [{"role": "user", "content": "x"}]}',
     "integer with 5000 digits"),
    ('{"model": "echo", "messages": [{"role": "user", "content": "x\\ud800y"}]}',
     "lone UTF-16 surrogate (not valid Unicode) at messages.0.content"),
    ('{"model": "echo", "messages": [{"role": "user", "content": "ok"}], "user": "\\udfff"}',
     "lone UTF-16 surrogate"),
    ('{"model": "echo", "messages": [{"role": "user", "content": "ok"}], "metadata": {"\\ud800": 1}}',
     "a key has a lone UTF-16 surrogate"),
])
async def test_hostile_json_is_a_400_naming_the_problem(live, raw, needle):
    echo = EchoModel()
    _, port = await live(None, echo)
    status, _, payload = await http(port, "POST", "/v1/chat/completions", JSON, raw.encode())
    err = one_line_error(payload)
    assert status == 400 and needle in err["message"], err
    assert echo.calls == 0
    status, _, _ = await http(port, "POST", "/v1/chat/completions", JSON, json.dumps(CHAT).encode())
    assert status == 200


# -- item 9: slow clients -----------------------------------------------------------------

SLOW = {"server": {"header_timeout_s": 0.3, "body_timeout_s": 0.3, "max_connections": 4,
                   "max_inflight": 1}}


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes; fails if it is still open after ``seconds``."""
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    except ConnectionResetError:
        return b""


async def test_idle_and_slow_header_connections_are_closed(live):
    _, port = await live(SLOW)
    idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
    slow_r, slow_w = await asyncio.open_connection("127.0.0.1", port)
    slow_w.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    async def trickle():  # one header byte every 50 ms: always sending, never finishing
        for _ in range(40):
            if slow_w.is_closing():
                return
            slow_w.write(b"X")
            await asyncio.sleep(0.05)
    feeder = asyncio.create_task(trickle())
    assert await closed_within(idle_r, 1.5) == b""
    assert await closed_within(slow_r, 1.5) == b""
    feeder.cancel()
    idle_w.close()
    slow_w.close()
    # a kept-alive connection is timed out on its next request's headers too
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert (await asyncio.wait_for(r.readuntil(b'{"status": "ok"}'), 2)).startswith(b"HTTP/1.1 200")
    w.write(b"GET /healthz HTTP/1.1\r\nHost: 127")
    assert await closed_within(r, 1.5) == b""
    w.close()


async def test_a_slow_body_is_408_and_counts_in_flight_meanwhile(live):
    _, port = await live(SLOW)
    body = json.dumps(CHAT).encode()
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:10])
    await w.drain()
    await asyncio.sleep(0.05)
    # max_inflight is 1 and the slow body holds it: the next request is refused at once
    status, head, _ = await http(port, "POST", "/v1/chat/completions", JSON, body, timeout=1)
    assert status == 429 and head["retry-after"] == "1"
    answer = await closed_within(r, 1.5)
    assert answer.startswith(b"HTTP/1.1 408") and b"server.body_timeout_s" in answer
    w.close()
    status, _, _ = await http(port, "POST", "/v1/chat/completions", JSON, body)
    assert status == 200  # the slot is free again


async def test_open_connections_are_capped(live):
    _, port = await live(SLOW | {"server": {**SLOW["server"], "header_timeout_s": 5}})
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
    await asyncio.sleep(0.05)
    r, w = await asyncio.open_connection("127.0.0.1", port)
    refused = await closed_within(r, 1.5)
    assert refused.startswith(b"HTTP/1.1 503") and b"server.max_connections" in refused
    w.close()
    for _, hw in held:
        hw.close()
    await asyncio.sleep(0.1)
    status, _, _ = await http(port, "GET", "/healthz")
    assert status == 200


# -- item 15: malformed HTTP --------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
])
async def test_malformed_http_is_one_quiet_log_line(live, caplog, raw):
    _, port = await live()
    caplog.set_level(logging.DEBUG)
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(raw)
    answer = await closed_within(r, 2)
    w.close()
    await asyncio.sleep(0.05)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4"))
    loud = [rec for rec in caplog.records if rec.levelno >= logging.ERROR or rec.exc_info]
    assert loud == [], [rec.getMessage() for rec in loud]
    assert all("\n" not in rec.getMessage() for rec in caplog.records)
    status, _, _ = await http(port, "GET", "/healthz")
    assert status == 200


# -- item 16: /readyz ---------------------------------------------------------------------

async def test_readyz_details_need_the_token_when_one_is_set(live):
    _, port = await live({"server": {"token": "tok-readyz-1"}})
    status, _, payload = await http(port, "GET", "/readyz")
    assert status == 200 and json.loads(payload) == {"status": "ready"}
    status, _, payload = await http(port, "GET", "/readyz", {"Authorization": "Bearer nope"})
    assert json.loads(payload) == {"status": "ready"}
    status, _, payload = await http(port, "GET", "/readyz", {"Authorization": "Bearer tok-readyz-1"})
    facts = json.loads(payload)
    assert status == 200 and facts["status"] == "ready" and "pid" in facts and "plugins" in facts
    _, open_port = await live()
    assert "pid" in json.loads((await http(open_port, "GET", "/readyz"))[2])  # no token: as before
