"""Unit tests of legis_assets.core.ingest: every validation case on small broken files, plus the
real datasets in ../shared/data (skipped only when that folder is absent)."""

from __future__ import annotations

import csv
import io
import os
import tracemalloc
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from legis_assets import settings
from legis_assets.core import schema
from legis_assets.core.ingest import (
    Problem,
    SessionTables,
    chamber_tables,
    discover_sessions,
    read_session,
    session_files,
)
from legis_assets.core.schema import SCRAPER_HEADERS, InputError
from legis_assets_tests.support import SHARED_DATA, needs_shared

# --- the shared real data ------------------------------------------------------------------------


#: shared/data/README.md, per chamber: legislators, parties, roll calls, vote rows
REAL = {
    ("us_congress", "97th_1981-1982", "house"): (
        442,
        {"Democrat": 246, "Republican": 195, "Independent": 1},
        812,
        351_289,
    ),
    ("us_congress", "97th_1981-1982", "senate"): (
        101,
        {"Democrat": 46, "Republican": 54, "Independent": 1},
        966,
        96_572,
    ),
    ("us_congress", "107th_2001-2002", "senate"): (
        102,
        {"Democrat": 50, "Republican": 50, "Independent": 2},
        633,
        63_300,
    ),
    ("us_congress", "117th_2021-2022", "house"): (455, {"Democrat": 232, "Republican": 223}, 996, 428_883),
    ("us_congress", "117th_2021-2022", "senate"): (
        102,
        {"Democrat": 49, "Republican": 51, "Independent": 2},
        949,
        94_898,
    ),
    ("california", "2017-2018", "house"): (85, {"Democrat": 61, "Republican": 23, "Independent": 1}, 4_179, 331_277),
    ("california", "2017-2018", "senate"): (42, {"Democrat": 28, "Republican": 14}, 3_751, 149_177),
    ("california", "2019-2020", "senate"): (43, {"Democrat": 30, "Republican": 13}, 2_505, 98_700),
}
REAL_SESSIONS = sorted({(leg, ses) for leg, ses, _ in REAL})

# --- a small session in the scraper layout ---------------------------------------------------------

SESSION = "91st_2025-2026"
VOTES_HEADER = list(SCRAPER_HEADERS["votes"])
ROLLCALLS_HEADER = list(SCRAPER_HEADERS["rollcalls"])
LEGISLATORS_HEADER = list(SCRAPER_HEADERS["legislators"])
HEADERS = {"votes": VOTES_HEADER, "rollcalls": ROLLCALLS_HEADER, "legislators": LEGISLATORS_HEADER}
COUNTS = {
    "yea_count": "Yea",
    "nay_count": "Nay",
    "present_passing_count": "Present and Passing",
    "absent_not_voting_count": "Absent and Not Voting",
    "not_voting_count": "Not Voting",
}


def base_rows() -> dict[str, list[dict]]:
    """Three House roll calls and one Senate roll call; three representatives, two senators."""
    legislators = [
        dict(
            name="Adams",
            full_name="Ann Adams",
            legislator_slug="rep_adams_ann_1",
            chamber="House",
            party="Republican",
            district="1",
            ocd_id="ocd-person/1",
        ),
        dict(
            name="Baker",
            full_name="Bob Baker - House Minority Leader",
            legislator_slug="rep_baker_bob_1",
            chamber="House",
            party="Democrat",
            district="2",
        ),
        dict(
            name="Cole", full_name="Cy Cole", legislator_slug="rep_cole_cy_1", chamber="House", party="", district="3"
        ),
        dict(
            name="Diaz",
            full_name="Dee Diaz",
            legislator_slug="sen_diaz_dee_1",
            chamber="Senate",
            party="Republican",
            district="1",
        ),
        dict(
            name="Eng",
            full_name="Eve Eng",
            legislator_slug="sen_eng_eve_1",
            chamber="Senate",
            party="Democrat",
            district="2",
        ),
    ]
    rollcalls = [
        dict(
            vote_id="je_20250301100000_1",
            vote_datetime="2025-03-01T10:00:00",
            vote_date="03/01/2025",
            chamber="House",
            bill_number="HB 1",
            bill_title='A bill "quoted", with commas,\r\nand a newline',
            motion="Final Action",
            vote_type="Final Action",
            result="Passed",
            passed="True",
        ),
        dict(
            vote_id="je_20250201100000_2",
            vote_datetime="2025-02-01T10:00:00",
            vote_date="02/01/2025",
            chamber="House",
            bill_number="HB 2",
            motion="Motion to amend",
            passed="False",
        ),
        dict(vote_id="kf_3_2025_H", chamber="House", bill_number=""),
        dict(
            vote_id="je_20250115100000_4",
            vote_datetime="2025-01-15T10:00:00",
            chamber="Senate",
            bill_number="SB 1",
            motion="Emergency Final Action",
            passed="True",
        ),
    ]
    info = {r["vote_id"]: r for r in rollcalls}
    plan = {
        "je_20250301100000_1": [("rep_adams_ann_1", "Yea"), ("rep_baker_bob_1", "Nay"), ("rep_cole_cy_1", "Yea")],
        "je_20250201100000_2": [
            ("rep_adams_ann_1", "Nay"),
            ("rep_baker_bob_1", "Present and Passing"),
            ("rep_cole_cy_1", "Absent and Not Voting"),
        ],
        "kf_3_2025_H": [("rep_adams_ann_1", "Yea"), ("rep_baker_bob_1", "Not Voting"), ("rep_cole_cy_1", "Nay")],
        "je_20250115100000_4": [("sen_diaz_dee_1", "Yea"), ("sen_eng_eve_1", "Nay")],
    }
    names = {leg["legislator_slug"]: leg["name"] for leg in legislators}
    votes = [
        dict(
            session="91st (2025-2026)",
            vote_id=vid,
            chamber=info[vid]["chamber"],
            bill_number=info[vid].get("bill_number", ""),
            bill_title=info[vid].get("bill_title", ""),
            vote_datetime=info[vid].get("vote_datetime", ""),
            vote_date=info[vid].get("vote_date", ""),
            motion=info[vid].get("motion", ""),
            legislator_name=names[slug],
            legislator_slug=slug,
            vote=vote,
        )
        for vid, pairs in plan.items()
        for slug, vote in pairs
    ]
    return {"votes": votes, "rollcalls": rollcalls, "legislators": legislators}


