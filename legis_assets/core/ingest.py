"""Read and validate one session's scraper CSVs (../shared/DATA.md) into normalised polars tables.

Plain Python + polars (no Dagster). Every CSV is read with all columns as text and columns are
selected by name. Fatal problems raise :class:`schema.InputError` naming the file, the physical
line (header = line 1; lines are counted by their LF bytes, as ``wc -l``, ``grep -n`` and editors
do, so lines inside quoted multi-line values count) and the column;
non-fatal ones are collected as :class:`Problem` in ``SessionTables.problems``.

How a file is read (``_read_csv``):

1. only the first 64 KB are read to check the header line (so a huge garbage file fails fast,
   in bounded memory);
2. the whole file is read as bytes and checked to be UTF-8;
3. a vectorised byte scan (numpy) checks the CSV structure: quotes balanced and well placed,
   every record has as many fields as the header, no blank lines. The same scan yields each
   record's physical line number, which travels with the rows (``_line``) so that later checks
   can name the line;
4. polars parses the bytes (all columns as strings, empty fields as ``""``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from legis_assets.core.schema import (
    CHAMBERS,
    INDEPENDENT,
    LEGISLATORS_COLUMNS,
    LEGISLATURE_RE,
    ROLLCALLS_COLUMNS,
    SESSION_DIR_RE,
    SLUG_PREFIX,
    VOTE_CODES,
    VOTES_COLUMNS,
    InputError,
    validate_chamber,
)

__all__ = [
    "Problem",
    "SessionTables",
    "session_files",
    "read_session",
    "chamber_tables",
    "discover_sessions",
]

#: the three files of a session, as `session_files` keys
FILE_KINDS = ("votes", "rollcalls", "legislators")
#: how much of a file is read to check its header line before the file is loaded
HEADER_LIMIT = 64 * 1024
#: problems of one kind listed one by one before a single summary line
MAX_LISTED = 20

#: roll-call count column -> the vote category it counts (DATA.md 3.2)
COUNT_COLUMNS: dict[str, str] = {
    "yea_count": "Yea",
    "nay_count": "Nay",
    "present_passing_count": "Present and Passing",
    "absent_not_voting_count": "Absent and Not Voting",
    "not_voting_count": "Not Voting",
}
#: CSV chamber value -> partition value
_CHAMBER_OF_VALUE = {value: key for key, value in CHAMBERS.items()}
#: a leadership suffix in `full_name`, e.g. " - House Minority Leader"
_LEADERSHIP_SUFFIX = r"(?s)\s+[-\u2013\u2014]\s+.*$"
_PARTIES = ("Republican", "Democrat")
_LINE = "_line"  # physical line number of a row, carried through the checks
_BOM = b"\xef\xbb\xbf"
_VALID_CODES = ", ".join(repr(code) for code in VOTE_CODES)

VOTES_OUTPUT = (
    "vote_id", "legislator_slug", "legislator_name", "vote", "vote_value", "chamber",
    "bill_number", "motion", "vote_datetime", "vote_date",
)
ROLLCALLS_OUTPUT = (
    "vote_id", "chamber", "bill_number", "bill_title", "motion", "vote_type", "result",
    "vote_datetime", "vote_date", *COUNT_COLUMNS, "passed", "order",
)
LEGISLATORS_OUTPUT = ("legislator_slug", "name", "full_name", "chamber", "party", "district", "ocd_id")


# ---------------------------------------------------------------------------------------------
# public types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A non-fatal issue found while reading a session (reported, the data are kept)."""

    file: str
    line: int | None
    column: str | None
    problem: str

    def __str__(self) -> str:  # same format as schema.InputError
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return ", ".join(where) + f": {self.problem}"


