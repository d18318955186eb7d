"""Property test of legis_assets.core.ingest.read_session on generated sessions.

Small random sessions (legislators, roll calls, all five vote categories, hostile text in names and
titles: quotes, commas, line breaks, HTML, right-to-left and other non-ASCII characters) are written
in the scraper layout, sometimes corrupted. `read_session` must either return tables that give back
exactly the generated data, or raise `schema.InputError` — never any other exception — and it must
raise for corruptions that make the session invalid.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from legis_assets.core import csvread as ingest  # the reader's batch sizes live in core/csvread.py
from legis_assets.core.ingest import read_session
from legis_assets.core.schema import CHAMBERS, SCRAPER_HEADERS, SLUG_PREFIX, VOTE_CODES, InputError

SESSION = "2025-2026"
HEADERS = {kind: list(header) for kind, header in SCRAPER_HEADERS.items()}
REQUIRED = {
    "votes": {"vote_id", "chamber", "legislator_slug", "vote"},
    "rollcalls": {"vote_id", "chamber"},
    "legislators": {"legislator_slug", "chamber", "party"},
}
COUNTS = {
    "yea_count": "Yea",
    "nay_count": "Nay",
    "present_passing_count": "Present and Passing",
    "absent_not_voting_count": "Absent and Not Voting",
    "not_voting_count": "Not Voting",
}
#: corruptions after which the session must be rejected
FATAL = {"bad_code", "bad_bytes", "nul_byte", "extra_field", "blank_line"}

SPECIAL = [
    '"',
    ",",
    "\n",
    "\r\n",
    "\r",
    '""',
    "'",
    "<b>bold</b>",
    "<script>alert('x')</script>",
    "&amp;",
    "\u202eevil\u202c",
    "\u200f",
    "\u05e9\u05dc\u05d5\u05dd",
    "\u0645\u0631\u062d\u0628\u0627",
    " ",
    "\t",
    "\ufeff",
    "\u00e9",
    "\U0001f600",
    "Yea",
    "House",
    "rep_x",
    ";",
]
#: any UTF-8 text except NUL: a NUL byte means a corrupted file (the `nul_byte` corruption)
chars = st.characters(codec="utf-8", exclude_characters="\x00")
text = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(chars, max_size=5)), max_size=4).map("".join)
#: full_name loses a " - House Minority Leader" style suffix by design
plain_text = text.filter(lambda s: not re.search(r"\s[-\u2013\u2014]\s", s))
ids = st.lists(
    st.one_of(
        st.sampled_from(SPECIAL),
        st.text(chars, min_size=1, max_size=4),
        st.from_regex(r"je_20[0-9]{12}_[0-9]{1,4}", fullmatch=True),
    ),
    min_size=1,
    max_size=3,
).map("".join)


def field_text(value: str) -> str:
    """RFC 4180 minimal quoting, as Python's csv module with `\\r\\n` line ends writes it."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def sessions(draw):
    chambers = draw(st.sampled_from([("house",), ("senate",), ("house", "senate")]))
    legislators = []
    for chamber in chambers:
        for _ in range(draw(st.integers(1, 4))):
            slug = (
                SLUG_PREFIX[chamber] + draw(st.from_regex(r"[a-z0-9_]{0,6}", fullmatch=True)) + f"_{len(legislators)}"
            )
            legislators.append(
                {
                    "name": draw(text),
                    "full_name": draw(plain_text),
                    "legislator_slug": slug,
                    "chamber": CHAMBERS[chamber],
                    "party": draw(st.sampled_from(["Republican", "Democrat", ""])),
                    "district": draw(text),
                    "member_url": "",
                    "ocd_id": "",
                }
            )
    vote_ids = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    rollcalls, votes = [], []
    for vote_id in vote_ids:
        chamber = draw(st.sampled_from(chambers))
        rc = {
            "session": SESSION,
            "vote_id": vote_id,
            "chamber": CHAMBERS[chamber],
            "bill_number": draw(text),
            "bill_title": draw(text),
            "motion": draw(text),
            "result": draw(text),
            "vote_datetime": draw(
                st.one_of(st.just(""), st.from_regex(r"2025-0[1-9]-1[0-9]T1[0-9]:00:00", fullmatch=True))
            ),
            "passed": draw(st.sampled_from(["True", "False", ""])),
        }
        members = [leg for leg in legislators if leg["chamber"] == CHAMBERS[chamber]]
        for i, leg in enumerate(members):
            if i and not draw(st.booleans()):
                continue  # not every member is on every roll call; the first always is
            votes.append(
                {
                    "session": SESSION,
                    "vote_id": vote_id,
                    "chamber": CHAMBERS[chamber],
                    "bill_number": rc["bill_number"],
                    "bill_title": rc["bill_title"],
                    "motion": rc["motion"],
                    "vote_datetime": rc["vote_datetime"],
                    "legislator_slug": leg["legislator_slug"],
                    "legislator_name": draw(st.one_of(st.just(leg["name"]), text)),
                    "vote": draw(st.sampled_from(list(VOTE_CODES))),
                }
            )
        cast = [v["vote"] for v in votes if v["vote_id"] == vote_id]
        for column, code in COUNTS.items():
            rc[column] = str(cast.count(code))
        rc["total_votes"] = str(len(cast))
        rollcalls.append(rc)
    data = {"votes": votes, "rollcalls": rollcalls, "legislators": legislators}

    # about a third of the sessions stay clean (hypothesis favours the first choices)
    corruption = draw(
        st.sampled_from(
            [
                "truncate",
                "drop_column",
                "bad_code",
                "bad_bytes",
                "nul_byte",
                "extra_field",
                "blank_line",
                None,
                None,
                None,
            ]
        )
    )
    kind = draw(st.sampled_from(["votes", "rollcalls", "legislators"]))
    headers = {k: list(v) for k, v in HEADERS.items()}
    dropped = None
    if corruption == "drop_column":
        dropped = draw(st.sampled_from(headers[kind]))
        headers[kind].remove(dropped)
    if corruption == "bad_code":
        kind = "votes"
        row = draw(st.sampled_from(votes))
        row["vote"] = draw(text.filter(lambda s: s not in VOTE_CODES))
    rows = {k: [[r.get(c, "") for c in headers[k]] for r in data[k]] for k in headers}
    if corruption == "extra_field":
        draw(st.sampled_from(rows[kind])).append(draw(text))

    line_end = draw(st.sampled_from(["\r\n", "\n"]))
    files, last_record = {}, {}
    for k in headers:
        lines = [",".join(field_text(v) for v in row) for row in [headers[k], *rows[k]]]
        files[k] = ("".join(line + line_end for line in lines)).encode("utf-8")
        last_record[k] = len((lines[-1] + line_end).encode("utf-8"))
    if draw(st.booleans()):
        files[kind] = b"\xef\xbb\xbf" + files[kind]
    header_end = files[kind].index(b"\n") + 1
    if corruption == "truncate":
        # cut inside the last record, past its line end (cutting the record off whole would leave a
        # valid, shorter file)
        shortest = len(line_end) + 1
        cut = draw(st.integers(shortest, max(shortest, last_record[kind] - 1)))
        files[kind] = files[kind][:-cut]
    elif corruption == "bad_bytes":
        at = draw(st.integers(0, len(files[kind])))
        files[kind] = (
            files[kind][:at]
            + draw(st.sampled_from([b"\xff", b"\xfe", b"\xc0", b"\x80", b"\xed\xa0\x80"]))
            + files[kind][at:]
        )
    elif corruption == "nul_byte":  # anywhere after the header line, inside a value or not
        at = draw(st.integers(header_end, len(files[kind])))
        files[kind] = files[kind][:at] + b"\x00" + files[kind][at:]
    elif corruption == "blank_line":
        files[kind] = files[kind][:header_end] + line_end.encode() + files[kind][header_end:]
    return data, files, corruption, kind, dropped


