"""The one good partition the reliability tests try to damage.

`golden` builds it once per test session: a small simulated Senate (30 seats, 90 roll calls) whose
names, districts, bill numbers, titles and motions hold hostile text, run through every pipeline
step with the `default` profile (the `quick` profile is too short to pass the convergence gates).
Tests never touch it: `clone` copies its data directory and LEGIS_HOME to a test's own folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from legis_assets.pipeline import Partition, Pipeline
from legis_assets_tests.reliability import support
from legis_assets_tests.reliability.support import golden_settings


@dataclass(frozen=True)
class Golden:
    root: Path  # holds data/ and home/
    hostile: support.HostileSession
    snapshot: support.Snapshot
    seconds: float

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def part(self) -> Partition:
        return Partition.of(support.KEY, support.CHAMBER)


@pytest.fixture(scope="session")
def golden(tmp_path_factory) -> Golden:
    root = tmp_path_factory.mktemp("golden")
    hostile = support.write_hostile_session(root / "data" / support.LEGISLATURE / support.SESSION)
    t0 = time.perf_counter()
    Pipeline(golden_settings(root / "data", root / "home")).run(Partition.of(support.KEY, support.CHAMBER))
    seconds = time.perf_counter() - t0
    snapshot = support.Snapshot.of(root / "home")
    # the good partition is complete: both traces, the report and every table
    assert {
        "traces/simulated/2025-2026/senate/flat_posterior.nc",
        "traces/simulated/2025-2026/senate/hierarchical_posterior.nc",
        "reports/simulated/2025-2026/senate/report.html",
    } <= set(snapshot.files)
    assert snapshot.tables["ideal_points"][0] > 0
    return Golden(root, hostile, snapshot, seconds)


@pytest.fixture
def clone(golden, tmp_path) -> Path:
    """A private copy of the golden data directory and LEGIS_HOME: returns the folder holding both."""
    return support.clone(golden.root, tmp_path / "copy")