@dataclass
class SessionTables:
    """One session's normalised tables (all ids are strings; empty text is null).

    * ``votes``: one row per legislator x roll call: vote_id, legislator_slug, legislator_name,
      vote (category), vote_value (Int8: Yea 1, Nay 0, else null), chamber ("house"/"senate"),
      bill_number, motion, vote_datetime, vote_date (taken from the roll-call file when empty
      in the votes file; null when empty in both).
    * ``rollcalls``: vote_id, chamber, bill_number, bill_title, motion, vote_type, result,
      vote_datetime, vote_date, the five count columns (Int64), passed (Boolean), order (Int64:
      0-based position when sorted by vote_datetime, empty last, then vote_id).
    * ``legislators``: legislator_slug, name, full_name (leadership suffix stripped), chamber,
      party (Republican / Democrat / Independent), district, ocd_id.
    """

    votes: pl.DataFrame
    rollcalls: pl.DataFrame
    legislators: pl.DataFrame
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------------


def session_files(session_dir: Path) -> dict[str, Path]:
    """The votes, roll-call and legislators files of a session directory (all must exist)."""
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise InputError(
            session_dir,
            "session folder not found; expected a folder holding <folder name>_votes.csv, "
            "<folder name>_rollcalls.csv and <folder name>_legislators.csv",
        )
    name = session_dir.name or session_dir.resolve().name
    files = {kind: session_dir / f"{name}_{kind}.csv" for kind in FILE_KINDS}
    missing = [path for path in files.values() if not path.is_file()]
    if missing:
        others = [p.name for p in missing[1:]]
        also = f" (also missing: {', '.join(others)})" if others else ""
        raise InputError(
            missing[0],
            f"file not found{also}; a session folder named {name!r} must hold "
            + ", ".join(p.name for p in files.values()),
        )
    return files


def read_session(session_dir: Path) -> SessionTables:
    """Read and validate the three files of one session directory (all chambers)."""
    files = session_files(session_dir)
    problems: list[Problem] = []
    legislators = _load_legislators(files["legislators"], problems)
    rollcalls = _load_rollcalls(files["rollcalls"], problems)
    votes, legislators = _load_votes(files, rollcalls, legislators, problems)
    return SessionTables(
        votes=votes.select(VOTES_OUTPUT),
        rollcalls=rollcalls.select(ROLLCALLS_OUTPUT),
        legislators=legislators.select(LEGISLATORS_OUTPUT),
        problems=problems,
    )


def chamber_tables(tables: SessionTables, chamber: str) -> SessionTables:
    """The rows of one chamber ("house" / "senate"); roll-call `order` is renumbered 0..n-1."""
    validate_chamber(chamber)
    rollcalls = _with_order(tables.rollcalls.filter(pl.col("chamber") == chamber).drop("order"))
    return SessionTables(
        votes=tables.votes.filter(pl.col("chamber") == chamber),
        rollcalls=rollcalls.select(tables.rollcalls.columns),
        legislators=tables.legislators.filter(pl.col("legislator_slug").str.starts_with(SLUG_PREFIX[chamber])),
        problems=list(tables.problems),
    )


def discover_sessions(data_root: Path) -> list[tuple[str, str]]:
    """(legislature, session dir) for every ``<root>/<legislature>/<session>/<session>_votes.csv``.

    Names that do not match ``schema.LEGISLATURE_RE`` / ``SESSION_DIR_RE`` (hidden folders such as
    ``.cache``, names with spaces or dots) are ignored. A missing data root gives an empty list.
    """
    root = Path(data_root)
    found: list[tuple[str, str]] = []
    for legislature in _subdirs(root):
        if not LEGISLATURE_RE.fullmatch(legislature.name):
            continue
        for session in _subdirs(legislature):
            if SESSION_DIR_RE.fullmatch(session.name) and (session / f"{session.name}_votes.csv").is_file():
                found.append((legislature.name, session.name))
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# the three files
# ---------------------------------------------------------------------------------------------


