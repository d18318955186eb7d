"""Loading one session's three files into checked tables: the legislators, roll calls and votes
(repairs recorded as `Problem`s, fatal rows refused), the roll-call count check and the helpers
they share. core/ingest.py reads a session with these; csvread.py reads each CSV."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from legis_assets.core.csvread import _LINE, RowCheck, _fail_if, _read_csv
from legis_assets.core.schema import (
    CHAMBERS,
    INDEPENDENT,
    LEGISLATORS_COLUMNS,
    ROLLCALLS_COLUMNS,
    SLUG_PREFIX,
    VOTE_CODES,
    VOTES_COLUMNS,
    InputError,
)

log = logging.getLogger(__name__)

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
