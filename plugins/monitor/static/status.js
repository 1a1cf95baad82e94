// clawhost status page: polls the stats JSON and draws small canvas charts (no libraries).
"use strict";
(function () {
  const statsPath = document.body.dataset.stats || "/v1/stats";
  const POLL_MS = 2000;
  const COLORS = ["#2f6fde", "#e8891c", "#d64545", "#1f9d55", "#8a5cd1"];
  let windowS = 300;
  let timer = null;

  const $ = (id) => document.getElementById(id);
  const fmt = (v, digits = 1, unit = "") =>
    v === null || v === undefined ? "-" : Number(v).toFixed(digits) + unit;
  const pct = (v) => (v === null || v === undefined ? "-" : (100 * v).toFixed(1) + "%");

  const CHARTS = {
    latency: { unit: "ms", lines: [["p50", "p50_ms"], ["p95", "p95_ms"], ["p99", "p99_ms"]] },
    throughput: { unit: "/s", lines: [["requests/s", "requests_per_s"], ["errors/s", "errors_per_s"]] },
    hitrate: { unit: "%", max: 100, scale: 100,
      lines: [["all", "hit_rate"], ["l1", "hit_rate_l1"], ["l2", "hit_rate_l2"], ["semantic", "hit_rate_semantic"]] },
    memory: { unit: "MB", lines: [["RSS", "rss_mb"]] },
  };

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function label(v) {
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + "k";
    if (v >= 10 || v === 0) return v.toFixed(0);
    return v.toFixed(v >= 1 ? 1 : 2);
  }

  function spanOf(times, now) {
    if (!times.length) return windowS;
    return Math.min(windowS, Math.max(60, Math.ceil((now - times[0]) / 30) * 30));
  }

  // Draws one chart; returns how many non-empty points it drew.
  function draw(name, times, series) {
    const spec = CHARTS[name];
    const canvas = $("chart-" + name);
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600, h = canvas.clientHeight || 190;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pad = { l: 44, r: 10, t: 8, b: 22 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const scale = spec.scale || 1;
    const lines = spec.lines.map(([title, key]) => ({ title, values: (series[key] || []).map((v) => (v === null ? null : v * scale)) }));
    let top = 0, points = 0;
    for (const l of lines) for (const v of l.values) if (v !== null) { top = Math.max(top, v); points++; }
    const ymax = spec.max || niceMax(top * 1.1);
    // a young host fills the width: the x axis spans max(60 s, its history), up to the window
    const t1 = Date.now() / 1000, span = spanOf(times, t1), t0 = t1 - span;
    const x = (t) => pad.l + pw * Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
    const y = (v) => pad.t + ph * (1 - Math.min(v, ymax) / ymax);
    ctx.font = "11px system-ui, 'DejaVu Sans', sans-serif";
    ctx.strokeStyle = "#e3e6ea"; ctx.fillStyle = "#6b7480"; ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {  // horizontal grid with value labels
      const v = (ymax * i) / 4, yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.l, yy); ctx.lineTo(w - pad.r, yy); ctx.stroke();
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      ctx.fillText(label(v), pad.l - 6, yy);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (let i = 0; i <= 4; i++) {  // time axis: minutes ago
      const ago = (span * (4 - i)) / 4;
      const text = ago === 0 ? "now" : ago >= 60 && ago % 30 === 0 ? "-" + (ago / 60).toFixed(ago % 60 ? 1 : 0) + "m" : "-" + ago.toFixed(0) + "s";
      ctx.fillText(text, pad.l + (pw * i) / 4, h - pad.b + 6);
    }
    lines.forEach((l, i) => {
      ctx.strokeStyle = COLORS[i % COLORS.length]; ctx.lineWidth = 1.8; ctx.lineJoin = "round";
      ctx.beginPath();
      let pen = false, last = null;
      l.values.forEach((v, j) => {
        if (v === null) { pen = false; return; }
        const px = x(times[j]), py = y(v);
        if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        pen = true; last = [px, py];
      });
      ctx.stroke();
      if (last) {  // a dot on the latest value, so a single point is visible too
        ctx.fillStyle = ctx.strokeStyle;
        ctx.beginPath(); ctx.arc(last[0], last[1], 2.5, 0, 2 * Math.PI); ctx.fill();
      }
    });
    if (!points) {
      ctx.fillStyle = "#9aa2ad"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.fillText("no data in this window yet", pad.l + pw / 2, pad.t + ph / 2);
    }
    canvas.dataset.points = String(points);
    const legend = document.querySelector('.legend[data-for="' + name + '"]');
    legend.innerHTML = lines.map((l, i) => '<i style="background:' + COLORS[i % COLORS.length] + '"></i>' + l.title).join("");
    return points;
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  const REQUEST_HOOKS = ["clawhost_request_started", "clawhost_lookup", "clawhost_infer",
    "clawhost_infer_batch", "clawhost_store", "clawhost_request_finished"];

  // microseconds a plugin's request-path hooks cost per request (boot hooks left out)
  function perRequest(p, requests) {
    if (!requests) return "-";
    let s = 0;
    for (const h of REQUEST_HOOKS) if (p.hooks[h]) s += p.hooks[h].seconds;
    return (1e6 * s / requests).toFixed(1);
  }

  function tables(data) {
    const pb = document.querySelector("#plugins tbody");
    pb.replaceChildren(...data.plugins.map((p, i) => {
      const tr = document.createElement("tr");
      tr.append(cell(String(i + 1)), cell(p.name), cell(String(p.calls), "n"),
        cell((p.seconds * 1000).toFixed(1), "n"), cell(perRequest(p, data.totals.requests), "n"),
        cell(String(p.errors), p.errors ? "n status-bad" : "n"));
      return tr;
    }));
    const mb = document.querySelector("#models tbody");
    mb.replaceChildren(...data.models.map((m) => {
      const tr = document.createElement("tr");
      tr.append(cell(m.id), cell(m.owner), cell(m.kind),
        cell(m.status, m.status === "ready" ? "status-ready" : m.status.startsWith("error") ? "status-bad" : ""));
      return tr;
    }));
  }

  function cards(s) {
    $("c-rps").textContent = fmt(s.requests_per_s, 1);
    $("c-req").textContent = s.requests + " requests, " + fmt(s.errors_per_s, 2) + " errors/s";
    $("c-lat").textContent = [s.p50_ms, s.p95_ms, s.p99_ms].map((v) => fmt(v, v === null ? 0 : v < 1 ? 2 : v < 100 ? 1 : 0)).join(" / ");
    $("c-hit").textContent = pct(s.hit_rate);
    const p0 = (v) => (v === null || v === undefined ? "-" : (100 * v).toFixed(0) + "%");
    $("c-hit-layers").textContent = "l1 " + p0(s.hit_rate_l1) + " · l2 " + p0(s.hit_rate_l2) + " · semantic " + p0(s.hit_rate_semantic);
    $("c-tok").textContent = fmt(s.tokens_per_s, 1);
    $("c-tok-io").textContent = "in " + fmt(s.tokens_in_per_s, 1) + " · out " + fmt(s.tokens_out_per_s, 1);
    $("c-batch").textContent = fmt(s.mean_batch_size, 2);
    $("c-rej").textContent = s.rejected + " rejected (429)";
    $("c-rss").textContent = fmt(s.rss_mb, 1, " MB");
    $("c-cpu").textContent = "CPU " + fmt(s.cpu_percent, 0, "%");
  }

  function render(data) {
    cards(data.summary);
    const times = data.series.t;
    for (const name of Object.keys(CHARTS)) draw(name, times, data.series);
    tables(data);
    $("uptime").textContent = "up " + Math.round(data.uptime_s) + " s · " + data.models.length + " models · " + data.plugins.length + " plugins";
    document.body.dataset.updated = String(Date.now());
  }

  async function poll() {
    const live = $("live");
    try {
      const resp = await fetch(statsPath + "?window=" + windowS, { cache: "no-store" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      render(await resp.json());
      live.textContent = "live"; live.className = "live ok"; $("error").textContent = "";
    } catch (err) {
      live.textContent = "offline"; live.className = "live bad";
      $("error").textContent = "last poll failed: " + err.message;
    } finally {
      clearTimeout(timer);
      timer = setTimeout(poll, POLL_MS);
    }
  }

  // the last `clawhost bench` (saved under the workspace): what each technique measured here
  const BENCH_PATH = "/v1/bench/last";
  function num(v, unit) {
    if (v === null || v === undefined) return "-";
    const a = Math.abs(v);
    return (a >= 100 ? Math.round(v).toLocaleString("en") : v.toFixed(a >= 10 ? 1 : 2)) + (unit ? " " + unit : "");
  }
  async function bench() {
    try {
      const resp = await fetch(BENCH_PATH, { cache: "no-store" });
      if (!resp.ok) return;
      const body = await resp.json();
      const r = body.result;
      if (!r) return;
      const m = r.machine || {};
      $("bench-when").textContent = (r.quick ? "quick, " : "") + r.started + " UTC, " + (m.cpu || "") +
        ", " + (m.cores || "?") + " cores, load " + (m.load_avg ? m.load_avg[0] : "?");
      const rows = r.rows.filter((x) => x.group !== "memory" || x.id === "memory.whole");
      $("bench").querySelector("tbody").replaceChildren(...rows.map((x) => {
        const tr = document.createElement("tr");
        const measured = x.verdict === "not measured" ? "not measured: " + x.reason : x.measured;
        tr.append(cell(x.technique), cell(x.figure), cell(num(x.without, x.unit), "n"),
          cell(num(x.with, x.unit), "n"), cell(x.predicted), cell(measured),
          cell(x.verdict, "v-" + x.verdict.replace(" ", "-")));
        return tr;
      }));
      $("bench-panel").dataset.rows = String(rows.length);
    } catch (err) {
      $("bench-when").textContent = "(could not read " + BENCH_PATH + ": " + err.message + ")";
    }
  }
  bench();
  setInterval(bench, 60000);

  // fleet mode: every host sharing this one's Redis, from their heartbeats (/v1/fleet)
  const FLEET_PATH = "/v1/fleet";
  function ago(s) {
    if (s === null || s === undefined) return "-";
    s = Math.max(0, s);
    return s < 120 ? s.toFixed(s < 10 ? 1 : 0) + " s" : s < 7200 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h";
  }
  async function fleet() {
    try {
      const resp = await fetch(FLEET_PATH, { cache: "no-store" });
      if (!resp.ok) return;
      const body = await resp.json();
      const panel = $("fleet-panel");
      panel.hidden = !body.enabled;
      if (!body.enabled) return;
      const me = body.self || {};
      const live = body.hosts.filter((h) => !h.stale).length;
      $("fleet-self").textContent = "this host: " + (me.name || "?") + " · namespace " + (me.namespace || "?") +
        " · redis " + (me.redis || "?") + (me.redis === "down" ? " for " + ago(me.down_s) : "") +
        " · " + live + " live, " + (body.hosts.length - live) + " stale";
      const now = Date.now() / 1000;
      $("fleet").querySelector("tbody").replaceChildren(...body.hosts.map((h) => {
        const tr = document.createElement("tr");
        tr.append(cell(h.name + (h.name === me.name ? " (this host)" : "")), cell(h.version || "-"),
          cell(ago(h.age_s) + " ago", "n"), cell(h.started ? ago(now - h.started) : "-", "n"),
          cell(h.pid === undefined ? "-" : String(h.pid)), cell(h.address || "-"),
          cell(h.stale ? "stale" : "live", h.stale ? "status-bad" : "status-ready"));
        return tr;
      }));
      panel.dataset.hosts = String(body.hosts.length);
    } catch (err) {
      $("fleet-self").textContent = "(could not read " + FLEET_PATH + ": " + err.message + ")";
    }
  }
  fleet();
  setInterval(fleet, 5000);

  document.querySelectorAll("#windows button").forEach((b) => b.addEventListener("click", () => {
    windowS = Number(b.dataset.window);
    document.querySelectorAll("#windows button").forEach((o) => o.classList.toggle("on", o === b));
    poll();
  }));
  window.addEventListener("resize", () => poll());
  poll();
})();
