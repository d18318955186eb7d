"""The common scale's tables (polars; the warehouse tables to be), from a posterior that has
the reported quantities (identify.add_common_normalised). Intervals are 90% HDIs
(summaries.HDI_PROB); units are standard deviations of all slots of the scale, Republicans right.

* positions:   person_id, session_key, chamber, legislator_slug, name, party, mean, sd, hdi_low, hdi_high
* party_trend: session_key, chamber, session_order, quantity ('party_mean' / 'party_gap'), party
               (null for the gap: Republican mean - Democratic mean), n_slots, mean, sd, hdi_low, hdi_high
* movement:    person_id, from/to session_key and chamber, from_slot, to_slot, mean, sd, hdi_low,
               hdi_high, moved (the 90% HDI excludes 0)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from legis_assets.core.common_scale.data import CommonScaleData
from legis_assets.core.common_scale.identify import LEFT, RIGHT, party_groups
from legis_assets.core.summaries import _hdi, _stack

_STATS = {"mean": pl.Float64, "sd": pl.Float64, "hdi_low": pl.Float64, "hdi_high": pl.Float64}


def _stats(draws: np.ndarray) -> dict[str, np.ndarray]:
    if draws.shape[1] == 0:
        return {k: np.zeros(0) for k in _STATS}
    hdi = _hdi(draws)
    return {"mean": draws.mean(axis=0), "sd": draws.std(axis=0, ddof=1), "hdi_low": hdi[:, 0], "hdi_high": hdi[:, 1]}


def positions(idata, data: CommonScaleData) -> pl.DataFrame:
    stats = _stats(_stack(idata, "xi_norm"))
    return data.slots.select("person_id", "session_key", "chamber", "legislator_slug", "name", "party").with_columns(
        **{k: pl.Series(v, dtype=pl.Float64) for k, v in stats.items()}
    )


def party_trend(idata, data: CommonScaleData) -> pl.DataFrame:
    labels, members, gap_labels, pairs = party_groups(data)
    means = _stats(_stack(idata, "party_mean_norm")) if labels else {}
    gaps = _stats(_stack(idata, "party_gap_norm")) if gap_labels else {}
    cs = {r["label"]: r for r in data.chamber_sessions.iter_rows(named=True)}
    rows = []
    for k, label in enumerate(labels):
        party, cs_label = label.split("@", 1)
        row = cs[cs_label]
        rows.append(
            {
                "session_key": row["session_key"],
                "chamber": row["chamber"],
                "session_order": row["session_order"],
                "quantity": "party_mean",
                "party": party,
                "n_slots": int(members[k].size),
                **{s: float(means[s][k]) for s in _STATS},
            }
        )
    for k, cs_label in enumerate(gap_labels):
        row = cs[cs_label]
        lft, r = pairs[k]
        rows.append(
            {
                "session_key": row["session_key"],
                "chamber": row["chamber"],
                "session_order": row["session_order"],
                "quantity": "party_gap",
                "party": None,
                "n_slots": int(members[lft].size + members[r].size),
                **{s: float(gaps[s][k]) for s in _STATS},
            }
        )
    schema = {
        "session_key": pl.String,
        "chamber": pl.String,
        "session_order": pl.Int64,
        "quantity": pl.String,
        "party": pl.String,
        "n_slots": pl.Int64,
    } | _STATS
    return pl.DataFrame(rows, schema=schema).sort("session_order", "chamber", "quantity", "party")


def movement(idata, data: CommonScaleData) -> pl.DataFrame:
    stats = _stats(_stack(idata, "movement_norm")) if data.trans_from.size else {k: np.zeros(0) for k in _STATS}
    out = (
        data.transitions()
        .drop("transition")
        .with_columns(**{k: pl.Series(v, dtype=pl.Float64) for k, v in stats.items()})
    )
    return out.with_columns(moved=(pl.col("hdi_low") > 0) | (pl.col("hdi_high") < 0))


__all__ = ["positions", "party_trend", "movement", "LEFT", "RIGHT"]