def blank_to_none(value: str) -> str | None:
    return value if value != "" else None


def outcome(folder: Path, scan_chunk: int | None = None, parse_batch: int | None = None):
    """The error message, or every table row and problem, of `read_session(folder)`; optionally with
    the reader's scan blocks and parse batches made tiny (restored afterwards)."""
    saved = ingest.SCAN_CHUNK, ingest.PARSE_BATCH
    ingest.SCAN_CHUNK, ingest.PARSE_BATCH = scan_chunk or saved[0], parse_batch or saved[1]
    try:
        t = read_session(folder)
    except InputError as err:
        return str(err)
    finally:
        ingest.SCAN_CHUNK, ingest.PARSE_BATCH = saved
    return t.votes.rows(), t.rollcalls.rows(), t.legislators.rows(), [str(p) for p in t.problems]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sessions())
def test_read_session_round_trips_or_raises_input_error(case):
    data, files, corruption, kind, dropped = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "kansas" / SESSION
        folder.mkdir(parents=True)
        for k, content in files.items():
            (folder / f"{SESSION}_{k}.csv").write_bytes(content)
        # the same outcome when the scan goes through the file in blocks of 3 bytes and polars parses
        # a few records at a time (state carried across block ends, row checks counted across batches)
        assert outcome(folder, scan_chunk=3, parse_batch=10) == outcome(folder)
        try:
            tables = read_session(folder)
        except InputError as err:
            event(f"{corruption}: InputError")
            assert err.file.endswith(f"{SESSION}_{kind}.csv"), (corruption, kind, str(err))
            assert f"{SESSION}_{kind}.csv" in str(err)
            if err.row is not None:
                assert 1 <= err.row <= files[kind].count(b"\n") + 1, str(err)
            assert corruption is not None and (corruption != "drop_column" or dropped in REQUIRED[kind]), str(err)
            return
    event(f"{corruption}: read")
    assert corruption not in FATAL, f"{corruption} in {kind} was not detected"
    assert not (corruption == "drop_column" and dropped in REQUIRED[kind])
    if corruption in (None, "drop_column"):
        assert tables.problems == [], [str(p) for p in tables.problems]

    def gone(k: str, column: str) -> bool:
        return dropped == column and kind == k

    votes = data["votes"]
    got_votes = {(r["vote_id"], r["legislator_slug"]): r for r in tables.votes.iter_rows(named=True)}
    assert set(got_votes) == {(v["vote_id"], v["legislator_slug"]) for v in votes}
    for v in votes:
        got = got_votes[(v["vote_id"], v["legislator_slug"])]
        assert got["vote"] == v["vote"]
        assert got["vote_value"] == VOTE_CODES[v["vote"]]
        assert got["chamber"] == v["chamber"].lower()
        expected_name = None if gone("votes", "legislator_name") else blank_to_none(v["legislator_name"])
        assert got["legislator_name"] == expected_name

    got_rollcalls = {r["vote_id"]: r for r in tables.rollcalls.iter_rows(named=True)}
    assert set(got_rollcalls) == {rc["vote_id"] for rc in data["rollcalls"]}
    assert sorted(tables.rollcalls["order"]) == list(range(len(got_rollcalls)))
    for rc in data["rollcalls"]:
        got = got_rollcalls[rc["vote_id"]]
        assert got["bill_title"] == (None if gone("rollcalls", "bill_title") else blank_to_none(rc["bill_title"]))
        assert got["motion"] == (None if gone("rollcalls", "motion") else blank_to_none(rc["motion"]))
        assert got["chamber"] == rc["chamber"].lower()

    got_legislators = {r["legislator_slug"]: r for r in tables.legislators.iter_rows(named=True)}
    assert set(got_legislators) == {leg["legislator_slug"] for leg in data["legislators"]}
    for leg in data["legislators"]:
        got = got_legislators[leg["legislator_slug"]]
        assert got["name"] == (None if gone("legislators", "name") else blank_to_none(leg["name"]))
        assert got["full_name"] == (None if gone("legislators", "full_name") else blank_to_none(leg["full_name"]))
        assert got["party"] == (leg["party"] or "Independent")
        assert got["chamber"] == leg["chamber"].lower()
