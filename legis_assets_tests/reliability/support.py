"""Helpers of the reliability suite: a simulated session with hostile text, CSV surgery that
knows the physical line of every row, snapshots of everything a partition leaves behind
(warehouse rows, trace and report files), and running the real CLI in a child process.

Nothing here mocks the product: files are real files, runs are real `Pipeline` runs or real
`legis-assets` processes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from legis_assets.core import simulate
from legis_assets.pipeline import Settings
from legis_assets.storage import Warehouse

LEGISLATURE = "simulated"
SESSION = "2025-2026"
KEY = f"{LEGISLATURE}.{SESSION}"
CHAMBER = "senate"

#: the sampler seed of the golden run (a fixed seed: the same data and seed give the same posterior)
GOLDEN_SEED = 1


def golden_settings(data_dir: Path, home: Path, profile: str = "default") -> Settings:
    return Settings(data_dir=data_dir, home=home, profile=profile, seed=GOLDEN_SEED)


#: hostile text (no line breaks, so that a row's physical line is its record number + 1; the
#: ingest property test covers line breaks inside quoted values)
HOSTILE = {
    "script": "<script>alert(1)</script>",
    "quotes": "\"Double\" and 'single' quotes & <b>ampersands</b>",
    "sql": "Robert'); DROP TABLE votes;--",
    "long": "L" * 2500 + " " + "M" * 2499,  # 5,000 characters
    "rtl": "\u202eevil override\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "img": "<img src=x onerror=alert(2)>",
}
#: a legislator slug full of SQL and HTML metacharacters (still starts with the Senate prefix)
HOSTILE_SLUG = "sen_o'brien\"); DROP TABLE legislators;--_<i>x</i>_1"
#: a party value that is neither Republican nor Democrat: stored as Independent (DATA.md)
HOSTILE_PARTY = "<b>Republican</b>'); DROP TABLE votes;--"


# ---------------------------------------------------------------------------------------------
# CSV surgery (the scraper dialect: csv module, minimal quoting, CR LF line ends)


def csv_path(session_dir: Path, kind: str) -> Path:
    return session_dir / f"{session_dir.name}_{kind}.csv"


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[row.get(c, "") for c in header] for row in rows])
    path.write_bytes(out.getvalue().encode("utf-8"))


def line_of(index: int) -> int:
    """Physical line of data row `index` (0-based; the header is line 1; no embedded line breaks)."""
    return index + 2


def fix_counts(session_dir: Path) -> None:
    """Make the roll-call count columns agree with the votes file again."""
    _, votes = read_rows(csv_path(session_dir, "votes"))
    columns = {
        "Yea": "yea_count",
        "Nay": "nay_count",
        "Present and Passing": "present_passing_count",
        "Absent and Not Voting": "absent_not_voting_count",
        "Not Voting": "not_voting_count",
    }
    counts: dict[str, dict[str, int]] = {}
    for v in votes:
        per = counts.setdefault(v["vote_id"], {c: 0 for c in columns.values()})
        per[columns[v["vote"]]] += 1
    header, rollcalls = read_rows(csv_path(session_dir, "rollcalls"))
    for rc in rollcalls:
        per = counts.get(rc["vote_id"], {c: 0 for c in columns.values()})
        rc.update({k: str(n) for k, n in per.items()})
        rc["total_votes"] = str(sum(per.values()))
    write_rows(csv_path(session_dir, "rollcalls"), header, rollcalls)


# ---------------------------------------------------------------------------------------------
# sessions


@dataclass
class HostileSession:
    """What was written, to compare with what the warehouse and the report show."""

    session_dir: Path
    legislators: dict[str, dict[str, str]] = field(default_factory=dict)  # slug -> name/full_name/district/party
    rollcalls: dict[str, dict[str, str]] = field(default_factory=dict)  # vote_id -> bill_number/bill_title/motion


def write_simulated(
    session_dir: Path, seed: int = 11, seats: int = 30, n_rollcalls: int = 90, start_year: int = 2025
) -> Path:
    sims = simulate.simulate_session(
        seed=seed,
        start_year=start_year,
        specs={CHAMBER: simulate.ChamberSpec(seats=seats, n_rollcalls=n_rollcalls, replacements=1)},
    )
    return simulate.write_session(sims, session_dir)


def write_hostile_session(session_dir: Path, seed: int = 11, seats: int = 30, n_rollcalls: int = 90) -> HostileSession:
    """A small simulated Senate whose names, districts, bill numbers, titles and motions hold hostile
    text, with one hostile slug and one hostile party value."""
    sims = simulate.simulate_session(
        seed=seed, specs={CHAMBER: simulate.ChamberSpec(seats=seats, n_rollcalls=n_rollcalls, replacements=1)}
    )
    sim = sims[CHAMBER]
    import polars as pl

    victim = sim.truth["legislator_slug"][3]
    rename = pl.col("legislator_slug").replace({victim: HOSTILE_SLUG})
    sim.truth = sim.truth.with_columns(rename)
    sim.votes = sim.votes.with_columns(rename)
    simulate.write_session(sims, session_dir)
    out = HostileSession(session_dir)

    values = list(HOSTILE.values())
    header, legislators = read_rows(csv_path(session_dir, "legislators"))
    chosen = [row for row in legislators if row["legislator_slug"] == HOSTILE_SLUG]
    chosen += [row for row in legislators if row["legislator_slug"] != HOSTILE_SLUG][: len(values) - 1]
    for k, row in enumerate(chosen):
        row["name"] = values[k]
        row["full_name"] = values[(k + 1) % len(values)] + " " + values[k]
        row["district"] = values[(k + 2) % len(values)]
        out.legislators[row["legislator_slug"]] = {
            "name": row["name"],
            "full_name": row["full_name"],
            "district": row["district"],
            "party": row["party"] or "Independent",
        }
    # one legislator of the majority party gets a hostile party value: stored as Independent
    target = next(
        row for row in legislators if row["party"] == "Republican" and row["legislator_slug"] not in out.legislators
    )
    target["party"] = HOSTILE_PARTY
    out.legislators[target["legislator_slug"]] = {
        "name": target["name"],
        "full_name": target["full_name"],
        "district": target["district"],
        "party": "Independent",
    }
    write_rows(csv_path(session_dir, "legislators"), header, legislators)

    header, rollcalls = read_rows(csv_path(session_dir, "rollcalls"))
    for k, rc in enumerate(rollcalls[: 2 * len(values)]):
        rc["bill_number"] = values[k % len(values)][:40] + f" #{k}"
        rc["bill_title"] = values[(k + 1) % len(values)]
        rc["motion"] = values[(k + 2) % len(values)]
        out.rollcalls[rc["vote_id"]] = {key: rc[key] for key in ("bill_number", "bill_title", "motion")}
    write_rows(csv_path(session_dir, "rollcalls"), header, rollcalls)

    header, votes = read_rows(csv_path(session_dir, "votes"))
    names = {slug: info["name"] for slug, info in out.legislators.items()}
    for v in votes:
        if v["vote_id"] in out.rollcalls:
            v.update(out.rollcalls[v["vote_id"]])
        if v["legislator_slug"] in names:
            v["legislator_name"] = names[v["legislator_slug"]]
    write_rows(csv_path(session_dir, "votes"), header, votes)
    return out


# ---------------------------------------------------------------------------------------------
# snapshots of what a partition leaves behind


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def warehouse(home: Path) -> Warehouse:
    return Warehouse(home / "warehouse.duckdb")


def table_digests(home: Path) -> dict[str, tuple[int, str]]:
    """table -> (rows, sha256 of every row in a canonical order); floats by their exact repr."""
    wh = warehouse(home)
    out = {}
    for table in wh.tables():
        frame = wh.query(f'SELECT * FROM "{table}" ORDER BY ALL')
        out[table] = (frame.height, sha256_bytes(repr((frame.columns, frame.rows())).encode()))
    return out


def partition_digests(home: Path) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(table, session_key, chamber) -> (rows, sha256 of the partition's rows)."""
    wh = warehouse(home)
    out = {}
    for table in wh.tables():
        frame = wh.query(f'SELECT * FROM "{table}" ORDER BY ALL')
        for (session_key, chamber), part in frame.group_by("session_key", "chamber", maintain_order=True):
            out[(table, session_key, chamber)] = (part.height, sha256_bytes(repr(part.rows()).encode()))
    return out


