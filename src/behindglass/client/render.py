"""Plain-text views of results, for ``summary()`` and ``behindglass study results``.

Fixed-width columns, no colour: the text is meant to be printed, logged, pasted into an
email. A suppressed cell reads ``suppressed``, an unreported one ``-``, and a pooled count
that leaves some site out carries a ``+`` (it is a lower bound).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from behindglass.client.results import AnalysisResult, StudyResult

MAX_LABEL = 40


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    """Columns padded to their widest entry; ``right`` holds right-aligned column indexes."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])]
                     + [line(r) for r in rows])


def render_table(name: str, table: dict[str, Any], sites: list[str]) -> str:
    dims: list[str] = list(table.get("dims", []))
    labels: dict[str, str] = table.get("labels", {})
    headers = (dims or ["(all)"]) + (["label"] if labels else []) + ["pooled"] + sites
    rows = []
    for row in table.get("rows", []):
        key = [str(k) for k in row["key"]] or ["all"]
        label = []
        if labels:
            text = labels.get(row["key"][0], "") if row["key"] else ""
            label = [text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"]
        if row.get("pooled") is None:
            # nothing released to add up: say why rather than print a number-like dash
            hidden = any(v == "suppressed" for v in row["sites"].values())
            pooled = "suppressed" if hidden else "-"
        else:
            pooled = _cell(row["pooled"]) + ("" if row.get("complete", True) else "+")
        rows.append(key + label + [pooled] + [_cell(row["sites"].get(s)) for s in sites])
    first_number = len(dims or ["(all)"]) + (1 if labels else 0)
    body = format_table(headers, rows, set(range(first_number, len(headers))))
    return f"[{name}]\n{body}"


def render_analysis(result: AnalysisResult) -> str:
    title = f"{result.name}" + (f" ({result.kind})" if result.kind else "")
    parts = [title, "=" * len(title)]
    if result.error:
        parts.append(f"the hub could not combine this analysis: {result.error}")
    sites = result.sites
    if sites:
        parts.append(f"released by: {', '.join(sites)}")
    for name in result.tables:
        parts.append("")
        parts.append(render_table(name, result.table(name), sites))
    if not result.tables and not result.error:
        parts.append("no site has released this analysis yet")
    if result.refusals:
        parts.append("")
        parts.append("refused:")
        parts += [f"  {r.site}: {r.reason}" for r in result.refusals]
    if any(not row.get("complete", True) and row.get("pooled") is not None
           for name in result.tables for row in result.table(name).get("rows", [])):
        parts.append("")
        parts.append("+ pooled count leaves out a site that suppressed or did not report "
                     "the cell: it is a lower bound")
    return "\n".join(parts)


def render_study(result: StudyResult) -> str:
    state = "complete" if result.complete else "still running (partial results)"
    head = f"Study {result.study_id}: {result.title} [{state}]"
    parts = [head]
    for name in result.names:
        parts += ["", render_analysis(result[name])]
    return "\n".join(parts)
