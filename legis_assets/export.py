"""`legis-assets export`: the warehouse's tables as CSV or Parquet files.

Generic over the tables the warehouse holds (whatever steps wrote them, including tables added
later), for every partition or one session (and chamber). Each file is written atomically
(storage.write_atomic): an interrupted export never leaves a half-written file over a good one.
A table keyed by session x chamber is filtered to the asked session; a table without those
columns (the common scale's, keyed by `scale`) is exported only when no session is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from legis_assets.core.schema import LegisError, SessionKey, validate_chamber
from legis_assets.storage import PARTITION_COLUMNS, Warehouse, write_atomic

FORMATS = {"csv": ".csv", "parquet": ".parquet"}


@dataclass(frozen=True)
class Exported:
    table: str
    path: Path | None  # None: skipped
    rows: int
    note: str = ""


def _write(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        write_atomic(path, lambda tmp: frame.write_csv(tmp))
    else:
        write_atomic(path, lambda tmp: frame.write_parquet(tmp))


def export_tables(
    warehouse_path: Path,
    out_dir: Path,
    fmt: str = "csv",
    session: str | None = None,
    chamber: str | None = None,
) -> list[Exported]:
    """Write every warehouse table (rows of `session` / `chamber` when given) to
    `out_dir/<table>.<csv|parquet>`; returns what was written and what was skipped, and why."""
    if fmt not in FORMATS:
        raise LegisError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if chamber is not None:
        validate_chamber(chamber)
    key = SessionKey.parse(session).key if session is not None else None
    if not warehouse_path.exists():
        raise LegisError(f"no warehouse at {warehouse_path} yet: run `legis-assets run` first")
    wh = Warehouse(warehouse_path)
    tables = wh.tables()
    columns = {t: set(wh.query(f'SELECT * FROM "{t}" LIMIT 0').columns) for t in tables}
    partitioned = [t for t in tables if set(PARTITION_COLUMNS) <= columns[t]]
    if key is not None or chamber is not None:
        where, params = [], []
        if key is not None:
            where.append("session_key = ?")
            params.append(key)
        if chamber is not None:
            where.append("chamber = ?")
            params.append(chamber)
        known = set()
        for t in partitioned:
            known |= {
                tuple(r)
                for r in wh.query(f'SELECT DISTINCT session_key, chamber FROM "{t}"').iter_rows()  # noqa: S608
            }
        if not any((key is None or k == key) and (chamber is None or c == chamber) for k, c in known):
            have = ", ".join(sorted({f"{k} / {c}" for k, c in known})) or "nothing yet"
            asked = " / ".join(x for x in (key, chamber) if x)
            raise LegisError(f"the warehouse has no results for {asked}; it has: {have}")
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for t in tables:
        path = out_dir / f"{t}{FORMATS[fmt]}"
        if key is not None or chamber is not None:
            if t not in partitioned:
                done.append(Exported(t, None, 0, "not keyed by session and chamber (exported without --session)"))
                continue
            frame = wh.query(f'SELECT * FROM "{t}" WHERE {" AND ".join(where)}', params)  # noqa: S608
        else:
            frame = wh.query(f'SELECT * FROM "{t}"')  # noqa: S608
        _write(frame, path, fmt)
        done.append(Exported(t, path, frame.height))
    return done
