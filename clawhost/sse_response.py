"""A streamed reply out as server-sent events: OpenAI's chunks (``stream_out``), or a
protocol's own events through its writer (``stream_events``). Once the headers are out, an
error travels in-band; the host's chunk stream is closed at the end either way."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from . import streaming
from .errors import ClawhostError
from .protocols import Endpoint, EventWriter
from .routing import HOST_KEY

log = logging.getLogger("clawhost.server")  # the server's log, as before the split
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


async def stream_events(request: web.Request, writer: EventWriter, chunks, headers: dict,
                        endpoint: Endpoint) -> web.StreamResponse:
    """A protocol's own SSE bytes out, the host's chunks through its writer; the chunk
    stream is closed at the end."""
    resp = web.StreamResponse(headers={**SSE_HEADERS, **headers})
    try:
        await resp.prepare(request)
        try:
            async for chunk in chunks:
                frame = writer.chunk(chunk)
                if frame:
                    await resp.write(frame)
            frame = writer.end()
        except ClawhostError as exc:  # after the headers went out, the error travels in-band
            frame = writer.error(exc)
        if frame:
            await resp.write(frame)
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:
        log.debug("client left %s before its stream ended", request.path)
    except Exception as exc:  # noqa: BLE001
        log.error("stream failed: %s", request.app[HOST_KEY].config.redact(str(exc)))
        err = ClawhostError("internal error in stream")
        await resp.write(b"event: error\ndata: " + streaming.dumps(endpoint.error_body(err)) + b"\n\n")
    finally:
        await chunks.aclose()
    return resp


async def stream_out(request: web.Request, reply, headers: dict) -> web.StreamResponse:
    resp = web.StreamResponse(headers={**SSE_HEADERS, **headers})
    chunks = reply.stream
    try:
        await resp.prepare(request)
        async for chunk in chunks:
            if streaming.NATIVE in chunk:  # a provider's own events: not for OpenAI clients
                chunk = streaming.without_native(chunk)
                if not chunk.get("choices") and "usage" not in chunk:
                    continue
            await resp.write(streaming.sse(chunk))
        await resp.write(streaming.sse("[DONE]"))
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:  # the client went away mid-stream: nobody to answer
        log.debug("client left %s before its stream ended", request.path)
    except ClawhostError as exc:  # after the headers went out, the error travels in-band
        await resp.write(streaming.sse(exc.to_dict()))
    except Exception as exc:  # noqa: BLE001
        log.error("stream failed: %s", request.app[HOST_KEY].config.redact(str(exc)))
        await resp.write(streaming.sse(ClawhostError("internal error in stream").to_dict()))
    finally:
        await chunks.aclose()
    return resp
