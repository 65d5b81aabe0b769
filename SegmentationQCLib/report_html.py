"""A report (``segmentationqc/report/v1`` dict) as one self-contained HTML page.

No dependencies: tables and an inline SVG plot of predicted Dice per slice.
"""
from __future__ import annotations

import html
from pathlib import Path

_VERDICT_COLORS = {"pass": "#2e7d32", "review": "#ef6c00", "fail": "#c62828"}
_LINE_COLORS = ["#d32f2f", "#b8860b", "#1e5bb8", "#6a1b9a", "#00838f"]


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def _plot(report: dict, flag_thresholds: dict | None, width: int = 640, height: int = 240) -> str:
    """SVG: one polyline per structure, dashed flag threshold lines, flagged slices shaded."""
    slices, classes = report["slices"], report["classes"]
    n = max(len(slices) - 1, 1)
    left, right, top, bottom = 40, 90, 10, 30

    def xy(i, v):
        return (left + (width - left - right) * i / n, top + (height - top - bottom) * (1 - v))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">']
    for s in slices:
        if s["flag"]:
            x, _ = xy(s["index"], 0)
            w = (width - left - right) / n
            parts.append(f'<rect x="{x - w / 2:.1f}" y="{top}" width="{w:.1f}" height="{height - top - bottom}" fill="#fde0dc"/>')
    for v in (0, 0.5, 1):
        _, y = xy(0, v)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    for v in sorted(set((flag_thresholds or {}).values())):
        _, y = xy(0, v)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#555" '
                     f'stroke-dasharray="4 3"/><text x="{width - right + 4}" y="{y + 4:.1f}">flag {v:g}</text>')
    for k, c in enumerate(classes):
        color = _LINE_COLORS[k % len(_LINE_COLORS)]
        pts = " ".join("%.1f,%.1f" % xy(s["index"], s["dice"][c]) for s in slices if s["dice"][c] is not None)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{width - right + 4}" y="{top + 14 * (k + 1)}" fill="{color}">{html.escape(c)}</text>')
    for s in slices:
        x, _ = xy(s["index"], 0)
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">{s["index"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: dict, flag_thresholds: dict | None = None, flag_dip: float | None = None) -> str:
    """The page for one report; ``flag_thresholds`` ({structure: Dice}) draws the flag line and
    ``flag_dip`` (the card's ``slice_dip``) is said under the plot."""
    e = html.escape
    verdict = report["verdict"]
    rows = "".join(f"<tr><td>{e(c)}</td><td>{_fmt(v['dice'])}</td><td>{_fmt(v['low'])} – {_fmt(v['high'])}</td></tr>"
                   for c, v in report["volume"].items())
    errors = bool(report["slices"]) and "error_fraction" in report["slices"][0]
    head = "".join(f"<th>{e(c)}</th>" for c in report["classes"]) + ("<th>Error fraction</th>" if errors else "")
    slice_rows = "".join(
        ("<tr class='flag'>" if s["flag"] else "<tr>") + f"<td>{s['index']}</td>"
        + "".join(f"<td>{_fmt(s['dice'][c])}</td>" for c in report["classes"])
        + (f"<td>{_fmt(s['error_fraction'])}</td>" if errors else "")
        + f"<td>{e(', '.join(s.get('flagged', [])))}</td></tr>"
        for s in report["slices"])
    warnings = "".join(f"<li>{e(w)}</li>" for w in report.get("warnings", []))
    model = report.get("model", {})
    total = report.get("timings_ms", {}).get("total", "–")
    warned = f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""
    dip = (f"<p><small>A slice is flagged for a structure below its dashed line, or more than {flag_dip:g} "
           f"below both neighbouring slices.</small></p>" if flag_dip is not None else "")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SegmentationQC: {e(report['case'])}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} td:first-child{{text-align:left}}
tr.flag{{background:#fde0dc}} .verdict{{color:#fff;background:{_VERDICT_COLORS.get(verdict, '#555')};padding:2px 10px;border-radius:4px}}</style>
</head><body>
<h1>{e(report['case'])} <span class="verdict">{e(verdict.upper())}</span></h1>
<p>Image: {e(report.get('image', ''))}<br>Segmentation: {e(report.get('segmentation', ''))}<br>
Model: {e(str(model.get('name', '')))} {e(str(model.get('version', '')))}</p>
<h2>Predicted Dice per structure</h2>
<table><tr><th>Structure</th><th>Dice</th><th>Interval</th></tr>{rows}</table>
<h2>Predicted Dice per slice</h2>
{_plot(report, flag_thresholds)}
{dip}
<table><tr><th>Slice</th>{head}<th>Flagged</th></tr>{slice_rows}</table>
{warned}
<p><small>{e(report['schema'])}; total {total} ms</small></p>
</body></html>
"""


def write_html(report: dict, path: str | Path, flag_thresholds: dict | None = None, flag_dip: float | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_html(report, flag_thresholds, flag_dip), encoding="utf-8")
    return path
