"""A self-contained HTML report of a study's results: tables and inline SVG charts.

Everything is in the one file (no CDN, no scripts), so it opens inside a hospital network
with no internet access and can be archived with the study.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

PALETTE = ("#1b6ca8", "#e07a1f", "#3a9e4f", "#b8336a", "#6c4f9e", "#8c6d31", "#17becf",
           "#7f7f7f", "#bcbd22", "#d62728")
SUPPRESSED = "suppressed"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:70rem;color:#1d2733;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #dde3ea}
h3{margin-top:1.6rem;font-size:1.05rem}.meta{color:#5a6b7d;font-size:.9rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
th,td{border:1px solid #dde3ea;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f2f5f8}
td.sup{color:#9a3412;background:#fff7ed;font-style:italic}
td.partial{background:#fefce8}.note{font-size:.85rem;color:#5a6b7d}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
.refused{color:#9a3412}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any) -> str:
    if value == SUPPRESSED:
        return '<td class="sup" title="below the site\'s minimum cell size">suppressed</td>'
    if value is None:
        return '<td class="note">not reported</td>'
    return f"<td>{int(value):,}</td>"


def _label(table: dict[str, Any], key: list[str]) -> str:
    joined = " / ".join(key) if key else "all"
    name = table.get("labels", {}).get(joined)
    return f"{name} ({joined})" if name else joined


def _table_html(name: str, table: dict[str, Any], sites: list[str]) -> str:
    head = "".join(f"<th>{_esc(s)}</th>" for s in sites)
    rows = []
    for row in table["rows"]:
        pooled = row["pooled"]
        if pooled is None:
            pooled_td = '<td class="sup">suppressed</td>'
        elif row["complete"]:
            pooled_td = f"<td><b>{pooled:,}</b></td>"
        else:
            pooled_td = (f'<td class="partial" title="sum of released site counts; at least one '
                         f'site suppressed or did not report this cell">&ge; {pooled:,}</td>')
        cells = "".join(_cell(row["sites"].get(s)) for s in sites)
        rows.append(f"<tr><td>{_esc(_label(table, row['key']))}</td>{cells}{pooled_td}</tr>")
    dims = ", ".join(table["dims"]) or "count"
    return (f"<h3>{_esc(name)}</h3><table><thead><tr><th>{_esc(dims)}</th>{head}"
            f"<th>pooled</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def bar_chart_svg(title: str, table: dict[str, Any], sites: list[str],
                  totals: dict[str, int | None]) -> str:
    """Grouped bars: each site's share of its own cohort per category (suppressed: no bar)."""
    keys = [" / ".join(r["key"]) for r in table["rows"]]
    if not keys or not sites:
        return ""
    width, height, left, bottom, top = 760, 250, 48, 30, 30
    plot_w, plot_h = width - left - 10, height - bottom - top
    group_w = plot_w / len(keys)
    bar_w = max(2.0, (group_w * 0.8) / len(sites))
    shares: list[list[float | None]] = []
    for row in table["rows"]:
        shares.append([
            (v / totals[s]) if isinstance(v, int) and totals.get(s) else None
            for s, v in ((s, row["sites"].get(s)) for s in sites)
        ])
    peak = max((v for row in shares for v in row if v is not None), default=1.0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{_esc(title)}">',
             f'<text x="{left}" y="18" font-size="13" font-weight="600">{_esc(title)}</text>']
    for tick in range(5):
        frac = tick / 4
        y = top + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#e5e9ef"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                     f'{peak * frac:.0%}</text>')
    for gi, (key, row) in enumerate(zip(keys, shares, strict=True)):
        gx = left + gi * group_w + group_w * 0.1
        for si, share in enumerate(row):
            if share is None:
                continue
            h = plot_h * share / peak
            parts.append(
                f'<rect x="{gx + si * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w - 1:.1f}" height="{h:.1f}" fill="{PALETTE[si % len(PALETTE)]}">'
                f'<title>{_esc(sites[si])} {_esc(key)}: {share:.1%}</title></rect>')
        parts.append(f'<text x="{left + (gi + 0.5) * group_w:.1f}" y="{top + plot_h + 14}" '
                     f'font-size="10" text-anchor="middle">{_esc(key[:14])}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>'
                     f"{_esc(s)}</span>" for i, s in enumerate(sites))
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def render_report(results: dict[str, Any], *, extra: str = "") -> str:
    """HTML for a StudyResults JSON document (as the hub serves it)."""
    title = results.get("title", "study")
    body = [f"<h1>{_esc(title)}</h1>",
            f'<p class="meta">study {_esc(results.get("study_id", ""))} &middot; state '
            f'{_esc(results.get("state", ""))} &middot; report written '
            f'{dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}</p>', extra]
    refusals = [(r["site"], f["analysis"], f["reason"]) for r in results.get("releases", [])
                for f in r.get("refusals", [])]
    if refusals:
        items = "".join(f'<li class="refused">{_esc(s)} refused {_esc(a)}: {_esc(why)}</li>'
                        for s, a, why in refusals)
        body.append(f"<h2>Refusals</h2><ul>{items}</ul>")
    for name, combined in results.get("combined", {}).items():
        body.append(f"<h2>{_esc(name)} <small class=\"meta\">({_esc(combined.get('kind'))})"
                    "</small></h2>")
        sites = list(combined.get("sites", []))
        tables = combined.get("tables", {})
        totals: dict[str, int | None] = {}
        if "persons" in tables and tables["persons"]["rows"]:
            for s, v in tables["persons"]["rows"][0]["sites"].items():
                totals[s] = v if isinstance(v, int) else None
        for tname, table in tables.items():
            if table["dims"] and not tname.startswith("top_") and totals:
                body.append(bar_chart_svg(f"{name}: share of each site's cohort by {tname}",
                                          table, sites, totals))
            body.append(_table_html(tname, table, sites))
    body.append('<p class="note">Suppressed: below the site\'s minimum cell size, or hidden '
                "so it cannot be derived from totals. &ge; marks a pooled sum that lacks at "
                "least one site's suppressed or unreported count.</p>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}'
            f'</title><style>{CSS}</style></head><body>{"".join(body)}</body></html>')


def write_report(results: dict[str, Any], path: str | Path, *, extra: str = "") -> Path:
    """Write the report atomically (write then rename)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_report(results, extra=extra), encoding="utf-8")
    tmp.replace(path)
    return path


def write_json(data: Any, path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    return path
