"""The person table of a legislature: who is the same person across sessions and chambers.

The common scale (DESIGN.md 6b) bridges chamber-sessions through people who served in several
of them. This module decides who those people are, once, so every later step joins on one table.

**Identity rule** (../shared/data/README.md): a legislator row's person is

* ``ocd:<ocd_id>`` where the row's ``ocd_id`` is filled (Open Civic Data person id, stable across
  sessions and chambers);
* otherwise ``slug:<slug without its chamber prefix>``: ``rep_blunt_roy_29735`` and
  ``sen_blunt_roy_29735`` are both ``slug:blunt_roy_29735``;
* a row without ``ocd_id`` whose slug stem appears elsewhere in the input with exactly one
  ``ocd_id`` takes that ``ocd_id`` (older files of a legislature lack the column, newer ones fill it;
  without this the same person would be two people). A stem seen with several ``ocd_id`` values is
  ambiguous and keeps its ``slug:`` id.

A party switcher who got a new id (Voteview gives a new ICPSR id) stays two people unless the
override file merges them.

**Override file** (optional, edited by the user): a UTF-8 CSV with a header line holding at least
the columns ``action,id,other_id`` (in this order; more columns, such as ``note``, are allowed and
ignored). Blank lines and lines starting with ``#`` are skipped. One row per action:

====================================  ==========================================================
``merge,<ref>,<ref>``                 the two people become one. A ``<ref>`` is a person id
                                      (``ocd:...``, ``slug:...``, ``split:...``) or a legislator slug
                                      as written in the files (``sen_jeffords_james_94240``).
``split,<slug>,``                     every row with that slug becomes its own person
                                      ``split:<slug>``.
``split,<slug>,<session key>``        only that slug's rows in that session (``us_congress.107th_2001-2002``)
                                      become their own person ``split:<session key>:<slug>``.
====================================  ==========================================================

Splits are applied before merges (so a split-off row can then be merged with someone else);
merges are transitive and the merged person keeps the alphabetically first of its ids.
Problems raise :class:`schema.InputError` naming the file, the line and the problem: unknown action,
wrong number of fields, a ref that names nobody in the input, a merge of a person with itself, and a
merge of two people who sat in the same chamber-session at once (two seats cannot be one person).
"At once" is decided from the votes when they are given for that chamber-session (the two slugs
voted on a common roll call: a mid-session party switcher's two ids never do); without them, any
two slugs of one chamber-session count as "at once".
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from legis_assets.core.schema import SLUG_PREFIX, InputError, LegisError, SessionKey, validate_chamber

if TYPE_CHECKING:
    from legis_assets.core.ingest import SessionTables

__all__ = [
    "PEOPLE_COLUMNS",
    "OVERRIDE_ACTIONS",
    "Override",
    "session_sort_key",
    "slug_stem",
    "slug_person_id",
    "read_overrides",
    "build_people",
    "chamber_inputs",
]

#: columns of the person table, in order
PEOPLE_COLUMNS = (
    "person_id",
    "session_key",
    "legislature",
    "session",
    "session_order",
    "chamber",
    "legislator_slug",
    "name",
    "full_name",
    "party",
    "ocd_id",
    "identity",
)
OVERRIDE_ACTIONS = ("merge", "split")
OVERRIDE_HEADER = ("action", "id", "other_id")

_YEAR_RE = re.compile(r"(?<!\d)(1[89]\d\d|2\d\d\d)(?!\d)")
_PREFIXES = tuple(SLUG_PREFIX.values())
_PREFIX_RE = "^(" + "|".join(re.escape(p) for p in _PREFIXES) + ")"


# ---------------------------------------------------------------------------------------------
# small helpers (public: the model and the simulator use them)
# ---------------------------------------------------------------------------------------------


def session_sort_key(session_key: str) -> tuple:
    """Time order of sessions: latest year in the directory name, then earliest year, then the key.

    ``kansas.90th_2023-2024`` < ``kansas.2024s`` < ``kansas.91st_2025-2026``; a name without years
    sorts first. Works on a bare session directory name too.
    """
    session = session_key.split(".", 1)[-1]
    years = [int(y) for y in _YEAR_RE.findall(session)]
    return (max(years) if years else -1, min(years) if years else -1, session_key)


def slug_stem(slug: str) -> str:
    """The slug without its chamber prefix (``rep_`` / ``sen_``); unchanged if it has none."""
    for prefix in _PREFIXES:
        if slug.startswith(prefix):
            return slug[len(prefix) :]
    return slug


def slug_person_id(slug: str) -> str:
    """The person id the identity rule gives a slug without an ``ocd_id``: ``slug:<stem>``."""
    return f"slug:{slug_stem(slug)}"


# ---------------------------------------------------------------------------------------------
# overrides
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """One line of the override file."""

    action: str  # "merge" | "split"
    id: str
    other_id: str | None
    line: int  # 1-based line number in the file (header = line 1)
    file: str


def read_overrides(path: str | Path) -> list[Override]:
    """Parse an override file (format in the module docstring); checks the syntax only.

    Whether the ids name anyone is checked by :func:`build_people`, which knows the people.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "override file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            path,
            f"the override file is not UTF-8 text (byte at offset {exc.start} cannot be decoded); save it as UTF-8",
        ) from None
    except OSError as exc:
        raise InputError(path, f"the override file cannot be read ({exc.strerror or exc})") from exc
    reader = csv.reader(text.splitlines(), strict=True)
    rows: list[tuple[int, list[str]]] = []  # (first line of the record, fields)
    line = 1
    try:
        for record in reader:
            rows.append((line, [field.strip() for field in record]))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(path, f"not valid CSV ({exc})", row=line) from None
    rows = [(n, r) for n, r in rows if any(r) and not r[0].startswith("#")]
    if not rows:
        raise InputError(
            path,
            "the override file is empty; expected a header line 'action,id,other_id' and one line per merge or split",
            row=1,
        )
    header_line, header = rows[0]
    if tuple(header[:3]) != OVERRIDE_HEADER:
        raise InputError(
            path, f"the header line must start with 'action,id,other_id' (found {','.join(header)!r})", row=header_line
        )
    width = len(header)
    overrides: list[Override] = []
    for number, record in rows[1:]:
        if len(record) != width:
            raise InputError(
                path,
                f"this line has {len(record)} fields but the header has {width} columns ({','.join(header)})",
                row=number,
            )
        action, ref, other = record[0].lower(), record[1], record[2] or None
        if action not in OVERRIDE_ACTIONS:
            raise InputError(
                path,
                f"unknown action {record[0]!r}; expected one of {', '.join(OVERRIDE_ACTIONS)}",
                row=number,
                column="action",
            )
        if not ref:
            raise InputError(path, f"the {action} has an empty id", row=number, column="id")
        if action == "merge":
            if other is None:
                raise InputError(path, "a merge needs two ids (id and other_id)", row=number, column="other_id")
            if other == ref:
                raise InputError(path, f"merge of {ref!r} with itself", row=number, column="other_id")
        if action == "split":
            if ref.startswith(("ocd:", "slug:", "split:")) or not ref.startswith(_PREFIXES):
                raise InputError(
                    path, f"split takes a legislator slug (rep_... / sen_...), not {ref!r}", row=number, column="id"
                )
            if other is not None:
                try:
                    SessionKey.parse(other)
                except LegisError as exc:
                    raise InputError(
                        path, f"the other_id of a split is a session key: {exc}", row=number, column="other_id"
                    ) from None
        overrides.append(Override(action, ref, other, number, str(path)))
    return overrides


