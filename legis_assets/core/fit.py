"""How well the posterior explains the votes: PCC, APRE, GMP, and a posterior predictive check.

All computed per posterior draw (``logit P(Yea) = beta_j * xi_i - alpha_j`` over the observed
Yea/Nay votes the model was fitted to), then summarised by the posterior mean and a 90 % HDI:

* **PCC** (percent correctly classified): share of votes where the predicted side (P(Yea) > 1/2)
  is the side voted.
* **APRE** (aggregate proportional reduction in error, Poole & Rosenthal; pscl's ``computeMargins``
  / W-NOMINATE's fit statistics): ``sum_j (minority_j - errors_j) / sum_j minority_j``, where
  ``minority_j`` = min(Yea_j, Nay_j) are the errors of the baseline that predicts every vote of roll
  call j to be on its majority side. Per legislator the same ratio over that legislator's votes:
  baseline errors = the votes they cast on the minority side (Nay on a tie), model errors = their
  misclassified votes (undefined, null, for a legislator who never voted with a minority).
* **GMP** (geometric mean probability): ``exp(mean log P(observed vote))``.
* **Posterior predictive check**: per draw, votes replicated from the model; observed Yea share
  by roll call and by legislator against the replicated ones (mean, 90 % interval).

Also reported: the same PCC / APRE / GMP at the posterior means of the parameters (the point
estimate NOMINATE-style software reports). Draws are processed in chunks (memory stays under
~50 MB per chunk on a US House).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from scipy import sparse
from scipy.special import log_expit

from legis_assets.core.rollcalls import AlignedVotes, PosteriorDraws, hdi, thin_index

#: cells (draws x observations) per chunk of work
CHUNK_CELLS = 4_000_000
#: at most this many draws (evenly spaced) for the fit statistics and the replicated votes: their
#: 90 % intervals are narrow and stable at a few hundred draws, and the cost is draws x votes
#: (a US House: 355k votes per draw)
FIT_MAX_DRAWS = 400
#: seed of the replicated votes (the check is reproducible)
PPC_SEED = 20261202


def baseline_errors(votes: AlignedVotes, n_rollcalls: int) -> tuple[np.ndarray, np.ndarray]:
    """Per roll call the minority count min(Yea, Nay); per vote whether it is on the minority side
    (the majority-side baseline's errors; on a tie the baseline predicts Yea, so Nay votes err)."""
    yea = np.bincount(votes.rc, weights=votes.y, minlength=n_rollcalls)
    nay = np.bincount(votes.rc, weights=1 - votes.y, minlength=n_rollcalls)
    majority_yea = yea >= nay
    minority_vote = (votes.y == 1) != majority_yea[votes.rc]
    return np.minimum(yea, nay), minority_vote


def apre(minority: float | np.ndarray, errors: float | np.ndarray) -> np.ndarray:
    """APRE = (baseline errors - model errors) / baseline errors (NaN where the baseline makes none)."""
    minority = np.asarray(minority, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(minority > 0, (minority - np.asarray(errors, dtype=float)) / minority, np.nan)


def classify(eta: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where the vote is on the predicted side (eta = 0 predicts Yea)."""
    return (eta >= 0) == (y == 1)


def log_prob(eta: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log P(observed vote) under logit P(Yea) = eta, computed stably (log of the logistic
    function of +eta for a Yea, -eta for a Nay)."""
    s = (2 * np.asarray(y) - 1).astype(eta.dtype)
    return log_expit(s * eta)


@dataclass
class FitResult:
    #: metric (pcc, apre, gmp), mean, hdi_low, hdi_high (over draws), at_posterior_mean, n_votes, n_draws
    chamber: pl.DataFrame
    #: legislator_slug, n_votes, minority_votes, pcc(+hdi), apre(+hdi), gmp(+hdi), yea_share, rep_yea_share(+low/high)
    legislators: pl.DataFrame
    #: vote_id, n_votes, yea_share, rep_yea_share, rep_low, rep_high, inside, pcc
    rollcalls: pl.DataFrame
    #: the per-draw chamber values (pcc, apre, gmp), for tests and figures
    per_draw: dict[str, np.ndarray]


def _indicator(index: np.ndarray, n: int) -> sparse.csr_matrix:
    """observations x n 0/1 matrix: row k has a 1 in column index[k]."""
    m = index.size
    return sparse.csr_matrix((np.ones(m, dtype=np.float32), (np.arange(m), index)), shape=(m, n))


def _interval(x: np.ndarray) -> np.ndarray:
    """Central 90 % interval per column (replicated shares are discrete: quantiles, not HDIs)."""
    return np.quantile(x, [0.05, 0.95], axis=0).T


def model_fit(
    draws: PosteriorDraws, votes: AlignedVotes, seed: int = PPC_SEED, max_draws: int = FIT_MAX_DRAWS
) -> FitResult:
    """PCC, APRE, GMP per draw for the chamber, each legislator and each roll call, and the
    posterior predictive Yea shares. `votes` indexes into `draws` (rollcalls.align_votes)."""
    # the point estimate from every draw given (before thinning for the per-draw statistics)
    means = (draws.xi.mean(0), draws.alpha.mean(0), draws.beta.mean(0))
    if draws.n_draws > max_draws:
        keep = thin_index(draws.n_draws, max_draws)
        draws = replace(draws, xi=draws.xi[keep], alpha=draws.alpha[keep], beta=draws.beta[keep])
    n_leg, n_rc = len(draws.legislators), len(draws.rollcalls)
    n, S = votes.y.size, draws.n_draws
    if n == 0:
        raise ValueError("no observed votes to assess the fit on")
    y = votes.y.astype(float)
    minority_rc, minority_vote = baseline_errors(votes, n_rc)
    L, R = _indicator(votes.leg, n_leg), _indicator(votes.rc, n_rc)
    n_leg_votes = np.asarray(L.sum(axis=0)).ravel()
    n_rc_votes = np.asarray(R.sum(axis=0)).ravel()
    leg_minority = np.bincount(votes.leg, weights=minority_vote, minlength=n_leg)

    correct_leg = np.empty((S, n_leg))
    logp_leg = np.empty((S, n_leg))
    rep_leg = np.empty((S, n_leg))
    correct_rc = np.empty((S, n_rc))
    rep_rc = np.empty((S, n_rc))
    rng = np.random.default_rng(seed)
    xi32, alpha32, beta32 = (a.astype(np.float32) for a in (draws.xi, draws.alpha, draws.beta))
    s_sign = (2 * votes.y.astype(np.int8) - 1).astype(np.float32)
    step = max(1, CHUNK_CELLS // n)
    for start in range(0, S, step):
        sl = slice(start, min(start + step, S))
        # float32: numpy's vectorised exp / log1p are several times faster than in float64; the sums
        # per legislator / roll call (at most a few thousand terms) keep ~6 significant digits
        eta = (xi32[sl][:, votes.leg] * beta32[sl][:, votes.rc]) - alpha32[sl][:, votes.rc]
        ok = classify(eta, votes.y).astype(np.float32)
        e = np.exp(-np.abs(eta))  # one exp per cell serves the log-probability and P(Yea)
        lp = np.minimum(s_sign * eta, 0) - np.log1p(e)
        p_yea = np.where(eta >= 0, 1, e) / (1 + e)
        rep = (rng.random(eta.shape, dtype=np.float32) < p_yea).astype(np.float32)
        correct_leg[sl] = (L.T @ ok.T).T
        logp_leg[sl] = (L.T @ lp.T).T
        rep_leg[sl] = (L.T @ rep.T).T
        correct_rc[sl] = (R.T @ ok.T).T
        rep_rc[sl] = (R.T @ rep.T).T

    # chamber, per draw
    correct = correct_leg.sum(axis=1)
    pcc = correct / n
    apre_d = apre(minority_rc.sum(), n - correct)
    gmp = np.exp(logp_leg.sum(axis=1) / n)
    per_draw = {"pcc": pcc, "apre": apre_d, "gmp": gmp}

    # at the posterior means (point estimates)
    eta_m = means[2][votes.rc] * means[0][votes.leg] - means[1][votes.rc]
    ok_m = classify(eta_m, votes.y)
    at_mean = {
        "pcc": float(ok_m.mean()),
        "apre": float(apre(minority_rc.sum(), n - ok_m.sum())),
        "gmp": float(np.exp(log_prob(eta_m, y).mean())),
    }
    rows = []
    for metric, vals in per_draw.items():
        lo, hi = hdi(vals)[0]
        rows.append(
            {
                "metric": metric,
                "mean": float(vals.mean()),
                "hdi_low": float(lo),
                "hdi_high": float(hi),
                "at_posterior_mean": at_mean[metric],
                "n_votes": int(n),
                "n_draws": int(S),
            }
        )
    chamber = pl.DataFrame(rows)

    # legislators
    with np.errstate(divide="ignore", invalid="ignore"):
        pcc_l = correct_leg / n_leg_votes
        gmp_l = np.exp(logp_leg / n_leg_votes)
        apre_l = apre(leg_minority[None, :], n_leg_votes[None, :] - correct_leg)
        rep_share_l = rep_leg / n_leg_votes
    obs_share_l = np.bincount(votes.leg, weights=y, minlength=n_leg) / np.maximum(n_leg_votes, 1)
    legs = {"legislator_slug": draws.legislators, "n_votes": n_leg_votes.astype(np.int64)}
    legs["minority_votes"] = leg_minority.astype(np.int64)
    for name, vals in (("pcc", pcc_l), ("apre", apre_l), ("gmp", gmp_l)):
        defined = np.isfinite(vals).all(axis=0)
        h = np.full((n_leg, 2), np.nan)
        if defined.any():
            h[defined] = hdi(vals[:, defined])
        mean = np.full(n_leg, np.nan)
        mean[defined] = vals[:, defined].mean(axis=0)
        legs[name] = mean
        legs[f"{name}_hdi_low"], legs[f"{name}_hdi_high"] = h[:, 0], h[:, 1]
    q = _interval(rep_share_l)
    legs |= {"yea_share": obs_share_l, "rep_yea_share": rep_share_l.mean(0), "rep_low": q[:, 0], "rep_high": q[:, 1]}
    legislators = pl.DataFrame(legs).with_columns(
        inside=(pl.col("yea_share") >= pl.col("rep_low")) & (pl.col("yea_share") <= pl.col("rep_high")),
        gmp_rank=pl.col("gmp").rank("ordinal").cast(pl.Int64),  # 1 = fits worst
    )
    legislators = legislators.with_columns(pl.col(c).fill_nan(None) for c in ("apre", "apre_hdi_low", "apre_hdi_high"))

    # roll calls
    obs_share_r = np.bincount(votes.rc, weights=y, minlength=n_rc) / np.maximum(n_rc_votes, 1)
    q = _interval(rep_rc / np.maximum(n_rc_votes, 1))
    rollcalls = pl.DataFrame(
        {
            "vote_id": draws.rollcalls,
            "n_votes": n_rc_votes.astype(np.int64),
            "yea_share": obs_share_r,
            "rep_yea_share": (rep_rc / np.maximum(n_rc_votes, 1)).mean(0),
            "rep_low": q[:, 0],
            "rep_high": q[:, 1],
            "pcc": (correct_rc / np.maximum(n_rc_votes, 1)).mean(0),
            "minority_votes": minority_rc.astype(np.int64),
        }
    ).with_columns(inside=(pl.col("yea_share") >= pl.col("rep_low")) & (pl.col("yea_share") <= pl.col("rep_high")))
    return FitResult(chamber, legislators, rollcalls, per_draw)


def ppc_summary(fit: FitResult) -> dict[str, float]:
    """Share of roll calls / legislators whose observed Yea share lies in the replicated 90 % interval."""
    return {
        "ppc_rollcalls_inside": float(fit.rollcalls["inside"].to_numpy().mean()),
        "ppc_legislators_inside": float(fit.legislators["inside"].to_numpy().mean()),
    }


#: APRE below this (posterior mean) is a WARN. One-dimensional W-NOMINATE fits of US Congresses
#: reach APRE ~0.6-0.8 (Poole & Rosenthal); a one-dimensional model that removes under 40 % of the
#: majority-side baseline's errors leaves most of the contested voting unexplained: a second
#: dimension, a non-ideological agenda or a data problem (wrong party labels, merged roll calls)
#: should be looked at before the scale is read.
APRE_WARN = 0.40
