"""Hostile names (HTML, quotes, SQL metacharacters, 5,000-character strings, right-to-left text) in
legislator, party, district and bill fields are stored verbatim and shown safely.

The golden partition itself is the hostile session (support.write_hostile_session): its files went
through the whole pipeline, default profile, to the report. Here: the warehouse holds every value
exactly as written (no table was dropped, nothing truncated or re-encoded), a party value that is
neither Republican nor Democrat is stored as Independent (DATA.md), and the report shows every name
only escaped.
"""

from __future__ import annotations

import html
import re

import polars as pl
import pytest
from markupsafe import escape

from legis_assets_tests.reliability import support

pytestmark = pytest.mark.slow  # reads the golden partition


def _rows(golden, table: str) -> pl.DataFrame:
    return support.warehouse(golden.home).query(
        f'SELECT * FROM "{table}" WHERE session_key = ? AND chamber = ?', [support.KEY, support.CHAMBER]
    )


def test_no_table_was_dropped_or_emptied(golden):
    tables = support.warehouse(golden.home).tables()
    assert {"votes", "legislators", "rollcalls", "ideal_points", "vote_matrix"} <= set(tables)
    _, votes = support.read_rows(support.csv_path(golden.hostile.session_dir, "votes"))
    assert _rows(golden, "votes").height == len(votes)


def test_legislator_fields_are_stored_verbatim(golden):
    stored = {r["legislator_slug"]: r for r in _rows(golden, "legislators").iter_rows(named=True)}
    assert support.HOSTILE_SLUG in stored
    for slug, expected in golden.hostile.legislators.items():
        for column in ("name", "full_name", "district", "party"):
            assert stored[slug][column] == expected[column], (slug, column)
    assert max(len(r["full_name"]) for r in stored.values()) > 5000

    votes = _rows(golden, "votes")
    for slug, expected in golden.hostile.legislators.items():
        names = set(votes.filter(pl.col("legislator_slug") == slug)["legislator_name"].to_list())
        assert names == {expected["name"]}, slug


def test_ideal_points_carry_the_names_verbatim(golden):
    ideal = {r["legislator_slug"]: r for r in _rows(golden, "ideal_points").iter_rows(named=True)}
    matrix = {r["legislator_slug"]: r for r in _rows(golden, "matrix_legislators").iter_rows(named=True)}
    shown = [slug for slug in golden.hostile.legislators if slug in ideal]
    assert support.HOSTILE_SLUG in shown and len(shown) >= len(support.HOSTILE)
    for slug in shown:
        for column in ("name", "full_name", "district", "party"):
            assert ideal[slug][column] == golden.hostile.legislators[slug][column], (slug, column)
            assert matrix[slug][column] == golden.hostile.legislators[slug][column], (slug, column)


def test_bill_fields_are_stored_verbatim(golden):
    rollcalls = {r["vote_id"]: r for r in _rows(golden, "rollcalls").iter_rows(named=True)}
    votes = _rows(golden, "votes")
    for vote_id, expected in golden.hostile.rollcalls.items():
        for column in ("bill_number", "bill_title", "motion"):
            assert rollcalls[vote_id][column] == expected[column], (vote_id, column)
        on_votes = votes.filter(pl.col("vote_id") == vote_id)
        assert set(on_votes["bill_number"].to_list()) == {expected["bill_number"]}
        assert set(on_votes["motion"].to_list()) == {expected["motion"]}
    kept = {r["vote_id"]: r for r in _rows(golden, "matrix_rollcalls").iter_rows(named=True)}
    for vote_id in set(kept) & set(golden.hostile.rollcalls):
        assert kept[vote_id]["bill_number"] == golden.hostile.rollcalls[vote_id]["bill_number"]
        assert kept[vote_id]["motion"] == golden.hostile.rollcalls[vote_id]["motion"]


def test_report_shows_every_name_escaped_and_never_raw(golden):
    page = (
        golden.home / "reports" / support.LEGISLATURE / support.SESSION / support.CHAMBER / "report.html"
    ).read_text(encoding="utf-8")
    ideal = set(_rows(golden, "ideal_points")["legislator_slug"].to_list())
    for slug, info in golden.hostile.legislators.items():
        if slug not in ideal:
            continue
        # the full name (the report's label) appears whole, escaped, at least in the row's title/search
        assert str(escape(info["full_name"])) in page, slug
        assert str(escape(info["district"])) in page, slug
    assert str(escape(support.HOSTILE_SLUG)) in page
    # nothing hostile reaches the page as markup
    for raw in ("<script>alert", "<img src=x", "<b>ampersands", "<i>x</i>", "<b>Republican"):
        assert raw not in page, raw
    assert len(re.findall(r"<script\b", page)) == 1  # the report's own inline script only
    # right-to-left text is kept as text (the page marks name cells dir="auto")
    assert support.HOSTILE["rtl"] in page
    assert 'dir="auto"' in page
    # unescaping the page gives back the exact hostile strings
    text = html.unescape(page)
    for value in support.HOSTILE.values():
        assert value in text
