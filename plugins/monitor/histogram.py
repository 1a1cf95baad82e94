"""Fixed-bucket histograms: constant memory whatever the traffic, percentiles by interpolation.

prometheus-client's own ``Histogram`` takes a lock and walks its buckets on every observe;
on the request path we only bump one list slot and a sum, and build the exposition at
scrape time. Bucket bounds follow Prometheus' ``le`` rule: a value lands in the first
bucket whose bound is >= the value; the last slot is ``+Inf``.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Sequence


def _series(lo_exp: int, hi_exp: int, steps: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(s * 10.0 ** e, 12) for e in range(lo_exp, hi_exp) for s in steps)


# 100 us .. 100 s, six bounds per decade (1, 1.5, 2, 3, 5, 7.5): percentiles within ~25%
SECONDS_BOUNDS = _series(-4, 2, (1, 1.5, 2, 3, 5, 7.5)) + (100.0,)
BATCH_BOUNDS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128)
# /metrics exports a 1-2-5 subset of the bounds: half the samples to render and to store in
# Prometheus, while percentiles here use every bucket
EXPORT_BOUNDS = frozenset(_series(-4, 2, (1, 2, 5)) + (100.0,))


class Histogram:
    """Counts per bucket plus a running sum; ``observe`` is one bisect and two adds."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float] = SECONDS_BOUNDS):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self, keep: frozenset | None = None) -> list[tuple[str, int]]:
        """``(le, cumulative count)`` pairs, ``+Inf`` last, as Prometheus wants them.

        ``keep``: export only these bounds (the counts stay cumulative, so it is exact).
        """
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts):
            running += n
            if keep is None or bound in keep:
                out.append((repr(float(bound)), running))
        out.append(("+Inf", running + self.counts[-1]))
        return out


def add_counts(total: list[int], more: Sequence[int]) -> None:
    for i, n in enumerate(more):
        total[i] += n


def quantiles(bounds: Sequence[float], counts: Sequence[int],
              qs: Sequence[float]) -> list[float | None]:
    """Several quantiles (ascending ``qs``) in one pass over the buckets."""
    total = sum(counts)
    if total <= 0:
        return [None] * len(qs)
    out: list[float | None] = []
    running, i, last = 0, 0, len(counts) - 1
    for q in qs:
        rank = q * total
        while i < last and (counts[i] == 0 or running + counts[i] < rank):
            running += counts[i]
            i += 1
        n = counts[i]
        if i >= len(bounds) or n == 0:
            out.append(float(bounds[-1]))
            continue
        lo = bounds[i - 1] if i > 0 else 0.0
        out.append(lo + (bounds[i] - lo) * max(0.0, rank - running) / n)
    return out


def quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) of bucketed counts, linear within its bucket; None when empty.

    A value in the ``+Inf`` slot is reported as the last finite bound (an underestimate,
    as Prometheus' ``histogram_quantile`` does).
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    running = 0
    for i, n in enumerate(counts):
        if n and running + n >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            lo = bounds[i - 1] if i > 0 else 0.0
            return lo + (bounds[i] - lo) * max(0.0, rank - running) / n
        running += n
    return float(bounds[-1])
