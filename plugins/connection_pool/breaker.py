"""A per-provider circuit breaker: cool down after repeated failures, then probe once."""

from __future__ import annotations

import random
import time

from .options import Cooldown


class Breaker:
    """closed -> (``failures`` in a row) -> open for a jittered cooldown -> half-open probe.

    A failed probe re-opens with twice the cooldown (up to ``max_seconds``); a success closes.
    A provider's own Retry-After longer than we are willing to wait also opens it that long.
    """

    def __init__(self, opts: Cooldown, clock=time.monotonic, rng: random.Random | None = None):
        self.opts, self.clock, self.rng = opts, clock, rng or random.Random()
        self.failures = 0
        self.trips = 0
        self.open_until = 0.0
        self.probing = False

    @property
    def cooling(self) -> bool:
        return self.clock() < self.open_until

    def remaining(self) -> float:
        return max(0.0, self.open_until - self.clock())

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        if self.open_until == 0.0:
            return True
        if self.cooling or self.probing:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        self.failures, self.trips, self.open_until, self.probing = 0, 0, 0.0, False

    def release(self) -> None:
        """A call that neither succeeded nor failed (cancelled): let another probe go."""
        self.probing = False

    def failure(self, retry_after: float | None = None) -> None:
        self.failures += 1
        was_probe, self.probing = self.probing, False
        if was_probe or self.failures >= self.opts.failures:
            self.trip()
        if retry_after is not None and retry_after > 0:
            self.open_until = max(self.open_until, self.clock() + retry_after)

    def trip(self) -> None:
        o = self.opts
        seconds = min(o.max_seconds, o.seconds * (2 ** self.trips)) if o.seconds else 0.0
        seconds *= 1.0 + self.rng.uniform(-o.jitter, o.jitter)
        self.trips += 1
        self.failures = 0
        self.open_until = self.clock() + max(seconds, 1e-6)
