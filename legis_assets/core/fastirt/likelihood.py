"""The log-density and gradient in the model's own coordinates: the likelihood (dense and
sparse layouts), the priors (core/catalogue.py) and the roll-call reparameterisation."""

from __future__ import annotations

import math

import numba
import numpy as np

from legis_assets.core.catalogue import ALPHA_SCALE, BETA_SCALE, GAP_SCALE, XI_SCALE
from legis_assets.core.fastirt.layout import (
    _H_J,
    _H_L,
    _H_LAYOUT,
    _H_NCELL,
    _H_OFF_LEG,
    _H_OFF_PARTY,
    _H_OFF_RC,
    _H_OFF_SIG,
    _H_OFF_SIGN,
    _H_OFF_VOTE,
    KIND_FLAT,
    KIND_HIER_C,
    LAYOUT_DENSE,
)
from legis_assets.core.fastirt.numerics import _CHUNK, _FM, _JIT, HALFNORMAL_CONST, LOG_2PI_HALF, exp_neg


@numba.njit(fastmath=_FM, **_JIT)
def _dense_chunk(x, alpha, beta, vote, g_alpha, g_beta):
    """One legislator (ideal point x) against a block of roll calls; vote = +1 Yea, -1 Nay,
    0 absent. Returns (log-likelihood, d/dx) and adds d/dalpha, d/dbeta into g_alpha, g_beta.

    With t = vote, m = |t| and e = exp(-|eta|): log p = min(t eta, 0) - m log1p(e), where
    min(t eta, 0) = (t eta - m |eta|) / 2, and d log p / d eta = m (y - sigmoid(eta))
    = (t + m) / 2 - m sigmoid(eta).
    All arrays are indexed by the loop counter from 0 (a loop `range(start, stop)` does not
    vectorise: Numba's negative-index wraparound cannot be ruled out); len(alpha) <= _CHUNK.
    """
    prod = 1.0
    part = 0.0
    acc = 0.0
    for j in range(alpha.shape[0]):
        t = vote[j]
        m = abs(t)
        v = beta[j] * x - alpha[j]
        a = abs(v)
        e = exp_neg(-a)
        one_plus = 1.0 + e
        p = (1.0 if v >= 0.0 else e) / one_plus
        r = 0.5 * (t + m) - m * p
        part += t * v - m * a
        prod *= 1.0 + m * e
        acc += r * beta[j]
        g_alpha[j] -= r
        g_beta[j] += r * x
    return 0.5 * part - math.log(prod), acc


@numba.njit(fastmath=_FM, **_JIT)
def _dense_lik(xi, alpha, beta, vote, g_xi, g_alpha, g_beta):
    """Bernoulli-logit over the dense matrix vote (row-major L x J, see `_dense_chunk`); adds
    the gradients into g_*. One fused pass per legislator, contiguous over roll calls (SIMD)."""
    n_rc = alpha.shape[0]
    total = 0.0
    for i in range(xi.shape[0]):
        acc = 0.0
        base = i * n_rc
        for start in range(0, n_rc, _CHUNK):
            stop = min(start + _CHUNK, n_rc)
            ll, g = _dense_chunk(
                xi[i],
                alpha[start:stop],
                beta[start:stop],
                vote[base + start : base + stop],
                g_alpha[start:stop],
                g_beta[start:stop],
            )
            total += ll
            acc += g
        g_xi[i] += acc
    return total


@numba.njit(fastmath=_FM, **_JIT)
def _sparse_eta(xi, alpha, beta, leg, rc, eta):
    """eta[k] = beta[j] xi[i] - alpha[j] for the cells (i, j) = (leg[k], rc[k]) (scalar gathers)."""
    for k in range(leg.shape[0]):
        j = rc[k]
        eta[k] = beta[j] * xi[leg[k]] - alpha[j]


