"""Tables from posteriors: ideal points per legislator, party parameters, ICC and shrinkage.

Conventions:
* positions are the standardised ideal points ``xi_norm`` (per draw: mean 0, sd 1 across the
  legislators of the model), so one unit is one standard deviation of the chamber's spread;
  left party negative;
* ``rank`` 1 is the most liberal (leftmost) legislator, ranks come with their own 90% interval
  (quantiles of the per-draw rank);
* intervals are 90% highest-density intervals (``arviz.hdi``);
* ``xi_flat`` is the flat model's posterior mean mapped onto the hierarchical scale (both sets
  of means standardised over the legislators the two models share, oriented the same way, then
  given the hierarchical mean and sd), so ``shrinkage = xi_mean - xi_flat`` measures how far
  party pooling moved a legislator, in hierarchical units;
* whether pooling moved a legislator toward or away from their party (``shrinkage_direction``)
  is judged on that one scale, each model against its own party centre: the mean of the party's
  members in that model.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import polars as pl

from legis_assets.core.idata import posterior_of

HDI_PROB = 0.90


def _stack(idata: az.InferenceData, var: str) -> np.ndarray:
    """draws (chain*draw) x parameters."""
    values = posterior_of(idata)[var].values
    return values.reshape(values.shape[0] * values.shape[1], -1)


def _hdi(draws: np.ndarray) -> np.ndarray:
    """90% HDI per column of a (draws x k) array."""
    return np.asarray(az.hdi(draws[None, :, :], hdi_prob=HDI_PROB)).reshape(-1, 2)


IDEAL_POINT_VAR = "xi_norm"


def posterior_means(idata: az.InferenceData, var: str = IDEAL_POINT_VAR) -> pl.DataFrame:
    draws = _stack(idata, var)
    return pl.DataFrame(
        {
            "legislator_slug": [str(v) for v in posterior_of(idata)[var]["legislator"].values],
            "xi_mean": draws.mean(axis=0),
        }
    )


def ideal_point_table(idata: az.InferenceData, var: str = IDEAL_POINT_VAR) -> pl.DataFrame:
    """Per legislator: mean, sd, 90% HDI, rank with its 90% interval."""
    draws = _stack(idata, var)
    hdi = _hdi(draws)
    ranks = draws.argsort(axis=1).argsort(axis=1) + 1  # per draw, 1 = leftmost
    mean = draws.mean(axis=0)
    order = mean.argsort().argsort() + 1
    return pl.DataFrame(
        {
            "legislator_slug": [str(v) for v in posterior_of(idata)[var]["legislator"].values],
            "xi_mean": mean,
            "xi_sd": draws.std(axis=0, ddof=1),
            "xi_hdi_low": hdi[:, 0],
            "xi_hdi_high": hdi[:, 1],
            "rank": order.astype(np.int64),
            "rank_low": np.quantile(ranks, 0.05, axis=0).round().astype(np.int64),
            "rank_high": np.quantile(ranks, 0.95, axis=0).round().astype(np.int64),
        }
    )


def ideal_points(
    hierarchical: az.InferenceData,
    flat: az.InferenceData,
    legislators: pl.DataFrame,
) -> pl.DataFrame:
    """The ideal_points table: every legislator of the vote matrix.

    Legislators the hierarchical model leaves out (independents) keep their flat estimate, with
    `model = 'flat'` and null hierarchical columns; they are ranked among the others by their
    flat estimate mapped onto the hierarchical scale.
    """
    hier = ideal_point_table(hierarchical)
    flat_tab = ideal_point_table(flat).select(
        "legislator_slug",
        pl.col("xi_mean").alias("flat_mean"),
        pl.col("xi_sd").alias("flat_sd"),
        pl.col("xi_hdi_low").alias("flat_hdi_low"),
        pl.col("xi_hdi_high").alias("flat_hdi_high"),
    )
    common = hier.join(flat_tab, on="legislator_slug")
    h, f = common["xi_mean"].to_numpy(), common["flat_mean"].to_numpy()
    # same orientation first: a flat posterior whose sign is flipped relative to the hierarchical
    # one would otherwise map every legislator onto the wrong side
    sign = -1.0 if h.size > 1 and h.std() > 0 and f.std() > 0 and np.corrcoef(h, f)[0, 1] < 0 else 1.0
    scale = sign * h.std() / (f.std() if f.std() > 0 else 1.0)
    mapped = lambda x: (x - f.mean()) * scale + h.mean()  # noqa: E731
    lo_col, hi_col = ("flat_hdi_low", "flat_hdi_high") if sign > 0 else ("flat_hdi_high", "flat_hdi_low")
    flat_tab = flat_tab.with_columns(
        xi_flat=pl.col("flat_mean").map_batches(lambda s: pl.Series(mapped(s.to_numpy()))),
        xi_flat_hdi_low=pl.col(lo_col).map_batches(lambda s: pl.Series(mapped(s.to_numpy()))),
        xi_flat_hdi_high=pl.col(hi_col).map_batches(lambda s: pl.Series(mapped(s.to_numpy()))),
    )
    info_cols = [
        c for c in ("legislator_slug", "name", "full_name", "party", "district", "n_votes") if c in legislators.columns
    ]
    table = (
        legislators.select(info_cols)
        .join(hier, on="legislator_slug", how="left")
        .join(
            flat_tab.select("legislator_slug", "flat_mean", "xi_flat", "xi_flat_hdi_low", "xi_flat_hdi_high"),
            on="legislator_slug",
            how="left",
        )
        .with_columns(
            model=pl.when(pl.col("xi_mean").is_not_null()).then(pl.lit("hierarchical")).otherwise(pl.lit("flat")),
            shrinkage=pl.col("xi_mean") - pl.col("xi_flat"),
            position=pl.coalesce("xi_mean", "xi_flat"),
        )
        .with_columns(overall_rank=pl.col("position").rank("ordinal").cast(pl.Int64))
        .sort("position")
    )
    return table


#: a change in distance to the party centre smaller than this (hierarchical units) is "unchanged":
#: the report shows positions to two decimals
DIRECTION_TOLERANCE = 0.005


def shrinkage_direction(table: pl.DataFrame) -> pl.DataFrame:
    """Did party pooling move each legislator toward or away from their party?

    `table` is an ideal_points table (legislator_slug, party, xi_mean, xi_flat: both on the
    hierarchical scale). Each model is measured against its own party centre on that scale, the
    mean position of the party's members in that model (over the legislators both models place),
    so a shift of the whole party between the models is not read as a legislator's move.

    Returns legislator_slug, party, flat_centre, hier_centre, flat_distance (|xi_flat -
    flat_centre|), hier_distance (|xi_mean - hier_centre|) and direction: "toward", "away from"
    or "unchanged" (distances within DIRECTION_TOLERANCE)."""
    both = table.filter(
        pl.col("xi_mean").is_not_null() & pl.col("xi_flat").is_not_null() & pl.col("party").is_not_null()
    )
    change = pl.col("hier_distance") - pl.col("flat_distance")
    return (
        both.select("legislator_slug", "party", "xi_mean", "xi_flat")
        .with_columns(
            flat_centre=pl.col("xi_flat").mean().over("party"),
            hier_centre=pl.col("xi_mean").mean().over("party"),
        )
        .with_columns(
            flat_distance=(pl.col("xi_flat") - pl.col("flat_centre")).abs(),
            hier_distance=(pl.col("xi_mean") - pl.col("hier_centre")).abs(),
        )
        .with_columns(
            direction=pl.when(change.abs() < DIRECTION_TOLERANCE)
            .then(pl.lit("unchanged"))
            .when(change < 0)
            .then(pl.lit("toward"))
            .otherwise(pl.lit("away from"))
        )
        .select("legislator_slug", "party", "flat_centre", "hier_centre", "flat_distance", "hier_distance", "direction")
    )


def flat_ideal_points(flat: az.InferenceData, legislators: pl.DataFrame) -> pl.DataFrame:
    """The ideal_points table of a chamber where the hierarchical model was not fitted (one party,
    no parties, a pooled party too small): the flat model's estimates are the published ones.

    Same columns as `ideal_points`: `xi_*` and the ranks are the flat posterior's (standardised
    per draw like the hierarchical ones), `flat_mean` / `xi_flat` repeat them, `shrinkage` is null
    (nothing pooled) and `model = 'flat'` for every legislator."""
    tab = ideal_point_table(flat)
    info_cols = [
        c for c in ("legislator_slug", "name", "full_name", "party", "district", "n_votes") if c in legislators.columns
    ]
    return (
        legislators.select(info_cols)
        .join(tab, on="legislator_slug", how="left")
        .with_columns(
            flat_mean=pl.col("xi_mean"),
            xi_flat=pl.col("xi_mean"),
            xi_flat_hdi_low=pl.col("xi_hdi_low"),
            xi_flat_hdi_high=pl.col("xi_hdi_high"),
            model=pl.lit("flat"),
            shrinkage=pl.lit(None, dtype=pl.Float64),
            position=pl.col("xi_mean"),
        )
        .with_columns(overall_rank=pl.col("position").rank("ordinal").cast(pl.Int64))
        .sort("position")
    )


PARTY_SUMMARY_SCHEMA = {
    "parameter": pl.String,
    "party": pl.String,
    "n_legislators": pl.Int64,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "hdi_low": pl.Float64,
    "hdi_high": pl.Float64,
}


def empty_party_summary() -> pl.DataFrame:
    """The party_summary of a chamber without a hierarchical model: no rows, the same columns."""
    return pl.DataFrame(schema=PARTY_SUMMARY_SCHEMA)


def party_summary(idata: az.InferenceData, party_sizes: dict[str, int]) -> pl.DataFrame:
    """Long table: parameter, party, mean, sd, 90% HDI (on the standardised scale when the
    posterior has it, like the ideal points).

    Rows: mu_party and sigma_within per party; ``var_between`` (size-weighted variance of the
    party means), ``var_within`` (size-weighted mean of sigma_within squared) and
    ``icc = var_between / (var_between + var_within)``, the share of ideological variance that
    lies between the parties; each computed per draw.
    """
    norm = "mu_party_norm" in posterior_of(idata)
    mu_var, sigma_var = ("mu_party_norm", "sigma_within_norm") if norm else ("mu_party", "sigma_within")
    parties = [str(p) for p in posterior_of(idata)[mu_var]["party"].values]
    mu = _stack(idata, mu_var)
    sigma = _stack(idata, sigma_var)
    w = np.array([party_sizes.get(p, 0) for p in parties], dtype=float)
    w = w / w.sum()
    grand = mu @ w
    var_between = ((mu - grand[:, None]) ** 2) @ w
    var_within = (sigma**2) @ w
    icc = var_between / (var_between + var_within)

    rows = []

    def add(parameter: str, party: str | None, draws: np.ndarray) -> None:
        lo, hi = _hdi(draws[:, None])[0]
        rows.append(
            {
                "parameter": parameter,
                "party": party,
                "n_legislators": party_sizes.get(party) if party else int(sum(party_sizes.values())),
                "mean": float(draws.mean()),
                "sd": float(draws.std(ddof=1)),
                "hdi_low": float(lo),
                "hdi_high": float(hi),
            }
        )

    for k, party in enumerate(parties):
        add("mu_party", party, mu[:, k])
    for k, party in enumerate(parties):
        add("sigma_within", party, sigma[:, k])
    add("var_between", None, var_between)
    add("var_within", None, var_within)
    add("icc", None, icc)
    return pl.DataFrame(rows, schema=PARTY_SUMMARY_SCHEMA)
