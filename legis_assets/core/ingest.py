"""Read and validate one session's scraper CSVs (../shared/DATA.md) into normalised polars tables.

Plain Python + polars (no Dagster). Every CSV is read with all columns as text and columns are
selected by name. Fatal problems raise :class:`schema.InputError` naming the file, the physical
line (header = line 1; lines are counted by their LF bytes, as ``wc -l``, ``grep -n`` and editors
do, so lines inside quoted multi-line values count) and the column;
non-fatal ones are collected as :class:`Problem` in ``SessionTables.problems``.

How a file is read (``_read_csv``):

1. only the first 64 KB are read to check the header line (so a huge garbage file fails fast,
   in bounded memory);
2. the whole file is read as bytes; a vectorised byte scan (numpy, ``_scan``) goes through it in
   blocks of 4 MB, carrying its state from block to block, and checks that it is UTF-8 text
   without NUL bytes and that the CSV structure holds: quotes well placed and closed, every record
   has as many fields as the header, no blank lines, no stray carriage returns. The first problem
   in file order is refused. The scan yields each record's physical line number, which travels
   with the rows (``_line``) so that later checks can name the line;
3. polars parses whole records in batches of about 16 MB (all columns as strings, empty fields as
   ``""``); the row checks that make a file fatal by themselves (e.g. an unknown chamber or vote
   code) run on each batch, and once one fails the batches are only counted, not kept. So the
   memory a refused file costs is bounded by a batch, not by the file.

Session folders and files reached through symbolic links must stay inside the data root
(``session_files``); ``discover_sessions`` skips, with a warning, a folder that leaves it.
"""

from __future__ import annotations

import codecs
import csv
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    OutsideDataRoot,
    validate_chamber,
)

log = logging.getLogger(__name__)

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
#: bytes scanned at a time by the structural check (bounds its temporary arrays)
SCAN_CHUNK = 4 * 2**20
#: bytes of whole records parsed by polars at a time (bounds the memory spent on a refused file)
PARSE_BATCH = 16 * 2**20
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
#: a row check: (condition that makes a row fatal, column to name, row -> problem text)
RowCheck = tuple[pl.Expr, "str | None", Callable[[dict], str]]
_LINE = "_line"  # physical line number of a row, carried through the checks
_BOM = b"\xef\xbb\xbf"
_VALID_CODES = ", ".join(repr(code) for code in VOTE_CODES)

