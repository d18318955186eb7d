"""Plain helpers shared by the tests (no fixtures: those are in conftest.py): the repository
root, the real data in ../shared/data, the small simulated chamber and a vote matrix built from a
simulated one."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from legis_assets.core import matrix as matrix_mod
from legis_assets.core import simulate
from legis_assets.core.schema import VOTE_CODES

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
