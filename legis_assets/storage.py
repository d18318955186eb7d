"""Where results live: the DuckDB warehouse (tables, by partition) and artifact files (traces,
reports), both written so that a crash or a failed run leaves the last good result in place.

* Warehouse: one DuckDB file. DuckDB allows one process to open it for writing at a time, so
  every connection (read or write) is taken under an exclusive `flock` on a sidecar lock file;
  concurrent runs queue instead of failing with "database is locked". A partition is replaced
  in one transaction (DELETE + INSERT + COMMIT): readers see the old rows or the new, never a mix,
  and a killed writer leaves the old rows (DuckDB's WAL rolls back the open transaction).
* Files: written to a temporary name in the same directory and moved into place with
  `os.replace`, which is atomic on one filesystem.

No Dagster imports: the CLI and the tests use this module directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import polars as pl

from legis_assets.core.schema import SessionKey, validate_chamber

TABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PARTITION_COLUMNS = ("session_key", "chamber")


def legis_home() -> Path:
    return Path(os.environ.get("LEGIS_HOME", ".legis")).resolve()


def default_warehouse_path() -> Path:
    return legis_home() / "warehouse.duckdb"


def _check_table(name: str) -> str:
    if not TABLE_RE.match(name):
        raise ValueError(f"invalid table name {name!r}")
    return name


class Warehouse:
    """The DuckDB warehouse, one table per asset, rows keyed by (session_key, chamber)."""

    def __init__(self, path: str | Path, lock_timeout: float = 600.0):
        self.path = Path(path)
        self.lock_timeout = lock_timeout

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held under the warehouse lock (keep it short: compute first, then write)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as lock:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"waited {self.lock_timeout:.0f} s for the warehouse lock {lock_path}")
                    time.sleep(0.05)
            try:
                if read_only and not self.path.exists():
                    read_only = False  # nothing to read yet: create it
                conn = duckdb.connect(str(self.path), read_only=read_only)
                try:
                    yield conn
                finally:
                    conn.close()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def replace_partition(self, table: str, key: SessionKey, chamber: str, frame: pl.DataFrame) -> int:
        """Replace the rows of one partition atomically; returns the number of rows written."""
        _check_table(table)
        validate_chamber(chamber)
        frame = frame.drop([c for c in PARTITION_COLUMNS if c in frame.columns]).with_columns(
            pl.lit(key.key).alias("session_key"), pl.lit(chamber).alias("chamber")
        ).select(*PARTITION_COLUMNS, pl.exclude(*PARTITION_COLUMNS))
        arrow = frame.to_arrow()  # noqa: F841 - referenced by name in SQL
        with self.connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" AS SELECT * FROM arrow LIMIT 0')
                existing = {row[0] for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
                for column, duck_type, *_ in conn.execute("DESCRIBE SELECT * FROM arrow").fetchall():
                    if column not in existing:  # a newer version of the asset added a column
                        conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {duck_type}')
                conn.execute(f'DELETE FROM "{table}" WHERE session_key = ? AND chamber = ?', [key.key, chamber])
                conn.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM arrow')
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return frame.height

    def read_partition(self, table: str, key: SessionKey, chamber: str) -> pl.DataFrame:
        _check_table(table)
        with self.connect(read_only=True) as conn:
            if not self._has_table(conn, table):
                return pl.DataFrame()
            return pl.from_arrow(conn.sql(
                f'SELECT * EXCLUDE (session_key, chamber) FROM "{table}" WHERE session_key = ? AND chamber = ?',
                params=[key.key, chamber],
            ).to_arrow_table())

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with self.connect(read_only=True) as conn:
            return pl.from_arrow(conn.sql(sql, params=params or None).to_arrow_table())

    def tables(self) -> list[str]:
        with self.connect(read_only=True) as conn:
            return [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]

    @staticmethod
    def _has_table(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
        return bool(conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                                 [table]).fetchall()[0][0])


# --- artifact files ----------------------------------------------------------------------


def artifact_dir(kind: str, key: SessionKey, chamber: str, home: Path | None = None) -> Path:
    """`$LEGIS_HOME/<kind>/<legislature>/<session>/<chamber>/` (key and chamber are validated)."""
    validate_chamber(chamber)
    return (home or legis_home()) / kind / key.legislature / key.session / chamber


def write_atomic(path: Path, write: Callable[[Path], None]) -> str:
    """Call `write(tmp)` then move tmp over `path`; returns the sha256 of the new file.

    If `write` raises (or the process dies), `path` is untouched and the temporary file removed
    (or left as a dot-file that is never read).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        digest = file_sha256(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
