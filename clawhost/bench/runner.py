"""The bench itself: every technique with and without it, one configuration per host process,
one after another (never two hosts at once: the target box has 1-2 GB)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import signal
import statistics
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .configured import Configured
from .hosts import BenchError, HostProcess, Scratch, build_fp32
from .load import STORIES, LoadError, chat_once, embed_latency, embeddings, hits_beside_generation, one_stream, streams
from .probe import cpu_model
from .table import TableRows, onnx_bytes, row

Progress = Callable[[str], None]
QUESTIONS = ["What is the capital of France?", "How do I fix a flat bike tyre?",
             "Why is the sky blue?", "How long should I boil an egg?",
             "What does a CPU do?", "How do bees make honey?",
             "What causes the seasons on Earth?", "How do I bake bread at home?"]
QUICK_FP32_MAX_BYTES = 40_000_000  # --quick builds fp32 references only for models this small


@dataclass
class Params:
    quick: bool
    duration: float  # seconds per closed-loop round
    tokens: int  # generated tokens per stream
    reps: int  # sequential requests per latency figure
    asks: int  # distinct questions for the cache figures

    @classmethod
    def of(cls, quick: bool) -> "Params":
        return cls(True, 2.0, 16, 10, 4) if quick else cls(False, 8.0, 64, 40, 16)


@contextlib.contextmanager
def signals_held() -> Any:
    """Defer SIGINT and SIGTERM to the end of the block (they arrive then, not lost)."""
    # Swapping the Python-level handlers, not pthread_sigmask: a mask holds only this thread,
    # and any other thread (a resolver's, onnxruntime's) would still take the signal for us.
    caught: list[int] = []
    before = {s: signal.signal(s, lambda signum, _frame: caught.append(signum))
              for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        for signum in caught:
            signal.raise_signal(signum)


def http(fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``fn(session)`` on a fresh loop with a fresh aiohttp session."""
    import aiohttp

    async def go() -> Any:
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(timeout=timeout,
                                         connector=aiohttp.TCPConnector(limit=256)) as s:
            return await fn(s)
    # The bench's Ctrl-C raises KeyboardInterrupt wherever Python is. Landing inside the loop's
    # constructor left a half-built loop whose __del__ printed a traceback at exit (CI, stop 42),
    # so the loop is built with the signal held and it arrives once the loop can unwind.
    with contextlib.ExitStack() as stack:
        with signals_held():
            runner = stack.enter_context(asyncio.Runner())
            runner.get_loop()
        return runner.run(go())