def csv_text(header: list[str], rows: list[dict], line_end: str = "\r\n") -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(col, "") for col in header])
    return out.getvalue()


def write_session(
    root: Path,
    rows: dict[str, list[dict]] | None = None,
    *,
    headers: dict | None = None,
    fix_counts: bool = True,
    line_end: str = "\r\n",
    name: str = SESSION,
) -> Path:
    """Write the three files (scraper layout, `\\r\\n` line ends); roll-call counts follow the votes."""
    rows = base_rows() if rows is None else rows
    headers = {**HEADERS, **(headers or {})}
    if fix_counts:
        for rc in rows["rollcalls"]:
            cast = Counter(v.get("vote") for v in rows["votes"] if v.get("vote_id") == rc["vote_id"])
            for col, code in COUNTS.items():
                rc[col] = str(cast[code])
            rc["total_votes"] = str(sum(cast.values()))
    folder = root / "kansas" / name
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("votes", "rollcalls", "legislators"):
        text = csv_text(headers[kind], rows[kind], line_end)
        (folder / f"{name}_{kind}.csv").write_bytes(text.encode("utf-8"))
    return folder


def path_of(folder: Path, kind: str) -> Path:
    return folder / f"{folder.name}_{kind}.csv"


def expect_error(folder: Path, *fragments: str, line: int | None = None, kind: str | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        read_session(folder)
    err = info.value
    message = str(err)
    if kind is not None:
        assert f"{folder.name}_{kind}.csv" in message, message
        assert err.file.endswith(f"{folder.name}_{kind}.csv")
    if line is not None:
        assert err.row == line, message
        assert f"line {line}" in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return err


def problems_text(tables: SessionTables) -> str:
    return "\n".join(str(p) for p in tables.problems)


# --- a clean small session ---------------------------------------------------------------------------


def test_clean_session_normalised(tmp_path):
    t = read_session(write_session(tmp_path))
    assert t.problems == []
    assert t.votes.columns == [
        "vote_id",
        "legislator_slug",
        "legislator_name",
        "vote",
        "vote_value",
        "chamber",
        "bill_number",
        "motion",
        "vote_datetime",
        "vote_date",
    ]
    assert t.rollcalls.columns == [
        "vote_id",
        "chamber",
        "bill_number",
        "bill_title",
        "motion",
        "vote_type",
        "result",
        "vote_datetime",
        "vote_date",
        "yea_count",
        "nay_count",
        "present_passing_count",
        "absent_not_voting_count",
        "not_voting_count",
        "passed",
        "order",
    ]
    assert t.legislators.columns == ["legislator_slug", "name", "full_name", "chamber", "party", "district", "ocd_id"]
    assert t.votes.schema["vote_value"] == pl.Int8
    assert all(t.votes.schema[c] == pl.String for c in t.votes.columns if c != "vote_value")
    assert t.rollcalls.schema["yea_count"] == pl.Int64 and t.rollcalls.schema["passed"] == pl.Boolean
    assert t.votes.height == 11 and t.rollcalls.height == 4 and t.legislators.height == 5

    values = dict(zip(t.votes["vote"], t.votes["vote_value"]))
    assert values == {
        "Yea": 1,
        "Nay": 0,
        "Present and Passing": None,
        "Absent and Not Voting": None,
        "Not Voting": None,
    }
    assert set(t.votes["chamber"]) == {"house", "senate"} == set(t.rollcalls["chamber"])

    rc = {r["vote_id"]: r for r in t.rollcalls.iter_rows(named=True)}
    assert rc["je_20250301100000_1"]["bill_title"] == 'A bill "quoted", with commas,\r\nand a newline'
    assert rc["je_20250301100000_1"]["passed"] is True and rc["je_20250201100000_2"]["passed"] is False
    assert rc["kf_3_2025_H"]["passed"] is None and rc["kf_3_2025_H"]["bill_number"] is None
    assert rc["kf_3_2025_H"]["vote_datetime"] is None
    assert rc["je_20250301100000_1"]["yea_count"] == 2
    # order: by vote_datetime (empty last), then vote_id
    assert {k: r["order"] for k, r in rc.items()} == {
        "je_20250115100000_4": 0,
        "je_20250201100000_2": 1,
        "je_20250301100000_1": 2,
        "kf_3_2025_H": 3,
    }

    legs = {r["legislator_slug"]: r for r in t.legislators.iter_rows(named=True)}
    assert legs["rep_baker_bob_1"]["full_name"] == "Bob Baker"
    assert legs["rep_cole_cy_1"]["party"] == schema.INDEPENDENT
    assert legs["rep_adams_ann_1"]["ocd_id"] == "ocd-person/1" and legs["rep_baker_bob_1"]["ocd_id"] is None
    assert legs["sen_diaz_dee_1"]["chamber"] == "senate" and legs["rep_adams_ann_1"]["district"] == "1"


def test_lf_line_ends_bom_and_multiline_fields(tmp_path):
    rows = base_rows()
    rows["legislators"][0]["name"] = 'O"Hara, \r\nthe <b>first</b> \u202eRTL \u05e9\u05dc\u05d5\u05dd'
    folder = write_session(tmp_path, rows, line_end="\n")
    leg = path_of(folder, "legislators")
    leg.write_bytes(b"\xef\xbb\xbf" + leg.read_bytes() + b"\n\n")  # BOM and trailing blank lines
    t = read_session(folder)
    assert t.problems == []
    names = dict(zip(t.legislators["legislator_slug"], t.legislators["name"]))
    assert names["rep_adams_ann_1"] == rows["legislators"][0]["name"]


def test_problem_str_matches_input_error_format():
    p = Problem("x_votes.csv", 7, "vote", "something odd")
    assert str(p) == str(InputError("x_votes.csv", "something odd", row=7, column="vote"))
    assert str(Problem("f.csv", None, None, "p")) == str(InputError("f.csv", "p"))


def test_chamber_tables_split(tmp_path):
    t = read_session(write_session(tmp_path))
    house = chamber_tables(t, "house")
    senate = chamber_tables(t, "senate")
    assert set(house.votes["chamber"]) == {"house"} and house.votes.height == 9
    assert set(house.rollcalls["chamber"]) == {"house"} and house.rollcalls.height == 3
    assert all(s.startswith("rep_") for s in house.legislators["legislator_slug"]) and house.legislators.height == 3
    assert sorted(house.rollcalls["order"]) == [0, 1, 2]
    assert senate.votes.height == 2 and senate.rollcalls["order"].to_list() == [0]
    assert list(senate.legislators["legislator_slug"]) == ["sen_diaz_dee_1", "sen_eng_eve_1"]
    assert house.votes.columns == t.votes.columns and house.rollcalls.columns == t.rollcalls.columns
    with pytest.raises(schema.LegisError, match="unknown chamber"):
        chamber_tables(t, "House")


# --- files ----------------------------------------------------------------------------------------------


def test_session_files(tmp_path):
    folder = write_session(tmp_path)
    files = session_files(folder)
    assert files == {k: folder / f"{SESSION}_{k}.csv" for k in ("votes", "rollcalls", "legislators")}


def test_missing_file(tmp_path):
    folder = write_session(tmp_path)
    path_of(folder, "rollcalls").unlink()
    with pytest.raises(InputError) as info:
        read_session(folder)
    assert info.value.file == str(path_of(folder, "rollcalls"))
    assert f"{SESSION}_rollcalls.csv" in str(info.value) and "not found" in str(info.value)


def test_missing_session_folder(tmp_path):
    with pytest.raises(InputError, match="session folder not found"):
        read_session(tmp_path / "nope")


def test_empty_file(tmp_path):
    folder = write_session(tmp_path)
    path_of(folder, "votes").write_bytes(b"")
    expect_error(folder, "empty (0 bytes)", kind="votes")


def test_header_only(tmp_path):
    folder = write_session(tmp_path)
    path_of(folder, "legislators").write_bytes((",".join(LEGISLATORS_HEADER) + "\r\n").encode())
    expect_error(folder, "header line but no data rows", kind="legislators")


def test_missing_required_column(tmp_path):
    header = [c for c in VOTES_HEADER if c not in ("vote", "chamber")]
    folder = write_session(tmp_path, headers={"votes": header})
    err = expect_error(folder, "missing required columns", "'chamber'", "'vote'", line=1, kind="votes")
    assert "legislator_slug" in str(err)  # the header is shown


def test_missing_column_rename_hints(tmp_path):
    header = ["slug" if c == "legislator_slug" else c for c in VOTES_HEADER]
    rows = base_rows()
    for v in rows["votes"]:
        v["slug"] = v["legislator_slug"]
    folder = write_session(tmp_path, rows, headers={"votes": header})
    expect_error(folder, "'legislator_slug'", "column 'slug'", "must be called 'legislator_slug'", line=1, kind="votes")

    header = ["Vote" if c == "vote" else c for c in VOTES_HEADER]
    folder = write_session(tmp_path / "b", headers={"votes": header})
    expect_error(folder, "missing required column 'vote'", "'Vote' looks like 'vote'", kind="votes")

    header = [c for c in LEGISLATORS_HEADER if c != "legislator_slug"]
    folder = write_session(tmp_path / "c", headers={"legislators": header})
    expect_error(folder, "'legislator_slug'", "'slug'", kind="legislators")


def test_old_slug_header_in_legislators(tmp_path):
    rows = base_rows()
    for leg in rows["legislators"]:
        leg["slug"] = leg.pop("legislator_slug")
    header = ["slug" if c == "legislator_slug" else c for c in LEGISLATORS_HEADER if c != "ocd_id"]
    t = read_session(write_session(tmp_path, rows, headers={"legislators": header}))
    assert t.problems == []
    assert t.legislators["legislator_slug"].to_list()[0] == "rep_adams_ann_1"
    assert t.legislators["ocd_id"].null_count() == 5  # column absent in older files


def test_non_utf8_bytes_names_physical_line(tmp_path):
    folder = write_session(tmp_path)
    path = path_of(folder, "rollcalls")
    lines = path.read_bytes().split(b"\r\n")
    # line 2 holds a quoted title with an embedded newline, so record 3 starts on physical line 4
    assert b'"A bill' in lines[1]
    assert b"kf_3_2025_H" in lines[4]
    lines[4] = lines[4].replace(b"kf_3", b"kf_\xff3")
    path.write_bytes(b"\r\n".join(lines))
    expect_error(folder, "not valid UTF-8", "0xff", line=5, kind="rollcalls")


def test_latin1_header_rejected(tmp_path):
    folder = write_session(tmp_path)
    path = path_of(folder, "legislators")
    path.write_bytes(b"n\xe9me," + path.read_bytes())
    expect_error(folder, "header line is not UTF-8", line=1, kind="legislators")


def test_truncated_last_line(tmp_path):
    folder = write_session(tmp_path)
    path = path_of(folder, "votes")
    data = path.read_bytes()
    path.write_bytes(data[: data.rstrip(b"\r\n").rfind(b",")])  # cut inside the last row, no final newline
    n_lines = data.count(b"\n")  # physical lines of the full file (a quoted title spans 2 per row of roll call 1)
    expect_error(folder, "fields but the header has 11 columns", "truncated", line=n_lines, kind="votes")


def test_wrong_field_count_after_multiline_field(tmp_path):
    rows = base_rows()
    rows["votes"][1]["bill_title"] = "line one\r\nline two\r\nline three"
    folder = write_session(tmp_path, rows)
    path = path_of(folder, "votes")
    records = path.read_bytes().decode("utf-8").split("\r\n")
    # physical lines: 1 header, 2-3 vote 0 (roll call 1's title spans 2 lines), 4-6 vote 1, 7-8 vote 2, 9 vote 3
    assert records[8].startswith("91st") and "je_20250201100000_2" in records[8]
    records[8] = records[8] + ",extra"
    path.write_bytes("\r\n".join(records).encode("utf-8"))
    expect_error(folder, "has 12 fields but the header has 11 columns", "wrapped in quotes", line=9, kind="votes")


def test_unterminated_quote(tmp_path):
    folder = write_session(tmp_path)
    path = path_of(folder, "legislators")
    path.write_bytes(path.read_bytes() + b'"Zed, Zoe,rep_zed_1,House,\r\n')
    expect_error(folder, "closing quote", line=7, kind="legislators")


def test_misplaced_quote(tmp_path):
    folder = write_session(tmp_path)
    path = path_of(folder, "legislators")
    path.write_bytes(path.read_bytes().replace(b"Cy Cole", b'Cy "the" Cole'))
    expect_error(folder, "misplaced quote", line=4, kind="legislators")


def test_blank_line_inside_file(tmp_path):
    folder = write_session(tmp_path)
    path = path_of(folder, "legislators")
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join(lines[:3] + [b""] + lines[3:]))
    expect_error(folder, "blank", line=4, kind="legislators")