def _load_legislators(path: Path, problems: list[Problem]) -> pl.DataFrame:
    df = _read_csv(path, LEGISLATORS_COLUMNS, aliases={"legislator_slug": "slug"})
    file = str(path)

    empty = df.filter(pl.col("legislator_slug") == "")
    _report_rows(problems, file, empty, "legislator_slug",
                 lambda r: "the legislator_slug is empty; the row was ignored (it cannot be joined to any vote)")
    df = df.filter(pl.col("legislator_slug") != "")
    df = _dedupe(df, ["legislator_slug"], [c for c in df.columns if c != _LINE], file, "legislator", problems)

    prefix_chamber = _chamber_from_slug(pl.col("legislator_slug"))
    bad = df.filter(~pl.col("chamber").is_in(list(_CHAMBER_OF_VALUE)) & (pl.col("chamber") != ""))
    if bad.height:
        _raise_first(file, bad, "chamber", lambda r: f"unknown chamber {r['chamber']!r}; expected 'House' or 'Senate'")
    unknown = df.filter((pl.col("chamber") == "") & prefix_chamber.is_null())
    if unknown.height:
        _raise_first(file, unknown, "chamber", lambda r: (
            f"the chamber of legislator {r['legislator_slug']!r} is empty and the slug does not start "
            "with 'rep_' (House) or 'sen_' (Senate); fill in 'House' or 'Senate'"))
    _report_rows(problems, file, df.filter(pl.col("chamber") == ""), "chamber", lambda r: (
        f"the chamber of legislator {r['legislator_slug']!r} is empty; taken from the slug prefix"))
    chamber = (pl.when(pl.col("chamber") == "").then(prefix_chamber)
               .otherwise(pl.col("chamber").replace_strict(_CHAMBER_OF_VALUE, default=None)))
    df = df.with_columns(chamber.alias("chamber"))
    _report_rows(problems, file, df.filter(prefix_chamber.is_not_null() & (prefix_chamber != pl.col("chamber"))),
                 "chamber", lambda r: (
                     f"legislator {r['legislator_slug']!r} is listed in the {CHAMBERS[r['chamber']]} but the slug "
                     "prefix says otherwise; chamber analyses select legislators by slug prefix"))

    party = pl.col("party").str.strip_chars().str.to_lowercase()
    party_expr = pl.lit(INDEPENDENT)
    for name in _PARTIES:
        party_expr = pl.when(party == name.lower()).then(pl.lit(name)).otherwise(party_expr)
    return df.with_columns(
        party_expr.alias("party"),
        _text(df, "name"),
        _text(df, "full_name").str.replace(_LEADERSHIP_SUFFIX, "").alias("full_name"),
        _text(df, "district"),
        _text(df, "ocd_id"),
    )


def _load_rollcalls(path: Path, problems: list[Problem]) -> pl.DataFrame:
    df = _read_csv(path, ROLLCALLS_COLUMNS)
    file = str(path)
    _fail_if(file, df, pl.col("vote_id") == "", "vote_id", lambda r: "the vote_id is empty; every roll call needs an id")
    _check_chamber(file, df)
    df = _dedupe(df, ["vote_id"], [c for c in df.columns if c != _LINE], file, "roll call", problems)

    columns = []
    for name in (*COUNT_COLUMNS, "total_votes"):
        if name not in df.columns:
            columns.append(pl.lit(None, pl.Int64).alias(name))
            continue
        value = pl.col(name).str.strip_chars()
        parsed = value.cast(pl.Int64, strict=False)
        bad = df.filter((value != "") & (parsed.is_null() | (parsed < 0)))
        if bad.height:
            first = bad.row(0, named=True)
            more = f" ({bad.height} rows have such values)" if bad.height > 1 else ""
            problems.append(Problem(file, first[_LINE], name,
                                    f"{first[name]!r} is not a count (a whole number); ignored{more}"))
        columns.append(pl.when(parsed >= 0).then(parsed).otherwise(None).alias(name))

    if "passed" in df.columns:
        passed = pl.col("passed").str.strip_chars().str.to_lowercase()
        bad = df.filter(~passed.is_in(["", "true", "false"]))
        if bad.height:
            first = bad.row(0, named=True)
            more = f" ({bad.height} rows have such values)" if bad.height > 1 else ""
            problems.append(Problem(file, first[_LINE], "passed",
                                    f"{first['passed']!r} is not True or False; read as unknown{more}"))
        columns.append(pl.when(passed == "true").then(True).when(passed == "false").then(False)
                       .otherwise(None).cast(pl.Boolean).alias("passed"))
    else:
        columns.append(pl.lit(None, pl.Boolean).alias("passed"))

    for name in ("bill_number", "bill_title", "motion", "vote_type", "result", "vote_datetime", "vote_date"):
        columns.append(_text(df, name))
    columns.append(pl.col("chamber").replace_strict(_CHAMBER_OF_VALUE).alias("chamber"))
    return _with_order(df.with_columns(columns))


