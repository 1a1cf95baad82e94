"""The plan's predictions for a 2-core 1.6 GB box, and how a measurement is judged against one.

A row compares a figure without a technique and with it. ``gain`` rows are judged by how
many times better the figure got (throughput up, or latency down, as a ratio); ``cut`` rows
by the fraction removed (latency, size, memory). ``info`` rows carry no prediction."""

from __future__ import annotations

from typing import Any

# technique -> (what the plan said, kind, target)
PREDICTIONS: dict[str, tuple[str, str, float | None]] = {
    "batching": ("2× throughput", "gain", 2.0),
    "cache": ("−60% latency", "cut", 0.60),
    "quantization": ("−75% model size", "cut", 0.75),
    "onnx": ("2× inference speed", "gain", 2.0),
    "async": ("3× concurrency", "gain", 3.0),
    "together": ("−50% memory", "cut", 0.50),
    "info": ("—", "info", None),
}
VERDICTS = ("met", "short", "not met", "not measured", "info")


def judge(technique: str, without: float | None, with_: float | None,
          higher_is_better: bool) -> dict[str, Any]:
    """Measured value (ratio or cut), its text, and the verdict against the prediction.

    ``short`` means the technique helped but less than predicted (more than 5% better),
    ``not met`` that it did not help measurably."""
    predicted, kind, target = PREDICTIONS[technique]
    out: dict[str, Any] = {"predicted": predicted}
    if without is None or with_ is None or without <= 0 or with_ <= 0:
        return {**out, "value": None, "measured": "—", "verdict": "not measured"}
    gain = with_ / without if higher_is_better else without / with_
    if kind == "cut" or (kind == "info" and not higher_is_better):
        cut = 1 - (with_ / without if not higher_is_better else without / with_)
        # past 99% whole percents read as "all of it": keep a decimal there
        text = (f"−{cut:.1%}" if cut >= 0.99 else f"−{cut:.0%}") if cut >= 0 else f"+{-cut:.0%}"
        value = round(cut, 4)
        if kind == "info":
            return {**out, "value": value, "measured": f"{text} ({gain:.2f}×)", "verdict": "info"}
        verdict = "met" if cut >= target else ("short" if cut > 0.05 else "not met")
        return {**out, "value": value, "measured": text, "verdict": verdict}
    text = f"{gain:.2f}×"
    if kind == "info":
        return {**out, "value": round(gain, 4), "measured": text, "verdict": "info"}
    verdict = "met" if gain >= target else ("short" if gain > 1.05 else "not met")
    return {**out, "value": round(gain, 4), "measured": text, "verdict": verdict}