def test_nul_byte_in_a_value_is_refused_naming_line_and_column(tmp_path):
    rows = base_rows()
    rows["legislators"][2]["district"] = "3\x00"
    folder = write_session(tmp_path, rows)
    err = expect_error(folder, "NUL byte", "corrupted", line=4, kind="legislators")
    assert err.column == "district"


def test_nul_byte_inside_a_quoted_multiline_value_names_its_line(tmp_path):
    rows = base_rows()
    rows["votes"][1]["bill_title"] = "line one\r\nline \x00two"  # a quoted value over two lines
    folder = write_session(tmp_path, rows)
    # line 1 header; vote 0 on lines 2-3 (roll call 1's quoted title spans two); vote 1 on lines 4-5
    err = expect_error(folder, "NUL byte", line=5, kind="votes")
    assert err.column == "bill_title"


def test_nul_byte_after_the_last_field_names_no_column(tmp_path):
    folder = write_session(tmp_path)
    path = path_of(folder, "rollcalls")
    path.write_bytes(path.read_bytes() + b"\x00\r\n")
    lines = path.read_bytes().count(b"\n")
    expect_error(folder, "NUL byte", line=lines, kind="rollcalls")


@pytest.mark.parametrize("scan_chunk, parse_batch", [(1, 1), (5, 17), (64, 200)])
def test_small_blocks_and_batches_read_the_same(tmp_path, monkeypatch, scan_chunk, parse_batch):
    """The scan carries quotes, records and lines across block ends, and the row checks count across
    batches: tiny blocks give the same tables and the same errors as one block."""
    from legis_assets.core import csvread

    rows = base_rows()
    rows["legislators"][0]["name"] = 'O"Hara, \r\nthe first \u05e9\u05dc\u05d5\u05dd \U0001f600'
    rows["votes"][1]["bill_title"] = "line one\r\nline two\r\nline three"
    good = write_session(tmp_path / "good", rows)
    bad_code = base_rows()
    bad_code["votes"][4]["vote"], bad_code["votes"][9]["vote"] = "Aye", "Aye"
    # after the first bad vote (line 9), but the chamber check comes first
    bad_code["votes"][6]["chamber"] = bad_code["votes"][10]["chamber"] = "Assembly"
    cases = [good, write_session(tmp_path / "code", bad_code)]
    multiline = base_rows()
    multiline["votes"][1]["bill_title"] = "line one\r\nline two\r\nline three"
    multiline["votes"][1]["vote"] = "Aye"  # reported at the first of its three lines
    cases.append(write_session(tmp_path / "multiline", multiline))
    cut = write_session(tmp_path / "cut", rows)
    path_of(cut, "votes").write_bytes(path_of(cut, "votes").read_bytes()[:-30])
    nul = write_session(tmp_path / "nul", rows)
    path_of(nul, "legislators").write_bytes(
        path_of(nul, "legislators").read_bytes().replace(b"Cy Cole", b"Cy Co\x00le")
    )
    latin = write_session(tmp_path / "latin", rows)
    path_of(latin, "rollcalls").write_bytes(path_of(latin, "rollcalls").read_bytes().replace(b"HB 2", b"HB \xe92"))
    cases += [cut, nul, latin]

    def outcome(folder):
        try:
            t = read_session(folder)
        except InputError as err:
            return str(err)
        return (t.votes.rows(), t.rollcalls.rows(), t.legislators.rows(), [str(p) for p in t.problems])

    expected = [outcome(folder) for folder in cases]
    assert isinstance(expected[0], tuple) and all(isinstance(e, str) for e in expected[1:])
    assert "line 11, column 'chamber': unknown chamber 'Assembly'" in expected[1]
    assert "(1 more row(s) have this problem)" in expected[1]
    assert "line 4, column 'vote': unknown vote code 'Aye'" in expected[2]
    assert "line 5, column 'full_name': a NUL byte" in expected[4]  # legislator 0's name spans 2 lines
    monkeypatch.setattr(csvread, "SCAN_CHUNK", scan_chunk)
    monkeypatch.setattr(csvread, "PARSE_BATCH", parse_batch)
    assert [outcome(folder) for folder in cases] == expected


