"""Interrupted runs: a real process killed with SIGKILL in the middle of sampling, of writing the
warehouse, or of writing a trace file leaves the previous trace, rows and report intact, and the
next run succeeds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import arviz as az
import pytest

from legis_assets.core.schema import SessionKey
from legis_assets.pipeline import FLAT_TRACE, HIER_TRACE, REPORT, Pipeline
from legis_assets.storage import Warehouse
from legis_assets_tests.reliability import support
from legis_assets_tests.reliability.support import GOLDEN_SEED, golden_settings

TRACES = f"traces/{support.LEGISLATURE}/{support.SESSION}/{support.CHAMBER}"
REPORTS = f"reports/{support.LEGISLATURE}/{support.SESSION}/{support.CHAMBER}"


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# --- killed while sampling ---------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_while_sampling_keeps_the_last_good_partition_and_the_next_run_succeeds(golden, clone):
    """The real CLI re-runs the golden partition with the default profile and is killed while the
    hierarchical model samples (after the flat posterior has been written): both published traces,
    the report and every warehouse row are the previous ones; the new flat trace is a complete
    candidate file beside them, never published without its hierarchical partner."""
    home = clone / "home"
    proc = subprocess.Popen(
        support.cli_command(
            "pipeline",
            "--data-dir",
            str(clone / "data"),
            "--session",
            support.KEY,
            "--chamber",
            support.CHAMBER,
            "--profile",
            "reference",  # 1500 tuning draws: long enough to be killed mid-sampling on a fast, quiet machine
            "--seed",
            str(GOLDEN_SEED),
        ),
        env=support.child_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        watcher = support.LineWatcher(proc)
        watcher.wait_for(lambda line: "hierarchical: compiled" in line, timeout=300)
        time.sleep(2.0)
        assert proc.poll() is None, "the run ended before it could be killed mid-sampling:\n" + watcher.text()
        _kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "hierarchical: sampled" not in watcher.text()

    after = support.Snapshot.of(home)
    changed = golden.snapshot.differences(after)
    # only the flat candidate is new (its step finished before the kill); no stray or partial file
    candidate = FLAT_TRACE.replace(".nc", ".candidate.nc")
    assert set(changed) <= {f"file {TRACES}/{candidate}: absent -> new"}, changed
    assert set(after.files) - set(golden.snapshot.files) <= {f"{TRACES}/{candidate}"}
    assert az.from_netcdf(home / TRACES / candidate).posterior["xi"].sizes["chain"] == 4

    # the next run succeeds and rebuilds a complete partition
    pipe = Pipeline(golden_settings(clone / "data", home))
    pipe.run(golden.part)
    rerun = support.Snapshot.of(home)
    assert {t: n for t, (n, _) in rerun.tables.items()} == {t: n for t, (n, _) in golden.snapshot.tables.items()}
    assert set(rerun.files) == set(golden.snapshot.files)
    assert "sigma_within" in az.from_netcdf(home / TRACES / HIER_TRACE).posterior


# --- killed while writing the warehouse ---------------------------------------------------------------

SIZES = (2_000_000, 1_500_000)  # rows of the two versions the writer alternates between
WRITER = r"""
import sys
import numpy as np
import polars as pl
from legis_assets.core.schema import SessionKey
from legis_assets.storage import Warehouse

warehouse = Warehouse(sys.argv[1])
key = SessionKey.parse(sys.argv[2])
sizes = [int(n) for n in sys.argv[3].split(",")]
frames = [pl.DataFrame({
    "version": np.full(n, v, np.int32),
    "i": np.arange(n, dtype=np.int64),
    "payload": np.random.default_rng(v).random(n),
    "text": pl.Series([f"row {k % 997} <b>'x'</b>" for k in range(n)]),
}) for v, n in enumerate(sizes)]
v = int(sys.argv[4])
while True:
    v = 1 - v
    print(f"writing {v}", flush=True)
    warehouse.replace_partition("big", key, "senate", frames[v])
    print(f"wrote {v}", flush=True)
