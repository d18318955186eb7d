"""A fast cross-check of the joint fit: each chamber-session's own scores put on one scale by
the people who bridge them, with a linear map per chamber-session.

Positions x_k (per chamber-session PC1 scores, standardised, Republicans right, or per-chamber
posterior means) are mapped to a_c + b_c x_k in chamber-session c, chamber-session by
chamber-session from the one with the most slots, each map the line through its bridge people's
positions against their linked positions in the neighbouring slot (`link_maps`). The |r| between these linked positions and the
joint posterior means over all slots is the warning gate `agrees_with_linked`.
"""

from __future__ import annotations

import numpy as np

from legis_assets.core.common_scale.data import CommonScaleData
from legis_assets.core.diagnostics import Gate

LINKED_AGREEMENT_MIN = 0.90
#: a linear map's scale is estimated from at least this many bridge pairs that correlate at least this much
MIN_SCALE_PAIRS = 5
MIN_SCALE_R = 0.5
LINK_SWEEPS = 200


def link_maps(data: CommonScaleData, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) per chamber-session, so that a[c] + b[c] x is on the reference's scale.

    Greedy from the reference (the chamber-session with most slots): the next chamber-session is
    the unlinked one with the most bridge pairs (consecutive slots of one person) to the linked
    ones; then each map is refitted against all its bridge pairs (sweeps until it settles), so a
    chamber-session reached first by a few movers gets its scale from all its bridges. A map is
    the geometric-mean (reduced major axis) line through its pairs, b =
    sd(target) / sd(x), which, unlike least squares, neither attenuates the scale through noisy
    scores nor lets a chain of maps shrink to a point. The scores are oriented already (Republicans
    right in every chamber-session), so b > 0. With fewer than MIN_SCALE_PAIRS pairs, or pairs that
    do not order the same way (r < MIN_SCALE_R: e.g. three House-to-Senate movers of one party), the
    scale is not estimated (b = 1: the scores' own standardised spread) and the pairs fix the
    location only; a chamber-session no bridge reaches keeps the identity map."""
    n_cs = data.chamber_sessions.height
    cs = data.slot_cs
    x = np.asarray(x, dtype=float)
    a = np.zeros(n_cs)
    b = np.ones(n_cs)
    ref = int(np.argmax(np.bincount(cs, minlength=n_cs)))
    pairs: dict[int, list[tuple[int, int]]] = {c: [] for c in range(n_cs)}  # c -> (own slot, partner slot)
    for u, v in zip(data.trans_from.tolist(), data.trans_to.tolist()):
        if cs[u] != cs[v]:
            pairs[int(cs[u])].append((u, v))
            pairs[int(cs[v])].append((v, u))

    def fit_map(c: int, linked: set[int]) -> tuple[float, float]:
        use = [(own, other) for own, other in pairs[c] if int(cs[other]) in linked]
        if not use:  # never: only chamber-sessions with a bridge to `linked` are mapped
            raise ValueError(f"chamber-session {c} has no bridge to the linked ones")
        own, other = (np.array(z) for z in zip(*use))
        target = a[cs[other]] + b[cs[other]] * x[other]
        xs = x[own]
        slope = 1.0
        if (
            xs.size >= MIN_SCALE_PAIRS
            and xs.std() > 0
            and target.std() > 0
            and np.corrcoef(xs, target)[0, 1] >= MIN_SCALE_R
        ):
            slope = target.std() / xs.std()
        return target.mean() - slope * xs.mean(), slope

    # greedy start: the chamber-session with the most pairs to the linked ones next
    linked = {ref}
    while len(linked) < n_cs:
        counts = {c: sum(int(cs[o]) in linked for _, o in pairs[c]) for c in range(n_cs) if c not in linked}
        c = max(counts, key=lambda k: (counts[k], -k))
        if counts[c] == 0:
            break
        a[c], b[c] = fit_map(c, linked)
        linked.add(c)
    # then every map again against all its bridges, until nothing changes
    for _ in range(LINK_SWEEPS):
        before = np.concatenate([a, b])
        for c in sorted(linked - {ref}):
            a[c], b[c] = fit_map(c, linked)
        if np.max(np.abs(np.concatenate([a, b]) - before)) < 1e-12:
            break
    return a, b


def linked_positions(data: CommonScaleData, x: np.ndarray) -> np.ndarray:
    """Per-slot scores on one linked scale, standardised over all slots."""
    a, b = link_maps(data, np.asarray(x, dtype=float))
    cs = data.slot_cs
    linked = a[cs] + b[cs] * x
    return (linked - linked.mean()) / (linked.std() or 1.0)


def linked_agreement(data: CommonScaleData, x: np.ndarray, joint_mean: np.ndarray) -> float:
    linked = linked_positions(data, x)
    if linked.size < 3:
        return float("nan")
    return float(abs(np.corrcoef(linked, joint_mean)[0, 1]))


def linked_gate(r: float) -> Gate:
    return Gate(
        "agrees_with_linked",
        "abs(r) joint vs bridge-linked per-chamber-session positions",
        float(r),
        LINKED_AGREEMENT_MIN,
        ">",
        "warn",
        "the joint common scale agrees with each chamber-session's own scores linked by the bridge people",
    )
