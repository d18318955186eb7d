"""The common scale: every session and both chambers of a legislature on one scale, bridged by
the people who served in several (DESIGN.md 6b). No Dagster imports.

Modules, one responsibility each:
* data.py        chamber-sessions + people table -> slots, global roll calls, votes, sequences
* model.py       the joint PyMC model (random walk of each person's slots) and the PCA start
* identify.py    the reported quantities, standardised and oriented per draw (what the gates judge)
* fit.py         nutpie sampling, gates, extension on failure
* crosscheck.py  per-chamber-session scores linked by the bridges (the `agrees_with_linked` gate)
* summaries.py   the positions, party_trend and movement tables

What the Dagster layer calls:

    data = build_common_data([ChamberSession(session_key, chamber, vote_matrix), ...], people)
    start = pca_start(data, chamber_sessions)
    fit, gates = fit_until_gates(data, start, sampling.get_profile("default"))
    positions(fit.idata, data); party_trend(fit.idata, data); movement(fit.idata, data)
"""

from legis_assets.core.common_scale.crosscheck import linked_agreement, linked_positions
from legis_assets.core.common_scale.data import ChamberSession, CommonScaleData, build_common_data, people_from_slugs
from legis_assets.core.common_scale.fit import CommonFit, evaluate_common_gates, fit_common_scale, fit_until_gates
from legis_assets.core.common_scale.identify import GATE_VARS, add_common_normalised, normalise_draws
from legis_assets.core.common_scale.model import TAU_SCALE, build_common_scale, pca_start
from legis_assets.core.common_scale.summaries import movement, party_trend, positions

__all__ = [
    "ChamberSession", "CommonScaleData", "build_common_data", "people_from_slugs", "build_common_scale", "pca_start",
    "TAU_SCALE", "GATE_VARS", "add_common_normalised", "normalise_draws", "CommonFit", "fit_common_scale",
    "fit_until_gates", "evaluate_common_gates", "linked_agreement", "linked_positions", "positions", "party_trend",
    "movement",
]
