"""The profile as one self-contained HTML page: inline CSS and JavaScript, no network, no files.

`html_report(data)` takes `vm.profiler.Profiler.data()` and returns the page: a summary, the hottest
loops (FULL), functions, opcodes, the hottest instructions, timing per block or instruction
(DETAILED, FULL), branches and memory operations (FULL). Every table sorts by a click on a column
header (numbers numerically); all text is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

__all__ = ["html_report"]

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .2em .7em; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { cursor: pointer; background: #f3f3f3; user-select: none; }
th.asc::after { content: " \\25B2"; } th.desc::after { content: " \\25BC"; }
.note { color: #666; }
"""

_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var desc = !th.classList.contains("desc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(desc ? "desc" : "asc");
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return desc ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        text = "" if value is None else str(value)
        return f'<td data-v="{html.escape(text)}">{html.escape(text)}</td>'
    if isinstance(value, int):
        return f'<td class="n" data-v="{value}">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="n" data-v="{value}">{value:,.1f}</td>'
    text = str(value)
    return f'<td data-v="{html.escape(text)}">{html.escape(text)}</td>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 200) -> str:
    if not rows:
        return '<p class="note">(none)</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows[:limit])
    more = f'<p class="note">{len(rows) - limit:,} more rows not shown</p>' if len(rows) > limit else ""
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>{more}'


def html_report(data: dict[str, Any]) -> str:
    """The page for profile `data` (see the module docstring)."""
    funcs = data["functions"]
    total = data["total_instructions"] or 1
    parts = [f"<h1>zir profile: {html.escape(data['mode'])} mode, level {html.escape(data['level'])}</h1>",
             f"<p>{data['total_instructions']:,} instructions executed in {len(funcs)} functions.</p>"]
    if data["level"] == "full":
        parts.append(f"<h2>Hottest loops (back edges taken &ge; {data['hot_loop_threshold']:,} times)</h2>")
        parts.append(_table(["function", "line", "loop head", "depth", "back edges", "entered"],
                            [[lp["function"], lp["line"], lp["label"], lp["depth"], lp["back_edges"],
                              lp["entries"]] for lp in data["hot_loops"]]))
    parts.append("<h2>Functions</h2>")
    parts.append(_table(["function", "file", "line", "instructions", "share %"],
                        [[f["name"], f["file"], f["line"], f["instructions"],
                          100.0 * f["instructions"] / total] for f in funcs]))
    parts.append("<h2>Opcodes</h2>")
    rows = [[op, n, 100.0 * n / total] for op, n in data["opcodes"].items()]
    parts.append(_table(["opcode", "executed", "share %"], rows))
    sites = sorted(([f["name"], s["line"], s["label"], s["index"], s["op"], s["count"]] for f in funcs
                    for s in f["sites"] if s["count"]), key=lambda r: -r[5])
    parts.append("<h2>Hottest instructions</h2>")
    parts.append(_table(["function", "line", "block", "index", "opcode", "executed"], sites))
    if data["level"] in ("detailed", "full"):
        unit = funcs[0]["unit"] if funcs else "block"
        parts.append(f"<h2>Time per {html.escape(unit)} (nanoseconds)</h2>")
        timed = sorted(([f["name"], b["line"], b["label"], b["time_ns"]["samples"], b["time_ns"]["total"],
                         b["time_ns"]["mean"], b["time_ns"]["min"], b["time_ns"]["p50"], b["time_ns"]["p95"],
                         b["time_ns"]["p99"], b["time_ns"]["max"]]
                        for f in funcs for b in f["blocks"] if b.get("time_ns", {}).get("samples")),
                       key=lambda r: -r[4])
        parts.append(_table(["function", "line", unit, "samples", "total", "mean", "min", "p50", "p95", "p99",
                             "max"], timed))
    if data["level"] == "full":
        parts.append("<h2>Branches</h2>")
        br = sorted(([f["name"], b["line"], b["label"], b["op"], b["taken"], b["not_taken"]]
                     for f in funcs for b in f["branches"]), key=lambda r: -(r[4] + r[5]))
        parts.append(_table(["function", "line", "block", "branch", "taken", "not taken"], br))
        parts.append("<h2>Memory operations</h2>")
        parts.append(_table(["kind", "executed"], list(data["memory"]["totals"].items())))
        parts.append(_table(["function", "line", "opcode", "kind", "executed"],
                            [[s["function"], s["line"], s["op"], s["kind"], s["count"]]
                             for s in data["memory"]["sites"]]))
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>zir profile</title>"
            f"<style>{_STYLE}</style></head><body>\n{body}\n<script>{_SCRIPT}</script></body></html>\n")
