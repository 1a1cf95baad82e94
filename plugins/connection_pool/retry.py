"""When to retry an upstream call, and how long to wait: full-jitter backoff and Retry-After."""

from __future__ import annotations

import email.utils
import random
import time

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
# statuses where another provider may well succeed, though retrying the same one will not
FAILOVER_STATUS = RETRY_STATUS | {401, 403, 404}


class AttemptFailed(Exception):
    """One attempt at one provider failed; says whether a retry or a failover may help.

    ``message`` is one line, already free of secrets; ``status`` is what a client would get.
    """

    def __init__(self, message: str, *, status: int = 502, retryable: bool = True,
                 failover: bool = True, retry_after: float | None = None,
                 body: dict | None = None, kind: str = "error"):
        super().__init__(message)
        self.message, self.status = message, status
        self.retryable, self.failover = retryable, failover
        self.retry_after, self.body, self.kind = retry_after, body, kind


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter (AWS architecture blog): U(0, min(cap, base * 2**attempt))."""
    return (rng or random).uniform(0.0, min(cap, base * (2 ** attempt)))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def retry_after_of(headers) -> float | None:
    """Retry-After, or OpenAI's ``retry-after-ms`` when it is the more precise."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("Retry-After"))