def _load_votes(
    files: dict[str, Path], rollcalls: pl.DataFrame, legislators: pl.DataFrame, problems: list[Problem]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    path = files["votes"]
    file = str(path)
    rollcalls_name = files["rollcalls"].name
    legislators_name = files["legislators"].name
    df = _read_csv(path, VOTES_COLUMNS)
    if "legislator_name" not in df.columns:
        df = df.with_columns(pl.lit("").alias("legislator_name"))

    _check_chamber(file, df)
    _fail_if(file, df, pl.col("vote_id") == "", "vote_id", lambda r: "the vote_id is empty; every vote row needs one")
    _fail_if(file, df, ~pl.col("vote").is_in(list(VOTE_CODES)), "vote", lambda r: (
        (f"unknown vote code {r['vote']!r}" if r["vote"] else "the vote is empty")
        + f"{_code_hint(r['vote'])}; the valid codes are {_VALID_CODES}"))
    df = df.with_columns(pl.col("chamber").replace_strict(_CHAMBER_OF_VALUE).alias("chamber"))

    empty_slug = df.filter(pl.col("legislator_slug") == "")
    _report_rows(problems, file, empty_slug, "legislator_slug", lambda r: (
        f"the legislator_slug is empty (legislator name {r.get('legislator_name') or ''!r}, roll call "
        f"{r['vote_id']!r}); the row was dropped because it cannot be joined to a legislator"))
    df = df.filter(pl.col("legislator_slug") != "")
    df = _dedupe(df, ["vote_id", "legislator_slug"], ["vote"], file, "vote", problems)

    rc = rollcalls.select(
        "vote_id",
        pl.col("chamber").alias("_rc_chamber"),
        pl.col(_LINE).alias("_rc_line"),
        *(pl.col(c).alias(f"_rc_{c}") for c in ("bill_number", "motion", "vote_datetime", "vote_date")),
    )
    df = df.join(rc, on="vote_id", how="left", maintain_order="left")
    _fail_if(file, df, pl.col("_rc_line").is_null(), "vote_id", lambda r: (
        f"roll call {r['vote_id']!r} is not in {rollcalls_name}; every vote row's vote_id must be listed there"))
    _fail_if(file, df, pl.col("chamber") != pl.col("_rc_chamber"), "chamber", lambda r: (
        f"the chamber is {CHAMBERS[r['chamber']]!r} but roll call {r['vote_id']!r} is a "
        f"{CHAMBERS[r['_rc_chamber']]} roll call ({rollcalls_name} line {r['_rc_line']})"))
    expected_prefix = pl.col("_rc_chamber").replace_strict(SLUG_PREFIX)
    _fail_if(file, df, ~pl.col("legislator_slug").str.starts_with(expected_prefix), "legislator_slug", lambda r: (
        f"legislator {r['legislator_slug']!r} votes on {CHAMBERS[r['_rc_chamber']]} roll call {r['vote_id']!r}, "
        f"but {CHAMBERS[r['_rc_chamber']]} members' slugs start with {SLUG_PREFIX[r['_rc_chamber']]!r} "
        "('rep_' = House, 'sen_' = Senate)"))

    _check_counts(rollcalls, pl.concat([df.select("vote_id", "vote"), empty_slug.select("vote_id", "vote")]),
                  files, problems)

    # legislators who vote but are not in the legislators file: keep them as Independents
    missing = (
        df.join(legislators.select("legislator_slug"), on="legislator_slug", how="anti")
        .group_by("legislator_slug", maintain_order=True)
        .agg(pl.col(_LINE).min(), pl.col("legislator_name").filter(pl.col("legislator_name") != "").first())
        .sort(_LINE)
    )
    if missing.height:
        _report_rows(problems, file, missing, "legislator_slug", lambda r: (
            f"legislator {r['legislator_slug']!r} is not in {legislators_name}; their votes are kept and they "
            "are treated as an Independent (party unknown)"))
        added = missing.select(
            "legislator_slug",
            pl.col("legislator_name").alias("name"),
            pl.col("legislator_name").alias("full_name"),
            _chamber_from_slug(pl.col("legislator_slug")).alias("chamber"),
            pl.lit(INDEPENDENT).alias("party"),
            pl.lit(None, pl.String).alias("district"),
            pl.lit(None, pl.String).alias("ocd_id"),
        )
        legislators = pl.concat([legislators.select(LEGISLATORS_OUTPUT), added])

    votes = df.with_columns(
        _text(df, "legislator_name"),
        pl.col("vote").replace_strict({"Yea": 1, "Nay": 0}, default=None, return_dtype=pl.Int8).alias("vote_value"),
        *(pl.coalesce(_text(df, c), pl.col(f"_rc_{c}")).alias(c)
          for c in ("bill_number", "motion", "vote_datetime", "vote_date")),
    )
    return votes, legislators


def _check_counts(rollcalls: pl.DataFrame, votes: pl.DataFrame, files: dict[str, Path],
                  problems: list[Problem]) -> None:
    """Roll-call count columns that disagree with the votes file -> Problem (DATA.md 3.2, 6)."""
    counted = votes.group_by("vote_id").agg(
        *((pl.col("vote") == code).sum().cast(pl.Int64).alias(f"_n_{col}") for col, code in COUNT_COLUMNS.items()),
        pl.len().cast(pl.Int64).alias("_n_total_votes"),
    )
    checked = [*COUNT_COLUMNS, "total_votes"]
    joined = rollcalls.join(counted, on="vote_id", how="left", maintain_order="left").with_columns(
        *(pl.col(f"_n_{c}").fill_null(0) for c in checked)
    )
    disagree = pl.any_horizontal(
        *(pl.col(c).is_not_null() & (pl.col(c) != pl.col(f"_n_{c}")) for c in checked)
    )
    bad = joined.filter(disagree)
    votes_name = files["votes"].name

    def describe(r: dict) -> str:
        parts = []
        for c in checked:
            if r[c] is not None and r[c] != r[f"_n_{c}"]:
                what = f"{COUNT_COLUMNS[c]!r} rows" if c in COUNT_COLUMNS else "rows in all"
                parts.append(f"{c} is {r[c]} but {votes_name} has {r[f'_n_{c}']} {what}")
        return f"roll call {r['vote_id']!r}: " + "; ".join(parts)

    _report_rows(problems, str(files["rollcalls"]), bad, None, describe)


# ---------------------------------------------------------------------------------------------
# CSV reading and structural checks
# ---------------------------------------------------------------------------------------------


def _read_csv(path: Path, required: tuple[str, ...], aliases: dict[str, str] | None = None) -> pl.DataFrame:
    """All columns as strings ("" for empty) plus `_line`; `aliases` maps a column to its older name."""
    aliases = aliases or {}
    header = _read_header(path)
    _check_columns(path, header, required, aliases)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    # tolerate blank lines at the very end of the file; the scan and polars see one final newline
    data = data.rstrip(b"\r\n") + b"\n"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            path,
            f"the file is not valid UTF-8 text: byte 0x{data[exc.start]:02x} on this line cannot be decoded "
            "(was it saved as Windows-1252 / Latin-1, e.g. by Excel?); save the file with UTF-8 encoding",
            row=line,
        ) from None
    lines = _record_lines(path, data, len(header))
    if len(lines) < 2:
        raise InputError(path, "the file has a header line but no data rows")
    try:
        df = pl.read_csv(data, infer_schema=False, empty_string_is_null=False, raise_if_empty=False)
    except Exception as exc:  # noqa: BLE001 - polars' parser may reject what the scan let through
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"the file could not be read as CSV ({reason})") from exc
    if df.height != len(lines) - 1 or df.width != len(header):
        raise InputError(path, f"the file could not be read as CSV: found {df.height} rows x {df.width} columns "
                               f"where {len(lines) - 1} rows x {len(header)} columns were expected")
    df.columns = header
    df = df.with_columns(pl.Series(_LINE, lines[1:], dtype=pl.Int64))
    for name, old in aliases.items():
        if name not in df.columns and old in df.columns:
            df = df.rename({old: name})
    return df