def why(exc: BaseException) -> str:
    """One line for a failed measurement: our own errors as they are, others with their type."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    if isinstance(exc, (BenchError, LoadError)):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def median_ms(xs: list[float]) -> float:
    return 1000.0 * statistics.median(xs)


class Bench(Configured, TableRows):
    """One run: what is configured (``Configured``), then each phase in its own host
    process, each adding its rows (``TableRows``)."""

    def __init__(self, config: Any, quick: bool, progress: Progress):
        self.config, self.p, self.say = config, Params.of(quick), progress
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.facts: dict[str, dict[str, Any]] = {}  # per model: what was measured on it

    # -- phases -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.time()
        self.say(f"{'quick' if self.p.quick else 'full'} run on {cpu_model()}, "
                 f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        self.discover()
        self.scratch = Scratch(self.source_models, list(self.manifests), self.config.plugins_dir)
        try:
            self.say(f"scratch workspace {self.scratch.workspace} (models linked read-only)")
            self.fp32_refs()
            self.alone()
            self.fp32_host()
            self.batched()
            self.whole()
            self.concurrency()
            self.onnx_reference()
            self.quantization_rows()
            self.memory_rows()
        finally:
            self.scratch.cleanup()
        order = ["batching", "cache", "quantization", "onnx", "async", "together", "memory"]
        self.rows.sort(key=lambda r: order.index(r["group"]) if r.get("group") in order else 99)
        return {"object": "clawhost.bench", "version": 1, "quick": self.p.quick,
                "started": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(
                    timespec="seconds"),
                "duration_s": round(time.time() - started, 1),
                "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                            "load_avg": [round(x, 2) for x in os.getloadavg()],
                            "mem_total_mb": _mem_total_mb()},
                "models": {mid: {"kind": self.specs[mid]["kind"],
                                 "quantization": self.manifests[mid].get("quantization"),
                                 **self.facts.get(mid, {})} for mid in self.manifests},
                "rows": self.rows, "notes": self.notes}

    def fp32_refs(self) -> None:
        """fp32 references: prepared artifacts keep only the quantized graph, so the bench
        builds each reference from the same source in the scratch workspace."""
        self.fp32_specs: dict[str, dict] = {}
        self.fp32_of: dict[str, str] = {}
        self.fp32_missing: dict[str, str] = {}
        for mid in self.manifests:
            size = onnx_bytes(self.source_models / mid)
            if self.p.quick and self.specs[mid]["kind"] == "rerank":
                # a rerank model's fp32 twin only adds to the memory comparison, which --quick
                # cannot complete without the chat model's fp32 build anyway
                self.fp32_missing[mid] = "--quick builds no fp32 reference of a rerank model"
                continue
            if self.p.quick and size > QUICK_FP32_MAX_BYTES:
                self.fp32_missing[mid] = (f"--quick does not build the fp32 reference of a "
                                          f"{size / 1e6:.0f} MB model; run `clawhost bench`")
                continue
            self.say(f"building the fp32 reference of {mid} (from {self.specs[mid]['source']})")
            try:
                ref_id, took = build_fp32(self.scratch, mid, self.specs[mid])
            except BenchError as exc:
                self.fp32_missing[mid] = str(exc)
                continue
            self.fp32_specs[ref_id] = {**self.specs[mid], "quantization": "fp32", "check": False}
            self.fp32_of[mid] = ref_id
            self.facts.setdefault(mid, {})["fp32_build_s"] = round(took, 1)

    def _measure_model(self, h: HostProcess, mid: str, key: str) -> None:
        """Speed of one model on ``h`` (served under id ``mid``), into facts[...][key]."""
        kind = self.specs.get(mid, self.fp32_specs.get(mid, {})).get("kind")
        out: dict[str, Any] = {}
        p = self.p
        if kind == "embedding":
            http(lambda s: embed_latency(s, h.url, mid, 3))  # warm-up
            out["embed_one_ms"] = median_ms(http(lambda s: embed_latency(s, h.url, mid, p.reps)))
            took = http(lambda s: embed_latency(s, h.url, mid, max(3, p.reps // 3), batch=32))
            out["embed_32_sent_s"] = 32 / statistics.median(took)
        elif kind == "chat":
            tokens = self.gen_tokens(mid)
            http(lambda s: one_stream(s, h.url, "Hi", 4, mid, False))
            rates = []
            for i in range(2 if p.quick else 4):
                st = http(lambda s: one_stream(s, h.url, STORIES[i % 4], tokens, mid, False))
                if st["n"] > 4:  # fewer pieces time the wire, not the decoder
                    rates.append((st["n"] - 1) / (st["end"] - st["first"]))
            out["decode_tok_s"] = statistics.median(rates) if rates else None
        self.facts.setdefault(key, {}).update(out)

    def gen_tokens(self, mid: str) -> int:
        ctx = self.specs.get(mid, {}).get("context_length")
        return max(4, min(self.p.tokens, ctx - 40)) if ctx else self.p.tokens

    def alone(self) -> None:
        """Each model alone in a host: its memory, its speed, and the unbatched baselines."""
        for mid in self.manifests:
            self.say(f"host with {mid} alone")
            f = self.facts.setdefault(mid, {})
            try:
                with HostProcess(self.scratch, f"alone-{mid}", self.qm([mid])) as h:
                    self._measure_model(h, mid, mid)
                    if mid == self.embed:
                        f["unbatched_req_s"] = http(lambda s: embeddings(
                            s, h.url, self.p.duration, 32, mid))["req_per_s"]
                    if mid == self.chat:
                        f["unbatched_gen_tok_s"] = http(lambda s: streams(
                            s, h.url, STORIES, self.gen_tokens(mid), mid))["tok_per_s"]
                    f["rss_alone_mb"] = h.rss_mb()
            except Exception as exc:  # noqa: BLE001 - a failed phase is a reason, not a crash
                f["error"] = why(exc)
                self.notes.append(f"{mid} alone: {why(exc)}")

    def fp32_host(self) -> None:
        if not self.fp32_of:
            return
        self.say(f"host with the fp32 references ({', '.join(self.fp32_of.values())})")
        try:
            with HostProcess(self.scratch, "fp32", self.qm(list(self.fp32_of.values()))) as h:
                for mid, ref in self.fp32_of.items():
                    self._measure_model(h, ref, f"fp32:{mid}")
                self.fp32_rss = h.rss_mb()
        except Exception as exc:  # noqa: BLE001 - a failed phase is a reason, not a crash
            self.notes.append(f"fp32 host: {why(exc)}")
            for mid in self.fp32_of:
                self.fp32_missing[mid] = f"the fp32 host failed: {why(exc)}"

    def batched(self) -> None:
        if "batcher" not in self.installed:
            reason = "the batcher plugin is not installed"
            self._batch_rows(None, None, reason)
            return
        ids = [m for m in (self.embed, self.chat) if m]
        self.say("host with the batcher")
        b: dict[str, float] = {}
        reason = None
        try:
            with HostProcess(self.scratch, "batched", {"batcher": self.plugin_opts("batcher"),
                                                       **self.qm(ids)}) as h:
                if self.embed:
                    b["req_s"] = http(lambda s: embeddings(s, h.url, self.p.duration, 32,
                                                           self.embed))["req_per_s"]
                if self.chat:
                    b["gen"] = http(lambda s: streams(s, h.url, STORIES,
                                                      self.gen_tokens(self.chat), self.chat))["tok_per_s"]
        except Exception as exc:  # noqa: BLE001 - a failed phase is a reason, not a crash
            reason = why(exc)
        self._batch_rows(b.get("req_s"), b.get("gen"), reason)

    def whole(self) -> None:
        """The operator's plugins with every prepared model: cache hit vs miss, and its RSS."""
        plugins: dict[str, Any] = {}
        for name in self.config.enabled:
            plugins[name] = self.plugin_opts(name)
        added = [n for n in ("cache", "semantic_cache") if n in self.installed and n not in plugins]
        if added:  # measured even where not configured: they go in front of the models
            front = [n for n in plugins if n == "monitor"]
            plugins = {**{n: plugins[n] for n in front}, **{n: {} for n in added},
                       **{n: v for n, v in plugins.items() if n not in front}}
        if "cache" in plugins:
            plugins["cache"] = self.cache_opts()
        sem = self.semantic_opts() if "semantic_cache" in plugins else None
        if sem is None:
            plugins.pop("semantic_cache", None)
        else:
            plugins["semantic_cache"] = sem
        # every prepared model, in the configured chain position (last when not configured)
        plugins.update(self.qm(list(self.manifests)))
        ordered = plugins
        if added:
            self.notes.append(f"whole host: {', '.join(added)} added to the configured plugins "
                              "to measure them")
        self.whole_plugins = list(ordered)
        self.say(f"whole host ({', '.join(ordered)})")
        miss: list[float] = []
        hit: list[float] = []
        sem_hit: list[float] = []
        where_sem: list[str] = []
        reason = None
        try:
            with HostProcess(self.scratch, "whole", ordered) as h:
                if self.chat and "cache" in ordered:
                    tokens = min(self.gen_tokens(self.chat), 16)
                    for i in range(self.p.asks):
                        q = QUESTIONS[i % len(QUESTIONS)] + (f" ({i})" if i >= len(QUESTIONS) else "")
                        took, where = http(lambda s: chat_once(s, h.url, q, self.chat, tokens))
                        if where.startswith("miss") or where == "none":
                            miss.append(took)
                        took, where = http(lambda s: chat_once(s, h.url, q, self.chat, tokens))
                        if where.startswith("hit-l"):
                            hit.append(took)
                        if sem is not None:  # same meaning, other bytes: misses the exact key
                            took, where = http(lambda s: chat_once(s, h.url, q.lower(), self.chat,
                                                                   tokens))
                            where_sem.append(where)
                            if where == "hit-semantic":
                                sem_hit.append(took)
                if self.embed:
                    http(lambda s: embed_latency(s, h.url, self.embed, 5))
                self.whole_rss = h.rss_mb()
        except Exception as exc:  # noqa: BLE001 - a failed phase is a reason, not a crash
            reason = why(exc)
            self.notes.append(f"whole host: {why(exc)}")
        no_chat = "no chat model prepared" if not self.chat else None
        self.add("cache", row("cache.exact", "cache",
                              "exact cache: chat answer latency p50, miss vs hit", "ms",
                              median_ms(miss) if miss else None, median_ms(hit) if hit else None,
                              higher=False, sides=("miss (model)", "hit"),
                              note=f"{len(hit)} hits of {self.p.asks}; a miss generates up to "
                                   f"16 tokens",
                              reason=reason or no_chat or "the cache plugin is not installed"))
        sem_reason = (reason or no_chat or ("the semantic_cache plugin is not installed or no "
                                            "embedding model is prepared" if sem is None else
                                            f"no semantic hit: the rewordings were answered "
                                            f"{sorted(set(where_sem))}"))
        self.add("cache", row("cache.semantic", "cache",
                              "semantic cache: latency p50, miss vs hit on a reworded question",
                              "ms", median_ms(miss) if miss and sem_hit else None,
                              median_ms(sem_hit) if sem_hit else None, higher=False,
                              sides=("miss (model)", "hit"),
                              note=f"{len(sem_hit)} of {len(where_sem)} lower-cased rewordings hit",
                              reason=sem_reason))

    def concurrency(self) -> None:
        """Cache hits served while the model generates: inference on worker threads (offload)
        vs on the event loop (``quantized_model: offload: false``), same chain otherwise."""
        got: dict[str, float] = {}
        reason = None
        if not self.chat:
            reason = "no chat model prepared"
        elif "cache" not in self.installed:
            reason = "the cache plugin is not installed (hits are the concurrent work)"
        else:
            for offload in (True, False):
                name = "offload" if offload else "inline"
                self.say(f"host with inference {'on worker threads' if offload else 'on the event loop'}")
                try:
                    with HostProcess(self.scratch, name, {"cache": self.cache_opts(),
                                                          **self.qm([self.chat], offload=offload)}) as h:
                        res = http(lambda s: hits_beside_generation(
                            s, h.url, self.chat, self.p.duration, self.gen_tokens(self.chat)))
                        got[name] = res["hits_per_s"]
                        got[name + "_p99"] = sorted(res["lat"])[int(0.99 * (len(res["lat"]) - 1))] \
                            if res["lat"] else None
                except Exception as exc:  # noqa: BLE001 - a failed phase is a reason, not a crash
                    reason = why(exc)
                    break
        self.add("async", row("async.concurrency", "async",
                              "cache hits/s from 8 clients while the model generates", "req/s",
                              got.get("inline"), got.get("offload"), higher=True,
                              sides=("inference on the event loop", "on worker threads"),
                              reason=reason))


def _mem_total_mb() -> int | None:
    try:
        import psutil
        return int(psutil.virtual_memory().total / 1e6)
    except Exception:  # noqa: BLE001 - a missing figure, not a failure
        return None


def run(config: Any, *, quick: bool, progress: Progress) -> dict[str, Any]:
    return Bench(config, quick, progress).run()