@numba.njit(fastmath=_FM, **_JIT)
def _sparse_chunk(eta, y, res):
    """Log-likelihood of votes y in {0, 1} given eta; residuals y - sigmoid(eta) into res
    (contiguous arrays: vectorises)."""
    prod = 1.0
    part = 0.0
    for k in range(eta.shape[0]):
        v = eta[k]
        e = exp_neg(-abs(v))
        one_plus = 1.0 + e
        p = (1.0 if v >= 0.0 else e) / one_plus
        part += y[k] * v - max(v, 0.0)
        prod *= one_plus
        res[k] = y[k] - p
    return part - math.log(prod)


@numba.njit(fastmath=_FM, **_JIT)
def _sparse_scatter(xi, beta, leg, rc, res, g_xi, g_alpha, g_beta):
    for k in range(leg.shape[0]):
        r = res[k]
        i = leg[k]
        j = rc[k]
        g_xi[i] += r * beta[j]
        g_alpha[j] -= r
        g_beta[j] += r * xi[i]


@numba.njit(fastmath=_FM, **_JIT)
def _sparse_lik(xi, alpha, beta, leg, rc, y, g_xi, g_alpha, g_beta):
    """Bernoulli-logit over the observed cells (long arrays). Per chunk of cells: a scalar
    gather pass (eta), a vectorised pass (exp, softplus, residuals) and a scalar scatter pass
    (gradients); a single fused loop would not vectorise (gathers next to stores)."""
    n = leg.shape[0]
    eta = np.empty(_CHUNK)
    res = np.empty(_CHUNK)
    total = 0.0
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        e = eta[: stop - start]
        r = res[: stop - start]
        _sparse_eta(xi, alpha, beta, leg[start:stop], rc[start:stop], e)
        total += _sparse_chunk(e, y[start:stop], r)
        _sparse_scatter(xi, beta, leg[start:stop], rc[start:stop], r, g_xi, g_alpha, g_beta)
    return total


@numba.njit(fastmath=_FM, **_JIT)
def _normal_prior(x, scale, grad):
    """sum log N(x | 0, scale); adds the gradient into grad."""
    inv = 1.0 / (scale * scale)
    ss = 0.0
    for k in range(x.shape[0]):
        ss += x[k] * x[k]
        grad[k] -= x[k] * inv
    return x.shape[0] * (-LOG_2PI_HALF - math.log(scale)) - 0.5 * ss * inv


@numba.njit(**_JIT)
def _scale_priors(theta, grad, gap, sig0, sig1, g_gap, g_sig0, g_sig1, sig_scale):
    """party_gap ~ HalfNormal(2) and sigma_within ~ HalfNormal(s), sampled on the log scale
    (+ Jacobian): their log-density; writes grad[0:3] from the gradients g_* with respect to
    gap and the two sigmas (chain rule through exp)."""
    total = HALFNORMAL_CONST - math.log(GAP_SCALE) - 0.5 * gap * gap / (GAP_SCALE * GAP_SCALE) + theta[0]
    grad[0] = gap * (g_gap - gap / (GAP_SCALE * GAP_SCALE)) + 1.0
    s2 = sig_scale[0] * sig_scale[0]
    total += HALFNORMAL_CONST - math.log(sig_scale[0]) - 0.5 * sig0 * sig0 / s2 + theta[1]
    grad[1] = sig0 * (g_sig0 - sig0 / s2) + 1.0
    s2 = sig_scale[1] * sig_scale[1]
    total += HALFNORMAL_CONST - math.log(sig_scale[1]) - 0.5 * sig1 * sig1 / s2 + theta[2]
    grad[2] = sig1 * (g_sig1 - sig1 / s2) + 1.0
    return total


