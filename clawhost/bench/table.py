"""The bench's table: one row per figure, judged against the plan's predictions, and the
rows built from what the phases measured (batching, quantization, quality, memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .plan import judge

TECHNIQUES = {"batching": "dynamic batching", "cache": "multi-level cache",
              "quantization": "INT8/INT4 quantization", "onnx": "ONNX Runtime",
              "async": "async processing", "together": "all together", "memory": "memory"}


def row(rid: str, technique: str, figure: str, unit: str, without: float | None,
        with_: float | None, *, higher: bool, sides: tuple[str, str], note: str = "",
        reason: str | None = None) -> dict[str, Any]:
    """One line of the table; ``reason`` (when a side could not be measured) says why."""
    r = {"id": rid, "technique": technique, "figure": figure, "unit": unit,
         "without_label": sides[0], "with_label": sides[1],
         "without": None if without is None else round(without, 4),
         "with": None if with_ is None else round(with_, 4),
         "higher_is_better": higher, "note": note, "reason": None}
    r.update(judge(technique if technique in ("batching", "cache", "quantization", "onnx",
                                              "async", "together") else "info",
                   without, with_, higher))
    if r["verdict"] == "not measured":
        r["reason"] = reason or "a side of this comparison was not measured"
    return r


def onnx_bytes(folder: Path) -> int:
    """Bytes of the model graph and its weights (tokenizer and manifest left out)."""
    return sum(f.stat().st_size for f in folder.glob("model.onnx*") if f.is_file())


class TableRows:
    """The rows ``Bench`` adds (a base class of ``Bench``): each from the facts its phases
    left on ``self`` (``facts``, ``manifests``, ``fp32_of``, ``fp32_missing``, ...)."""

    def add(self, group: str, r: dict[str, Any]) -> None:
        r["group"] = group
        r["technique"] = TECHNIQUES[group]
        self.rows.append(r)
        shown = r["measured"] if r["verdict"] != "not measured" else f"not measured: {r['reason']}"
        self.say(f"  {r['technique']}: {r['figure']}: {shown}")

    def _batch_rows(self, req_s: float | None, gen: float | None, reason: str | None) -> None:
        e = self.facts.get(self.embed or "", {})
        c = self.facts.get(self.chat or "", {})
        self.add("batching", row("batching.embeddings", "batching",
                                 "embeddings: requests/s, 32 clients, one sentence each", "req/s",
                                 e.get("unbatched_req_s"), req_s, higher=True,
                                 sides=("batcher off", "batcher on"),
                                 reason=reason or e.get("error") or "no embedding model prepared"))
        self.add("batching", row("batching.generation", "batching",
                                 "generation: aggregate tokens/s, 4 concurrent streams", "tok/s",
                                 c.get("unbatched_gen_tok_s"), gen, higher=True,
                                 sides=("batcher off", "batcher on"),
                                 reason=reason or c.get("error") or "no chat model prepared"))

    def onnx_reference(self) -> None:
        self.add("onnx", row("onnx.reference", "onnx",
                             "ONNX Runtime graph vs a plain (non-ONNX) reference path", "",
                             None, None, higher=True, sides=("plain", "ONNX"),
                             reason="clawhost ships no non-ONNX inference path to compare "
                                    "with (numpy reference forwards live only in its tests)"))

    def quantization_rows(self) -> None:
        for mid, manifest in self.manifests.items():
            q = manifest.get("quantization", "?")
            ref = self.fp32_of.get(mid)
            missing = self.fp32_missing.get(mid, "no fp32 reference")
            size_ref = self.fp32_size(mid)
            built = self.facts.get(mid, {}).get("fp32_build_s")
            how = (f"fp32 built from {self.specs[mid]['source']} by the bench in {built} s"
                   if built is not None else "")
            self.add("quantization", row(f"quantization.size.{mid}", "quantization",
                                         f"{mid}: model size, {q} vs fp32", "MB",
                                         None if size_ref is None else size_ref / 1e6,
                                         onnx_bytes(self.source_models / mid) / 1e6, higher=False,
                                         sides=("fp32", q), note=how, reason=missing))
            fast, ref_f = self.facts.get(mid, {}), self.facts.get(f"fp32:{mid}", {})
            for key, label, unit, higher in (
                    ("embed_one_ms", "one sentence over HTTP", "ms", False),
                    ("embed_32_sent_s", "32 sentences per request", "sent/s", True),
                    ("decode_tok_s", "decode, one stream", "tok/s", True)):
                if key not in fast and key not in ref_f:
                    continue
                self.add("quantization", row(f"quantization.speed.{mid}.{key}", "info",
                                             f"{mid}: {label}, {q} vs fp32", unit,
                                             ref_f.get(key), fast.get(key), higher=higher,
                                             sides=("fp32", q), note=how,
                                             reason=missing if ref is None else
                                             fast.get("error") or ref_f.get("error") or
                                             "no figure: the model stopped too soon to time"))
            self.add("quantization", self.quality_row(mid, manifest))

    def fp32_size(self, mid: str) -> int | None:
        ref = self.fp32_of.get(mid)
        if ref is None:
            return None
        return onnx_bytes(self.scratch.models / ref) or None

    def quality_row(self, mid: str, manifest: dict) -> dict[str, Any]:
        checks = manifest.get("checks") or {}
        q = manifest.get("quantization", "?")
        r = row(f"quantization.quality.{mid}", "info", f"{mid}: quality, {q} vs fp32", "",
                None, None, higher=True, sides=("fp32", q),
                reason="prepared with check: false (no comparison with the float model)")
        facts = []
        if "perplexity_ratio" in checks:
            facts.append(f"perplexity ×{checks['perplexity_ratio']:.3f}")
        for k in ("cosine_min", "cosine_mean"):
            if k in checks:
                facts.append(f"{k.replace('_', ' ')} {checks[k]:.4f}")
        for k, v in checks.items():
            if k not in ("perplexity_ratio", "cosine_min", "cosine_mean") and isinstance(
                    v, (int, float)) and not isinstance(v, bool) and len(facts) < 2:
                facts.append(f"{k.replace('_', ' ')} {v:.4g}")
        if facts:
            r.update(verdict="info", measured=", ".join(facts), reason=None,
                     note="from the preparation's check against the float model (manifest)")
        return r

    def memory_rows(self) -> None:
        for mid in self.manifests:
            rss = self.facts.get(mid, {}).get("rss_alone_mb")
            r = row(f"memory.alone.{mid}", "info", f"host RSS with only {mid}", "MB", None,
                    rss, higher=False, sides=("", "alone"),
                    reason=self.facts.get(mid, {}).get("error", "not measured"))
            if rss is not None:
                r.update(verdict="info", measured=f"{rss:.0f} MB", reason=None)
            self.add("memory", r)
        whole = getattr(self, "whole_rss", None)
        summed = [self.facts.get(m, {}).get("rss_alone_mb") for m in self.manifests]
        r = row("memory.whole", "info", "whole host RSS (all plugins, all models) vs the "
                "models' hosts alone, summed", "MB",
                sum(summed) if whole and None not in summed else None, whole, higher=False,
                sides=("each alone, summed", "whole host"),
                note="plugins: " + ", ".join(getattr(self, "whole_plugins", [])),
                reason="the whole host or a model's host did not run")
        self.add("memory", r)
        fp32 = getattr(self, "fp32_rss", None)
        complete = len(self.fp32_of) == len(self.manifests)
        missing = "; ".join(f"{m}: {why}" for m, why in self.fp32_missing.items())
        self.add("together", row("together.memory", "together",
                                 "host RSS: every technique on vs fp32 models with no cache or "
                                 "batcher", "MB", fp32 if complete else None, whole, higher=False,
                                 sides=("fp32, plain host", "whole host"),
                                 reason=("fp32 references missing: " + missing) if missing else
                                 "the fp32 host or the whole host did not run"))