# ---------------------------------------------------------------------------------------------
# the person table
# ---------------------------------------------------------------------------------------------


def build_people(
    legislators: Sequence[tuple[str, str, pl.DataFrame]],
    overrides: str | Path | None = None,
    votes: Mapping[tuple[str, str], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """The person table of one legislature (or a group of them).

    `legislators`: one ``(session_key, chamber, frame)`` per chamber-session, where `session_key` is
    ``<legislature>.<session dir>`` (:class:`schema.SessionKey`), `chamber` is ``house`` / ``senate``
    and `frame` is that chamber's legislators table as :func:`ingest.chamber_tables` gives it
    (``legislator_slug`` required; ``name``, ``full_name``, ``party``, ``ocd_id`` used when present).
    `overrides`: an optional override file (module docstring). `votes`: optional
    ``{(session_key, chamber): votes frame with vote_id, legislator_slug}`` used only to decide
    whether two slugs merged by an override sat in the chamber-session at the same time.

    Returns one row per (person_id, session_key, chamber, legislator_slug) with the columns
    :data:`PEOPLE_COLUMNS`: ``session_order`` is the 0-based time order of the session
    (:func:`session_sort_key`; equal within a session key), ``identity`` says how the person id was
    found (``ocd``, ``slug``, ``override``). Sorted by session_order, chamber, legislator_slug.
    """
    frames = []
    seen: set[tuple[str, str]] = set()
    for session_key, chamber, frame in legislators:
        key = SessionKey.parse(session_key)
        chamber = validate_chamber(str(chamber).lower())
        if (key.key, chamber) in seen:
            raise LegisError(f"chamber-session {key.key} {chamber} is given twice")
        seen.add((key.key, chamber))
        if "legislator_slug" not in frame.columns and "slug" in frame.columns:
            frame = frame.rename({"slug": "legislator_slug"})
        if "legislator_slug" not in frame.columns:
            raise LegisError(f"the legislators of {key.key} {chamber} have no legislator_slug column")
        text = {
            c: (pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String)).alias(c)
            for c in ("legislator_slug", "name", "full_name", "party", "ocd_id")
        }
        frames.append(
            frame.select(
                pl.lit(key.key).alias("session_key"),
                pl.lit(key.legislature).alias("legislature"),
                pl.lit(key.session).alias("session"),
                pl.lit(chamber).alias("chamber"),
                *text.values(),
            )
        )
    schema = {
        "session_key": pl.String,
        "legislature": pl.String,
        "session": pl.String,
        "chamber": pl.String,
        "legislator_slug": pl.String,
        "name": pl.String,
        "full_name": pl.String,
        "party": pl.String,
        "ocd_id": pl.String,
    }
    rows = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
    rows = rows.filter(pl.col("legislator_slug").is_not_null() & (pl.col("legislator_slug") != ""))
    rows = rows.with_columns(
        pl.when(pl.col("ocd_id").str.strip_chars() == "")
        .then(None)
        .otherwise(pl.col("ocd_id").str.strip_chars())
        .alias("ocd_id")
    )
    dup = rows.filter(pl.struct("session_key", "chamber", "legislator_slug").is_duplicated())
    if dup.height:
        first = dup.row(0, named=True)
        raise LegisError(
            f"legislator {first['legislator_slug']!r} is listed twice in {first['session_key']} {first['chamber']}"
        )

    order = {k: i for i, k in enumerate(sorted(rows["session_key"].unique().to_list(), key=session_sort_key))}
    stem = pl.col("legislator_slug").str.replace(_PREFIX_RE, "")
    rows = rows.with_columns(
        pl.col("session_key").replace_strict(order, return_dtype=pl.Int64).alias("session_order"),
        stem.alias("_stem"),
    )
    # a row without ocd_id takes the ocd_id its slug stem has elsewhere, when that is unambiguous
    stem_ocd = (
        rows.filter(pl.col("ocd_id").is_not_null())
        .group_by("_stem")
        .agg(pl.col("ocd_id").unique().alias("_ocds"))
        .filter(pl.col("_ocds").list.len() == 1)
        .select("_stem", pl.col("_ocds").list.first().alias("_stem_ocd"))
    )
    rows = rows.join(stem_ocd, on="_stem", how="left", maintain_order="left")
    ocd = pl.coalesce("ocd_id", "_stem_ocd")
    rows = rows.with_columns(
        pl.when(ocd.is_not_null())
        .then(pl.lit("ocd:") + ocd)
        .otherwise(pl.lit("slug:") + pl.col("_stem"))
        .alias("person_id"),
        pl.when(ocd.is_not_null()).then(pl.lit("ocd")).otherwise(pl.lit("slug")).alias("identity"),
    ).drop("_stem", "_stem_ocd")

    if overrides is not None:
        rows = _apply_overrides(rows, read_overrides(overrides), votes)
    return rows.select(PEOPLE_COLUMNS).sort("session_order", "chamber", "legislator_slug")


def chamber_inputs(
    sessions: Mapping[str, SessionTables],
) -> tuple[list[tuple[str, str, pl.DataFrame]], dict[tuple[str, str], pl.DataFrame]]:
    """The inputs of :func:`build_people` from read sessions (``{session_key: ingest.read_session(...)}``).

    Returns ``(legislators, votes)``: one ``(session_key, chamber, legislators)`` per chamber that has
    legislators, and ``{(session_key, chamber): votes (vote_id, legislator_slug)}``, in time order.
    """
    from legis_assets.core.ingest import chamber_tables

    legislators: list[tuple[str, str, pl.DataFrame]] = []
    votes: dict[tuple[str, str], pl.DataFrame] = {}
    for session_key in sorted(sessions, key=session_sort_key):
        for chamber in SLUG_PREFIX:
            part = chamber_tables(sessions[session_key], chamber)
            if part.legislators.height:
                legislators.append((session_key, chamber, part.legislators))
                votes[(session_key, chamber)] = part.votes.select("vote_id", "legislator_slug")
    return legislators, votes


def _apply_overrides(
    rows: pl.DataFrame, overrides: list[Override], votes: Mapping[tuple[str, str], pl.DataFrame] | None
) -> pl.DataFrame:
    slugs = set(rows["legislator_slug"].to_list())
    # splits first: the named rows become their own person
    for o in (o for o in overrides if o.action == "split"):
        if o.id not in slugs:
            raise InputError(
                o.file, f"split names {o.id!r}, which is no legislator slug in {_scope(rows)}", row=o.line, column="id"
            )
        target = pl.col("legislator_slug") == o.id
        new_id = f"split:{o.id}"
        if o.other_id is not None:
            if not rows.filter(target & (pl.col("session_key") == o.other_id)).height:
                raise InputError(
                    o.file,
                    f"split names {o.id!r} in session {o.other_id!r}, but that slug is not in that session",
                    row=o.line,
                    column="other_id",
                )
            target = target & (pl.col("session_key") == o.other_id)
            new_id = f"split:{o.other_id}:{o.id}"
        rows = rows.with_columns(
            pl.when(target).then(pl.lit(new_id)).otherwise(pl.col("person_id")).alias("person_id"),
            pl.when(target).then(pl.lit("override")).otherwise(pl.col("identity")).alias("identity"),
        )

    merges = [o for o in overrides if o.action == "merge"]
    if not merges:
        return rows
    person_ids = sorted(set(rows["person_id"].to_list()))
    index = {p: i for i, p in enumerate(person_ids)}
    slug_person = dict(zip(rows["legislator_slug"].to_list(), rows["person_id"].to_list()))
    # a slug may belong to several people only after a session-restricted split: refuse ambiguity
    slug_people = rows.group_by("legislator_slug").agg(pl.col("person_id").unique())
    ambiguous = {
        r["legislator_slug"]: r["person_id"] for r in slug_people.iter_rows(named=True) if len(r["person_id"]) > 1
    }

    def resolve(o: Override, ref: str, column: str) -> str:
        if ref in index:
            return ref
        if ref in ambiguous:
            raise InputError(
                o.file,
                f"{ref!r} belongs to several people after a split ("
                + ", ".join(sorted(ambiguous[ref]))
                + "); name the person id instead",
                row=o.line,
                column=column,
            )
        if ref in slug_person:
            return slug_person[ref]
        raise InputError(
            o.file,
            f"merge names {ref!r}, which is neither a person id nor a legislator slug in {_scope(rows)}",
            row=o.line,
            column=column,
        )

    pairs = []
    for o in merges:
        a, b = resolve(o, o.id, "id"), resolve(o, o.other_id or "", "other_id")
        if a == b:
            raise InputError(o.file, f"{o.id!r} and {o.other_id!r} are already the same person ({a})", row=o.line)
        pairs.append((o, a, b))
    n = len(person_ids)
    graph = coo_matrix(
        (np.ones(len(pairs)), ([index[a] for _, a, _ in pairs], [index[b] for _, _, b in pairs])), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    first_of: dict[int, str] = {}
    for p in person_ids:  # sorted: the alphabetically first id names the merged person
        first_of.setdefault(int(labels[index[p]]), p)
    merged_id = {p: first_of[int(labels[index[p]])] for p in person_ids}

    # refuse a merge that puts two slugs sitting at the same time in one chamber-session
    merged = rows.with_columns(pl.col("person_id").replace_strict(merged_id).alias("_merged"))
    clash = (
        merged.group_by("_merged", "session_key", "chamber")
        .agg(pl.col("legislator_slug"), pl.col("person_id"), pl.col("person_id").n_unique().alias("_n"))
        .filter(pl.col("_n") > 1)
    )
    for r in clash.sort("session_key", "chamber", "_merged").iter_rows(named=True):
        owner = dict(zip(r["legislator_slug"], r["person_id"]))  # slug -> person before the merges
        together = _sat_together(owner, votes, r["session_key"], r["chamber"])
        if together is None:
            continue
        slug_a, slug_b = together
        line_of = _first_joining(pairs, index, owner[slug_a], owner[slug_b])
        raise InputError(
            line_of.file,
            f"cannot merge: {slug_a!r} and {slug_b!r} both sat in {r['session_key']} "
            f"{r['chamber']} at the same time"
            + (
                ""
                if votes and (r["session_key"], r["chamber"]) in votes
                else " (no votes given for it, so any two members count as sitting at the same time)"
            )
            + "; one person holds one seat",
            row=line_of.line,
        )
    changed = pl.col("_merged") != pl.col("person_id")
    return merged.with_columns(
        pl.when(changed).then(pl.lit("override")).otherwise(pl.col("identity")).alias("identity"),
        pl.col("_merged").alias("person_id"),
    ).drop("_merged")


def _first_joining(pairs: list[tuple[Override, str, str]], index: dict[str, int], a: str, b: str) -> Override:
    """The first merge line (in file order) after which people `a` and `b` are one person."""
    n = len(index)
    for k in range(len(pairs)):
        rows = [index[x] for _, x, _ in pairs[: k + 1]]
        cols = [index[y] for _, _, y in pairs[: k + 1]]
        _, labels = connected_components(coo_matrix((np.ones(k + 1), (rows, cols)), shape=(n, n)), directed=False)
        if labels[index[a]] == labels[index[b]]:
            return pairs[k][0]
    raise AssertionError("the clash was not caused by the merges")  # unreachable: the clash comes from them


def _sat_together(owner: dict[str, str], votes, session_key: str, chamber: str) -> tuple[str, str] | None:
    """Two slugs of different people (`owner`: slug -> person) that sat at the same time, or None.

    With votes for the chamber-session: two slugs that voted on a common roll call. Without them,
    any two slugs of different people.
    """
    slugs = sorted(owner)
    pairs = [(a, b) for i, a in enumerate(slugs) for b in slugs[i + 1 :] if owner[a] != owner[b]]
    frame = votes.get((session_key, chamber)) if votes else None
    if frame is None:
        return pairs[0]
    voted = frame.filter(pl.col("legislator_slug").is_in(slugs)).group_by("legislator_slug").agg("vote_id")
    rollcalls = {s: set(ids) for s, ids in voted.iter_rows()}
    for a, b in pairs:
        if rollcalls.get(a, set()) & rollcalls.get(b, set()):
            return a, b
    return None


def _scope(rows: pl.DataFrame) -> str:
    keys = sorted(rows["session_key"].unique().to_list(), key=session_sort_key)
    return "the sessions read (" + ", ".join(keys) + ")"
