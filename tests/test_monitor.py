"""The monitor plugin: /metrics after real traffic, bounded labels, hook time, figures(), /v1/stats."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clawhost.errors import Overloaded
from clawhost.hookspecs import hookimpl
from clawhost.testing import EchoModel
from clawhost.types import Model, ModelRequest, Reply
from clawhost.api import BATCH_SIZE, CACHE_RESULT, PROVIDER, RETRIES
from clawhost.plugins.batcher import STATE as BATCHER_STATE
from clawhost.plugins.cache import STATE as CACHE_STATE
from clawhost.plugins.monitor import STATE as MONITOR_STATE
from clawhost.api import StashKey

BROKEN: StashKey = StashKey("broken")
PLAIN: StashKey = StashKey("plain")


class DictCache:
    """A tiny exact cache keyed by the last message, leaving the notes a real cache leaves."""

    def __init__(self):
        self.seen: dict[str, dict] = {}

    @staticmethod
    def key(request):
        if request.kind != "chat":
            return None
        return request.body.messages[-1].text()

    @hookimpl
    def clawhost_lookup(self, request):
        k = self.key(request)
        if k is None:
            request.notes[CACHE_RESULT] = "bypass"
            return None
        if k in self.seen:
            request.notes[CACHE_RESULT] = "hit-l1"
            return Reply(dict(self.seen[k]), source="l1")
        request.notes[CACHE_RESULT] = "miss"
        return None

    @hookimpl
    def clawhost_store(self, request, reply):
        k = self.key(request)
        if k is not None and reply.body:
            self.seen[k] = reply.body


class Upstreamish:
    """Before the model answers, leaves the notes a batcher and a connection pool would."""

    @hookimpl
    def clawhost_request_started(self, request):
        if request.kind == "chat" and "crash" in request.body.messages[-1].text():
            raise ValueError("an observer bug: isolated, counted")

    @hookimpl
    def clawhost_infer(self, request):
        if request.kind != "chat":
            return None
        text = request.body.messages[-1].text()
        if "overload" in text:
            raise Overloaded("queue full")
        if "crash" in text:
            raise RuntimeError("plugin bug")
        request.notes[BATCH_SIZE] = 4
        request.timings["queue"] = 0.003
        request.notes[PROVIDER] = "openai"
        request.notes[RETRIES] = 2
        return None


def samples(text: str) -> dict[tuple, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels) -> float:
    return found[(name, tuple(sorted((k, str(v)) for k, v in labels.items())))]


async def make(clawhost_host, clawhost_server, *plugins, options=None):
    host = await clawhost_host(*plugins, config={"plugins": {"monitor": options or {}}})
    return host, await clawhost_server(host)


async def chat(session, url, text, **kw):
    body = {"model": "echo", "messages": [{"role": "user", "content": text}], **kw}
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        return resp.status, await resp.read()


async def get_metrics(session, url) -> dict:
    async with session.get(url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return samples(await resp.text())


async def test_metrics_after_real_traffic(clawhost_host, clawhost_server):
    import json
    host, url = await make(clawhost_host, clawhost_server, DictCache(), Upstreamish(), EchoModel())
    tokens_in = tokens_out = 0
    async with aiohttp.ClientSession() as s:
        for i in range(6):  # 3 distinct prompts, each asked twice: 3 misses then 3 l1 hits
            status, raw = await chat(s, url, f"hello number {i % 3}")
            assert status == 200
            use = json.loads(raw)["usage"]
            tokens_in += use["prompt_tokens"]
            tokens_out += use["completion_tokens"]
        for i in range(2):  # streamed misses: usage comes from the assembled stream
            status, raw = await chat(s, url, f"stream me {i} please", stream=True,
                                     stream_options={"include_usage": True})
            assert status == 200 and b"[DONE]" in raw
            tokens_in += 4
            tokens_out += 4
        async with s.post(url + "/v1/embeddings", json={"model": "echo-embed", "input": "x"}) as r:
            assert r.status == 200
        assert (await chat(s, url, "overload now"))[0] == 429
        assert (await chat(s, url, "crash now"))[0] == 500
        m = await get_metrics(s, url)

    assert value(m, "clawhost_requests_total", model="echo", endpoint="chat", status=200) == 8
    assert value(m, "clawhost_requests_total", model="echo-embed", endpoint="embedding", status=200) == 1
    assert value(m, "clawhost_requests_total", model="echo", endpoint="chat", status=429) == 1
    assert value(m, "clawhost_requests_total", model="echo", endpoint="chat", status=500) == 1
    assert value(m, "clawhost_rejected_requests_total", model="echo") == 1
    assert value(m, "clawhost_request_total_seconds_count", model="echo") == 10
    assert value(m, "clawhost_request_total_seconds_bucket", model="echo", le="+Inf") == 10
    assert value(m, "clawhost_request_ttft_seconds_count", model="echo") == 2
    assert value(m, "clawhost_request_infer_seconds_count", model="echo") == 5  # 3 + 2 misses
    assert value(m, "clawhost_request_queue_seconds_count", model="echo") == 5
    assert value(m, "clawhost_request_queue_seconds_sum", model="echo") == pytest.approx(0.015)
    assert value(m, "clawhost_tokens_total", model="echo", direction="in") == tokens_in
    assert value(m, "clawhost_tokens_total", model="echo", direction="out") == tokens_out
    assert value(m, "clawhost_cache_hits_total", layer="l1") == 3
    assert value(m, "clawhost_cache_hits_total", layer="l2") == 0
    assert value(m, "clawhost_cache_misses_total") == 7  # 3 + 2 streams + overload + crash
    assert value(m, "clawhost_cache_bypass_total") == 1  # the embedding
    assert value(m, "clawhost_batch_size_count") == 5
    assert value(m, "clawhost_batch_size_sum") == 20
    assert value(m, "clawhost_upstream_requests_total", provider="openai", status=200) == 5
    assert value(m, "clawhost_upstream_retries_total", provider="openai") == 10
    assert value(m, "clawhost_model_ready", model="echo", owner="echo", state="ready") == 1
    assert value(m, "clawhost_process_resident_memory_bytes") > 10 * 2**20
    assert value(m, "clawhost_process_cpu_seconds_total") > 0
    # time in each plugin's hooks, keyed (plugin, hook), as the chain measured it
    stats = host.chain.stats
    for plugin, hook in [("test-plugin-0", "clawhost_lookup"), ("test-plugin-2", "clawhost_infer"),
                         ("monitor", "clawhost_request_finished")]:
        calls = value(m, "clawhost_plugin_hook_calls_total", plugin=plugin, hook=hook)
        assert calls == stats.calls[(plugin, hook)] > 0
        assert value(m, "clawhost_plugin_hook_seconds_total", plugin=plugin, hook=hook) > 0
    assert value(m, "clawhost_plugin_hook_errors_total", plugin="test-plugin-1",
                 hook="clawhost_request_started") == 1


async def test_label_cardinality_stays_bounded(clawhost_host, clawhost_server):
    host, url = await make(clawhost_host, clawhost_server, Upstreamish(), EchoModel(),
                           options={"max_label_values": 8})
    async with aiohttp.ClientSession() as s:
        await chat(s, url, "warm up")
        assert (await chat(s, url, "x", model="bogus-warm-up"))[0] == 404  # the 404 series exists
        before = set(await get_metrics(s, url))

        async def bogus(i):
            body = {"model": f"bogus-model-{i}", "messages": [{"role": "user", "content": "x"}]}
            async with s.post(url + "/v1/chat/completions", json=body) as r:
                assert r.status == 404
        for start in range(0, 1000, 100):
            await asyncio.gather(*(bogus(i) for i in range(start, start + 100)))
        after = set(await get_metrics(s, url))
    assert after == before  # no new series at all: values move, names and label sets do not

    # models nobody registered, and too many providers, fold into "other"
    mon = host.state[MONITOR_STATE]
    for i in range(1000):
        req = ModelRequest(kind="chat", body=None, model=Model(f"ghost-{i}", "chat", owner="x"))
        req.notes[PROVIDER] = f"provider-{i}"
        mon.record(req, Reply({"usage": {"prompt_tokens": 1}}), None)
    assert set(mon.models) == {"echo", "other"}
    assert len({p for p, _ in mon.upstream}) == 9  # 8 distinct + "other"
    async with aiohttp.ClientSession() as s:
        m = await get_metrics(s, url)
    labels = {dict(k[1]).get("model") for k in m if k[0] == "clawhost_requests_total"}
    assert labels == {"echo", "other"}
    assert value(m, "clawhost_tokens_total", model="other", direction="in") == 1000


class Figures:
    def __init__(self, fail=False):
        self.fail = fail

    def figures(self):
        if self.fail:
            raise ZeroDivisionError("broken figures")
        return {"queue_depth": 3, "cooldowns": {"openai": 1, "anthropic": 0}, "note": "text",
                "hits": 99}  # as host.state[CACHE_STATE], "hits" would collide with our own family


async def test_figures_exported_and_a_failing_one_is_skipped(clawhost_host, clawhost_server):
    host, url = await make(clawhost_host, clawhost_server, EchoModel())
    host.state[BATCHER_STATE] = Figures()
    host.state[CACHE_STATE] = Figures()
    host.state[BROKEN] = Figures(fail=True)
    host.state[PLAIN] = object()  # no figures(): ignored
    async with aiohttp.ClientSession() as s:
        await chat(s, url, "hi")
        m = await get_metrics(s, url)
        await get_metrics(s, url)
        async with s.get(url + "/metrics") as r:
            text = await r.text()
    assert value(m, "clawhost_batcher_queue_depth") == 3
    assert value(m, "clawhost_batcher_cooldowns", key="openai") == 1
    assert value(m, "clawhost_batcher_hits") == 99
    assert value(m, "clawhost_cache_queue_depth") == 3
    assert value(m, "clawhost_monitor_figure_errors_total", plugin="broken") == 1
    assert value(m, "clawhost_requests_total", model="echo", endpoint="chat", status=200) == 1
    assert "clawhost_broken_" not in text and "note" not in text
    assert text.count("# TYPE clawhost_cache_hits") == 1  # ours; the figure was skipped
    assert value(m, "clawhost_cache_hits_total", layer="l1") == 0


async def test_stats_json_history(clawhost_host, clawhost_server):
    host, url = await make(clawhost_host, clawhost_server, DictCache(), Upstreamish(), EchoModel(),
                           options={"sample_s": 0.1, "history_s": 30})
    async with aiohttp.ClientSession() as s:
        for i in range(20):
            await chat(s, url, f"prompt {i % 10}")
        await asyncio.sleep(0.35)  # a few samples after the traffic
        async with s.get(url + "/v1/stats?window=10") as r:
            assert r.status == 200
            data = await r.json()
        async with s.get(url + "/v1/stats?window=-1") as r:
            assert r.status == 400
            assert "window" in (await r.json())["error"]["message"]
        async with s.get(url + "/v1/stats?window=3600") as r:
            assert (await r.json())["window_s"] == 30  # clamped to the history kept
    summary = data["summary"]
    assert summary["requests"] == 20
    assert summary["hit_rate"] == pytest.approx(0.5) and summary["hit_rate_l1"] == pytest.approx(0.5)
    assert summary["hit_rate_l2"] == 0
    assert summary["mean_batch_size"] == pytest.approx(4.0)
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert summary["rss_mb"] > 10 and summary["tokens_per_s"] > 0
    series = data["series"]
    assert len(series["t"]) >= 3 and all(len(v) == len(series["t"]) for v in series.values())
    assert sum(r for r in series["requests_per_s"]) > 0
    assert any(p is not None for p in series["p99_ms"])
    assert [p["name"] for p in data["plugins"]] == host.chain.names()
    assert data["plugins"][0]["hooks"]["clawhost_request_finished"]["calls"] == 20
    assert {m["id"] for m in data["models"]} == {"echo", "echo-embed"}


async def test_registry_is_per_host(clawhost_host, clawhost_server):
    import prometheus_client
    a, url_a = await make(clawhost_host, clawhost_server, EchoModel())
    b, url_b = await make(clawhost_host, clawhost_server, EchoModel())
    assert a.state[MONITOR_STATE].registry is not b.state[MONITOR_STATE].registry
    async with aiohttp.ClientSession() as s:
        for _ in range(3):
            await chat(s, url_a, "only a")
        ma, mb = await get_metrics(s, url_a), await get_metrics(s, url_b)
    assert value(ma, "clawhost_request_total_seconds_count", model="echo") == 3
    assert ("clawhost_request_total_seconds_count", (("model", "echo"),)) not in mb
    assert "clawhost_requests_total" not in prometheus_client.generate_latest().decode()


async def test_static_files_are_a_fixed_list(clawhost_host, clawhost_server):
    _, url = await make(clawhost_host, clawhost_server, EchoModel(),
                        options={"stats_path": "/api/stats"})
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/") as r:
            assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            html = await r.text()
        assert 'data-stats="/api/stats"' in html and "__STATS_PATH__" not in html
        async with s.get(url + "/monitor/static/status.js") as r:
            assert r.status == 200 and "canvas" in (await r.text()).lower()
        for bad in ("/monitor/static/monitor.py", "/monitor/static/..%2fmonitor.py"):
            async with s.get(url + bad) as r:
                assert r.status == 404
        async with s.get(url + "/api/stats") as r:
            assert r.status == 200


async def test_page_can_be_switched_off(clawhost_host, clawhost_server):
    _, url = await make(clawhost_host, clawhost_server, EchoModel(), options={"status_page": False})
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/") as r:
            assert r.status == 404
        async with s.get(url + "/metrics") as r:
            assert r.status == 200


def test_bad_options_are_one_line_errors(tmp_path):
    from clawhost.errors import ConfigError
    from clawhost.host import Host
    from clawhost.testing import make_config
    with pytest.raises(ConfigError) as err:
        Host(make_config(tmp_path, {"plugins": {"monitor": {"sample_s": 0, "page_path": "x"}}}))
    text = str(err.value)
    assert "plugins.monitor.sample_s" in text and "plugins.monitor.page_path" in text


def test_plugin_module_imports_cheaply():
    code = ("import sys, clawhost.plugins.monitor; "
            "print(sorted(m for m in ('prometheus_client', 'psutil', 'aiohttp', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_render_table():
    from clawhost.plugins.monitor.commands import render_table
    summary = {"window_s": 60, "requests": 120, "requests_per_s": 2.0, "errors_per_s": 0.0,
               "p50_ms": 1.25, "p95_ms": 3.5, "p99_ms": 9.75, "hit_rate": 0.5,
               "hit_rate_l1": 0.25, "hit_rate_l2": 0.25, "hit_rate_semantic": None,
               "mean_batch_size": 3.5, "tokens_per_s": 40.0, "tokens_in_per_s": 10.0,
               "tokens_out_per_s": 30.0, "rss_mb": 123.4, "cpu_percent": 12.0, "rejected": 0}
    text = render_table({"summary": summary, "uptime_s": 99, "models": [
        {"id": "echo", "owner": "echo", "status": "ready"}], "plugins": [
        {"name": "monitor", "calls": 5, "seconds": 0.002, "errors": 0, "hooks": {
            "clawhost_startup": {"calls": 1, "seconds": 0.0015},
            "clawhost_request_finished": {"calls": 4, "seconds": 0.0005}}}],
        "totals": {"requests": 4}}, "http://x")
    for piece in ("p50 1.25", "p95 3.50", "p99 9.75", "all 50.0%", "l1 25.0%", "semantic -",
                  "mean 3.50", "RSS 123.4 MB", "echo", "monitor", "2.0", "125.0"):
        assert piece in text


async def test_opentelemetry_spans_per_stage(clawhost_host, clawhost_server):
    pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed (optional)")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host, url = await make(clawhost_host, clawhost_server, Upstreamish(), EchoModel(),
                           options={"otel": True})
    # the API's global provider can be set once per process: hand ours to the tracer directly
    host.state[MONITOR_STATE].tracer = _tracer_with(provider)
    async with aiohttp.ClientSession() as s:
        assert (await chat(s, url, "trace me"))[0] == 200
        assert (await chat(s, url, "overload me"))[0] == 429
    spans = exporter.get_finished_spans()
    names = [sp.name for sp in spans]
    assert names.count("clawhost.request") == 2
    assert {"clawhost.lookup", "clawhost.queue", "clawhost.infer"} <= set(names)
    root = next(sp for sp in spans if sp.name == "clawhost.request"
                and sp.attributes["clawhost.model"] == "echo" and sp.status.is_ok)
    infer = next(sp for sp in spans if sp.name == "clawhost.infer")
    assert infer.parent.span_id == root.context.span_id
    assert root.start_time <= infer.start_time <= infer.end_time <= root.end_time
    failed = [sp for sp in spans if sp.name == "clawhost.request" and not sp.status.is_ok]
    assert len(failed) == 1 and failed[0].status.description == "Overloaded"


def _tracer_with(provider):
    from unittest import mock

    from clawhost.plugins.monitor.tracing import make_tracer
    with mock.patch("opentelemetry.trace.get_tracer", provider.get_tracer):
        return make_tracer()


async def test_with_the_real_cache_plugin(clawhost_host, clawhost_server):
    """The built-in cache leaves notes[CACHE_RESULT]; the monitor's counts match its own figures."""
    host = await clawhost_host(EchoModel(), config={"plugins": {"monitor": {}, "cache": {}}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        for i in range(12):
            assert (await chat(s, url, f"cached {i % 4}", temperature=0))[0] == 200
        m = await get_metrics(s, url)
    own = host.state[CACHE_STATE].figures()["requests"]
    assert value(m, "clawhost_cache_hits_total", layer="l1") == own["hit-l1"] == 8
    assert value(m, "clawhost_cache_misses_total") == own["miss"] == 4
    assert value(m, "clawhost_cache_requests", key="hit-l1") == 8  # its figures, as gauges
    assert value(m, "clawhost_plugin_hook_calls_total", plugin="cache", hook="clawhost_lookup") == 12


def test_quantiles_from_buckets():
    from clawhost.plugins.monitor.histogram import SECONDS_BOUNDS, Histogram, quantile, quantiles
    h = Histogram()
    for i in range(1, 1001):  # 1 ms .. 1 s, uniform
        h.observe(i / 1000)
    p50, p95, p99 = quantiles(h.bounds, h.counts, (0.5, 0.95, 0.99))
    assert p50 == quantile(h.bounds, h.counts, 0.5)
    # exact to within the bucket the true value falls in
    for got, true in ((p50, 0.5), (p95, 0.95), (p99, 0.99)):
        i = next(k for k, b in enumerate(SECONDS_BOUNDS) if b >= true)
        assert SECONDS_BOUNDS[i - 1] <= got <= SECONDS_BOUNDS[i]
    assert quantiles(h.bounds, [0] * len(h.counts), (0.5,)) == [None]
    assert h.cumulative()[-1] == ("+Inf", 1000) and h.sum == pytest.approx(500.5)


async def test_timed_out_requests_count_as_504(clawhost_host, clawhost_server):
    host = await clawhost_host(EchoModel(delay=1.0), config={
        "plugins": {"monitor": {}}, "server": {"request_timeout_s": 0.2}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        assert (await chat(s, url, "too slow"))[0] == 504
        m = await get_metrics(s, url)
    assert value(m, "clawhost_requests_total", model="echo", endpoint="chat", status=504) == 1
    assert value(m, "clawhost_inflight_requests") == 0


async def test_requests_refused_before_the_loop_are_counted(clawhost_host, clawhost_server):
    """Bad bodies, unknown routes: no hook sees them, the metrics still do."""
    host, url = await make(clawhost_host, clawhost_server, EchoModel())
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", data=b"{nope") as r:
            assert r.status == 400
        async with s.post(url + "/v1/chat/completions", json={"model": "echo"}) as r:
            assert r.status == 400
        async with s.get(url + "/v1/nothing-here") as r:
            assert r.status == 404
        assert (await chat(s, url, "fine"))[0] == 200
        assert (await chat(s, url, "x", model="no-such-model"))[0] == 404
        found = await get_metrics(s, url)
    assert value(found, "clawhost_refused_requests_total", path="/v1/chat/completions", status=400) == 2
    assert value(found, "clawhost_refused_requests_total", path="/v1/chat/completions", status=404) == 1
    assert value(found, "clawhost_refused_requests_total", path="other", status=404) == 1
    assert sum(host.refused.values()) == 4  # the good request went through the loop
