"""The bench's result as a text table (terminal, markdown) and as a self-contained HTML page
with inline SVG charts: no script, no stylesheet or font from elsewhere, so it opens offline."""

from __future__ import annotations

import html
from typing import Any

# marks for markdown only: a terminal or a headless browser may lack an emoji font
MARKS = {"met": "✅ met", "short": "➖ short", "not met": "❌ not met",
         "not measured": "not measured", "info": "info"}


def _num(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    text = f"{v:,.0f}" if abs(v) >= 100 else (f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}")
    return f"{text} {unit}".strip()


def cells(r: dict[str, Any]) -> list[str]:
    """technique, figure, without, with, predicted, measured, verdict: one row's text."""
    measured = r["measured"] if r["verdict"] != "not measured" else f"not measured: {r['reason']}"
    return [r["technique"], r["figure"],
            f"{_num(r['without'], r['unit'])}" + (f" ({r['without_label']})"
                                                  if r["without"] is not None else ""),
            f"{_num(r['with'], r['unit'])}" + (f" ({r['with_label']})" if r["with"] is not None
                                               else ""),
            r["predicted"], measured, r["verdict"]]


HEAD = ["technique", "figure", "without", "with", "predicted", "measured", "verdict"]


def header(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (f"clawhost bench ({'quick' if result['quick'] else 'full'}), {result['started']} UTC, "
            f"{result['duration_s']:.0f} s: {m['cpu']}, {m['cores']} cores, "
            f"{m.get('mem_total_mb') or '?'} MB, load {m['load_avg'][0]:.2f}")


def markdown(result: dict[str, Any]) -> str:
    lines = [header(result), "", "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for r in result["rows"]:
        row = cells(r)
        row[-1] = MARKS[r["verdict"]]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row) + " |")
    lines += [f"- {n}" for n in result.get("notes", [])]
    return "\n".join(lines) + "\n"


def text(result: dict[str, Any]) -> str:
    """Aligned columns for a terminal; long cells wrap into the last column's width."""
    rows = [HEAD] + [cells(r) for r in result["rows"]]
    widths = [min(max(len(r[i]) for r in rows), w) for i, w in enumerate((18, 52, 24, 24, 18, 40, 16))]
    out = [header(result), ""]
    for r in rows:
        out.append("  ".join((c if len(c) <= w else c[: w - 1] + "…").ljust(w)
                             for c, w in zip(r, widths)).rstrip())
    # the reasons in full: the table's column cuts them, and they are the point of the row
    out += [f"not measured: {r['figure']}: {r['reason']}" for r in result["rows"]
            if r["verdict"] == "not measured"]
    out += [f"note: {n}" for n in result.get("notes", [])]
    return "\n".join(out) + "\n"


def _bars(r: dict[str, Any], idx: int) -> str:
    """One chart: the two sides of a comparison as horizontal bars, the better one coloured."""
    w, h, left = 560, 86, 190
    a, b = r["without"], r["with"]
    top = max(a or 0, b or 0) or 1
    out = [f'<svg class="chart" id="chart-{idx}" data-bars="{int(a is not None) + int(b is not None)}" '
           f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
           f'aria-label="{html.escape(r["figure"])}">']
    for i, (label, v, colour) in enumerate(((r["without_label"], a, "#9aa5b1"),
                                            (r["with_label"], b, "#2f6fde"))):
        y = 12 + i * 36
        out.append(f'<text x="0" y="{y + 17}" class="lab">{html.escape(label[:30])}</text>')
        if v is None:
            out.append(f'<text x="{left}" y="{y + 17}" class="na">not measured</text>')
            continue
        bw = max(2.0, (w - left - 90) * v / top)
        out.append(f'<rect x="{left}" y="{y}" width="{bw:.1f}" height="24" rx="3" fill="{colour}"/>')
        out.append(f'<text x="{left + bw + 6:.1f}" y="{y + 17}" class="val">'
                   f'{html.escape(_num(v, r["unit"]))}</text>')
    out.append("</svg>")
    return "".join(out)


CSS = """body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2733;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.muted{color:#5b6b7b}
table{border-collapse:collapse;width:100%;margin-top:12px}th,td{border-bottom:1px solid #e3e8ee;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f5f7fa}.v-met{color:#16794a;font-weight:600}.v-short{color:#a86400;font-weight:600}.v-not-met{color:#b42323;font-weight:600}
.v-not-measured{color:#5b6b7b}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:14px}
figure{margin:0;border:1px solid #e3e8ee;border-radius:6px;padding:10px}figcaption{font-weight:600;margin-bottom:6px}
.chart text{font-size:12px;fill:#1d2733}.chart .na{fill:#8795a1;font-style:italic}.sub{font-size:12px;color:#5b6b7b;margin-top:4px}"""


def page(result: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    esc = html.escape
    rows = []
    for r in result["rows"]:
        c = cells(r)
        rows.append("<tr>" + "".join(f"<td>{esc(x)}</td>" for x in c[:-1])
                    + f'<td class="v-{r["verdict"].replace(" ", "-")}">{esc(c[-1])}</td></tr>')
    charts = []
    for i, r in enumerate(x for x in result["rows"] if x["without"] is not None or x["with"] is not None):
        verdict = r["measured"] if r["verdict"] != "not measured" else "not measured"
        charts.append(f'<figure><figcaption>{esc(r["technique"])}: {esc(r["figure"])}</figcaption>'
                      f'{_bars(r, i)}<div class="sub">predicted {esc(r["predicted"])}, measured '
                      f'{esc(verdict)}{(" — " + esc(r["note"])) if r.get("note") else ""}</div></figure>')
    notes = "".join(f"<li>{esc(n)}</li>" for n in result.get("notes", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>clawhost bench</title><style>{CSS}</style></head>
<body>
<h1>clawhost bench</h1>
<p class="muted" id="machine">{esc(header(result))}</p>
<p>Each technique measured with and without it in the same run, on this machine, beside the
plan's predictions for a 2-core 1.6 GB box. “short”: it helped, less than predicted.</p>
<table id="results"><thead><tr>{''.join(f'<th>{h}</th>' for h in ['technique', 'figure', 'without', 'with', 'predicted', 'measured', 'verdict'])}</tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>Side by side</h2>
<div class="grid" id="charts" data-charts="{len(charts)}">{''.join(charts)}</div>
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
</body></html>
"""
