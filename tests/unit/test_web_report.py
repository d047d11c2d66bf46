"""The HTML report: self-contained, and a suppressed cell is never shown as a number."""

from __future__ import annotations

import re

from behindglass.analyses.base import combine_count_tables
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.web.report import render_report, write_report


def release(persons: int, female: int | None, male: int | None) -> SiteAggregate:
    def cell(key: str, n: int | None) -> Cell:
        return Cell(key=(key,), suppressed=True) if n is None else Cell(key=(key,), count=n)
    return SiteAggregate(analysis="C", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=persons),)),
        CountTable(name="sex", dims=("sex",), margin="persons",
                   cells=(cell("female", female), cell("male", male))),
    ))


def results() -> dict:
    combined = combine_count_tables([("alpha", release(1200, 700, 500)),
                                     ("beta", release(37, None, None))])
    return {"study_id": "s1", "title": "T2D <check> & co", "state": "complete",
            "releases": [{"site": "beta", "refusals": [{"analysis": "X", "reason": "too few"}]}],
            "combined": {"C": {"kind": "characterize", "analysis": "C", **combined}}}


def test_report_is_self_contained_and_escaped(tmp_path):
    page = render_report(results())
    assert "<script" not in page
    assert not re.search(r'(src|href)="https?://', page)
    assert "T2D &lt;check&gt; &amp; co" in page
    assert "<svg" in page  # the sex distribution chart
    assert "beta refused X: too few" in page
    path = write_report(results(), tmp_path / "report.html")
    written = path.read_text(encoding="utf-8")
    assert written.startswith("<!doctype html>") and "T2D &lt;check&gt;" in written
    assert not list(tmp_path.glob("*.tmp"))


def test_suppressed_cells_are_words_and_partial_pools_are_marked():
    page = render_report(results())
    row = re.search(r"<tr><td>female</td>(.*?)</tr>", page).group(1)
    assert "suppressed" in row and "700" in row
    assert "&ge; 700" in row  # pooled lacks beta's hidden count
    assert ">37<" not in page.replace(">37</td>", "")  # only the persons cell shows 37