VOTES_OUTPUT = (
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
)
ROLLCALLS_OUTPUT = (
    "vote_id",
    "chamber",
    "bill_number",
    "bill_title",
    "motion",
    "vote_type",
    "result",
    "vote_datetime",
    "vote_date",
    *COUNT_COLUMNS,
    "passed",
    "order",
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


def session_files(
    session_dir: Path, *, data_root: Path | None = None, allow_outside_root: bool = False
) -> dict[str, Path]:
    """The votes, roll-call and legislators files of a session directory (all must exist).

    The folder and each file must resolve (symbolic links followed) to a place inside `data_root`
    (default: the folder's grandparent, as in ``<data root>/<legislature>/<session>``); a link that
    leaves it raises :class:`schema.OutsideDataRoot`, naming the path and where it points, unless
    `allow_outside_root` is true (the app passes the LEGIS_ALLOW_OUTSIDE_DATA_ROOT setting).
    Links that stay inside the data root are followed.
    """
    session_dir = Path(session_dir)
    root = Path(data_root) if data_root is not None else Path(os.path.abspath(session_dir)).parent.parent
    allowed = bool(allow_outside_root)
    if not allowed:
        _refuse_outside_root(session_dir, root, "session folder")
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
    if not allowed:
        for path in files.values():
            _refuse_outside_root(path, root, "file")
    return files


def read_session(
    session_dir: Path, *, data_root: Path | None = None, allow_outside_root: bool = False
) -> SessionTables:
    """Read and validate the three files of one session directory (all chambers).

    `data_root` and `allow_outside_root`: see :func:`session_files` (symbolic links that leave the
    data root are refused by default)."""
    files = session_files(session_dir, data_root=data_root, allow_outside_root=allow_outside_root)
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


def discover_sessions(data_root: Path, *, allow_outside_root: bool = False) -> list[tuple[str, str]]:
    """(legislature, session dir) for every ``<root>/<legislature>/<session>/<session>_votes.csv``.

    Names that do not match ``schema.LEGISLATURE_RE`` / ``SESSION_DIR_RE`` (hidden folders such as
    ``.cache``, names with spaces or dots) are ignored. A missing data root gives an empty list.
    A legislature or session folder that is a symbolic link leading outside the data root is
    skipped with a logged warning (unless `allow_outside_root`: the app passes the setting
    LEGIS_ALLOW_OUTSIDE_DATA_ROOT); asked for by name, such a session is refused by
    :func:`session_files` / :func:`read_session` with an error saying where it points.
    """
    root = Path(data_root)
    allowed = bool(allow_outside_root)
    found: list[tuple[str, str]] = []
    for legislature in _subdirs(root):
        if not LEGISLATURE_RE.fullmatch(legislature.name) or not (allowed or _inside_or_warn(legislature, root)):
            continue
        for session in _subdirs(legislature):
            if not SESSION_DIR_RE.fullmatch(session.name) or not (allowed or _inside_or_warn(session, root)):
                continue
            if (session / f"{session.name}_votes.csv").is_file():
                found.append((legislature.name, session.name))
    return sorted(found)


def _refuse_outside_root(path: Path, data_root: Path, what: str) -> None:
    """Raise OutsideDataRoot when `path` (symbolic links followed) is not inside `data_root`."""
    path = Path(path)
    try:
        root = Path(data_root).resolve()
        target = path.resolve()
    except (OSError, RuntimeError) as exc:  # e.g. a symbolic link loop
        raise OutsideDataRoot(path, f"the {what} cannot be resolved ({exc}); refused") from None
    if target == root or target.is_relative_to(root):
        return
    link = _first_link(path, Path(data_root))
    if link is None:
        where = f"resolves to {target}"
    elif link == Path(os.path.abspath(path)):
        where = f"is a symbolic link to {os.readlink(link)}" + (
            f" (resolved: {target})" if str(target) != os.readlink(link) else ""
        )
    else:
        where = f"resolves to {target} through the symbolic link {link} -> {os.readlink(link)}"
    raise OutsideDataRoot(
        path,
        (
            f"this {what} {where}, which is outside the data root {root}; refused: only folders and files "
            f"inside the data root are read (set LEGIS_ALLOW_OUTSIDE_DATA_ROOT=1 to follow links that leave it)"
        ),
    )


def _first_link(path: Path, data_root: Path) -> Path | None:
    """The first symbolic link on the way from `data_root` down to `path` (absolute, not resolved)."""
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(data_root))
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _inside_or_warn(folder: Path, data_root: Path) -> bool:
    try:
        _refuse_outside_root(folder, data_root, "folder")
    except OutsideDataRoot as err:
        log.warning("skipped: %s", err)
        return False
    return True


# ---------------------------------------------------------------------------------------------
# the three files
# ---------------------------------------------------------------------------------------------