def file_digests(home: Path) -> dict[str, str]:
    """Every file under LEGIS_HOME except the DuckDB file itself (compared by content instead)."""
    return {
        str(p.relative_to(home)): sha256_file(p)
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.startswith("warehouse.duckdb")
    }


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, tuple[int, str]]
    files: dict[str, str]

    @classmethod
    def of(cls, home: Path) -> Snapshot:
        return cls(table_digests(home), file_digests(home))

    def differences(self, after: Snapshot) -> list[str]:
        diffs = []
        for t in sorted(set(self.tables) | set(after.tables)):
            a, b = self.tables.get(t), after.tables.get(t)
            if a != b:
                diffs.append(
                    f"table {t}: {a[0] if a else 'absent'} rows -> {b[0] if b else 'absent'} rows"
                    + (" (content changed)" if a and b and a[0] == b[0] else "")
                )
        for f in sorted(set(self.files) | set(after.files)):
            a, b = self.files.get(f), after.files.get(f)
            if a != b:
                diffs.append(
                    f"file {f}: {'absent' if a is None else 'present'} -> "
                    f"{'absent' if b is None else 'changed' if a else 'new'}"
                )
        return diffs


def tree_listing(root: Path) -> dict[str, str]:
    """Every file and directory under `root` (to prove nothing was written outside LEGIS_HOME)."""
    return {
        str(p.relative_to(root)): ("dir" if p.is_dir() else sha256_file(p) if p.is_file() else "other")
        for p in sorted(root.rglob("*"))
    }