@pytest.mark.slow
def test_huge_garbage_file_fails_fast(tmp_path):
    folder = write_session(tmp_path)
    read_session(folder)  # warm up: lazy imports must not count towards the memory peak
    path = path_of(folder, "votes")
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for i in range(100):
            fh.write(chunk[i:] + chunk[:i])
    assert path.stat().st_size >= 100 * (1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as info:
            read_session(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{SESSION}_votes.csv" in str(info.value) and info.value.row == 1
    # no bound on the elapsed time (shared CI machines run several times slower): the memory bound
    # says that only the first 64 KB were read, which is what makes the failure fast
    assert peak < 4 * (1 << 20), peak


# --- values ---------------------------------------------------------------------------------------------


def test_unknown_vote_code(tmp_path):
    rows = base_rows()
    rows["votes"][4]["vote"] = "Aye"
    rows["votes"][6]["vote"] = "yea"
    folder = write_session(tmp_path, rows)
    # line 1 header; votes 1-3 take two lines each (quoted title with a newline): vote 5 is on line 9
    err = expect_error(
        folder,
        "unknown vote code 'Aye'",
        "'Yea', 'Nay', 'Present and Passing', 'Absent and Not Voting', 'Not Voting'",
        "1 more row",
        line=9,
        kind="votes",
    )
    assert err.column == "vote"
    rows["votes"][4]["vote"] = "Nay"
    folder = write_session(tmp_path / "b", rows)
    expect_error(folder, "'yea'", "did you mean 'Yea'", line=11, kind="votes")


@pytest.mark.parametrize("value", ["", "Assembly", "house"])
def test_unknown_chamber_in_votes(tmp_path, value):
    rows = base_rows()
    rows["votes"][9]["chamber"] = value
    folder = write_session(tmp_path, rows)
    fragment = "the chamber is empty" if not value else f"unknown chamber {value!r}"
    expect_error(folder, fragment, "'House' or 'Senate'", line=14, kind="votes")


def test_unknown_chamber_in_rollcalls(tmp_path):
    rows = base_rows()
    rows["rollcalls"][2]["chamber"] = ""
    folder = write_session(tmp_path, rows)
    expect_error(folder, "the chamber is empty", "'House' or 'Senate'", line=5, kind="rollcalls")


def test_duplicate_identical_vote_deduplicated(tmp_path):
    rows = base_rows()
    write_session(tmp_path / "a", rows)  # fills the roll-call counts from the 11 distinct votes
    rows["votes"].append(dict(rows["votes"][9]))
    folder = write_session(tmp_path / "b", rows, fix_counts=False)
    t = read_session(folder)
    assert t.votes.height == 11
    [problem] = t.problems  # and the counts agree with the de-duplicated rows
    assert str(problem).startswith(f"{path_of(folder, 'votes')}, line 16: ")
    assert "sen_diaz_dee_1" in problem.problem and "already appears on line 14" in problem.problem


def test_duplicate_conflicting_votes(tmp_path):
    rows = base_rows()
    dup = dict(rows["votes"][9])
    dup["vote"] = "Nay"
    rows["votes"].append(dup)
    folder = write_session(tmp_path, rows)
    err = expect_error(
        folder, "sen_diaz_dee_1", "two different votes", "'Yea' on line 14", "'Nay' on line 16", line=16, kind="votes"
    )
    assert err.column == "vote"


def test_duplicate_rollcall_conflict(tmp_path):
    rows = base_rows()
    dup = dict(rows["rollcalls"][2])
    dup["motion"] = "Another motion"
    rows["rollcalls"].append(dup)
    folder = write_session(tmp_path, rows)
    expect_error(folder, "'kf_3_2025_H'", "line 5 and again on line 7", "motion", line=7, kind="rollcalls")


def test_vote_id_missing_from_rollcalls(tmp_path):
    rows = base_rows()
    rows["votes"][10]["vote_id"] = "je_missing"
    folder = write_session(tmp_path, rows)
    expect_error(folder, "roll call 'je_missing' is not in", f"{SESSION}_rollcalls.csv", line=15, kind="votes")


def test_vote_chamber_differs_from_rollcall(tmp_path):
    rows = base_rows()
    rows["votes"][7]["chamber"] = "Senate"
    folder = write_session(tmp_path, rows)
    expect_error(
        folder,
        "the chamber is 'Senate'",
        "'kf_3_2025_H' is a House roll call",
        f"{SESSION}_rollcalls.csv line 5",
        line=12,
        kind="votes",
    )


def test_slug_prefix_disagrees_with_rollcall_chamber(tmp_path):
    rows = base_rows()
    rows["votes"][10]["legislator_slug"] = "rep_eng_eve_1"
    rows["legislators"][4]["legislator_slug"] = "rep_eng_eve_1"
    folder = write_session(tmp_path, rows)
    err = expect_error(folder, "'rep_eng_eve_1'", "Senate roll call", "'sen_'", line=15, kind="votes")
    assert err.column == "legislator_slug"


def test_empty_slug_dropped_with_problem(tmp_path):
    rows = base_rows()
    rows["votes"][8]["legislator_slug"] = ""
    rows["votes"][9]["legislator_slug"] = ""
    folder = write_session(tmp_path, rows)
    t = read_session(folder)
    assert t.votes.height == 9 and t.votes["legislator_slug"].null_count() == 0
    emptied = [p for p in t.problems if p.column == "legislator_slug"]
    assert [p.line for p in emptied] == [13, 14]
    assert all(p.file == str(path_of(folder, "votes")) and "dropped" in p.problem for p in emptied)
    assert not [p for p in t.problems if "count" in p.problem]  # counts include the dropped rows


def test_slug_missing_from_legislators_kept_as_independent(tmp_path):
    rows = base_rows()
    rows["votes"][6]["legislator_slug"] = "rep_new_nia_1"
    rows["votes"][6]["legislator_name"] = "New"
    folder = write_session(tmp_path, rows)
    t = read_session(folder)
    assert "rep_new_nia_1" in t.votes["legislator_slug"].to_list()
    new = t.legislators.filter(pl.col("legislator_slug") == "rep_new_nia_1").row(0, named=True)
    assert new["party"] == "Independent" and new["chamber"] == "house" and new["name"] == "New"
    [problem] = t.problems
    assert problem.file == str(path_of(folder, "votes")) and problem.line == 11
    assert "rep_new_nia_1" in problem.problem and f"{SESSION}_legislators.csv" in problem.problem
    assert chamber_tables(t, "house").legislators.height == 4


def test_count_mismatch_is_a_problem(tmp_path):
    rows = base_rows()
    write_session(tmp_path, rows)  # fills the counts
    rows["rollcalls"][1]["yea_count"] = "5"
    rows["rollcalls"][3]["total_votes"] = "3"
    folder = write_session(tmp_path / "b", rows, fix_counts=False)
    t = read_session(folder)
    assert t.votes.height == 11
    text = problems_text(t)
    assert f"{SESSION}_rollcalls.csv, line 4" in text and "yea_count is 5 but" in text and "0 'Yea' rows" in text
    assert "line 6" in text and "total_votes is 3" in text
    assert len(t.problems) == 2


def test_four_vote_categories(tmp_path):
    rows = base_rows()
    for v in rows["votes"]:
        if v["vote"] in ("Absent and Not Voting", "Present and Passing"):
            v["vote"] = "Not Voting"
    t = read_session(write_session(tmp_path, rows))
    assert t.problems == []
    assert set(t.votes["vote"]) == {"Yea", "Nay", "Not Voting"}


def test_legislators_chamber_and_party_forms(tmp_path):
    rows = base_rows()
    rows["legislators"][0]["party"] = " republican "
    rows["legislators"][1]["party"] = "Libertarian"
    rows["legislators"][2]["chamber"] = ""
    t = read_session(write_session(tmp_path, rows))
    party = dict(zip(t.legislators["legislator_slug"], t.legislators["party"]))
    assert party["rep_adams_ann_1"] == "Republican" and party["rep_baker_bob_1"] == "Independent"
    chamber = dict(zip(t.legislators["legislator_slug"], t.legislators["chamber"]))
    assert chamber["rep_cole_cy_1"] == "house"
    assert [p.line for p in t.problems] == [4]


# --- discovery --------------------------------------------------------------------------------------


def test_discover_sessions_ignores_junk(tmp_path):
    write_session(tmp_path)
    write_session(tmp_path, name="2024s")
    (tmp_path / "kansas" / ".cache").mkdir()
    (tmp_path / "kansas" / ".cache" / ".cache_votes.csv").write_text("x")
    for junk in ("bad name", "..x", "x.y", "-x"):
        d = tmp_path / "kansas" / junk
        d.mkdir()
        (d / f"{junk}_votes.csv").write_text("x")
    (tmp_path / "kansas" / "2023-2024").mkdir()  # no votes file
    (tmp_path / "Bad Legislature" / SESSION).mkdir(parents=True)
    (tmp_path / "Bad Legislature" / SESSION / f"{SESSION}_votes.csv").write_text("x")
    (tmp_path / "kansas" / "stray.csv").write_text("x")
    assert discover_sessions(tmp_path) == [("kansas", "2024s"), ("kansas", SESSION)]
    assert discover_sessions(tmp_path / "absent") == []


# --- symbolic links and the data root ----------------------------------------------------------------


@pytest.fixture
def linked(tmp_path, monkeypatch):
    """tmp/root (the data root, holding kansas/<SESSION>) and tmp/elsewhere (a valid session outside)."""
    monkeypatch.delenv(settings.ALLOW_OUTSIDE_ROOT_ENV, raising=False)
    root = tmp_path / "root"
    write_session(root)
    outside = write_session(tmp_path / "elsewhere", name="2023-2024")
    return root, outside


def test_session_folder_linked_outside_the_data_root_is_refused(linked, caplog):
    root, outside = linked
    link = root / "kansas" / "2023-2024"
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(schema.OutsideDataRoot) as info:
        read_session(link)
    message = str(info.value)
    assert info.value.file == str(link)
    assert message.startswith(f"{link}: this session folder is a symbolic link to {outside}")
    assert f"outside the data root {root.resolve()}" in message and settings.ALLOW_OUTSIDE_ROOT_ENV in message
    assert isinstance(info.value, schema.LegisError)
    with pytest.raises(schema.OutsideDataRoot):
        session_files(link)
    # discovery skips it, with a warning that says why
    with caplog.at_level("WARNING", logger="legis_assets.core.ingest"):
        assert discover_sessions(root) == [("kansas", SESSION)]
    assert any(str(link) in r.getMessage() and "outside the data root" in r.getMessage() for r in caplog.records)


def test_legislature_folder_linked_outside_the_data_root_is_refused(linked):
    root, outside = linked
    (root / "ohio").symlink_to(outside.parent, target_is_directory=True)
    with pytest.raises(schema.OutsideDataRoot) as info:
        read_session(root / "ohio" / "2023-2024")
    assert f"through the symbolic link {root / 'ohio'} -> {outside.parent}" in str(info.value)
    assert discover_sessions(root) == [("kansas", SESSION)]


@pytest.mark.parametrize("kind", ["votes", "rollcalls", "legislators"])
def test_input_file_linked_outside_the_data_root_is_refused(linked, kind):
    root, outside = linked
    folder = root / "kansas" / SESSION
    path_of(folder, kind).unlink()
    path_of(folder, kind).symlink_to(outside / f"2023-2024_{kind}.csv")
    with pytest.raises(schema.OutsideDataRoot) as info:
        read_session(folder)
    assert info.value.file == str(path_of(folder, kind))
    assert f"this file is a symbolic link to {outside / f'2023-2024_{kind}.csv'}" in str(info.value)


def test_links_outside_the_data_root_are_followed_when_allowed(linked, monkeypatch):
    root, outside = linked
    link = root / "kansas" / "2023-2024"
    link.symlink_to(outside, target_is_directory=True)
    expected = read_session(outside)
    assert read_session(link, allow_outside_root=True).votes.equals(expected.votes)
    assert discover_sessions(root, allow_outside_root=True) == [("kansas", "2023-2024"), ("kansas", SESSION)]
    # core never reads the environment: the app passes the setting (legis_assets.settings)
    monkeypatch.setenv(settings.ALLOW_OUTSIDE_ROOT_ENV, "true")
    allowed = settings.allow_outside_root()
    assert read_session(link, allow_outside_root=allowed).votes.equals(expected.votes)
    assert discover_sessions(root, allow_outside_root=allowed) == [("kansas", "2023-2024"), ("kansas", SESSION)]
    with pytest.raises(schema.OutsideDataRoot):  # the default is to refuse, whatever the environment
        read_session(link)
    monkeypatch.setenv(settings.ALLOW_OUTSIDE_ROOT_ENV, "0")
    with pytest.raises(schema.OutsideDataRoot):
        read_session(link, allow_outside_root=settings.allow_outside_root())


def test_links_inside_the_data_root_are_followed(linked, tmp_path):
    root, _ = linked
    folder = root / "kansas" / SESSION
    # a session folder that links to another folder of the data root, whose votes file is a link too
    target = write_session(root / "_store", name="2021-2022")  # not a legislature name: not discovered
    other = root / "kansas" / "2021-2022"
    other.symlink_to(Path("..") / "_store" / "kansas" / "2021-2022", target_is_directory=True)
    votes = path_of(target, "votes")
    votes.rename(target / "votes-original.csv")
    votes.symlink_to("votes-original.csv")
    assert read_session(other).votes.equals(read_session(folder).votes)
    assert ("kansas", "2021-2022") in discover_sessions(root)
    # and a data root that is itself reached through a link
    (tmp_path / "root-link").symlink_to(root, target_is_directory=True)
    assert read_session(tmp_path / "root-link" / "kansas" / SESSION).votes.equals(read_session(folder).votes)
    assert read_session(folder, data_root=tmp_path / "root-link").votes.height == 11


def test_schema_allow_outside_root_setting(monkeypatch):
    monkeypatch.delenv(settings.ALLOW_OUTSIDE_ROOT_ENV, raising=False)
    assert settings.allow_outside_root() is False
    for value, expected in [("1", True), ("true", True), ("TRUE", True), ("0", False), ("", False), ("no", False)]:
        monkeypatch.setenv(settings.ALLOW_OUTSIDE_ROOT_ENV, value)
        assert settings.allow_outside_root() is expected, value
    assert settings.allow_outside_root(False) is False


# --- real data ------------------------------------------------------------------------------------------


@needs_shared
def test_discover_real_sessions():
    assert discover_sessions(SHARED_DATA) == REAL_SESSIONS


@pytest.fixture(scope="module")
def real_tables():
    cache: dict = {}

    def get(key):
        if key not in cache:
            cache[key] = read_session(SHARED_DATA / key[0] / key[1])
        return cache[key]

    return get


@needs_shared
@pytest.mark.parametrize("key", REAL_SESSIONS, ids=lambda k: f"{k[0]}.{k[1]}")
def test_real_dataset_reads_cleanly(real_tables, key):
    tables = real_tables(key)
    chambers = {ch: REAL[(*key, ch)] for ch in ("house", "senate") if (*key, ch) in REAL}
    assert tables.problems == [], tables.problems[:5]
    assert tables.votes.height == sum(c[3] for c in chambers.values())
    assert tables.rollcalls.height == sum(c[2] for c in chambers.values())
    assert tables.legislators.height == sum(c[0] for c in chambers.values())
    assert tables.votes["vote_id"].n_unique() == tables.rollcalls.height
    assert sorted(tables.rollcalls["order"]) == list(range(tables.rollcalls.height))
    for chamber in ("house", "senate"):
        own = chamber_tables(tables, chamber)
        if chamber not in chambers:
            assert own.votes.height == own.rollcalls.height == own.legislators.height == 0
            continue
        n_legislators, parties, n_rollcalls, n_votes = chambers[chamber]
        assert own.votes.height == n_votes and own.rollcalls.height == n_rollcalls
        assert own.legislators.height == n_legislators
        assert dict(Counter(own.legislators["party"])) == parties


@needs_shared
def test_real_house_contents(real_tables):
    tables = real_tables(("us_congress", "117th_2021-2022"))
    first = tables.rollcalls.filter(pl.col("vote_id") == "RH1170001").row(0, named=True)
    assert (first["yea_count"], first["nay_count"], first["chamber"]) == (216, 211, "house")
    assert first["bill_number"] is None and first["passed"] is None
    pelosi = tables.legislators.filter(pl.col("legislator_slug") == "rep_pelosi_nancy_15448").row(0, named=True)
    assert pelosi["party"] == "Democrat" and pelosi["district"] == "CA-12"
    house = chamber_tables(tables, "house")
    assert house.rollcalls.filter(pl.col("vote_id") == "RH1170001")["order"].item() == 0


@needs_shared
def test_real_california_fills_votes_from_rollcalls(real_tables):
    tables = real_tables(("california", "2019-2020"))
    row = tables.votes.filter(pl.col("vote_id") == "ca_2019_00007").row(0, named=True)
    assert row["bill_number"] == "SR 9"
    assert row["motion"] == "W/O REF. TO FILE SR9 Atkins"  # empty in the votes file, taken from roll calls
    assert row["vote_date"] == "01/07/2019" and row["vote_datetime"] is None