def _load_legislators(path: Path, problems: list[Problem]) -> pl.DataFrame:
    df = _read_csv(path, LEGISLATORS_COLUMNS, aliases={"legislator_slug": "slug"})
    file = str(path)

    empty = df.filter(pl.col("legislator_slug") == "")
    _report_rows(
        problems,
        file,
        empty,
        "legislator_slug",
        lambda r: "the legislator_slug is empty; the row was ignored (it cannot be joined to any vote)",
    )
    df = df.filter(pl.col("legislator_slug") != "")
    df = _dedupe(df, ["legislator_slug"], [c for c in df.columns if c != _LINE], file, "legislator", problems)

    prefix_chamber = _chamber_from_slug(pl.col("legislator_slug"))
    bad = df.filter(~pl.col("chamber").is_in(list(_CHAMBER_OF_VALUE)) & (pl.col("chamber") != ""))
    if bad.height:
        _raise_first(file, bad, "chamber", lambda r: f"unknown chamber {r['chamber']!r}; expected 'House' or 'Senate'")
    unknown = df.filter((pl.col("chamber") == "") & prefix_chamber.is_null())
    if unknown.height:
        _raise_first(
            file,
            unknown,
            "chamber",
            lambda r: (
                f"the chamber of legislator {r['legislator_slug']!r} is empty and the slug does not start "
                "with 'rep_' (House) or 'sen_' (Senate); fill in 'House' or 'Senate'"
            ),
        )
    _report_rows(
        problems,
        file,
        df.filter(pl.col("chamber") == ""),
        "chamber",
        lambda r: f"the chamber of legislator {r['legislator_slug']!r} is empty; taken from the slug prefix",
    )
    chamber = (
        pl.when(pl.col("chamber") == "")
        .then(prefix_chamber)
        .otherwise(pl.col("chamber").replace_strict(_CHAMBER_OF_VALUE, default=None))
    )
    df = df.with_columns(chamber.alias("chamber"))
    _report_rows(
        problems,
        file,
        df.filter(prefix_chamber.is_not_null() & (prefix_chamber != pl.col("chamber"))),
        "chamber",
        lambda r: (
            f"legislator {r['legislator_slug']!r} is listed in the {CHAMBERS[r['chamber']]} but the slug "
            "prefix says otherwise; chamber analyses select legislators by slug prefix"
        ),
    )

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
    df = _read_csv(
        path,
        ROLLCALLS_COLUMNS,
        checks=(
            (pl.col("vote_id") == "", "vote_id", lambda r: "the vote_id is empty; every roll call needs an id"),
            _CHAMBER_CHECK,
        ),
    )
    file = str(path)
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
            problems.append(
                Problem(file, first[_LINE], name, f"{first[name]!r} is not a count (a whole number); ignored{more}")
            )
        columns.append(pl.when(parsed >= 0).then(parsed).otherwise(None).alias(name))

    if "passed" in df.columns:
        passed = pl.col("passed").str.strip_chars().str.to_lowercase()
        bad = df.filter(~passed.is_in(["", "true", "false"]))
        if bad.height:
            first = bad.row(0, named=True)
            more = f" ({bad.height} rows have such values)" if bad.height > 1 else ""
            problems.append(
                Problem(
                    file, first[_LINE], "passed", f"{first['passed']!r} is not True or False; read as unknown{more}"
                )
            )
        columns.append(
            pl.when(passed == "true")
            .then(True)
            .when(passed == "false")
            .then(False)
            .otherwise(None)
            .cast(pl.Boolean)
            .alias("passed")
        )
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
    df = _read_csv(
        path,
        VOTES_COLUMNS,
        checks=(
            _CHAMBER_CHECK,
            (pl.col("vote_id") == "", "vote_id", lambda r: "the vote_id is empty; every vote row needs one"),
            (
                ~pl.col("vote").is_in(list(VOTE_CODES)),
                "vote",
                lambda r: (
                    (f"unknown vote code {r['vote']!r}" if r["vote"] else "the vote is empty")
                    + f"{_code_hint(r['vote'])}; the valid codes are {_VALID_CODES}"
                ),
            ),
        ),
    )
    if "legislator_name" not in df.columns:
        df = df.with_columns(pl.lit("").alias("legislator_name"))

    df = df.with_columns(pl.col("chamber").replace_strict(_CHAMBER_OF_VALUE).alias("chamber"))

    empty_slug = df.filter(pl.col("legislator_slug") == "")
    _report_rows(
        problems,
        file,
        empty_slug,
        "legislator_slug",
        lambda r: (
            f"the legislator_slug is empty (legislator name {r.get('legislator_name') or ''!r}, roll call "
            f"{r['vote_id']!r}); the row was dropped because it cannot be joined to a legislator"
        ),
    )
    df = df.filter(pl.col("legislator_slug") != "")
    df = _dedupe(df, ["vote_id", "legislator_slug"], ["vote"], file, "vote", problems)

    rc = rollcalls.select(
        "vote_id",
        pl.col("chamber").alias("_rc_chamber"),
        pl.col(_LINE).alias("_rc_line"),
        *(pl.col(c).alias(f"_rc_{c}") for c in ("bill_number", "motion", "vote_datetime", "vote_date")),
    )
    df = df.join(rc, on="vote_id", how="left", maintain_order="left")
    _fail_if(
        file,
        df,
        pl.col("_rc_line").is_null(),
        "vote_id",
        lambda r: (
            f"roll call {r['vote_id']!r} is not in {rollcalls_name}; every vote row's vote_id must be listed there"
        ),
    )
    _fail_if(
        file,
        df,
        pl.col("chamber") != pl.col("_rc_chamber"),
        "chamber",
        lambda r: (
            f"the chamber is {CHAMBERS[r['chamber']]!r} but roll call {r['vote_id']!r} is a "
            f"{CHAMBERS[r['_rc_chamber']]} roll call ({rollcalls_name} line {r['_rc_line']})"
        ),
    )
    expected_prefix = pl.col("_rc_chamber").replace_strict(SLUG_PREFIX)
    _fail_if(
        file,
        df,
        ~pl.col("legislator_slug").str.starts_with(expected_prefix),
        "legislator_slug",
        lambda r: (
            f"legislator {r['legislator_slug']!r} votes on {CHAMBERS[r['_rc_chamber']]} roll call {r['vote_id']!r}, "
            f"but {CHAMBERS[r['_rc_chamber']]} members' slugs start with {SLUG_PREFIX[r['_rc_chamber']]!r} "
            "('rep_' = House, 'sen_' = Senate)"
        ),
    )

    _check_counts(
        rollcalls, pl.concat([df.select("vote_id", "vote"), empty_slug.select("vote_id", "vote")]), files, problems
    )

    # legislators who vote but are not in the legislators file: keep them as Independents
    missing = (
        df.join(legislators.select("legislator_slug"), on="legislator_slug", how="anti")
        .group_by("legislator_slug", maintain_order=True)
        .agg(pl.col(_LINE).min(), pl.col("legislator_name").filter(pl.col("legislator_name") != "").first())
        .sort(_LINE)
    )
    if missing.height:
        _report_rows(
            problems,
            file,
            missing,
            "legislator_slug",
            lambda r: (
                f"legislator {r['legislator_slug']!r} is not in {legislators_name}; their votes are kept and they "
                "are treated as an Independent (party unknown)"
            ),
        )
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
        *(
            pl.coalesce(_text(df, c), pl.col(f"_rc_{c}")).alias(c)
            for c in ("bill_number", "motion", "vote_datetime", "vote_date")
        ),
    )
    return votes, legislators


