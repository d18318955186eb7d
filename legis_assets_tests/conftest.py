"""Shared fixtures: a small simulated session, a LEGIS_HOME, a random generator. Plain helpers
(REPO, SMALL, matrix_from_sim, the real chambers) are in support.py."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

warnings.filterwarnings("ignore", category=FutureWarning)

from legis_assets.core import simulate  # noqa: E402
from legis_assets_tests.support import SMALL  # noqa: E402


@pytest.fixture
def legis_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "legis_home"
    monkeypatch.setenv("LEGIS_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def small_session_root(tmp_path_factory) -> Path:
    """A data root with one small simulated one-chamber session: simulated.2025-2026 (senate)."""
    root = tmp_path_factory.mktemp("data")
    sims = simulate.simulate_session(seed=11, specs=SMALL)
    simulate.write_session(sims, root / "simulated" / "2025-2026")
    return root


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