@numba.njit(**_JIT)
def _hier_prior_backprop(theta, grad, g_xi, gap, sig0, sig1, off, party, sig_scale):
    """Chain rule through xi = -+gap + sigma[p] * offset, plus the priors of gap, sigma and the
    offsets; returns their log-density (alpha/beta priors are added by the caller)."""
    g_gap = 0.0
    g_sig0 = 0.0
    g_sig1 = 0.0
    total = 0.0
    for i in range(off.shape[0]):
        g = g_xi[i]
        if party[i] == 1:
            g_gap += g
            g_sig1 += g * off[i]
            s = sig1
        else:
            g_gap -= g
            g_sig0 += g * off[i]
            s = sig0
        # offsets ~ N(0, 1)
        grad[3 + i] = g * s - off[i]
        total += -LOG_2PI_HALF - 0.5 * off[i] * off[i]
    return total + _scale_priors(theta, grad, gap, sig0, sig1, g_gap, g_sig0, g_sig1, sig_scale)


@numba.njit(**_JIT)
def _centred_prior(theta, grad, xi, gap, sig0, sig1, party, sig_scale):
    """Centred hierarchy: xi ~ N(-+gap, sigma[p]) directly (xi = theta[3:3+L], whose likelihood
    gradient is already in grad[3:3+L]); adds the prior's gradient there and writes the gradients
    of log gap and log sigma; returns the log-density of gap, sigma and xi given them."""
    inv0 = 1.0 / (sig0 * sig0)
    inv1 = 1.0 / (sig1 * sig1)
    g_mu0 = 0.0
    g_mu1 = 0.0
    ss0 = 0.0
    ss1 = 0.0
    n1 = 0
    L = xi.shape[0]
    for i in range(L):
        if party[i] == 1:
            d = xi[i] - gap
            g_mu1 += d * inv1
            ss1 += d * d
            n1 += 1
            grad[3 + i] -= d * inv1
        else:
            d = xi[i] + gap
            g_mu0 += d * inv0
            ss0 += d * d
            grad[3 + i] -= d * inv0
    n0 = L - n1
    total = -L * LOG_2PI_HALF - n0 * math.log(sig0) - n1 * math.log(sig1) - 0.5 * (ss0 * inv0 + ss1 * inv1)
    g_gap = g_mu1 - g_mu0
    g_sig0 = -n0 / sig0 + ss0 * inv0 / sig0
    g_sig1 = -n1 / sig1 + ss1 * inv1 / sig1
    return total + _scale_priors(theta, grad, gap, sig0, sig1, g_gap, g_sig0, g_sig1, sig_scale)


@numba.njit(**_JIT)
def _party_params(theta, ud, L):
    """gap, sigma_within (2) from their log-scale entries theta[0:3], and the party index."""
    op = int(ud[_H_OFF_PARTY])
    return math.exp(theta[0]), math.exp(theta[1]), math.exp(theta[2]), ud[op : op + L].view(np.int64)