def _check_counts(
    rollcalls: pl.DataFrame, votes: pl.DataFrame, files: dict[str, Path], problems: list[Problem]
) -> None:
    """Roll-call count columns that disagree with the votes file -> Problem (DATA.md 3.2, 6)."""
    counted = votes.group_by("vote_id").agg(
        *((pl.col("vote") == code).sum().cast(pl.Int64).alias(f"_n_{col}") for col, code in COUNT_COLUMNS.items()),
        pl.len().cast(pl.Int64).alias("_n_total_votes"),
    )
    checked = [*COUNT_COLUMNS, "total_votes"]
    joined = rollcalls.join(counted, on="vote_id", how="left", maintain_order="left").with_columns(
        *(pl.col(f"_n_{c}").fill_null(0) for c in checked)
    )
    disagree = pl.any_horizontal(*(pl.col(c).is_not_null() & (pl.col(c) != pl.col(f"_n_{c}")) for c in checked))
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


def _read_csv(
    path: Path, required: tuple[str, ...], aliases: dict[str, str] | None = None, checks: tuple[RowCheck, ...] = ()
) -> pl.DataFrame:
    """All columns as strings ("" for empty) plus `_line`; `aliases` maps a column to its older name.

    `checks` are row checks (condition, column, describe) that make the file fatal when any row meets
    the condition: they run on each parsed batch, so a file whose rows fail one is refused without
    being held in memory as a whole. The error is the same as `_fail_if` applied in order to the
    whole table: the first check any row fails, its first row, and how many more rows fail it.
    """
    aliases = aliases or {}
    header = _read_header(path)
    _check_columns(path, header, required, aliases)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    start = len(_BOM) if data.startswith(_BOM) else 0
    # tolerate blank lines at the very end of the file (the scan adds one final line end)
    end = _end_without_blank_lines(data, start)
    lines, batches = _scan(path, data, start, end, header)
    if len(lines) < 1:
        raise InputError(path, "the file has a header line but no data rows")

    frames: list[pl.DataFrame] = []
    failed: list[list[Any]] = [[0, None] for _ in checks]  # per check: rows failing it, first failing row
    refused = False
    checked = {name for cond, _, _ in checks for name in cond.meta.root_names()}
    needed = sorted(header.index(name) for name in checked) if checked <= set(header) else None
    for first, last, lo, hi in batches:
        # once the file is refused, the later batches are parsed only to count: the checked columns
        df = _parse_batch(path, data[start + lo : start + hi], header, last - first, needed if refused else None)
        df = df.with_columns(pl.Series(_LINE, lines[first:last], dtype=pl.Int64))
        for name, old in aliases.items():
            if name not in df.columns and old in df.columns:
                df = df.rename({old: name})
        if checks:
            counts = df.select(*(cond.fill_null(False).sum().alias(str(i)) for i, (cond, _, _) in enumerate(checks)))
            for i, (cond, _, _) in enumerate(checks):
                n = int(counts[str(i)][0] or 0)
                if n and failed[i][1] is None:  # the batch is in file order: its first failing row
                    first_index = df.select(cond.fill_null(False).arg_true().first()).item()
                    failed[i][1] = df.row(first_index, named=True)
                failed[i][0] += n
            if any(n for n, _ in failed):
                refused = True  # keep counting, but keep nothing
                frames.clear()
                continue
        frames.append(df)
    for (count, first_row), (_, column, describe) in zip(failed, checks):
        if count:
            problem = describe(first_row)
            if count > 1:
                problem += f" ({count - 1} more row(s) have this problem)"
            raise InputError(path, problem, row=first_row[_LINE], column=column)
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical", rechunk=False)


