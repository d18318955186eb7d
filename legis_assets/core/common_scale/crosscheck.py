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


def link_maps(data: CommonScaleData, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) per chamber-session, so that a[c] + b[c] x is on the reference's scale.

    Greedy from the reference (the chamber-session with most slots): the next chamber-session is
    the unlinked one with the most bridge pairs (consecutive slots of one person) to the linked
    ones; its map is the geometric-mean (reduced major axis) line through those pairs, b = sign(r)
    sd(target) / sd(x), which, unlike least squares, neither attenuates the scale through noisy
    scores nor lets a chain of maps shrink to a point. One bridge pair fixes the location only (b
    = 1); a chamber-session no bridge reaches keeps the identity map."""
    n_cs = data.chamber_sessions.height
    cs = data.slot_cs
    a = np.zeros(n_cs)
    b = np.ones(n_cs)
    ref = int(np.argmax(np.bincount(cs, minlength=n_cs)))
    linked = {ref}
    pairs = list(zip(data.trans_from.tolist(), data.trans_to.tolist()))
    while len(linked) < n_cs:
        counts: dict[int, list[tuple[int, int]]] = {}
        for u, v in pairs:
            for known, new in ((u, v), (v, u)):
                if int(cs[known]) in linked and int(cs[new]) not in linked:
                    counts.setdefault(int(cs[new]), []).append((known, new))
        if not counts:
            break
        c = max(counts, key=lambda k: (len(counts[k]), -k))
        known, new = (np.array(z) for z in zip(*counts[c]))
        target = a[cs[known]] + b[cs[known]] * x[known]
        xs = x[new]
        if xs.size >= 2 and xs.std() > 0 and target.std() > 0:
            r = np.corrcoef(xs, target)[0, 1]
            b[c] = (1.0 if r >= 0 else -1.0) * target.std() / xs.std()
        a[c] = target.mean() - b[c] * xs.mean()
        linked.add(c)
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
    return Gate("agrees_with_linked", "abs(r) joint vs bridge-linked per-chamber-session positions", float(r),
                LINKED_AGREEMENT_MIN, ">", "warn",
                "the joint common scale agrees with each chamber-session's own scores linked by the bridge people")
