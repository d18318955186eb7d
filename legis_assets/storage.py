"""Where results live: the DuckDB warehouse (tables, by partition) and artifact files (traces,
reports), both written so that a crash or a failed run leaves the last good result in place.

* Warehouse: one DuckDB file. DuckDB allows one process to open it for writing at a time, so
  every connection (read or write) is taken under an exclusive `flock` on a sidecar lock file;
  concurrent runs queue instead of failing with "database is locked". A partition is replaced
  in one transaction (DELETE + INSERT + COMMIT): readers see the old rows or the new, never a mix,
  and a killed writer leaves the old rows (DuckDB's WAL rolls back the open transaction).
* Files: written to a temporary name in the same directory and moved into place with
  `os.replace`, which is atomic on one filesystem.
* A posterior pair (the flat and the hierarchical trace of one run) is published together by
  `TraceStore`: both are written as candidates, a one-file manifest (`published.json`, naming
  the pair by sha256) is the commit point, and the candidates are then moved over the published
  names. A crash after the commit is completed by the next reader (`settle`); a crash before it
  leaves the previous pair published. Readers verify the files against the manifest and refuse
  a pair that does not belong together (`ArtifactMismatch`, naming both files).

No Dagster imports: the CLI and the tests use this module directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import polars as pl

from legis_assets.core.schema import DataProblem, LegisError, SessionKey, validate_chamber

TABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PARTITION_COLUMNS = ("session_key", "chamber")
SCALE_COLUMN = "scale"  # the key of a common scale's tables (Warehouse.replace_scale)


def legis_home() -> Path:
    """$LEGIS_HOME (default ./.legis): a path or a file:// URI, resolved (the settings module
    parses it: settings.storage_root)."""
    from legis_assets import settings

    return settings.read("home")


def storage_root(value: str) -> Path:
    """`LEGIS_HOME`'s value as a path (settings.storage_root: a path or a file:// URI; object-store
    URIs refused with the reason)."""
    from legis_assets import settings

    return settings.storage_root(value)


def _frame(table) -> pl.DataFrame:
    """`pl.from_arrow` of an arrow table (a DataFrame; polars' stubs also allow a Series)."""
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"expected an arrow table, got {type(table).__name__}")
    return frame


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
                        raise TimeoutError(
                            f"waited {self.lock_timeout:.0f} s for the warehouse lock {lock_path}"
                        ) from None
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
        frame = (
            frame.drop([c for c in PARTITION_COLUMNS if c in frame.columns])
            .with_columns(pl.lit(key.key).alias("session_key"), pl.lit(chamber).alias("chamber"))
            .select(*PARTITION_COLUMNS, pl.exclude(*PARTITION_COLUMNS))
        )
        return self._replace_rows(table, frame, "session_key = ? AND chamber = ?", [key.key, chamber])

    def read_partition(self, table: str, key: SessionKey, chamber: str) -> pl.DataFrame:
        return self._read_rows(table, "session_key, chamber", "session_key = ? AND chamber = ?", [key.key, chamber])

    # tables of a common scale are keyed by the scale (a legislature name) instead of a partition
    def replace_scale(self, table: str, scale: str, frame: pl.DataFrame) -> int:
        """Replace the rows of one scale (column `scale`) atomically; returns the rows written."""
        from legis_assets.core.schema import LEGISLATURE_RE

        _check_table(table)
        if not LEGISLATURE_RE.fullmatch(scale or ""):
            raise LegisError(f"invalid scale name {scale!r}: expected lower-case letters, digits and '_'")
        frame = (
            frame.drop([c for c in (SCALE_COLUMN,) if c in frame.columns])
            .with_columns(pl.lit(scale).alias(SCALE_COLUMN))
            .select(SCALE_COLUMN, pl.exclude(SCALE_COLUMN))
        )
        return self._replace_rows(table, frame, f'"{SCALE_COLUMN}" = ?', [scale])

    def _replace_rows(self, table: str, frame: pl.DataFrame, where: str, params: list) -> int:
        """In one transaction: delete the rows of `table` that `where` (SQL, with `params`) selects
        and insert `frame`; the table is created from the frame if missing and gains the columns the
        frame adds (a newer version of the asset). Returns the rows written."""
        arrow = frame.to_arrow()  # noqa: F841 - referenced by name in SQL
        with self.connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" AS SELECT * FROM arrow LIMIT 0')
                existing = {
                    row[0]
                    for row in conn.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
                    ).fetchall()
                }
                for column, duck_type, *_ in conn.execute("DESCRIBE SELECT * FROM arrow").fetchall():
                    if column not in existing:  # a newer version of the asset added a column
                        conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {duck_type}')
                conn.execute(f'DELETE FROM "{table}" WHERE {where}', params)
                conn.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM arrow')
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return frame.height

    def read_scale(self, table: str, scale: str) -> pl.DataFrame:
        """The rows of one scale (without the `scale` column); empty if the table does not exist."""
        return self._read_rows(table, f'"{SCALE_COLUMN}"', f'"{SCALE_COLUMN}" = ?', [scale])

    def _read_rows(self, table: str, key_columns: str, where: str, params: list) -> pl.DataFrame:
        """The rows of `table` that `where` (SQL, with `params`) selects, without the `key_columns`
        (SQL list); empty if the table does not exist."""
        _check_table(table)
        with self.connect(read_only=True) as conn:
            if not self._has_table(conn, table):
                return pl.DataFrame()
            return _frame(
                conn.sql(
                    f'SELECT * EXCLUDE ({key_columns}) FROM "{table}" WHERE {where}', params=params
                ).to_arrow_table()
            )

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with self.connect(read_only=True) as conn:
            return _frame(conn.sql(sql, params=params or None).to_arrow_table())

    def tables(self) -> list[str]:
        with self.connect(read_only=True) as conn:
            return [
                r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()
            ]

    @staticmethod
    def _has_table(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
        return bool(
            conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchall()[0][
                0
            ]
        )


# --- artifact files ----------------------------------------------------------------------


def artifact_dir(kind: str, key: SessionKey, chamber: str, home: Path | None = None) -> Path:
    """`$LEGIS_HOME/<kind>/<legislature>/<session>/<chamber>/` (key and chamber are validated)."""
    validate_chamber(chamber)
    return (home or legis_home()) / kind / key.legislature / key.session / chamber


def write_atomic(path: Path, write: Callable[[Path], object]) -> str:
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


def fsync_dir(path: Path) -> None:
    """Make renames in `path` durable (best effort where the platform cannot fsync a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- the published posterior pair ----------------------------------------------------------


class ArtifactMismatch(LegisError):
    """Artifacts that do not come from the same run (e.g. a trace copied in from another run)."""


FLAT = "flat_posterior.nc"
HIER = "hierarchical_posterior.nc"
MANIFEST = "published.json"
CANDIDATE = ".candidate"
FAILED = ".failed"


def _with_suffix(name: str, suffix: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem}{suffix}.{ext}"


class TraceStore:
    """The trace files of one partition and the protocol that publishes them as a pair.

    * `flat_posterior.candidate.nc`, `hierarchical_posterior.candidate.nc`: a run's traces before
      its ERROR gates are known (written atomically).
    * `promote()`: writes `published.json` (run id, each file's sha256, whether the hierarchical
      model was fitted and why not) atomically - the commit point - then moves the candidates over
      `flat_posterior.nc` / `hierarchical_posterior.nc` and removes a hierarchical trace the new
      pair does not have.
    * `set_aside()`: a run whose gates failed: its candidates become `*.failed.nc` beside the
      published pair, which stays as it was.
    * `settle()`: completes a promotion a crash interrupted after its commit point (a candidate
      whose sha256 is the manifest's is moved into place); `published()` then verifies that the
      files are exactly the ones the manifest names.
    """

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    def path(self, name: str) -> Path:
        return self.dir / name

    def candidate(self, name: str) -> Path:
        return self.dir / _with_suffix(name, CANDIDATE)

    def failed(self, name: str) -> Path:
        return self.dir / _with_suffix(name, FAILED)

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    def manifest(self) -> dict | None:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as err:
            raise ArtifactMismatch(
                f"the pair manifest {self.manifest_path} is unreadable ({err}); "
                "re-materialize flat_posterior and hierarchical_posterior"
            ) from None

    def write_candidate(self, name: str, write: Callable[[Path], object]) -> tuple[Path, str]:
        path = self.candidate(name)
        return path, write_atomic(path, write)

    def promote(self, record: dict, flat_sha: str, hier_sha: str | None) -> dict:
        """Publish the candidates as the new pair (`hier_sha` None: no hierarchical trace)."""
        manifest = {**record, "files": {FLAT: flat_sha, **({HIER: hier_sha} if hier_sha else {})}}
        write_atomic(
            self.manifest_path,
            lambda tmp: tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8"),
        )
        fsync_dir(self.dir)
        self.settle()
        for name in (FLAT, HIER):  # a failed attempt's files are superseded by a passing run
            self.failed(name).unlink(missing_ok=True)
        return manifest

    def set_aside(self, name: str) -> Path | None:
        """Move a candidate to its failed name (beside, never over, the published file)."""
        src, dst = self.candidate(name), self.failed(name)
        if not src.exists():
            return None
        os.replace(src, dst)
        fsync_dir(self.dir)
        return dst

    def settle(self) -> dict[str, str]:
        """Finish an interrupted promotion; returns {file name: sha256} of the published files."""
        manifest = self.manifest()
        if manifest is None:
            return {}
        hashes: dict[str, str] = {}
        for name, sha in manifest["files"].items():
            target = self.path(name)
            if target.exists() and file_sha256(target) == sha:
                hashes[name] = sha
                continue
            cand = self.candidate(name)
            if cand.exists() and file_sha256(cand) == sha:
                try:
                    os.replace(cand, target)
                except FileNotFoundError:  # another reader finished it first
                    pass
                fsync_dir(self.dir)
                if target.exists() and file_sha256(target) == sha:
                    hashes[name] = sha
        if HIER not in manifest["files"]:
            self.path(HIER).unlink(missing_ok=True)  # from an earlier run; this pair has none
        return hashes

    def published(self) -> dict:
        """The manifest of the published pair, after checking that the files are the ones it names.

        Raises DataProblem when nothing was published yet, ArtifactMismatch when a file is not the
        one the manifest names (copied in from another run, or replaced by hand)."""
        hashes = self.settle()
        manifest = self.manifest()
        flat, hier = self.path(FLAT), self.path(HIER)
        if manifest is None:
            if flat.exists() or hier.exists():
                raise ArtifactMismatch(
                    f"{flat} and {hier} have no record of the run they come from ({self.manifest_path} is missing), "
                    "so they cannot be checked to belong together; re-materialize flat_posterior and "
                    "hierarchical_posterior for this partition"
                )
            raise DataProblem(
                f"no published posterior in {self.dir}; materialize flat_posterior and hierarchical_posterior first"
            )
        for name, sha in manifest["files"].items():
            if hashes.get(name) == sha:
                continue
            path = self.path(name)
            found = file_sha256(path)[:12] if path.exists() else "missing"
            raise ArtifactMismatch(
                f"{flat} and {hier} do not belong together: {self.manifest_path} (run {manifest.get('run_id')}) "
                f"names {name} with sha256 {sha[:12]}, found {found}. A trace was copied in from another run or "
                "replaced by hand; re-materialize flat_posterior and hierarchical_posterior for this partition"
            )
        return manifest
