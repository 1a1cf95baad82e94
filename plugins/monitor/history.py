"""The last minutes of the host, as a ring buffer of cumulative snapshots.

Every ``sample_s`` seconds the sampler stores the monitor's cumulative totals (request
count, latency bucket counts, tokens, cache results, batch sums) plus RSS and CPU time.
Rates and percentiles for any interval are differences between two snapshots, so the
buffer costs the same whatever the traffic: ``history_s / sample_s`` points.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from .histogram import SECONDS_BOUNDS, quantiles

log = logging.getLogger("clawhost.monitor")
HIT_LAYERS = (("l1", "hit-l1"), ("l2", "hit-l2"), ("semantic", "hit-semantic"))


class History:
    """Snapshots every ``sample_s`` seconds, ``history_s`` seconds of them."""

    def __init__(self, monitor: Any, sample_s: float = 2.0, history_s: float = 900.0):
        import psutil  # imported here: the plugin module itself must import cheaply
        self.monitor = monitor
        self.sample_s = sample_s
        self.history_s = history_s
        self.points: deque[dict] = deque(maxlen=max(2, int(history_s / sample_s) + 1))
        self.process = psutil.Process()

    def snapshot(self) -> dict[str, Any]:
        snap = self.monitor.totals()
        cpu = self.process.cpu_times()
        snap.update(t=time.time(), mono=time.monotonic(), rss=self.process.memory_info().rss,
                    cpu=cpu.user + cpu.system)
        return snap

    def sample(self) -> None:
        self.points.append(self.snapshot())

    async def run(self) -> None:
        """Sample forever (the plugin cancels this task at shutdown)."""
        while True:
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - a monitoring hiccup must not end sampling
                log.warning("monitor: sampling failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.sample_s)

    def view(self, window_s: float) -> dict[str, Any]:
        """Series over the last ``window_s`` seconds, and a summary of that window up to now."""
        now = self.snapshot()
        start = now["mono"] - window_s
        points = list(self.points)
        inside = [p for p in points if p["mono"] >= start]
        before = [p for p in points if p["mono"] < start]
        base = before[-1] if before else (inside[0] if inside else now)
        chain = ([base] if before else []) + inside
        series: dict[str, list] = {k: [] for k in SERIES_KEYS}
        for a, b in zip(chain, chain[1:]):
            row = interval(a, b)
            for k in SERIES_KEYS:
                series[k].append(row[k])
        summary = interval(base, now) if now["mono"] > base["mono"] else interval(now, now)
        summary["window_s"] = round(now["mono"] - base["mono"], 3)
        return {"interval_s": self.sample_s, "history_s": self.history_s, "summary": summary,
                "series": series}


SERIES_KEYS = ("t", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "hit_rate",
               "hit_rate_l1", "hit_rate_l2", "hit_rate_semantic", "tokens_per_s",
               "mean_batch_size", "rss_mb", "cpu_percent", "errors_per_s")


def _ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000.0, 3)


def interval(a: dict, b: dict) -> dict[str, Any]:
    """What happened between snapshots ``a`` and ``b`` (None where nothing was measured)."""
    dt = b["mono"] - a["mono"]
    rate = (lambda n: round(n / dt, 3)) if dt > 0 else (lambda n: 0.0)
    la, lb = a["latency"], b["latency"]
    if len(la) < len(lb):  # the first request arrived between the two snapshots
        la = la + [0] * (len(lb) - len(la))
    counts = [y - x for x, y in zip(la, lb)]
    cache = {k: b["cache"][k] - a["cache"].get(k, 0) for k in b["cache"]}
    hits = {layer: cache[key] for layer, key in HIT_LAYERS}
    lookups = sum(hits.values()) + cache["miss"]
    n_batches = b["batch_count"] - a["batch_count"]
    tokens_in, tokens_out = b["tokens_in"] - a["tokens_in"], b["tokens_out"] - a["tokens_out"]
    requests = b["requests"] - a["requests"]
    p50, p95, p99 = quantiles(SECONDS_BOUNDS, counts, (0.50, 0.95, 0.99))
    row = {
        "t": round(b["t"], 3),
        "requests": requests,
        "requests_per_s": rate(requests),
        "errors_per_s": rate(b["errors"] - a["errors"]),
        "p50_ms": _ms(p50),
        "p95_ms": _ms(p95),
        "p99_ms": _ms(p99),
        "hit_rate": round(sum(hits.values()) / lookups, 4) if lookups else None,
        "tokens_per_s": rate(tokens_in + tokens_out),
        "tokens_in_per_s": rate(tokens_in),
        "tokens_out_per_s": rate(tokens_out),
        "mean_batch_size": (round((b["batch_sum"] - a["batch_sum"]) / n_batches, 3)
                            if n_batches else None),
        "rss_mb": round(b["rss"] / 2**20, 1),
        "cpu_percent": round(100.0 * (b["cpu"] - a["cpu"]) / dt, 1) if dt > 0 else 0.0,
        "rejected": b["rejected"] - a["rejected"],
        "cache": cache,
    }
    for layer, n in hits.items():
        row[f"hit_rate_{layer}"] = round(n / lookups, 4) if lookups else None
    return row
