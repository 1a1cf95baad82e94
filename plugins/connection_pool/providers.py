"""One remote provider: its pooled session, limits, breaker, and one call with retries.

A call is bounded by four clocks: connect (aiohttp's ``sock_connect``), first byte
(request sent -> headers, and for streams the first event), idle (gap between chunks) and
total (one attempt), and all of them by the request's deadline across retries and fallbacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, AsyncIterator

import aiohttp
from yarl import URL

from clawhost.api import RETRIES, ModelRequest, UpstreamError

from .anthropic import Anthropic
from .breaker import Breaker
from .limits import Limiter, Slot, acquire_all
from .openai_compat import OpenAICompat, StreamState, error_text, is_preamble
from .options import Provider as ProviderOptions
from .retry import FAILOVER_STATUS, RETRY_STATUS, AttemptFailed, backoff, retry_after_of

log = logging.getLogger("clawhost.remote")
JSON_CT = {"Content-Type": "application/json"}


def local_limiter(scope: tuple[str, ...], label: str, **limits) -> Limiter:
    """Limits counted in this process (the default; fleet mode counts them in Redis)."""
    return Limiter(scope[0], label=label, **limits)


class Provider:
    def __init__(self, name: str, opts: ProviderOptions, make_limiter=local_limiter):
        self.name, self.opts = name, opts
        self.adapter = Anthropic(opts) if opts.kind == "anthropic" else OpenAICompat(opts)
        how = {"mode": opts.limit_mode, "max_wait": opts.max_wait}
        self.limiter = make_limiter((name,), f"provider {name!r}",
                                    max_concurrency=opts.max_concurrency, rpm=opts.rpm,
                                    tpm=opts.tpm, **how)
        # the limiters a call to each upstream model goes through: its provider's, then its own
        self._alone = (self.limiter,)
        self.limiters = {m: (self.limiter, make_limiter(
            (name, "model", m), f"model '{name}/{m}'", max_concurrency=ml.max_concurrency,
            rpm=ml.rpm, tpm=ml.tpm, **how)) for m, ml in opts.model_limits.items()}
        self.breaker = Breaker(opts.cooldown)
        self.calls_total = self.errors_total = self.retries_total = 0
        self.session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}
        # the key, and extra header values (they may carry tokens too), are never echoed
        self._secrets = [v for v in [opts.api_key.get_secret_value() if opts.api_key else None,
                                     *opts.headers.values()] if v and len(v) >= 6]

    def scrub(self, text: str) -> str:
        """Never let a key out, even when an upstream echoes it back in an error."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    async def start(self) -> None:
        o = self.opts
        conn = aiohttp.TCPConnector(
            limit=0, limit_per_host=o.max_connections or o.max_concurrency,
            use_dns_cache=o.dns_cache > 0, ttl_dns_cache=o.dns_cache or None,
            force_close=not o.reuse_connections,
            keepalive_timeout=o.keepalive if o.reuse_connections else None)
        # the key lives only in the session's default headers: never in a message or a label
        self.session = aiohttp.ClientSession(
            connector=conn, headers={**JSON_CT, **self.adapter.auth_headers(), **o.headers},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=o.timeouts.connect),
            read_bufsize=1 << 18, trust_env=o.trust_env)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    # -- one request, retried -----------------------------------------------------------
    async def call(self, request: ModelRequest, upstream_model: str, deadline: float, *,
                   force: bool = False):
        """A body (dict) or an opened ``StreamCall``; raises AttemptFailed when it gives up.

        ``force``: go out even while the breaker is open (the request has no other route left);
        a provider's own Retry-After is still honoured.
        """
        r = self.opts.retries
        loop = asyncio.get_running_loop()
        retry_until = min(deadline, loop.time() + r.budget)
        data = json.dumps(self.adapter.payload(request, upstream_model)).encode()
        estimate = len(data) // 4   # prompt tokens, roughly; real usage settles it afterwards
        url = self._urls.get(request.kind) or self._urls.setdefault(
            request.kind, URL(self.adapter.url(request.kind)))   # parsed once, not per call
        attempt = 0
        while True:
            if not self.breaker.allow(force=force):
                left = self.breaker.remaining()
                # "held": the provider asked for the pause itself, so no last-resort call either
                kind = "held" if self.breaker.held else "cooldown"
                raise AttemptFailed(f"provider {self.name!r} is cooling down ({left:.1f}s left)",
                                    status=503, retryable=False, retry_after=left, kind=kind)
            try:
                slot = await acquire_all(self.limiters.get(upstream_model, self._alone),
                                         estimate, deadline)
            except BaseException:
                self.breaker.release()
                raise
            self.calls_total += 1
            started = self.breaker.clock()
            try:
                result = await self._once(request, url, data, deadline, slot)
            except AttemptFailed as exc:
                self.errors_total += 1
                long_wait = exc.retry_after is not None and exc.retry_after > r.max_retry_after
                if exc.retryable:
                    self.breaker.failure(exc.retry_after if long_wait else None, started=started,
                                         pending=self.limiter.inflight)
                else:
                    self.breaker.release()
                delay = exc.retry_after if exc.retry_after is not None else \
                    backoff(attempt, r.backoff_base, r.backoff_max)
                # a call forced past an open breaker gets one try, like a probe: no hammering
                if (not exc.retryable or attempt >= (0 if force else r.attempts) or long_wait
                        or loop.time() + delay >= retry_until):
                    raise
                log.info("provider %s: %s; retry %d in %.2fs", self.name, exc.message,
                         attempt + 1, delay)
                self.retries_total += 1
                request.notes[RETRIES] = request.notes.get(RETRIES, 0) + 1
                await asyncio.sleep(delay)
                attempt += 1
                continue
            except BaseException:
                self.breaker.release()
                raise
            if isinstance(result, StreamCall):
                # the provider answered, so a probe closes the breaker now; whether the call
                # succeeded is known only when the stream ends, and is counted then
                self.breaker.success(started=started, count=False)
                result.started = started
            else:
                self.breaker.success(started=started)
            return result

    def _fail(self, what: str, *, status: int = 502, kind: str = "connection",
              retryable: bool = True) -> AttemptFailed:
        return AttemptFailed(self.scrub(f"provider {self.name!r}: {what}"), status=status,
                             retryable=retryable, kind=kind)

    async def _once(self, request: ModelRequest, url: URL, data: bytes, deadline: float,
                    slot: Slot):
        loop = asyncio.get_running_loop()
        to = self.opts.timeouts
        t0 = loop.time()
        end = min(deadline, t0 + to.total)
        first_at = min(end, t0 + to.first_byte)
        resp: aiohttp.ClientResponse | None = None
        call: StreamCall | None = None
        used: int | None = None
        handed_off = False
        try:
            try:
                async with asyncio.timeout_at(first_at):
                    resp = await self.session.post(url, data=data)
                    if resp.status >= 400:
                        raise await self._http_error(resp)
                    if request.stream and not resp.content_type.endswith("json"):
                        call = StreamCall(self, request, resp, first_at, end, slot)
                        await call.open()   # the first content, still under the first-byte clock
                        handed_off = True
                        return call
                # (a server that ignores "stream": true answers JSON; the host replays it)
                async with asyncio.timeout_at(min(end, loop.time() + to.idle)):
                    raw = await resp.read()
            except aiohttp.ConnectionTimeoutError:
                raise self._fail(f"no connection within {to.connect:g}s (connect timeout)",
                                 status=504, kind="connect") from None
            except TimeoutError:
                if resp is None or request.stream:
                    which = "total" if first_at >= end else "first_byte"
                else:
                    which = "total" if loop.time() >= end else "idle"
                raise self._fail(f"timed out ({which} timeout)", status=504, kind=which) from None
            except aiohttp.ClientConnectorError as exc:
                reason = exc.os_error.strerror if exc.os_error else type(exc).__name__
                raise self._fail(f"cannot connect ({reason})", kind="connect") from None
            except (aiohttp.ClientError, OSError) as exc:
                raise self._fail(f"connection failed ({type(exc).__name__})") from None
            try:
                body = self.adapter.reply(request, json.loads(raw))
            except ValueError:
                raise self._fail("answered 200 with a body that is not JSON",
                                 kind="bad_body") from None
            used = self.adapter.usage(body)
            return body
        finally:
            if not handed_off:
                if call is not None:
                    call.done = True   # its slot is freed here, not again when it is collected
                    await call.close_iterators()
                if resp is not None:
                    resp.close()
                slot.release(used)

    async def _http_error(self, resp: aiohttp.ClientResponse) -> AttemptFailed:
        """An upstream 4xx/5xx as an AttemptFailed carrying its message and Retry-After."""
        try:
            raw = await resp.read()
            try:
                payload: Any = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
        except (aiohttp.ClientError, OSError, TimeoutError):
            payload = None
        msg, etype = error_text(payload)
        status = resp.status
        return AttemptFailed(
            self.scrub(f"provider {self.name!r} answered {status}: {msg}"),
            status=status, retryable=status in RETRY_STATUS, failover=status in FAILOVER_STATUS,
            retry_after=retry_after_of(resp.headers) if status in (429, 503, 529) else None,
            body={"type": etype} if etype else None, kind=f"http_{status}")