def _parse_batch(
    path: Path, chunk: bytes, header: list[str], n_rows: int, columns: list[int] | None = None
) -> pl.DataFrame:
    """Whole records (no header line) parsed by polars as strings: all columns, or those at `columns`."""
    try:
        df = pl.read_csv(
            chunk,
            has_header=False,
            infer_schema=False,
            empty_string_is_null=False,
            raise_if_empty=False,
            columns=columns,
        )
    except Exception as exc:  # noqa: BLE001 - polars' parser may reject what the scan let through
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"the file could not be read as CSV ({reason})") from exc
    names = header if columns is None else [header[i] for i in columns]
    if df.height != n_rows or df.width != len(names):
        raise InputError(
            path,
            f"the file could not be read as CSV: found {df.height} rows x {df.width} columns "
            f"where {n_rows} rows x {len(names)} columns were expected",
        )
    df.columns = names
    return df


def _end_without_blank_lines(data: bytes, start: int) -> int:
    """The end of `data` without its trailing CR / LF bytes (looked at from the end, in blocks)."""
    a = np.frombuffer(data, dtype=np.uint8)
    hi = len(data)
    while hi > start:
        lo = max(start, hi - SCAN_CHUNK)
        keep = np.flatnonzero((a[lo:hi] != 10) & (a[lo:hi] != 13))
        if keep.size:
            return lo + int(keep[-1]) + 1
        hi = lo
    return start


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
        raise InputError(
            path,
            "the file is empty (0 bytes); expected a header line with the column names followed by one line per row",
        )
    end = head.find(b"\n")
    if end < 0 and len(head) >= HEADER_LIMIT:
        raise InputError(
            path,
            f"the first line is longer than {HEADER_LIMIT // 1024} KB, so it is not a CSV "
            "header line; this does not look like a CSV file",
            row=1,
        )
    raw = head if end < 0 else head[:end]
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            path,
            f"the header line is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded); "
            "this does not look like a CSV file, or it was saved in another encoding "
            "(save it as UTF-8)",
            row=1,
        ) from None
    if "\x00" in text:
        raise InputError(path, "the header line contains NUL bytes; this does not look like a CSV text file", row=1)
    if "\r" in text:
        raise InputError(
            path,
            "lines end with a bare carriage return (old Mac format); save the file with "
            "Windows (CR LF) or Unix (LF) line ends",
            row=1,
        )
    if not text.strip():
        raise InputError(path, "the first line (the header) is empty; expected the column names", row=1)
    try:
        header = next(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise InputError(path, f"the header line is not valid CSV ({exc})", row=1) from None
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise InputError(
            path,
            "the header names these columns more than once: " + ", ".join(repr(name) for name in duplicated),
            row=1,
        )
    return header


def _check_columns(path: Path, header: list[str], required: tuple[str, ...], aliases: dict[str, str]) -> None:
    missing = [c for c in required if c not in header and aliases.get(c) not in header]
    if not missing:
        return
    hints = []
    for name in missing:
        for col in header:
            if col != name and col.strip().lower() in {name.lower(), (aliases.get(name) or name).lower()}:
                hints.append(
                    f"column {col!r} looks like {name!r} (column names must match exactly, "
                    "including upper/lower case and spaces)"
                )
        if name in aliases:
            hints.append(f"older files call {name!r} {aliases[name]!r}; either name is accepted")
        elif name == "legislator_slug" and "slug" in header:
            hints.append(
                "this file has a column 'slug': it must be called 'legislator_slug' here "
                "(only the legislators file accepts the older name 'slug')"
            )
    shown = ", ".join(repr(c) for c in header[:30]) + (", ..." if len(header) > 30 else "")
    if len(shown) > 400:
        shown = shown[:400] + "..."
    plural = "s" if len(missing) > 1 else ""
    message = f"missing required column{plural} {', '.join(repr(c) for c in missing)}; the header has {shown}"
    if hints:
        message += ". " + "; ".join(hints)
    raise InputError(path, message, row=1)


def _scan(
    path: Path, data: bytes, start: int, end: int, header: list[str]
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Check that ``data[start:end]`` + a final line end is UTF-8 CSV text with the header's shape.

    Returns each data record's first physical line, and batches of whole records to parse:
    (first record, last record + 1, first byte, last byte + 1), bytes counted from `start`, records
    from the first data record. The text is scanned in blocks of SCAN_CHUNK bytes, carrying the
    quote state, the current record and the line count from block to block, so that memory does not
    grow with the file. Quotes are RFC 4180: a field is either unquoted (no quotes inside) or wholly
    quoted with inner quotes doubled; inside quotes, commas and line ends are data. The first
    problem in file order is reported (an unclosed quote once the end is reached); a record with the
    wrong number of fields is reported with the number of further such records.
    """
    a = np.frombuffer(data, dtype=np.uint8)[start:end]
    n = end - start  # the text is a[:n] plus a final line end at position n
    n_columns = len(header)
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0  # line ends before the block
    in_quotes = False
    record_start, record_line, record_commas = 0, 1, 0  # the record under way at the block's start
    last_quote_line = 1
    records = 0  # records completed, the header included
    body_start = None
    line_parts: list[np.ndarray] = []
    boundaries: list[tuple[int, int]] = []  # (records completed, byte after the last one's line end)
    wrong: tuple[int, str] | None = None  # the first record with a wrong field count: (line, problem)
    more_wrong = 0

    for s in range(0, n, SCAN_CHUNK):
        e = min(s + SCAN_CHUNK, n)
        block = a[s:e]
        parity = 1 if in_quotes else 0
        q = np.flatnonzero(block == 34) + s
        nl = np.flatnonzero(block == 10) + s
        if e == n:
            nl = np.append(nl, n)

        # the two closures are called only within this iteration (B023 does not apply)
        def line_of(pos: int) -> int:
            return lines_before + int(np.searchsorted(nl, pos)) + 1  # noqa: B023

        def outside(pos: np.ndarray) -> np.ndarray:
            """The positions that are not inside quotes."""
            if not q.size:  # noqa: B023
                return pos[:0] if parity else pos  # noqa: B023
            return pos[(np.searchsorted(q, pos) + parity) % 2 == 0]  # noqa: B023

        ends = outside(nl)
        commas = outside(np.flatnonzero(block == 44) + s)
        if ends.size:
            before = np.searchsorted(commas, ends)  # outside commas in the block before each record end
            fields = np.diff(before, prepend=0) + 1
            fields[0] += record_commas
            starts = np.concatenate(([record_start], ends[:-1] + 1))
            first_lines = lines_before + np.searchsorted(nl, starts) + 1
            first_lines[0] = record_line
            bad_fields = np.flatnonzero(fields != n_columns)
        else:
            bad_fields = np.empty(0, dtype=np.int64)

        if wrong is not None:  # already refused: only count the further records with a wrong shape
            more_wrong += bad_fields.size
        else:
            found: list[tuple[int, int, str | None, str]] = []  # (position, line, column, problem)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(data[start + s : start + e], e == n)
            except UnicodeDecodeError as exc:
                pos = s - pending + exc.start
                found.append(
                    (
                        pos,
                        line_of(pos),
                        None,
                        f"the file is not valid UTF-8 text: byte 0x{exc.object[exc.start]:02x} on this line "
                        "cannot be decoded (was it saved as Windows-1252 / Latin-1, e.g. by Excel?); save "
                        "the file with UTF-8 encoding",
                    )
                )
            nul = np.flatnonzero(block == 0)
            if nul.size:
                pos = int(nul[0]) + s
                k = int(np.searchsorted(ends, pos))  # records of the block that end before it
                field = int(np.searchsorted(commas, pos)) - (int(before[k - 1]) if k else -record_commas)
                found.append(
                    (
                        pos,
                        line_of(pos),
                        header[field] if field < n_columns else None,
                        "a NUL byte (0x00) in this value: a CSV text file never holds NUL bytes, so the "
                        "file is corrupted (or it is not a text file); fix or re-create the file",
                    )
                )
            if q.size:
                opens, closes = q[parity::2], q[1 - parity :: 2]
                bad_open = opens[(opens > 0) & ~np.isin(a[np.maximum(opens - 1, 0)], (44, 10, 34))]
                bad_close = closes[(closes + 1 < n) & ~np.isin(a[np.minimum(closes + 1, n - 1)], (44, 13, 10, 34))]
                for bad in (bad_open, bad_close):
                    if bad.size:
                        found.append(
                            (
                                int(bad[0]),
                                line_of(int(bad[0])),
                                None,
                                'misplaced quote character ("): a value containing quotes must be wrapped '
                                'in quotes as a whole, with each quote inside it doubled ("")',
                            )
                        )
            returns = outside(np.flatnonzero(block == 13) + s)
            stray = returns[(returns + 1 < n) & (a[np.minimum(returns + 1, n - 1)] != 10)]
            if stray.size:
                found.append(
                    (
                        int(stray[0]),
                        line_of(int(stray[0])),
                        None,
                        "a carriage return (CR) in the middle of a line outside quotes; values containing "
                        "line breaks must be quoted",
                    )
                )
            if bad_fields.size:
                i = int(bad_fields[0])
                length = int(ends[i] - starts[i])
                if length == 0 or (length == 1 and a[starts[i]] == 13):
                    problem = "this line is blank; remove empty lines from the file"
                else:
                    problem = f"this row has {fields[i]} fields but the header has {n_columns} columns"
                    if ends[i] == n:
                        problem += " (is the file cut off? the last line looks truncated)"
                    elif fields[i] > n_columns:
                        problem += " (a value containing a comma must be wrapped in quotes)"
                found.append((int(ends[i]), int(first_lines[i]), None, problem))
            if found:
                pos, line, column, problem = min(found, key=lambda f: f[0])
                if not bad_fields.size or pos != int(ends[int(bad_fields[0])]):
                    raise InputError(path, problem, row=line, column=column)
                wrong, more_wrong = (line, problem), bad_fields.size - 1

        if q.size:
            last_quote_line = line_of(int(q[-1]))
        if ends.size:
            if wrong is None:
                if body_start is None:
                    body_start = int(ends[0]) + 1
                    first_lines = first_lines[1:]  # the header
                line_parts.append(first_lines)
                records += ends.size
                boundaries.append((records, int(ends[-1]) + 1))
            record_start = int(ends[-1]) + 1
            record_line = lines_before + int(np.searchsorted(nl, ends[-1], side="right")) + 1
            record_commas = commas.size - int(before[-1])
        else:
            record_commas += commas.size
        lines_before += nl.size
        in_quotes = bool((parity + q.size) % 2)

    if wrong is not None:
        line, problem = wrong
        if more_wrong:
            problem += f"; {more_wrong} more line(s) have the wrong number of fields"
        raise InputError(path, problem, row=line)
    if in_quotes:
        raise InputError(
            path,
            'a quoted value starts on this line but its closing quote (") is missing; '
            'the file may be cut off, or a quote inside a value is not doubled ("")',
            row=last_quote_line,
        )
    lines = np.concatenate(line_parts) if line_parts else np.empty(0, dtype=np.int64)
    batches = []
    first, lo = 1, body_start or n
    for k, (done, hi) in enumerate(boundaries):
        if done > first and (hi - lo >= PARSE_BATCH or k == len(boundaries) - 1):
            batches.append((first - 1, done - 1, lo, min(hi, n)))
            first, lo = done, hi
    return lines, batches


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
        rollcalls.select("vote_id", "vote_datetime")
        .with_row_index(index)
        .sort(["vote_datetime", "vote_id"], nulls_last=True, maintain_order=True)
        .with_row_index("order")
        .sort(index)
        .get_column("order")
        .cast(pl.Int64)
    )
    return rollcalls.with_columns(order.alias("order"))


#: a roll call's or vote row's chamber must be House or Senate (a row check of `_read_csv`)
_CHAMBER_CHECK: RowCheck = (
    ~pl.col("chamber").is_in(list(_CHAMBER_OF_VALUE)),
    "chamber",
    lambda r: (
        (f"unknown chamber {r['chamber']!r}" if r["chamber"] else "the chamber is empty")
        + "; expected 'House' or 'Senate'"
    ),
)


def _code_hint(value: str) -> str:
    for code in VOTE_CODES:
        if value != code and value.strip().lower() == code.lower():
            return f" (did you mean {code!r}? codes must match exactly)"
    return ""


def _fail_if(file: str, df: pl.DataFrame, condition: pl.Expr, column: str | None, describe) -> None:
    """InputError naming the first row (by line) that meets `condition` and how many more do; only
    that row is materialised, not every failing one."""
    stats = df.select(
        condition.fill_null(False).sum().alias("n"),
        pl.col(_LINE).filter(condition.fill_null(False)).min().alias("line"),
    )
    count = int(stats["n"][0] or 0)
    if not count:
        return
    line = stats["line"][0]
    first = df.filter(condition.fill_null(False) & (pl.col(_LINE) == line)).row(0, named=True)
    problem = describe(first)
    if count > 1:
        problem += f" ({count - 1} more row(s) have this problem)"
    raise InputError(file, problem, row=line, column=column)


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
        problems.append(
            Problem(file, None, column, f"... and {rows.height - MAX_LISTED} more row(s) with the same kind of problem")
        )


def _dedupe(
    df: pl.DataFrame, key: list[str], compare: list[str], file: str, what: str, problems: list[Problem]
) -> pl.DataFrame:
    """Rows repeated on `key`: identical on `compare` -> keep the first + Problem; else InputError."""
    repeated = df.filter(pl.struct(key).is_duplicated())
    if not repeated.height:
        return df
    groups = repeated.group_by(key).agg(
        pl.struct(compare).n_unique().alias("__variants"), pl.col(_LINE).min().alias("__first")
    )
    conflicts = groups.filter(pl.col("__variants") > 1).sort("__first")
    key_text = lambda r: ", ".join(f"{k} {r[k]!r}" for k in key)  # noqa: E731
    if conflicts.height:
        bad = conflicts.row(0, named=True)
        rows = repeated.filter(pl.all_horizontal(pl.col(k) == bad[k] for k in key)).sort(_LINE)
        first = rows.row(0, named=True)
        other = next(r for r in rows.iter_rows(named=True) if any(r[c] != first[c] for c in compare))
        column: str | None
        if compare == ["vote"]:
            problem = (
                f"legislator {first['legislator_slug']!r} has two different votes on roll call "
                f"{first['vote_id']!r}: {first['vote']!r} on line {first[_LINE]} and {other['vote']!r} "
                f"on line {other[_LINE]}; a legislator votes once per roll call"
            )
            column = "vote"
        else:
            differing = [c for c in compare if first[c] != other[c]]
            problem = (
                f"{what} with {key_text(first)} appears on line {first[_LINE]} and again on line "
                f"{other[_LINE]} with different values (column(s) {', '.join(differing)}); "
                f"{'/'.join(key)} must be unique"
            )
            column = differing[0] if len(differing) == 1 else None
        if conflicts.height > 1:
            problem += f" ({conflicts.height - 1} more conflicting duplicate(s))"
        raise InputError(file, problem, row=other[_LINE], column=column)
    later = repeated.filter(~pl.struct(key).is_first_distinct()).join(
        groups.select(*key, "__first"), on=key, how="left", maintain_order="left"
    )
    _report_rows(
        problems,
        file,
        later,
        None,
        lambda r: (
            f"duplicate row: {key_text(r)} already appears on line {r['__first']} with the same "
            f"{'vote' if compare == ['vote'] else 'values'}; the repeated row was ignored"
        ),
    )
    return df.filter(pl.struct(key).is_first_distinct())