def clone(src_root: Path, dst_root: Path, names: tuple[str, ...] = ("data", "home")) -> Path:
    """Copy the golden data directory and LEGIS_HOME (a partition's whole state) elsewhere."""
    for name in names:
        shutil.copytree(src_root / name, dst_root / name, symlinks=True)
    return dst_root


# ---------------------------------------------------------------------------------------------
# the real CLI: in this process (cheap: no second import of PyMC) or in a child process

#: environment variables the CLI reads or sets (cmd_run writes some into os.environ)
CLI_ENV = (
    "LEGIS_HOME",
    "LEGIS_DATA_DIR",
    "LEGIS_PROFILE",
    "LEGIS_MODEL",
    "LEGIS_SEED",
    "LEGIS_MIN_MINORITY",
    "LEGIS_MIN_VOTES",
    "LEGIS_ALLOW_OUTSIDE_DATA_ROOT",
    "DAGSTER_HOME",
)


def run_cli(args: list[str], home: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`legis-assets ARGS` run by `legis_assets.cli.main` in this process with LEGIS_HOME=home (and
    the variables in `env`): (exit code, stdout, stderr). An argparse error exits with SystemExit's code."""
    import contextlib

    import pytest

    from legis_assets import cli

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name in CLI_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("LEGIS_HOME", str(home))
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        try:
            code = cli.main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def cli_command(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("legis-assets")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "legis_assets.cli", *args]


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGIS_", "DAGSTER_"))}
    env.update(LEGIS_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


#: runs a command, streams its stdout to a file, and reports its exit code, wall time, the time
#: from the pipeline's first progress line to the end, and the peak RSS of the command alone.
#: It is a separate small process so that the command's peak RSS is not inflated by the test
#: process (Linux records a vfork()ing parent's high-water mark in the child at exec).
RSS_WRAPPER = r"""
import json, resource, subprocess, sys, time
out_path, err_path, *cmd = sys.argv[1:]
t0 = time.monotonic(); t_step = None
with open(out_path, "wb") as out, open(err_path, "wb") as err:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
    for line in proc.stdout:
        if t_step is None and b": ingest ..." in line:
            t_step = time.monotonic()
        out.write(line)
    rc = proc.wait()
t1 = time.monotonic()
print(json.dumps({"returncode": rc, "wall_seconds": t1 - t0,
                  "after_start_seconds": None if t_step is None else t1 - t_step,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


@dataclass
class Measured:
    returncode: int
    wall_seconds: float
    after_start_seconds: float | None
    max_rss_mb: float
    stdout: str
    stderr: str


def run_measured(
    cmd: list[str], env: dict[str, str], workdir: Path, cwd: Path | None = None, timeout: float = 300
) -> Measured:
    workdir.mkdir(parents=True, exist_ok=True)
    out, err = workdir / "stdout.txt", workdir / "stderr.txt"
    proc = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, str(out), str(err), *cmd],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    numbers = json.loads(proc.stdout.strip().splitlines()[-1])
    return Measured(**numbers, stdout=out.read_text(errors="replace"), stderr=err.read_text(errors="replace"))


class LineWatcher:
    """Collects a child's stdout lines (in a thread) so that a test can wait for one."""

    def __init__(self, proc: subprocess.Popen):
        import threading

        self.proc = proc
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace") if isinstance(raw, bytes) else raw)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                line = self.lines[seen]
                seen += 1
                if predicate(line):
                    return line
            if self.proc.poll() is not None and seen >= len(self.lines):
                self._thread.join(timeout=5)
                if seen >= len(self.lines):
                    raise AssertionError(
                        f"process exited ({self.proc.returncode}) before the expected line; "
                        f"output:\n{''.join(self.lines)[-3000:]}"
                    )
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout} s; output so far:\n{''.join(self.lines)[-3000:]}")

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)
