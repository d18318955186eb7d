"""Shared fixtures: small simulated sessions, the real data in ../shared/data, a LEGIS_HOME."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

warnings.filterwarnings("ignore", category=FutureWarning)

from legis_assets.core import matrix as matrix_mod  # noqa: E402
from legis_assets.core import simulate  # noqa: E402
from legis_assets.core.schema import VOTE_CODES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("LEGIS_SHARED_DIR", REPO.parent / "shared")).resolve()


def real_data_dir() -> Path:
    data = shared_dir() / "data"
    if not data.is_dir():
        pytest.skip(f"real data not found at {data} (set LEGIS_SHARED_DIR)")
    return data


#: the real sessions in ../shared/data: (legislature, session directory, chamber)
REAL_CHAMBERS = [
    ("us_congress", "97th_1981-1982", "house"),
    ("us_congress", "97th_1981-1982", "senate"),
    ("us_congress", "107th_2001-2002", "senate"),
    ("us_congress", "117th_2021-2022", "house"),
    ("us_congress", "117th_2021-2022", "senate"),
    ("california", "2017-2018", "house"),
    ("california", "2017-2018", "senate"),
    ("california", "2019-2020", "senate"),
]

SMALL = {"senate": simulate.ChamberSpec(seats=30, n_rollcalls=90, replacements=1)}


def matrix_from_sim(sim: simulate.SimulatedChamber, settings=matrix_mod.FilterSettings()) -> matrix_mod.VoteMatrix:
    votes = sim.votes.with_columns(vote_value=pl.col("vote").replace_strict(VOTE_CODES, return_dtype=pl.Int8))
    return matrix_mod.build_vote_matrix(votes, sim.truth.select("legislator_slug", "party"), None, settings)


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
