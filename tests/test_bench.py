"""``clawhost bench`` as an operator runs it: a real process on the tiny test models, its
JSON, its HTML report in headless Chromium, Ctrl-C, the refusal while a host serves, and the
monitor's "last bench" panel."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from conftest import run_cli
from test_monitor_page import ARTIFACTS, CHROMIUM, chromium
from test_quantized_model import tiny_bert, tiny_gguf

EMBED, CHAT = "tiny-minilm", "tiny-llama"
REQUIRED = {"batching.embeddings", "batching.generation", "cache.exact", "cache.semantic",
            "onnx.reference", "async.concurrency", "together.memory", "memory.whole",
            f"quantization.size.{EMBED}", f"quantization.size.{CHAT}",
            f"quantization.quality.{EMBED}", f"quantization.quality.{CHAT}"}


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> Path:
    """An operator's config with every built-in plugin and both tiny models prepared."""
    root = tmp_path_factory.mktemp("bench")
    src = {"bert": tiny_bert(root / "bert"), "gguf": tiny_gguf(root / "tiny.gguf")}
    cfg = root / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "workspace": str(root / "ws"), "server": {"port": _port()},
        "plugins": {"monitor": {}, "cache": {}, "semantic_cache": {}, "batcher": {},
                    "quantized_model": {"threads": 1, "models": {
                        EMBED: {"source": str(src["bert"]), "kind": "embedding"},
                        CHAT: {"source": str(src["gguf"]), "kind": "chat",
                               "context_length": 96}}},
                    "connection_pool": {}}}))
    for model in (EMBED, CHAT):
        done = run_cli("model", "prepare", model, "--config", str(cfg), timeout=300)
        assert done.returncode == 0, done.stderr
    return cfg


def _port() -> int:
    from conftest import free_port
    return free_port()


def _scratch_of(stderr: str) -> Path:
    m = re.search(r"scratch workspace (\S+)/ws ", stderr)
    assert m, stderr[-2000:]
    return Path(m.group(1))


@pytest.fixture(scope="module")
def quick_run(configured, tmp_path_factory) -> dict:
    """One `clawhost bench --quick --json --html` on the tiny models, as a real process."""
    report = tmp_path_factory.mktemp("report") / "bench.html"
    manifests = {p: p.stat().st_mtime_ns for p in
                 (configured.parent / "ws" / "models").glob("*/manifest.json")}
    t0 = time.monotonic()
    done = run_cli("bench", "--quick", "--json", "--html", str(report), "--config",
                   str(configured), timeout=240)
    took = time.monotonic() - t0
    assert done.returncode == 0, done.stderr[-3000:]
    return {"result": json.loads(done.stdout), "stderr": done.stderr, "took": took,
            "report": report, "manifests": manifests, "config": configured}


def test_quick_json_has_every_figure_measured_or_a_reason(quick_run):
    result = quick_run["result"]
    rows = {r["id"]: r for r in result["rows"]}
    assert REQUIRED <= set(rows), REQUIRED - set(rows)
    for r in result["rows"]:
        if r["verdict"] == "not measured":
            assert r["reason"] and "\n" not in r["reason"], r
        else:
            assert r["measured"] not in (None, "", "—"), r
            assert r["verdict"] in ("met", "short", "not met", "info"), r
    # on the tiny models every comparison but the one with no second path is measured
    for rid in REQUIRED - {"onnx.reference"}:
        assert rows[rid]["verdict"] != "not measured", rows[rid]
    for rid in ("batching.embeddings", "cache.exact", "async.concurrency", "together.memory"):
        assert rows[rid]["without"] > 0 and rows[rid]["with"] > 0, rows[rid]
    assert rows["cache.exact"]["predicted"] == "−60% latency"
    assert rows["onnx.reference"]["reason"].startswith("clawhost ships no non-ONNX")
    size = rows[f"quantization.size.{CHAT}"]
    assert size["with"] < size["without"] and "built from" in size["note"]
    assert result["machine"]["cpu"] and result["machine"]["cores"] >= 1
    assert quick_run["took"] < 120  # --quick: under a minute on a quiet box, with room for CI


def test_quick_run_leaves_production_alone_and_saves_the_result(quick_run):
    ws = quick_run["config"].parent / "ws"
    assert not _scratch_of(quick_run["stderr"]).exists()  # the scratch workspace is gone
    for path, mtime in quick_run["manifests"].items():
        assert path.stat().st_mtime_ns == mtime  # models reused read-only
    assert not (ws / ".cache").exists()  # no cache written in the configured workspace
    saved = json.loads((ws / "bench" / "last.json").read_text())
    assert saved["rows"] == quick_run["result"]["rows"]
    assert re.search(r"host with the batcher", quick_run["stderr"])  # progress on stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
async def test_html_report_renders_with_its_charts(quick_run, tmp_path):
    report: Path = quick_run["report"]
    html = report.read_text()
    assert "http://" not in html and "https://" not in html  # nothing fetched: opens offline
    dom = await chromium(tmp_path, "--virtual-time-budget=2000", "--dump-dom", report.as_uri())
    assert int(re.search(r'id="charts" data-charts="(\d+)"', dom).group(1)) >= 8
    bars = [int(n) for n in re.findall(r'class="chart"[^>]*data-bars="(\d)"', dom)]
    assert bars and all(n >= 1 for n in bars) and bars.count(2) >= 6
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "bench.png"
    shot.unlink(missing_ok=True)
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--enable-logging=stderr", "--v=0",
                           f"--user-data-dir={tmp_path / 'profile2'}", "--hide-scrollbars",
                           "--window-size=1280,1400", f"--screenshot={shot}", report.as_uri()],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [l for l in proc.stderr.splitlines() if "CONSOLE" in l]
    assert console == []  # no script errors, no failed loads
    assert shot.stat().st_size > 30_000  # a drawn page, not a blank one
    assert _distinct_rows(shot) > 50  # bars and text, not one flat colour


