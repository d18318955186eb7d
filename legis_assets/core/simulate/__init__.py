"""Synthetic legislatures with known ideal points, written in the scraper's CSV layout.

The generative model is the 2PL IRT the platform fits: legislator i votes Yea on roll call j
with probability logistic(beta_j * xi_i - alpha_j). True ideal points are drawn per party
(parties centred at -1 / +1 with within-party sd 0.5, as in MEASURED.md), so recovery tests
know the answer. Used by the tests, the benchmarks and the bundled example session.

* :mod:`.chamber`: one session's chambers (:func:`simulate_session`, :func:`write_session`);
* :mod:`.legislature`: several sessions of one legislature on one common scale
  (:func:`simulate_legislature`, :func:`write_legislature`).
"""

from legis_assets.core.simulate.chamber import (
    EXAMPLE,
    EXAMPLE_SEED,
    GIVEN,
    HOUSE,
    SENATE,
    SURNAMES,
    ChamberSpec,
    SimulatedChamber,
    draw_votes,
    kansas_session_name,
    read_truth,
    simulate_chamber,
    simulate_session,
    write_session,
)
from legis_assets.core.simulate.legislature import (
    FIRST_PERSON_ID,
    LEGISLATURE_SPECS,
    LEGISLATURE_TRUTH_COLUMNS,
    SimulatedLegislature,
    read_legislature_truth,
    simulate_legislature,
    write_legislature,
)

__all__ = [
    "EXAMPLE",
    "EXAMPLE_SEED",
    "FIRST_PERSON_ID",
    "GIVEN",
    "HOUSE",
    "LEGISLATURE_SPECS",
    "LEGISLATURE_TRUTH_COLUMNS",
    "SENATE",
    "SURNAMES",
    "ChamberSpec",
    "SimulatedChamber",
    "SimulatedLegislature",
    "draw_votes",
    "kansas_session_name",
    "read_legislature_truth",
    "read_truth",
    "simulate_chamber",
    "simulate_legislature",
    "simulate_session",
    "write_legislature",
    "write_session",
]