async def sse_data(provider: Provider, resp: aiohttp.ClientResponse, first_at: float,
                   end: float) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event, under the first-byte, idle and total clocks."""
    loop = asyncio.get_running_loop()
    idle = provider.opts.timeouts.idle
    limit, first, lines = first_at, True, []
    while True:
        try:
            async with asyncio.timeout_at(min(limit, end)):
                line = await resp.content.readline()
        except TimeoutError:
            which = "total" if end <= limit else ("first_byte" if first else "idle")
            raise provider._fail(f"stream timed out ({which} timeout)", status=504,
                                 kind=which) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise provider._fail(f"stream broke ({type(exc).__name__})") from None
        if not line:
            if lines:
                yield "\n".join(lines)
            return
        line = line.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            lines.append(line[6:].decode() if line[5:6] == b" " else line[5:].decode())
            first = False
            limit = loop.time() + idle
        elif not line and lines:
            data, lines = "\n".join(lines), []
            yield data


class StreamCall:
    """An upstream stream that has produced its first content; owns its slot until it ends.

    ``finish`` runs when the client's stream ends, or, if the server never started reading
    it (the client left before the headers went out), when this object is collected.
    """

    # chunks that say nothing (OpenAI's role-only first chunk) are held back, at most this
    # many, so a stream cut off right after them fails before the client got a byte: retried
    MAX_HELD = 8

    def __init__(self, provider: Provider, request: ModelRequest, resp, first_at: float,
                 end: float, slot: Slot):
        self.provider, self.request, self.resp, self.slot = provider, request, resp, slot
        self.state = StreamState()
        self.events = sse_data(provider, resp, first_at, end)
        self.chunks = provider.adapter.chunks(request, self.events, self.state)
        self.held: list[dict] = []
        self.started: float | None = None   # when the attempt began (for the breaker)
        self.done = False

    async def open(self) -> None:
        """Read up to the first chunk with content (or a finish), so the attempt fails, and is
        retried, when the upstream breaks before then."""
        while True:
            try:
                chunk = await anext(self.chunks)
            except StopAsyncIteration:
                raise self.provider._fail("stream ended before any data",
                                          kind="truncated") from None
            self.held.append(chunk)
            if not is_preamble(chunk) or len(self.held) >= self.MAX_HELD:
                return

    async def close_iterators(self) -> None:
        await self.chunks.aclose()
        await self.events.aclose()

    def finish(self, ok: bool | None = None) -> None:
        """Drop the connection (the upstream sees the cancel) and free the slot, once.

        ``ok``: the stream's outcome for the breaker (None: the client left, which says
        nothing about the provider)."""
        if self.done:
            return
        self.done = True
        self.resp.close()
        self.slot.release(self.state.usage)
        breaker = self.provider.breaker
        if ok:
            breaker.success(started=self.started)
        elif ok is False:
            breaker.failure(started=self.started, pending=self.provider.limiter.inflight)

    def __del__(self):
        if not getattr(self, "done", True):
            self.finish()

    async def iterate(self) -> AsyncIterator[dict]:
        """The client's stream: never retried once it has begun; errors go in-band.

        A stream that ends without a finish reason raises (the adapters check), so the
        host neither ends it with ``[DONE]`` nor stores it."""
        p = self.provider
        ok: bool | None = None
        try:
            for chunk in self.held:
                yield chunk
            self.held = []
            async for chunk in self.chunks:
                yield chunk
            ok = True
        except AttemptFailed as exc:
            ok = False
            p.errors_total += 1
            raise UpstreamError(exc.message + " (after the stream began; not retried)",
                                status=exc.status) from None
        finally:
            self.finish(ok)
            await self.close_iterators()
