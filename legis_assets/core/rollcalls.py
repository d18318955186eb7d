"""Roll-call parameters on the reported scale: discrimination, cutpoint, party split.

The model (core/models.py) is ``logit P(Yea_ij) = beta_j * xi_i - alpha_j``. The reported ideal
points are ``xi_norm`` (standardised per draw) and ``alpha_norm``, ``beta_norm`` are transformed to
match, so ``beta_norm * xi_norm - alpha_norm`` is the same linear predictor in every draw. Hence,
per draw:

* **discrimination** = ``beta_norm``: the change in the log-odds of Yea per standard deviation of
  the chamber; its sign says which side votes Yea (positive: the right / conservative side);
* **cutpoint** = ``alpha_norm / beta_norm``: the position where Yea and Nay are equally likely,
  on the same scale as the ideal_points table.

Both are summarised over draws (cutpoint: posterior *median*, since a ratio with a discrimination
near 0 has heavy tails; discrimination: mean) with 90 % HDIs. The posterior is thinned to at most
``MAX_DRAWS`` evenly spaced draws (chains stacked) to keep a House-sized partition cheap.

The party split counts Yea and Nay by party among the votes the model saw (the vote matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import polars as pl

from legis_assets.core.idata import posterior_of
from legis_assets.core.schema import HIERARCHICAL_PARTIES

HDI_PROB = 0.90
#: at most this many posterior draws (evenly spaced over the stacked chains) feed the roll-call and
#: fit summaries: enough for a 90 % interval, cheap on a US House (355k votes)
MAX_DRAWS = 1000
#: a party's vote is "split" when at least this share of its voting members is on its minority side
SPLIT_SHARE = 0.25
#: ... and at least this many of its members voted Yea or Nay
SPLIT_MIN_VOTERS = 5
#: "party line": each party at least this cohesive, the two majorities on opposite sides
PARTY_LINE_COHESION = 0.90


def hdi(draws: np.ndarray, prob: float = HDI_PROB) -> np.ndarray:
    """HDI per column of a (draws x k) array: (k, 2)."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 1:
        draws = draws[:, None]
    return np.asarray(az.hdi(draws[None, :, :], hdi_prob=prob)).reshape(-1, 2)


def thin_index(n_total: int, max_draws: int = MAX_DRAWS) -> np.ndarray:
    """Evenly spaced draw indices over `n_total` stacked draws (all of them when few enough)."""
    if n_total <= max_draws:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, max_draws).round().astype(np.int64))


@dataclass
class PosteriorDraws:
    """Stacked (and thinned) draws of the reported quantities of one posterior."""

    xi: np.ndarray  # draws x legislators (standardised per draw)
    alpha: np.ndarray  # draws x roll calls (matching xi's scale)
    beta: np.ndarray  # draws x roll calls
    legislators: list[str]
    rollcalls: list[str]
    n_total_draws: int

    @property
    def n_draws(self) -> int:
        return int(self.xi.shape[0])

    def cutpoints(self) -> np.ndarray:
        return cutpoint_draws(self.alpha, self.beta)