"""


def _partition_state(path: Path) -> tuple[int, int]:
    """(version, rows) of the senate partition of `big`; fails unless it is one complete version."""
    rows = (
        Warehouse(path)
        .query(
            "SELECT version, count(*) AS n, count(DISTINCT i) AS d, min(i) AS lo, max(i) AS hi FROM big "
            "WHERE session_key = ? AND chamber = 'senate' GROUP BY version",
            [support.KEY],
        )
        .rows()
    )
    assert len(rows) == 1, f"a mix of versions after the kill: {rows}"
    version, n, distinct, lo, hi = rows[0]
    assert n == SIZES[version] and distinct == n and (lo, hi) == (0, n - 1), rows
    return version, n


@pytest.mark.slow
def test_sigkill_while_replacing_a_partition_leaves_old_or_new_rows(tmp_path):
    """A real process replaces a 2M / 1.5M-row partition in a loop and is SIGKILLed at a random
    moment, five times: each time the partition holds exactly one complete version, the other
    partition and table are untouched, and the warehouse opens and takes writes again."""
    import numpy as np
    import polars as pl

    path = tmp_path / "home" / "warehouse.duckdb"
    wh = Warehouse(path)
    key = SessionKey.parse(support.KEY)
    wh.replace_partition(
        "big",
        key,
        "senate",
        pl.DataFrame(
            {
                "version": np.zeros(SIZES[0], np.int32),
                "i": np.arange(SIZES[0], dtype=np.int64),
                "payload": np.random.default_rng(0).random(SIZES[0]),
                "text": pl.Series([f"row {k % 997} <b>'x'</b>" for k in range(SIZES[0])]),
            }
        ),
    )
    bystander = pl.DataFrame(
        {"version": [7] * 1000, "i": list(range(1000)), "payload": [0.5] * 1000, "text": ["house row"] * 1000}
    )
    wh.replace_partition("big", key, "house", bystander)
    wh.replace_partition("other", key, "senate", pl.DataFrame({"x": [1, 2, 3]}))

    rng = random.Random(20250713)
    version, mid_write = 0, 0
    for attempt in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), support.KEY, ",".join(map(str, SIZES)), str(version)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            watcher = support.LineWatcher(proc)
            writes = 1 + attempt % 2  # let some kills land in a second or third write
            for _ in range(writes):
                watcher.wait_for(lambda line: line.startswith("writing"), timeout=120)
            time.sleep(rng.uniform(0.05, 0.9))
            _kill(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lines = [line.strip() for line in watcher.text().splitlines()]
        last = lines[-1]
        mid_write += last.startswith("writing")
        committed = version
        for line in lines:
            if line.startswith("wrote"):
                committed = int(line.split()[1])
        # the rows are the last version committed, or the one being written if its COMMIT made it
        allowed = {committed} | ({int(last.split()[1])} if last.startswith("writing") else set())
        version, n = _partition_state(path)
        assert version in allowed, (lines, version)
        assert wh.query("SELECT count(*) FROM big WHERE chamber = 'house'").item() == 1000
        assert wh.query("SELECT sum(x) FROM other").item() == 6
    assert mid_write >= 3, "the kills should land inside replace_partition"
    # and the warehouse still takes writes
    wh.replace_partition("big", key, "senate", bystander)
    assert wh.query("SELECT count(*) FROM big WHERE chamber = 'senate'").item() == 1000


# --- killed while writing a trace file -------------------------------------------------------------------

SLOW_WRITER = r"""
import sys, time
from pathlib import Path
from legis_assets.storage import write_atomic

def slowly(tmp):
    with open(tmp, "wb") as handle:
        handle.write(b"CDF\x01" + b"\0" * 4096)
        handle.flush()
        print("started", tmp, flush=True)
        while True:
            handle.write(b"x" * 4096)
            handle.flush()
            time.sleep(0.01)

write_atomic(Path(sys.argv[1]), slowly)
"""


@pytest.mark.slow
def test_sigkill_while_writing_a_trace_leaves_the_previous_trace_and_the_next_run_succeeds(golden, clone):
    home = clone / "home"
    trace = home / TRACES / HIER_TRACE
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(trace)], stdout=subprocess.PIPE, text=True)
    try:
        watcher = support.LineWatcher(proc)
        temp = Path(watcher.wait_for(lambda line: line.startswith("started"), timeout=60).split(" ", 1)[1].strip())
        time.sleep(0.3)
        _kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert support.sha256_file(trace) == golden.snapshot.files[f"{TRACES}/{HIER_TRACE}"]
    assert temp.exists() and temp.name.startswith(".") and temp.parent == trace.parent  # the left-over partial file

    # the steps that read the trace use the real one, never the partial file beside it
    pipe = Pipeline(golden_settings(clone / "data", home))
    pipe.run(golden.part, steps=("convergence_diagnostics", "ideal_points", "party_summary", "report"))
    after = support.Snapshot.of(home)
    assert golden.snapshot.differences(after) == [
        f"file {REPORTS}/{REPORT}: present -> changed",
        f"file {TRACES}/{temp.name}: absent -> new",
    ]
    for table in ("convergence_diagnostics", "ideal_points", "party_summary"):
        assert after.tables[table] == golden.snapshot.tables[table]