def _read_header(path: Path) -> list[str]:
    """Parse the header line from at most HEADER_LIMIT bytes (fails fast on garbage files)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_LIMIT)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except OSError as exc:
        raise InputError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise InputError(path, "the file is empty (0 bytes); expected a header line with the column names "
                               "followed by one line per row")
    end = head.find(b"\n")
    if end < 0 and len(head) >= HEADER_LIMIT:
        raise InputError(path, f"the first line is longer than {HEADER_LIMIT // 1024} KB, so it is not a CSV "
                               "header line; this does not look like a CSV file", row=1)
    raw = head if end < 0 else head[:end]
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"the header line is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded); "
                               "this does not look like a CSV file, or it was saved in another encoding "
                               "(save it as UTF-8)", row=1) from None
    if "\x00" in text:
        raise InputError(path, "the header line contains NUL bytes; this does not look like a CSV text file", row=1)
    if "\r" in text:
        raise InputError(path, "lines end with a bare carriage return (old Mac format); save the file with "
                               "Windows (CR LF) or Unix (LF) line ends", row=1)
    if not text.strip():
        raise InputError(path, "the first line (the header) is empty; expected the column names", row=1)
    try:
        header = next(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise InputError(path, f"the header line is not valid CSV ({exc})", row=1) from None
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise InputError(path, "the header names these columns more than once: "
                               + ", ".join(repr(name) for name in duplicated), row=1)
    return header


def _check_columns(path: Path, header: list[str], required: tuple[str, ...], aliases: dict[str, str]) -> None:
    missing = [c for c in required if c not in header and aliases.get(c) not in header]
    if not missing:
        return
    hints = []
    for name in missing:
        for col in header:
            if col != name and col.strip().lower() in {name.lower(), (aliases.get(name) or name).lower()}:
                hints.append(f"column {col!r} looks like {name!r} (column names must match exactly, "
                             "including upper/lower case and spaces)")
        if name in aliases:
            hints.append(f"older files call {name!r} {aliases[name]!r}; either name is accepted")
        elif name == "legislator_slug" and "slug" in header:
            hints.append("this file has a column 'slug': it must be called 'legislator_slug' here "
                         "(only the legislators file accepts the older name 'slug')")
    shown = ", ".join(repr(c) for c in header[:30]) + (", ..." if len(header) > 30 else "")
    if len(shown) > 400:
        shown = shown[:400] + "..."
    plural = "s" if len(missing) > 1 else ""
    message = (f"missing required column{plural} {', '.join(repr(c) for c in missing)}; "
               f"the header has {shown}")
    if hints:
        message += ". " + "; ".join(hints)
    raise InputError(path, message, row=1)


def _record_lines(path: Path, data: bytes, n_columns: int) -> np.ndarray:
    """Check the CSV structure of `data` (ends with b"\\n") and return each record's first line.

    Record 0 is the header. Quotes are RFC 4180: a field is either unquoted (no quotes inside) or
    wholly quoted with inner quotes doubled; inside quotes, commas and line ends are data.
    """
    a = np.frombuffer(data, dtype=np.uint8)
    n = a.size
    newlines = np.flatnonzero(a == 10)

    def line_of(pos: int) -> int:
        return int(np.searchsorted(newlines, pos)) + 1  # newlines before pos, plus one

    quotes = np.flatnonzero(a == 34)
    commas = np.flatnonzero(a == 44)
    returns = np.flatnonzero(a == 13)
    ends = newlines
    if quotes.size:
        if quotes.size % 2:
            raise InputError(path, "a quoted value starts on this line but its closing quote (\") is missing; "
                                   "the file may be cut off, or a quote inside a value is not doubled (\"\")",
                             row=line_of(int(quotes[-1])))
        opens, closes = quotes[0::2], quotes[1::2]
        before = a[np.maximum(opens - 1, 0)]
        bad_open = opens[(opens > 0) & ~np.isin(before, (44, 10, 34))]
        after = a[np.minimum(closes + 1, n - 1)]
        bad_close = closes[(closes + 1 < n) & ~np.isin(after, (44, 13, 10, 34))]
        bad = np.concatenate((bad_open, bad_close))
        if bad.size:
            raise InputError(path, "misplaced quote character (\"): a value containing quotes must be wrapped "
                                   "in quotes as a whole, with each quote inside it doubled (\"\")",
                             row=line_of(int(bad.min())))

        def outside(pos: np.ndarray) -> np.ndarray:
            return np.searchsorted(quotes, pos) % 2 == 0

        ends = newlines[outside(newlines)]
        commas = commas[outside(commas)]
        returns = returns[outside(returns)]
    if returns.size:
        stray = returns[a[np.minimum(returns + 1, n - 1)] != 10]
        if stray.size:
            raise InputError(path, "a carriage return (CR) in the middle of a line outside quotes; values "
                                   "containing line breaks must be quoted", row=line_of(int(stray[0])))
    starts = np.concatenate(([0], ends[:-1] + 1))
    fields = np.diff(np.concatenate(([0], np.searchsorted(commas, ends)))) + 1
    lines = np.searchsorted(newlines, starts) + 1
    wrong = np.flatnonzero(fields != n_columns)
    if wrong.size:
        i = int(wrong[0])
        length = int(ends[i] - starts[i])
        if length == 0 or (length == 1 and a[starts[i]] == 13):
            problem = "this line is blank; remove empty lines from the file"
        else:
            problem = f"this row has {fields[i]} fields but the header has {n_columns} columns"
            if i == len(ends) - 1:
                problem += " (is the file cut off? the last line looks truncated)"
            elif fields[i] > n_columns:
                problem += " (a value containing a comma must be wrapped in quotes)"
        if wrong.size > 1:
            problem += f"; {wrong.size - 1} more line(s) have the wrong number of fields"
        raise InputError(path, problem, row=int(lines[i]))
    return lines


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []


def _text(df: pl.DataFrame, name: str) -> pl.Expr:
    """A text column with "" as null; null when the column is absent."""
    if name not in df.columns:
        return pl.lit(None, pl.String).alias(name)
    return pl.when(pl.col(name) == "").then(None).otherwise(pl.col(name)).alias(name)


def _chamber_from_slug(slug: pl.Expr) -> pl.Expr:
    expr = pl.lit(None, pl.String)
    for chamber, prefix in SLUG_PREFIX.items():
        expr = pl.when(slug.str.starts_with(prefix)).then(pl.lit(chamber)).otherwise(expr)
    return expr


def _with_order(rollcalls: pl.DataFrame) -> pl.DataFrame:
    """Add `order`: 0-based position by vote_datetime (empty last), then vote_id (DATA.md 4.2)."""
    index = "__index"
    order = (
        rollcalls.select("vote_id", "vote_datetime").with_row_index(index)
        .sort(["vote_datetime", "vote_id"], nulls_last=True, maintain_order=True)
        .with_row_index("order")
        .sort(index)
        .get_column("order")
        .cast(pl.Int64)
    )
    return rollcalls.with_columns(order.alias("order"))


def _check_chamber(file: str, df: pl.DataFrame) -> None:
    _fail_if(file, df, ~pl.col("chamber").is_in(list(_CHAMBER_OF_VALUE)), "chamber", lambda r: (
        (f"unknown chamber {r['chamber']!r}" if r["chamber"] else "the chamber is empty")
        + "; expected 'House' or 'Senate'"))


def _code_hint(value: str) -> str:
    for code in VOTE_CODES:
        if value != code and value.strip().lower() == code.lower():
            return f" (did you mean {code!r}? codes must match exactly)"
    return ""


def _fail_if(file: str, df: pl.DataFrame, condition: pl.Expr, column: str | None, describe) -> None:
    bad = df.filter(condition)
    if bad.height:
        _raise_first(file, bad, column, describe)


def _raise_first(file: str, bad: pl.DataFrame, column: str | None, describe) -> None:
    first = bad.sort(_LINE).row(0, named=True)
    problem = describe(first)
    if bad.height > 1:
        problem += f" ({bad.height - 1} more row(s) have this problem)"
    raise InputError(file, problem, row=first[_LINE], column=column)


def _report_rows(problems: list[Problem], file: str, rows: pl.DataFrame, column: str | None, describe) -> None:
    """One Problem per row (sorted by line), at most MAX_LISTED, then one summary."""
    if not rows.height:
        return
    rows = rows.sort(_LINE)
    for r in rows.head(MAX_LISTED).iter_rows(named=True):
        problems.append(Problem(file, r[_LINE], column, describe(r)))
    if rows.height > MAX_LISTED:
        problems.append(Problem(file, None, column,
                                f"... and {rows.height - MAX_LISTED} more row(s) with the same kind of problem"))


def _dedupe(df: pl.DataFrame, key: list[str], compare: list[str], file: str, what: str,
            problems: list[Problem]) -> pl.DataFrame:
    """Rows repeated on `key`: identical on `compare` -> keep the first + Problem; else InputError."""
    repeated = df.filter(pl.struct(key).is_duplicated())
    if not repeated.height:
        return df
    groups = (repeated.group_by(key).agg(pl.struct(compare).n_unique().alias("__variants"),
                                         pl.col(_LINE).min().alias("__first")))
    conflicts = groups.filter(pl.col("__variants") > 1).sort("__first")
    key_text = lambda r: ", ".join(f"{k} {r[k]!r}" for k in key)  # noqa: E731
    if conflicts.height:
        bad = conflicts.row(0, named=True)
        rows = repeated.filter(pl.all_horizontal(pl.col(k) == bad[k] for k in key)).sort(_LINE)
        first = rows.row(0, named=True)
        other = next(r for r in rows.iter_rows(named=True) if any(r[c] != first[c] for c in compare))
        if compare == ["vote"]:
            problem = (f"legislator {first['legislator_slug']!r} has two different votes on roll call "
                       f"{first['vote_id']!r}: {first['vote']!r} on line {first[_LINE]} and {other['vote']!r} "
                       f"on line {other[_LINE]}; a legislator votes once per roll call")
            column = "vote"
        else:
            differing = [c for c in compare if first[c] != other[c]]
            problem = (f"{what} with {key_text(first)} appears on line {first[_LINE]} and again on line "
                       f"{other[_LINE]} with different values (column(s) {', '.join(differing)}); "
                       f"{'/'.join(key)} must be unique")
            column = differing[0] if len(differing) == 1 else None
        if conflicts.height > 1:
            problem += f" ({conflicts.height - 1} more conflicting duplicate(s))"
        raise InputError(file, problem, row=other[_LINE], column=column)
    later = repeated.filter(~pl.struct(key).is_first_distinct()).join(
        groups.select(*key, "__first"), on=key, how="left", maintain_order="left")
    _report_rows(problems, file, later, None, lambda r: (
        f"duplicate row: {key_text(r)} already appears on line {r['__first']} with the same "
        f"{'vote' if compare == ['vote'] else 'values'}; the repeated row was ignored"))
    return df.filter(pl.struct(key).is_first_distinct())
