"""Optional OpenTelemetry traces: one span per request, one child span per stage.

Spans are built when the request finishes, from ``request.timings`` (explicit start and
end times), so tracing adds nothing to the stages themselves. Only the OpenTelemetry API
is used here: where the spans go (OTLP, console, ...) is the operator's SDK setup, e.g.
``opentelemetry-instrument`` or ``OTEL_*`` variables. Without ``opentelemetry`` installed
``make_tracer`` returns None and the monitor skips tracing.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from clawhost.api import CACHE_RESULT


def make_tracer() -> Callable[[Any, Any, BaseException | None], None] | None:
    try:
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode
    except ImportError:
        return None
    tracer = trace.get_tracer("clawhost")

    def emit(request: Any, reply: Any, error: BaseException | None) -> None:
        t = request.timings
        end = time.time_ns()
        start = end - int(t.get("total", 0.0) * 1e9)
        at = lambda seconds: start + int(seconds * 1e9)  # noqa: E731
        attrs = {"clawhost.request_id": request.id, "clawhost.kind": request.kind,
                 "clawhost.model": request.model.id if request.model else "",
                 "clawhost.stream": request.stream,
                 "clawhost.source": reply.source if reply is not None else "",
                 "clawhost.cache": str(request.notes.get(CACHE_RESULT, ""))}
        span = tracer.start_span("clawhost.request", start_time=start, attributes=attrs)
        ctx = trace.set_span_in_context(span)

        def child(name: str, begin: int, seconds: float) -> None:
            tracer.start_span(name, context=ctx, start_time=begin).end(end_time=begin + int(seconds * 1e9))

        lookup = t.get("lookup")
        if lookup is not None:
            child("clawhost.lookup", start, lookup)
        infer_start = at(lookup or 0.0)
        if "queue" in t:  # the batcher's wait happens inside inference
            child("clawhost.queue", infer_start, t["queue"])
        if "infer" in t:
            child("clawhost.infer", infer_start, t["infer"])
        if "ttft" in t:
            span.add_event("first_token", timestamp=at(t["ttft"]))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end(end_time=end)

    return emit
