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

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from legis_assets.core.ingest_files import (
    LEGISLATORS_OUTPUT,
    ROLLCALLS_OUTPUT,
    VOTES_OUTPUT,
    Problem,
    _load_legislators,
    _load_rollcalls,
    _load_votes,
    _subdirs,
    _with_order,
)
from legis_assets.core.schema import (
    LEGISLATURE_RE,
    SESSION_DIR_RE,
    SLUG_PREFIX,
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


# ---------------------------------------------------------------------------------------------
# public types
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