def cutpoint_draws(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Per draw, the position where ``beta * xi - alpha = 0`` (P(Yea) = 1/2): ``alpha / beta``.
    A draw with beta exactly 0 has no cutpoint (inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(alpha, dtype=float) / np.asarray(beta, dtype=float)


def _stack(values: np.ndarray) -> np.ndarray:
    return values.reshape(values.shape[0] * values.shape[1], -1)


def posterior_draws(idata: az.InferenceData, max_draws: int = MAX_DRAWS) -> PosteriorDraws:
    """The reported ideal points and matching roll-call parameters, per draw.

    Uses ``xi_norm``, ``alpha_norm``, ``beta_norm`` (core.models.add_normalised) when the posterior
    has them; otherwise standardises ``xi`` per draw here and transforms alpha and beta the same way.
    """
    post = posterior_of(idata)
    xi = _stack(post["xi"].values)
    idx = thin_index(xi.shape[0], max_draws)
    if all(v in post for v in ("xi_norm", "alpha_norm", "beta_norm")):
        xi_n = _stack(post["xi_norm"].values)[idx]
        alpha = _stack(post["alpha_norm"].values)[idx]
        beta = _stack(post["beta_norm"].values)[idx]
    else:
        raw = xi[idx]
        centre, scale = raw.mean(axis=1, keepdims=True), raw.std(axis=1, keepdims=True)
        xi_n = (raw - centre) / scale
        a, b = _stack(post["alpha"].values)[idx], _stack(post["beta"].values)[idx]
        beta = b * scale
        alpha = a - b * centre
    return PosteriorDraws(
        xi=xi_n,
        alpha=alpha,
        beta=beta,
        legislators=[str(v) for v in post["xi"]["legislator"].values],
        rollcalls=[str(v) for v in post["alpha"]["rollcall"].values],
        n_total_draws=int(xi.shape[0]),
    )


@dataclass
class AlignedVotes:
    """The observed Yea/Nay votes of a vote matrix, indexed into a posterior's labels."""

    leg: np.ndarray  # index into PosteriorDraws.legislators
    rc: np.ndarray  # index into PosteriorDraws.rollcalls
    y: np.ndarray  # 1 Yea, 0 Nay


def align_votes(
    leg_slugs: list[str],
    rc_ids: list[str],
    leg_idx: np.ndarray,
    rc_idx: np.ndarray,
    y: np.ndarray,
    draws: PosteriorDraws,
) -> AlignedVotes:
    """Keep the votes of legislators and roll calls the posterior has (the hierarchical model leaves
    independents out), re-indexed to the posterior's order."""
    leg_pos = {s: i for i, s in enumerate(draws.legislators)}
    rc_pos = {s: j for j, s in enumerate(draws.rollcalls)}
    leg_map = np.array([leg_pos.get(s, -1) for s in leg_slugs], dtype=np.int64)
    rc_map = np.array([rc_pos.get(v, -1) for v in rc_ids], dtype=np.int64)
    li, ri = leg_map[np.asarray(leg_idx)], rc_map[np.asarray(rc_idx)]
    keep = (li >= 0) & (ri >= 0)
    return AlignedVotes(li[keep], ri[keep], np.asarray(y)[keep].astype(np.int8))


# --- party split ---------------------------------------------------------------------------

PARTY_COLUMNS = {"Democrat": "democrat", "Republican": "republican"}


def party_split(
    rc_ids: list[str], parties: list[str], leg_idx: np.ndarray, rc_idx: np.ndarray, y: np.ndarray
) -> pl.DataFrame:
    """Per roll call: Yea / Nay counts overall and by party, a readable split, and its kind.

    `parties[i]` is legislator i's party (vote-matrix order); `leg_idx`, `rc_idx`, `y` are the
    matrix's observed cells. Columns: vote_id, yea, nay, democrat_yea, democrat_nay,
    republican_yea, republican_nay, other_yea, other_nay, party_split (text, Yea-Nay per party),
    party_unity (majorities of the two parties on opposite sides: the CQ / Voteview "party unity"
    vote), party_line (the same with each party at least 90 % cohesive), split_parties (the
    parties with at least 25 % of at least 5 voting members on their minority side).
    """
    n_rc = len(rc_ids)
    y = np.asarray(y).astype(np.int64)
    rc_idx = np.asarray(rc_idx)
    party_arr = np.asarray(parties, dtype=object)[np.asarray(leg_idx)]
    names = sorted(set(parties), key=lambda p: (p not in HIERARCHICAL_PARTIES, p))
    counts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for p in names:
        sel = party_arr == p
        counts[p] = (
            np.bincount(rc_idx[sel], weights=y[sel], minlength=n_rc).astype(np.int64),
            np.bincount(rc_idx[sel], weights=1 - y[sel], minlength=n_rc).astype(np.int64),
        )
    zero = np.zeros(n_rc, dtype=np.int64)
    cols: dict[str, object] = {"vote_id": list(rc_ids)}
    cols["yea"] = np.bincount(rc_idx, weights=y, minlength=n_rc).astype(np.int64)
    cols["nay"] = np.bincount(rc_idx, weights=1 - y, minlength=n_rc).astype(np.int64)
    other_yea, other_nay = zero.copy(), zero.copy()
    for p in names:
        if p in PARTY_COLUMNS:
            continue
        other_yea += counts[p][0]
        other_nay += counts[p][1]
    for p, col in PARTY_COLUMNS.items():
        yea_p, nay_p = counts.get(p, (zero, zero))
        cols[f"{col}_yea"], cols[f"{col}_nay"] = yea_p, nay_p
    cols["other_yea"], cols["other_nay"] = other_yea, other_nay
    cols["party_split"] = [
        " · ".join(f"{p} {counts[p][0][j]}–{counts[p][1][j]}" for p in names if counts[p][0][j] + counts[p][1][j])
        for j in range(n_rc)
    ]
    d_yea, d_nay = counts.get("Democrat", (zero, zero))
    r_yea, r_nay = counts.get("Republican", (zero, zero))
    d_side, r_side = np.sign(d_yea - d_nay), np.sign(r_yea - r_nay)
    unity = (d_side != 0) & (r_side != 0) & (d_side != r_side)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_coh = np.maximum(d_yea, d_nay) / (d_yea + d_nay)
        r_coh = np.maximum(r_yea, r_nay) / (r_yea + r_nay)
    cols["party_unity"] = unity
    cols["party_line"] = unity & (d_coh >= PARTY_LINE_COHESION) & (r_coh >= PARTY_LINE_COHESION)
    split = []
    for j in range(n_rc):
        hit = []
        for p in names:
            yv, nv = counts[p][0][j], counts[p][1][j]
            if yv + nv >= SPLIT_MIN_VOTERS and min(yv, nv) / (yv + nv) >= SPLIT_SHARE:
                hit.append(p)
        split.append(", ".join(hit))
    cols["split_parties"] = split
    return pl.DataFrame(cols)


# --- the table -----------------------------------------------------------------------------

ROLLCALL_INFO = ("bill_number", "bill_title", "motion", "vote_date", "vote_datetime", "result")


def rollcall_parameters(draws: PosteriorDraws, rollcalls: pl.DataFrame, split: pl.DataFrame) -> pl.DataFrame:
    """The rollcall_parameters table: one row per roll call of the posterior.

    Columns: vote_id, the roll call's bill_number, bill_title, motion, vote_date, vote_datetime,
    result (null where the data lack them), discrimination (posterior mean of beta_norm) with
    discrimination_hdi_low/high, abs_discrimination, cutpoint (posterior median of alpha_norm /
    beta_norm) with cutpoint_hdi_low/high, yea_side ("right" when a higher ideal point makes Yea
    more likely, else "left"), the party split columns (`party_split`), and n_draws (how many
    posterior draws the summaries use).
    """
    beta, cut = draws.beta, draws.cutpoints()
    b_hdi = hdi(beta)
    finite = np.where(np.isfinite(cut), cut, np.nan)
    c_hdi = hdi(np.where(np.isfinite(cut), cut, np.sign(cut) * 1e6))
    b_mean = beta.mean(axis=0)
    table = pl.DataFrame(
        {
            "vote_id": draws.rollcalls,
            "discrimination": b_mean,
            "discrimination_hdi_low": b_hdi[:, 0],
            "discrimination_hdi_high": b_hdi[:, 1],
            "abs_discrimination": np.abs(b_mean),
            "cutpoint": np.nanmedian(finite, axis=0),
            "cutpoint_hdi_low": c_hdi[:, 0],
            "cutpoint_hdi_high": c_hdi[:, 1],
            "yea_side": np.where(b_mean >= 0, "right", "left"),
            "n_draws": np.full(len(draws.rollcalls), draws.n_draws, dtype=np.int64),
        }
    )
    info_cols = [c for c in ROLLCALL_INFO if c in rollcalls.columns]
    info = rollcalls.select("vote_id", *[pl.col(c).cast(pl.String) for c in info_cols])
    for c in ROLLCALL_INFO:
        if c not in info.columns:
            info = info.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    out = (
        table.join(info.select("vote_id", *ROLLCALL_INFO), on="vote_id", how="left")
        .join(split, on="vote_id", how="left")
        .with_columns(discrimination_rank=pl.col("abs_discrimination").rank("ordinal", descending=True).cast(pl.Int64))
    )
    return out.select("vote_id", *ROLLCALL_INFO, pl.exclude("vote_id", *ROLLCALL_INFO)).sort("discrimination_rank")
