"""Concurrent runs: real processes running the pipeline at the same time on one LEGIS_HOME, two on
different partitions and two on the same partition, end with a consistent warehouse (every
partition's rows exactly those of a clean single run: nothing lost, nothing duplicated), complete
trace files and no "database is locked" crash.

Three processes start together (a file barrier releases them once all have imported PyMC): A and B
run the same partition, C another one. Each runs ingest, vote_matrix, pca_init and flat_posterior
(quick profile) three times, so their warehouse writes and trace writes interleave.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import arviz as az
import pytest

from legis_assets.pipeline import FLAT_TRACE, Partition, Pipeline, Settings
from legis_assets_tests.reliability import support

pytestmark = pytest.mark.slow

STEPS = ("ingest", "vote_matrix", "pca_init", "flat_posterior")
KEYS = (support.KEY, f"{support.LEGISLATURE}.2027-2028")
SEED = 3
ROUNDS = 3

RUNNER = r"""
import sys, time
from pathlib import Path
from legis_assets.pipeline import Partition, Pipeline, Settings
data, home, key, chamber, rounds, ready, go, seed = sys.argv[1:9]
steps = tuple(sys.argv[9].split(","))
pipe = Pipeline(Settings(data_dir=Path(data), home=Path(home), profile="quick", seed=int(seed)), progress=lambda m: None)
Path(ready).touch()
deadline = time.monotonic() + 600
while not Path(go).exists():
    if time.monotonic() > deadline:
        sys.exit("never released")
    time.sleep(0.01)
for k in range(int(rounds)):
    t0 = time.monotonic()
    pipe.run(Partition.of(key, chamber), steps=steps)
    print(f"round {k}: {time.monotonic() - t0:.1f} s", flush=True)
"""

LOCK_ERRORS = ("database is locked", "Could not set lock", "Conflicting lock", "TimeoutError", "IO Error")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("concurrent") / "data"
    for k, key in enumerate(KEYS):
        session = key.split(".", 1)[1]
        support.write_simulated(
            root / support.LEGISLATURE / session, seed=30 + k, seats=20, n_rollcalls=60, start_year=2025 + 2 * k
        )
    return root


def test_concurrent_runs_same_and_different_partitions_leave_a_consistent_warehouse(data_dir, tmp_path):
    home = tmp_path / "home"
    go = tmp_path / "go"
    jobs = {"A": KEYS[0], "B": KEYS[0], "C": KEYS[1]}
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, key in jobs.items():
            procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    RUNNER,
                    str(data_dir),
                    str(home),
                    key,
                    support.CHAMBER,
                    str(ROUNDS),
                    str(tmp_path / f"ready-{name}"),
                    str(go),
                    str(SEED),
                    ",".join(STEPS),
                ],
                env=support.child_env(home),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        deadline = time.monotonic() + 300
        while not all((tmp_path / f"ready-{name}").exists() for name in jobs):
            assert all(p.poll() is None for p in procs.values()), {n: p.communicate() for n, p in procs.items()}
            assert time.monotonic() < deadline, "the runners never got ready"
            time.sleep(0.05)
        go.touch()
        results = {name: p.communicate(timeout=600) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, (out, err) in results.items():
        print(f"{name} ({jobs[name]}): {out.strip()}")
        assert procs[name].returncode == 0, (name, err[-3000:])
        assert not any(e in err for e in LOCK_ERRORS), (name, err[-3000:])
        assert out.count("round") == ROUNDS

    # a clean single run of each partition, one after the other, in another LEGIS_HOME
    clean = tmp_path / "clean"
    pipe = Pipeline(Settings(data_dir=data_dir, home=clean, profile="quick", seed=SEED), progress=lambda m: None)
    for key in KEYS:
        pipe.run(Partition.of(key, support.CHAMBER), steps=STEPS)

    concurrent, expected = support.partition_digests(home), support.partition_digests(clean)
    assert {k: n for k, (n, _) in concurrent.items()} == {k: n for k, (n, _) in expected.items()}
    assert concurrent == expected  # the same rows, not only as many
    assert {k[1] for k in concurrent} == set(KEYS)

    # every trace is complete and loads; no temporary file is left behind
    for key in KEYS:
        part = Partition.of(key, support.CHAMBER)
        folder = pipe.trace_path(part, FLAT_TRACE).parent.relative_to(clean)
        candidate = FLAT_TRACE.replace(".nc", ".candidate.nc")  # published only by hierarchical_posterior
        assert sorted(p.name for p in (home / folder).iterdir()) == [candidate]
        idata = az.from_netcdf(home / folder / candidate)
        assert idata.posterior["xi"].sizes == az.from_netcdf(clean / folder / candidate).posterior["xi"].sizes
