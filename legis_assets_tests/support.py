"""Plain helpers shared by the tests (no fixtures: those are in conftest.py): the repository
root, the real data in ../shared/data, the small simulated chamber and a vote matrix built from a
simulated one, legislators frames (a hand-made one, the real ones read through ingest)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import polars as pl
import pytest

from legis_assets.core import ingest, people, simulate
from legis_assets.core import matrix as matrix_mod
from legis_assets.core.schema import VOTE_CODES

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("LEGIS_SHARED_DIR", REPO.parent / "shared")).resolve()


def real_data_dir() -> Path:
    data = shared_dir() / "data"
    if not data.is_dir():
        pytest.skip(f"real data not found at {data} (set LEGIS_SHARED_DIR)")
    return data


#: the real data folder (may be absent: tests that read it carry `needs_shared`)
SHARED_DATA = shared_dir() / "data"
needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason=f"shared data folder {SHARED_DATA} is absent (set LEGIS_SHARED_DIR to the 'shared' folder)",
)


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


def simulated_common_data(seed: int, specs: dict[str, simulate.ChamberSpec], n_sessions: int):
    """A simulated legislature's chamber-sessions and their joint data (core.common_scale):
    (the simulation, its ChamberSessions, CommonScaleData)."""
    from legis_assets.core.common_scale import ChamberSession, build_common_data

    sim = simulate.simulate_legislature(seed=seed, n_sessions=n_sessions, specs=specs)
    css, legs = [], []
    for session, chambers in sim.sessions.items():
        for chamber, part in chambers.items():
            css.append(ChamberSession(f"sim.{session}", chamber, matrix_from_sim(part)))
            legs.append((f"sim.{session}", chamber, part.truth))
    return sim, css, build_common_data(css, people.build_people(legs))


def legislators_frame(
    *slugs: str, ocd: dict[str, str] | None = None, party: dict[str, str] | None = None
) -> pl.DataFrame:
    """A legislators frame as ingest gives it (empty ocd_id is null)."""
    ocd, party = ocd or {}, party or {}
    return pl.DataFrame(
        {
            "legislator_slug": list(slugs),
            "name": [s.split("_")[1].title() for s in slugs],
            "full_name": [f"{s.split('_')[2].title()} {s.split('_')[1].title()}" for s in slugs],
            "chamber": ["house" if s.startswith("rep_") else "senate" for s in slugs],
            "party": [party.get(s, "Republican") for s in slugs],
            "district": ["1"] * len(slugs),
            "ocd_id": [ocd.get(s) for s in slugs],
        },
        schema_overrides={"ocd_id": pl.String},
    )


@functools.lru_cache(maxsize=1)
def _real_inputs():
    sessions = {
        f"{legislature}.{session}": ingest.read_session(SHARED_DATA / legislature / session)
        for legislature, session in ingest.discover_sessions(SHARED_DATA)
    }
    return people.chamber_inputs(sessions)


def real_legislators() -> tuple[tuple[str, str, pl.DataFrame], ...]:
    """(session key, chamber, legislators) of every real chamber-session, read through ingest."""
    return tuple(_real_inputs()[0])


def real_votes() -> dict[tuple[str, str], pl.DataFrame]:
    return _real_inputs()[1]
