"""The reported (identified) quantities of a common-scale posterior, computed per draw.

The likelihood cannot tell the raw positions from a common shift, rescaling or reflection of
all of them (the roll-call parameters following). So, in every draw:

* location and scale: the positions are standardised over ALL slots of the scale (mean 0, sd 1
  across every person x chamber-session fitted), so one unit is one standard deviation of the
  whole legislature over the period;
* orientation: the sign that puts the Republicans' mean (over all their slots) right of the
  Democrats' (the rule of core/pca.py); with one of the parties absent, the other's mean is put on
  its side of 0, and with neither the sign is left as sampled.

Reported, and judged by the gates (each one-dimensional, so that every entry reaches the R-hat
table): xi_norm (slot), party_mean_norm (party x chamber-session: the mean of that party's slots),
party_gap_norm (chamber-session: Republican mean - Democratic mean), movement_norm (transition:
a person's change between consecutive slots), tau_norm (the movement scale in these units).
All of them are invariant to the shift, scale and reflection above (tested).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from legis_assets.core.common_scale.data import CommonScaleData
from legis_assets.core.schema import HIERARCHICAL_PARTIES

LEFT, RIGHT = HIERARCHICAL_PARTIES
#: the variables the gates judge; the first is the one whose bulk ESS is the ESS gate
GATE_VARS = ("xi_norm", "party_mean_norm", "party_gap_norm", "movement_norm", "tau_norm")


def party_groups(data: CommonScaleData) -> tuple[list[str], list[np.ndarray], list[str], list[tuple[int, int]]]:
    """(party_mean labels, slot index per label, party_gap labels, (left, right) label index per gap)."""
    party = np.asarray(data.slot_party, dtype=object)
    cs = data.slot_cs
    labels: list[str] = []
    members: list[np.ndarray] = []
    gap_labels: list[str] = []
    gap_pairs: list[tuple[int, int]] = []
    for row in data.chamber_sessions.iter_rows(named=True):
        found = {}
        for p in (LEFT, RIGHT):
            idx = np.flatnonzero((cs == row["chamber_session"]) & (party == p))
            if idx.size:
                found[p] = len(labels)
                labels.append(f"{p}@{row['label']}")
                members.append(idx)
        if len(found) == 2:
            gap_labels.append(row["label"])
            gap_pairs.append((found[LEFT], found[RIGHT]))
    return labels, members, gap_labels, gap_pairs


def orientation(xi: np.ndarray, data: CommonScaleData) -> np.ndarray:
    """+1 / -1 per draw (xi: draws x slots, any location and scale)."""
    party = np.asarray(data.slot_party, dtype=object)
    left, right = party == LEFT, party == RIGHT
    centre = xi.mean(axis=1)
    if left.any() and right.any():
        d = xi[:, right].mean(axis=1) - xi[:, left].mean(axis=1)
    elif right.any():
        d = xi[:, right].mean(axis=1) - centre
    elif left.any():
        d = centre - xi[:, left].mean(axis=1)
    else:
        d = np.ones(xi.shape[0])
    return np.where(d < 0, -1.0, 1.0)


def normalise_draws(xi: np.ndarray, tau: np.ndarray, data: CommonScaleData) -> dict[str, np.ndarray]:
    """The reported quantities from raw draws (xi: draws x slots, tau: draws)."""
    xi = np.asarray(xi, dtype=float)
    centre = xi.mean(axis=1, keepdims=True)
    scale = xi.std(axis=1, keepdims=True)
    sign = orientation(xi, data)[:, None]
    xn = sign * (xi - centre) / scale
    _, members, _, pairs = party_groups(data)
    means = np.stack([xn[:, m].mean(axis=1) for m in members], axis=1) if members else np.zeros((xi.shape[0], 0))
    gaps = np.stack([means[:, r] - means[:, lft] for lft, r in pairs], axis=1) if pairs else np.zeros((xi.shape[0], 0))
    move = xn[:, data.trans_to] - xn[:, data.trans_from]
    return {
        "xi_norm": xn,
        "party_mean_norm": means,
        "party_gap_norm": gaps,
        "movement_norm": move,
        "tau_norm": np.asarray(tau, dtype=float) / scale[:, 0],
    }


def add_common_normalised(idata, data: CommonScaleData) -> None:
    """Add the reported quantities (module doc) to `idata.posterior`, per draw."""
    post = idata.posterior
    xi = post["xi"].values
    n_chain, n_draw = xi.shape[:2]
    flat = normalise_draws(xi.reshape(n_chain * n_draw, -1), post["tau"].values.reshape(-1), data)
    labels, _, gap_labels, _ = party_groups(data)
    dims = {
        "xi_norm": ("slot", data.slot_labels()),
        "party_mean_norm": ("party_chamber_session", labels),
        "party_gap_norm": ("chamber_session", gap_labels),
        "movement_norm": ("transition", data.transition_labels()),
    }
    coords = {"chain": post["chain"].values, "draw": post["draw"].values}
    for name, values in flat.items():
        if name == "tau_norm":
            post[name] = xr.DataArray(values.reshape(n_chain, n_draw), dims=("chain", "draw"), coords=coords)
            continue
        dim, lab = dims[name]
        post[name] = xr.DataArray(
            values.reshape(n_chain, n_draw, -1), dims=("chain", "draw", dim), coords=coords | {dim: lab}
        )
