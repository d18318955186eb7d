"""The common scale: every session and both chambers of a legislature on one scale, bridged by
the people who served in several (DESIGN.md 6b). No Dagster imports.

Modules, one responsibility each:
* data.py        chamber-sessions + people table -> slots, global roll calls, votes, sequences
* model.py       the joint PyMC model (random walk of each person's slots) and the PCA start
* kernel.py      its log-density and gradient in Numba (nutpie C callbacks)
* frame.py       the same model in a per-chamber-session affine frame (profile "scale": every chamber-session)
* identify.py    the reported quantities, standardised and oriented per draw (what the gates judge)
* fit.py         nutpie sampling, gates, extension on failure
* crosscheck.py  per-chamber-session scores linked by the bridges (the `agrees_with_linked` gate)
* summaries.py   the positions, party_trend and movement tables

What the Dagster layer calls:

    data = build_common_data([ChamberSession(session_key, chamber, vote_matrix), ...], people)
    start = pca_start(data, chamber_sessions)
    fit, gates = fit_until_gates(data, start, sampling.get_profile("scale"))
    positions(fit.idata, data); party_trend(fit.idata, data); movement(fit.idata, data)

What the data can and cannot say (read before interpreting a trend): the roll calls keep their own
parameters, so a chamber-session's location and scale relative to the others come only from the
people who bridge it (their steps are penalised by the random walk) and from the newcomers'
N(0, 1) prior. A shift of every incumbent at once is therefore partly read as a rescaling of that
chamber-session, not as movement; polarisation through replacement (newcomers further apart than
those they replace) is what the scale measures best. The Gaussian walk shrinks a single large
move towards 0 (simulated moves of one unit were detected 8 times in 12). The roll calls' prior,
beta ~ N(0, 1), also holds a chamber-session's scale: a session whose agenda is more discriminating
(more party-line votes) is partly read as its members moving apart (benchmarks/bench_common_scale.py
agenda: a true gap held constant, one Senate's agenda 1.6 times as discriminating, is recovered
as a gap change of +0.10 [-0.15, +0.39] instead of -0.19; the same legislature with an unchanged agenda:
-0.19 [-0.29, -0.08], exact).
"""

from legis_assets.core.common_scale.crosscheck import linked_agreement, linked_positions
from legis_assets.core.common_scale.data import ChamberSession, CommonScaleData, build_common_data, people_from_slugs
from legis_assets.core.common_scale.fit import CommonFit, evaluate_common_gates, fit_common_scale, fit_until_gates
from legis_assets.core.common_scale.identify import GATE_VARS, add_common_normalised, normalise_draws
from legis_assets.core.common_scale.model import TAU_SCALE, build_common_scale, pca_start
from legis_assets.core.common_scale.summaries import movement, party_trend, positions

__all__ = [
    "ChamberSession",
    "CommonScaleData",
    "build_common_data",
    "people_from_slugs",
    "build_common_scale",
    "pca_start",
    "TAU_SCALE",
    "GATE_VARS",
    "add_common_normalised",
    "normalise_draws",
    "CommonFit",
    "fit_common_scale",
    "fit_until_gates",
    "evaluate_common_gates",
    "linked_agreement",
    "linked_positions",
    "positions",
    "party_trend",
    "movement",
]
