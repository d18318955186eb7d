"""The sign screen: which roll calls are sampled as (cutpoint, log |beta|) with a fixed sign, and
the check, after sampling, that the restriction cut off no posterior mass."""

from __future__ import annotations

import numpy as np

from legis_assets.core.models import IRTData

#: a roll call is sampled as (cutpoint, log |beta|) when the signed root of the likelihood-ratio
#: statistic for beta = 0, with the ideal points at their PCA start, is at least this large
SIGN_MIN_ROOT = 5.0
#: prior scales of that screening fit (PCA scores standardised): wide, so that a separating roll
#: call keeps a finite estimate without the prior deciding its sign
_SCREEN_ALPHA_SCALE, _SCREEN_BETA_SCALE = 5.0, 3.0


def rollcall_signs(data: IRTData, x: np.ndarray, min_root: float = SIGN_MIN_ROOT) -> tuple[np.ndarray, np.ndarray]:
    """Per roll call: +1 / -1 where the discrimination's sign is not in doubt, else 0; and the
    signed root r of the likelihood-ratio statistic behind it.

    Each roll call's logistic regression on the standardised PCA start `x` (Newton's method, priors
    N(0, 5) and N(0, 3)) is compared with its intercept-only fit: r = sign(beta_hat) sqrt(2 (l1 - l0)).
    |r| >= 5 puts ~3e-7 (normal tail) of the screening posterior on the other sign. On the real
    chambers in ../shared/data no roll call that passes has a single posterior draw of the other sign
    in 8,000 (the unrestricted model's; benchmarks/). The restriction is checked after sampling
    (`sign_check`)."""
    J = data.n_rollcalls
    r, i = data.rc_idx, data.leg_idx
    y = data.y.astype(float)
    xv = np.asarray(x, dtype=float)[i]
    ia, ib = 1.0 / _SCREEN_ALPHA_SCALE**2, 1.0 / _SCREEN_BETA_SCALE**2

    def fit(free_beta: bool):
        a, b = np.zeros(J), np.zeros(J)
        for _ in range(100):
            eta = b[r] * xv - a[r]
            p = 1.0 / (1.0 + np.exp(-eta))
            w, res = p * (1.0 - p), y - p
            ga = -np.bincount(r, res, J) - a * ia
            haa = np.bincount(r, w, J) + ia
            if free_beta:
                gb = np.bincount(r, res * xv, J) - b * ib
                hbb = np.bincount(r, w * xv * xv, J) + ib
                hab = -np.bincount(r, w * xv, J)
                det = haa * hbb - hab**2
                da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
            else:
                da, db = ga / haa, np.zeros(J)
            a += da
            b += db
            if max(np.abs(da).max(), np.abs(db).max()) < 1e-10:
                break
        eta = b[r] * xv - a[r]
        ll = np.bincount(r, y * eta - np.logaddexp(0.0, eta), J) - 0.5 * (a * a * ia + b * b * ib)
        return ll, b

    ll1, b_hat = fit(True)
    ll0, _ = fit(False)
    root = np.sign(b_hat) * np.sqrt(np.maximum(2.0 * (ll1 - ll0), 0.0))
    return np.where(np.abs(root) >= min_root, np.sign(root), 0.0), root


def sign_check(beta_draws: np.ndarray, sign: np.ndarray) -> float:
    """The largest share of draws, over the sign-restricted roll calls, in which |beta| is below a
    tenth of its posterior median (0 if none is restricted). Where the restriction cuts off real
    posterior mass, the draws pile up against beta = 0 and this share grows; a posterior that
    stays clear of zero (however skewed, as near-separable roll calls are) leaves it at ~0."""
    fixed = np.asarray(sign) != 0
    if not fixed.any():
        return 0.0
    b = np.abs(np.asarray(beta_draws)[..., fixed])
    b = b.reshape(-1, b.shape[-1])
    return float(np.max(np.mean(b < 0.1 * np.median(b, axis=0), axis=0)))