def _distinct_rows(png: Path) -> int:
    """How many different pixel rows a PNG has (a blank page has one or two)."""
    import struct
    import zlib
    data = png.read_bytes()
    pos, idat, width, height, bpp = 8, b"", 0, 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
            bpp = {2: 3, 6: 4, 0: 1, 4: 2}.get(body[9], 4)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * bpp
    return len({raw[i * stride:(i + 1) * stride] for i in range(height)})


def test_ctrl_c_leaves_no_process_or_scratch_behind(configured):
    import psutil
    proc = subprocess.Popen([sys.executable, "-m", "clawhost", "bench", "--quick", "--config",
                             str(configured)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines, children = [], []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it runs a host of its own
        line = proc.stderr.readline()
        lines.append(line)
        if "host with" in line:
            time.sleep(0.5)
            children = psutil.Process(proc.pid).children(recursive=True)
            if children:
                break
    assert children, "".join(lines)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    lines.append(err)
    assert proc.returncode == 130, "".join(lines)[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert not _scratch_of("".join(lines)).exists()


def test_refuses_with_one_line_while_a_host_serves(echo_config):
    assert run_cli("start", "--config", str(echo_config)).returncode == 0
    try:
        done = run_cli("bench", "--quick", "--config", str(echo_config))
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and "--live" in done.stderr
        assert "serving" in done.stderr and "pid" in done.stderr
    finally:
        run_cli("stop", "--config", str(echo_config))


def test_help_does_not_import_the_bench():
    code = ("import sys; from clawhost.cli import build; build(); "
            "print([m for m in sys.modules if m.startswith('clawhost.bench')])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "[]", run.stderr


def test_verdicts_against_the_predictions():
    from clawhost.bench.plan import judge
    assert judge("batching", 100, 250, True)["verdict"] == "met"
    assert judge("batching", 100, 131, True)["verdict"] == "short"
    assert judge("batching", 100, 90, True)["verdict"] == "not met"
    cut = judge("cache", 10.0, 2.5, False)
    assert cut["verdict"] == "met" and cut["measured"] == "−75%"
    assert judge("quantization", 100, 28, False)["verdict"] == "short"  # −72% of a −75% target
    assert judge("async", None, 3, True)["verdict"] == "not measured"


async def test_status_page_shows_the_last_bench(clawhost_host, clawhost_server, tmp_path):
    from clawhost.testing import EchoModel
    host = await clawhost_host(EchoModel(), config={"plugins": {"monitor": {"sample_s": 0.25}}})
    url = await clawhost_server(host)
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v1/bench/last") as r:
            assert r.status == 200 and (await r.json())["result"] is None
        saved = {"object": "clawhost.bench", "quick": True, "started": "2026-12-05T19:00:00+00:00",
                 "machine": {"cpu": "Test CPU", "cores": 2, "load_avg": [1.5]},
                 "rows": [{"id": "cache.exact", "group": "cache", "technique": "multi-level cache",
                           "figure": "exact cache", "unit": "ms", "without": 10.0, "with": 2.0,
                           "predicted": "−60% latency", "measured": "−80%", "verdict": "met",
                           "reason": None}]}
        bench_dir = host.config.workspace / "bench"
        bench_dir.mkdir(parents=True, exist_ok=True)
        (bench_dir / "last.json").write_text(json.dumps(saved))
        async with s.get(url + "/v1/bench/last") as r:
            assert (await r.json())["result"]["rows"][0]["measured"] == "−80%"
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    dom = await chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", url + "/")
    assert re.search(r'id="bench-panel" data-rows="1"', dom)
    assert "Test CPU" in dom and "−80%" in dom and 'class="v-met"' in dom


async def test_offload_false_runs_model_calls_on_the_event_loop():
    """The bench's async baseline: with ``offload: false`` a model call runs in the loop's own
    thread (blocking it), with the default on the model's worker thread."""
    import threading

    from clawhost.plugins.quantized_model.options import Options
    from clawhost.plugins.quantized_model.workers import Worker
    assert Options().offload is True
    here = threading.get_ident()
    inline, threaded = Worker("m", offload=False), Worker("m")
    try:
        assert await inline.run(threading.get_ident) == here
        assert await threaded.run(threading.get_ident) != here
        with pytest.raises(ZeroDivisionError):
            await inline.run(lambda: 1 / 0)
    finally:
        inline.close()
        threaded.close()


def test_a_signal_sent_while_held_arrives_after_the_block_not_inside_it():
    from clawhost.bench.runner import signals_held
    seen: list[str] = []
    before = signal.signal(signal.SIGTERM, lambda *_: seen.append("signal"))
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            seen.append("end of block")
        time.sleep(0.05)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert seen == ["end of block", "signal"]


def test_the_http_phase_loop_unwinds_cleanly_when_interrupted_mid_request():
    from clawhost.bench.runner import http

    async def stuck(session):
        os.kill(os.getpid(), signal.SIGTERM)  # the bench's handler turns it into Ctrl-C
        await asyncio.sleep(5)

    def interrupt(*_):
        raise KeyboardInterrupt
    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            http(stuck)
    finally:
        signal.signal(signal.SIGTERM, before)
    asyncio.set_event_loop(None)
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()  # nothing left running: the phase's loop is closed