@numba.njit(**_JIT)
def _logp_grad(theta, grad, ud, kind):
    L = int(ud[_H_L])
    J = int(ud[_H_J])
    for k in range(grad.shape[0]):
        grad[k] = 0.0
    if kind == KIND_FLAT:
        a0 = L
        xi = theta[:L]
        g_xi = grad[:L]
        gap = sig0 = sig1 = 0.0
        party = np.empty(0, dtype=np.int64)
    elif kind == KIND_HIER_C:  # centred: xi is sampled directly
        a0 = 3 + L
        gap, sig0, sig1, party = _party_params(theta, ud, L)
        xi = theta[3 : 3 + L]
        g_xi = grad[3 : 3 + L]
    else:  # non-centred: xi from the offsets
        a0 = 3 + L
        gap, sig0, sig1, party = _party_params(theta, ud, L)
        xi = np.empty(L)
        for i in range(L):
            if party[i] == 1:
                xi[i] = gap + sig1 * theta[3 + i]
            else:
                xi[i] = -gap + sig0 * theta[3 + i]
        g_xi = np.zeros(L)
    osn = int(ud[_H_OFF_SIGN])
    if osn > 0:  # roll calls with sign[j] != 0 are sampled as (cutpoint, log |beta|)
        sign = ud[osn : osn + J]
        alpha, beta = _rc_params(theta[a0 : a0 + J], theta[a0 + J : a0 + 2 * J], sign)
        g_alpha = np.zeros(J)
        g_beta = np.zeros(J)
    else:
        sign = ud[0:0]
        alpha = theta[a0 : a0 + J]
        beta = theta[a0 + J : a0 + 2 * J]
        g_alpha = grad[a0 : a0 + J]
        g_beta = grad[a0 + J : a0 + 2 * J]
    ov = int(ud[_H_OFF_VOTE])
    if int(ud[_H_LAYOUT]) == LAYOUT_DENSE:
        total = _dense_lik(xi, alpha, beta, ud[ov : ov + L * J], g_xi, g_alpha, g_beta)
    else:
        n = int(ud[_H_NCELL])
        ol = int(ud[_H_OFF_LEG])
        orc = int(ud[_H_OFF_RC])
        total = _sparse_lik(
            xi,
            alpha,
            beta,
            ud[ol : ol + n].view(np.int64),
            ud[orc : orc + n].view(np.int64),
            ud[ov : ov + n],
            g_xi,
            g_alpha,
            g_beta,
        )
    if kind == KIND_FLAT:
        total += _normal_prior(xi, XI_SCALE, g_xi)
    elif kind == KIND_HIER_C:
        osg = int(ud[_H_OFF_SIG])
        total += _centred_prior(theta, grad, xi, gap, sig0, sig1, party, ud[osg : osg + 2])
    else:
        osg = int(ud[_H_OFF_SIG])
        total += _hier_prior_backprop(theta, grad, g_xi, gap, sig0, sig1, theta[3 : 3 + L], party, ud[osg : osg + 2])
    total += _normal_prior(alpha, ALPHA_SCALE, g_alpha)
    total += _normal_prior(beta, BETA_SCALE, g_beta)
    if osn > 0:
        total += _rc_backprop(
            theta[a0 : a0 + J], beta, sign, g_alpha, g_beta, grad[a0 : a0 + J], grad[a0 + J : a0 + 2 * J]
        )
    return total


@numba.njit(**_JIT)
def _rc_params(first, second, sign):
    """(alpha, beta) from the sampled roll-call parameters: where sign[j] == 0 they are alpha and
    beta themselves; elsewhere they are the cutpoint c and log |beta|: beta = sign e^b,
    alpha = beta c (so beta xi - alpha = beta (xi - c))."""
    J = first.shape[0]
    alpha = np.empty(J)
    beta = np.empty(J)
    for j in range(J):
        if sign[j] == 0.0:
            alpha[j] = first[j]
            beta[j] = second[j]
        else:
            beta[j] = sign[j] * math.exp(second[j])
            alpha[j] = beta[j] * first[j]
    return alpha, beta


@numba.njit(**_JIT)
def _rc_backprop(first, beta, sign, g_alpha, g_beta, g_first, g_second):
    """Chain rule from the gradients with respect to (alpha, beta) to the sampled parameters,
    and the log-Jacobian of (c, b) -> (alpha, beta), |det| = beta^2, i.e. 2 b."""
    total = 0.0
    for j in range(first.shape[0]):
        if sign[j] == 0.0:
            g_first[j] = g_alpha[j]
            g_second[j] = g_beta[j]
        else:
            g_first[j] = g_alpha[j] * beta[j]
            g_second[j] = (g_alpha[j] * first[j] + g_beta[j]) * beta[j] + 2.0
            total += 2.0 * math.log(abs(beta[j]))
    return total


@numba.njit(**_JIT)
def _expand_rc(first, second, out, ud):
    J = first.shape[0]
    osn = int(ud[_H_OFF_SIGN])
    if osn > 0:
        alpha, beta = _rc_params(first, second, ud[osn : osn + J])
    else:
        alpha, beta = first, second
    for j in range(J):
        out[j] = alpha[j]
        out[J + j] = beta[j]
