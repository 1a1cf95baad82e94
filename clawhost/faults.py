"""A fault that is said once when it starts and once when it clears, never once per request.

Stores that write to disk (the exact cache's L2, the semantic index) meet the same trouble:
a full disk, a read-only folder, a busy file. Logging each failed write floods the log (a
probe saw 10,000 lines in two minutes); ``Fault`` keeps the cause as a readiness fact instead.
"""

from __future__ import annotations

import logging


def storage_cause(exc: BaseException) -> str:
    """A storage error's cause in an operator's words, with the library's own text after it."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if "full" in low or "no space" in low:
        return f"disk full: {text}"
    if "readonly" in low or "read-only" in low or "permission" in low:
        return f"read-only: {text}"
    if "locked" in low or "busy" in low:
        return f"busy: {text}"
    return text


class Fault:
    """The current cause of a fault in ``what`` (None when all is well), logged on change."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log, self.what = log, what
        self.cause: str | None = None
        self.count = 0  # failures while this fault lasted

    def set(self, cause: str, consequence: str = "") -> None:
        self.count += 1
        if cause != self.cause:
            self.log.warning("%s failed (%s)%s", self.what, cause,
                             f"; {consequence}" if consequence else "")
            self.cause = cause

    def clear(self) -> None:
        if self.cause is not None:
            self.log.warning("%s works again (%d failures while it lasted)", self.what, self.count)
            self.cause, self.count = None, 0
