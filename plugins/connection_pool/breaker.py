"""A per-provider circuit breaker: cool down when calls fail at a high rate, then probe once."""

from __future__ import annotations

import random
import time
from collections import deque

from .options import Cooldown


class Breaker:
    """closed -> (a high failure rate) -> open for a jittered cooldown -> half-open probe.

    It opens when at least ``min_calls`` calls ended in the last ``window`` seconds, at least
    ``failures`` of them failed, and those are at least ``failure_rate`` of the calls, the
    ones still in flight included (``pending``). A rate, not a count: under concurrency a
    burst of failures is normal at a 30% fault rate (failures end fast, successes later), and
    opening on a count cooled every provider at once. A failed probe re-opens with twice the cooldown (up
    to ``max_seconds``); a success closes. A provider's own Retry-After longer than we are
    willing to wait holds it that long (``held``), apart from the breaker's own state.

    Calls pass ``started`` (this clock's time when they began): calls already in flight when
    the breaker opened neither close nor re-open it; only the probe, or a call forced
    through as a request's last resort, can.
    """

    def __init__(self, opts: Cooldown, clock=time.monotonic, rng: random.Random | None = None):
        self.opts, self.clock, self.rng = opts, clock, rng or random.Random()
        # outcomes in the window, counted per slice of window/32 s: memory stays the same at
        # any call rate, at the price of forgetting a slice up to window/32 s early
        self.slice = opts.window / 32
        self.buckets: deque[list[int]] = deque()   # [slice number, calls ended, failed]
        self.ended = 0
        self.failed = 0
        self.trips = 0
        self.opened_at = 0.0
        self.open_until = 0.0     # 0: closed
        self.hold_until = 0.0     # the provider's own Retry-After
        self.probing = False

    @property
    def failures(self) -> int:
        """Failures in the current window."""
        self._prune(self.clock())
        return self.failed

    @property
    def held(self) -> bool:
        return self.clock() < self.hold_until

    @property
    def cooling(self) -> bool:
        return self.clock() < max(self.open_until, self.hold_until)

    def remaining(self) -> float:
        return max(0.0, max(self.open_until, self.hold_until) - self.clock())

    def allow(self, force: bool = False) -> bool:
        """May a call go out now? In half-open state only one probe at a time.

        ``force``: the request has no other route, so go anyway while open (not while held).
        """
        now = self.clock()
        if now < self.hold_until:
            return False
        if self.open_until == 0.0:
            return True
        if now >= self.open_until and not self.probing:
            self.probing = True
            return True
        return force

    def success(self, *, started: float | None = None, count: bool = True) -> None:
        """A call succeeded; ``count=False`` only closes a probe (a stream counts at its end)."""
        if self.open_until:
            if started is not None and started < self.opened_at:
                return   # began before the breaker opened: says nothing about now
            self.trips, self.open_until, self.probing = 0, 0.0, False
            self._clear()
        if count:
            self._record(False)

    def release(self) -> None:
        """A call that neither succeeded nor failed (cancelled): let another probe go."""
        self.probing = False

    def failure(self, retry_after: float | None = None, *, started: float | None = None,
                pending: int = 0) -> None:
        now = self.clock()
        if retry_after is not None and retry_after > 0:
            self.hold_until = max(self.hold_until, now + retry_after)
        if self.open_until:
            if started is not None and started < self.opened_at:
                return
            if self.probing:
                self.probing = False
                self.trip()
            return   # a call forced through while open keeps it open, no longer
        self._record(True)
        o = self.opts
        ended = self.ended
        if (ended >= o.min_calls and self.failed >= o.failures
                and self.failed >= o.failure_rate * (ended + pending)):
            self.trip()

    def trip(self) -> None:
        o = self.opts
        seconds = min(o.max_seconds, o.seconds * (2 ** self.trips)) if o.seconds else 0.0
        seconds *= 1.0 + self.rng.uniform(-o.jitter, o.jitter)
        self.trips += 1
        self._clear()   # after the cooldown the probe decides, not old outcomes
        self.opened_at = self.clock()
        self.open_until = self.opened_at + max(seconds, 1e-6)

    # -- the sliding window ---------------------------------------------------------------
    def _record(self, failed: bool) -> None:
        now = self.clock()
        self._prune(now)
        n = int(now / self.slice)
        if not self.buckets or self.buckets[-1][0] != n:
            self.buckets.append([n, 0, 0])
        self.buckets[-1][1] += 1
        self.buckets[-1][2] += failed
        self.ended += 1
        self.failed += failed

    def _prune(self, now: float) -> None:
        cut = now - self.opts.window
        while self.buckets and self.buckets[0][0] * self.slice < cut:
            _, ended, failed = self.buckets.popleft()
            self.ended -= ended
            self.failed -= failed

    def _clear(self) -> None:
        self.buckets.clear()
        self.ended = self.failed = 0
