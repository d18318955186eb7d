"""The affine frame: the change of variables in which the chamber's location and scale are single
coordinates (see the package docstring), its log-Jacobian, and the frame of a PCA start."""

from __future__ import annotations

import math

import numba
import numpy as np

from legis_assets.core.fastirt.layout import (
    _H_J,
    _H_KIND,
    _H_L,
    _H_OFF_AFFINE,
    _H_OFF_SIGN,
    KIND_FLAT,
    KIND_HIER_C,
    KIND_HIER_S,
)
from legis_assets.core.fastirt.likelihood import _logp_grad
from legis_assets.core.fastirt.numerics import _FM, _JIT


@numba.njit(fastmath=_FM, **_JIT)
def _reflect(x, v, out):
    """out = (I - 2 v v' / v'v) x (a Householder reflection; out may be x)."""
    vx = 0.0
    vv = 0.0
    for i in range(x.shape[0]):
        vx += v[i] * x[i]
        vv += v[i] * v[i]
    c = 2.0 * vx / vv if vv > 0.0 else 0.0  # v = 0: the identity (the two vectors coincide)
    for i in range(x.shape[0]):
        out[i] = x[i] - c * v[i]


@numba.njit(**_JIT)
def _affine_parts(theta, ud, h):
    """e^s, m and y_hat = y0 + B v from the frame coordinates theta[h], theta[h + 1],
    theta[h + 2:h + L]; B = the last L - 2 columns of Q = H_a H_b (two reflections, see
    `affine_frame`), applied in O(L)."""
    L = int(ud[_H_L])
    oaf = int(ud[_H_OFF_AFFINE])
    y0 = ud[oaf : oaf + L]
    va = ud[oaf + L : oaf + 2 * L]
    vb = ud[oaf + 2 * L : oaf + 3 * L]
    yhat = np.zeros(L)
    for k in range(L - 2):
        yhat[2 + k] = theta[h + 2 + k]
    _reflect(yhat, vb, yhat)
    _reflect(yhat, va, yhat)
    for i in range(L):
        yhat[i] += y0[i]
    return math.exp(theta[h + 1]), theta[h], yhat


@numba.njit(**_JIT)
def _to_inner(theta, ud):
    """`_to_inner_parts`' model coordinates alone."""
    return _to_inner_parts(theta, ud)[0]


@numba.njit(**_JIT)
def _to_inner_parts(theta, ud):
    """Affine-frame coordinates -> the model's own (KIND_HIER_C's or KIND_FLAT's theta, same
    roll-call modes), with e^s, m and y_hat.

    Frame (h = 3 head entries for the hierarchical model, 0 for the flat one):
    hierarchical [log gap, log(sigma_within / (gap e^s)) (2), m, s, v (L - 2), roll calls],
    flat [m, s, v (L - 2), roll calls], with xi = gap (m + e^s y_hat) (gap = 1 for the flat
    model), y_hat = y0 + B v: y_hat has mean 0 and a right-minus-left group mean difference of 1
    (B spans the rest). Roll calls in the same frame: (alpha - b m / e^s, b = beta gap e^s), or
    ((cutpoint / gap - m) / e^s, log |beta| + log gap + s). The likelihood depends on y_hat and the
    roll-call entries only: the chamber's location and scale, which the data leave to the priors,
    are the coordinates m, s (and log gap), not a direction shared by every parameter."""
    L = int(ud[_H_L])
    J = int(ud[_H_J])
    osn = int(ud[_H_OFF_SIGN])
    hier = int(ud[_H_KIND]) == KIND_HIER_S
    h = 3 if hier else 0
    es, m, yhat = _affine_parts(theta, ud, h)
    log_gap = theta[0] if hier else 0.0
    gap = math.exp(log_gap)
    log_ge = log_gap + theta[h + 1]
    out = np.empty(theta.shape[0])
    if hier:
        out[0] = log_gap
        out[1] = theta[1] + log_ge
        out[2] = theta[2] + log_ge
    for i in range(L):
        out[h + i] = gap * (m + es * yhat[i])
    a0 = h + L
    for j in range(J):
        fixed = osn > 0 and ud[osn + j] != 0.0
        if fixed:
            out[a0 + j] = gap * (m + es * theta[a0 + j])
            out[a0 + J + j] = theta[a0 + J + j] - log_ge
        else:
            out[a0 + j] = theta[a0 + j] + theta[a0 + J + j] * m / es
            out[a0 + J + j] = theta[a0 + J + j] / (gap * es)
    return out, es, m, yhat


@numba.njit(**_JIT)
def _framed_logp_grad(theta, grad, ud):
    """KIND_HIER_S / KIND_FLAT_S: the model's log-density at `_to_inner(theta)` plus the
    log-Jacobian of that map (up to a constant), and the chain rule back to the frame."""
    L = int(ud[_H_L])
    J = int(ud[_H_J])
    osn = int(ud[_H_OFF_SIGN])
    oaf = int(ud[_H_OFF_AFFINE])
    hier = int(ud[_H_KIND]) == KIND_HIER_S
    h = 3 if hier else 0
    inner, es, m, yhat = _to_inner_parts(theta, ud)
    g = np.empty(theta.shape[0])
    total = _logp_grad(inner, g, ud, KIND_HIER_C if hier else KIND_FLAT)
    gap = math.exp(theta[0]) if hier else 1.0
    ge = gap * es
    g_log_gap = 0.0
    g_s = 0.0
    if hier:
        g_log_gap = g[0] + g[1] + g[2]
        g_s = g[1] + g[2]
        grad[1] = g[1]
        grad[2] = g[2]
    g_m = 0.0
    g_y = np.empty(L)
    for i in range(L):
        gx = g[h + i]
        g_log_gap += gx * inner[h + i]
        g_s += gx * ge * yhat[i]
        g_m += gx * gap
        g_y[i] = gx * ge
    a0 = h + L
    n_ge = 0  # log-Jacobian: + log(gap e^s) per cutpoint, - per free beta
    for j in range(J):
        gf = g[a0 + j]
        gsnd = g[a0 + J + j]
        fixed = osn > 0 and ud[osn + j] != 0.0
        if fixed:
            grad[a0 + j] = gf * ge
            grad[a0 + J + j] = gsnd
            g_log_gap += gf * inner[a0 + j] - gsnd
            g_s += gf * ge * theta[a0 + j] - gsnd
            g_m += gf * gap
            n_ge += 1
        else:
            bh = theta[a0 + J + j]
            grad[a0 + j] = gf
            grad[a0 + J + j] = gsnd / ge + gf * m / es
            g_log_gap -= gsnd * inner[a0 + J + j]
            g_s -= gsnd * inner[a0 + J + j] + gf * bh * m / es
            g_m += gf * bh / es
            n_ge -= 1
    va = ud[oaf + L : oaf + 2 * L]
    vb = ud[oaf + 2 * L : oaf + 3 * L]
    _reflect(g_y, va, g_y)
    _reflect(g_y, vb, g_y)
    for k in range(L - 2):
        grad[h + 2 + k] = g_y[2 + k]
    grad[h] = g_m
    grad[h + 1] = g_s + (L - 1) + n_ge
    # log|Jacobian| = (L - 1) s + n_ge (log gap + s) [+ L log gap: xi = gap z]
    total += (L - 1 + n_ge) * theta[h + 1]
    if hier:
        grad[0] = g_log_gap + L + n_ge
        total += (L + n_ge) * theta[0]
    return total


def affine_frame(party: np.ndarray):
    """(packed [y0, va, vb], y0, va, vb) for the affine-frame coordinates. B (L x L-2) is an orthonormal
    basis of {y : sum y = 0, mean_R y - mean_D y = 0}: the last L - 2 columns of Q = H_a H_b, where
    the reflection H_a swaps e_1 and u_1 = 1/sqrt(L) and H_b (which fixes e_1) maps e_2 to H_a u_2,
    u_2 the unit contrast orthogonal to u_1; so Q e_1 = u_1, Q e_2 = u_2. y0 is the least-norm y
    with sum 0 and mean difference 1."""
    L = len(party)
    d = _contrast(party)
    u1 = np.full(L, 1.0 / np.sqrt(L))
    u2 = d - (d @ u1) * u1
    u2 /= np.linalg.norm(u2)
    va = -u1
    va[0] += 1.0  # e_1 - u_1

    def reflect(x, v):
        vv = v @ v
        return x - 2.0 * v * (v @ x) / vv if vv > 0 else x

    vb = -reflect(u2, va)
    vb[1] += 1.0  # e_2 - H_a u_2
    A = np.vstack([np.ones(L), d])
    y0 = np.linalg.lstsq(A, np.array([0.0, 1.0]), rcond=None)[0]
    return np.concatenate([y0, va, vb]), y0, va, vb


def _contrast(party: np.ndarray) -> np.ndarray:
    """d with d'x = mean of x over party 1 (right) minus mean over party 0 (left)."""
    party = np.asarray(party)
    return np.where(party == 1, 1.0 / max((party == 1).sum(), 1), -1.0 / max((party != 1).sum(), 1))


def frame_orders_parties(xi0: np.ndarray, party: np.ndarray) -> bool:
    """The affine frame needs both parties and a start with the right party's mean on the right."""
    party = np.asarray(party)
    return len(party) > 2 and 0 < (party == 1).sum() < len(party) and float(_contrast(party) @ xi0) > 0


def affine_coords(xi0: np.ndarray, party: np.ndarray) -> np.ndarray:
    """[m, s, v] such that m + e^s (y0 + B v) = xi0 (ideal points in units of the party gap)."""
    _, y0, va, vb = affine_frame(party)
    m = float(np.mean(xi0))
    spread = float(_contrast(party) @ xi0)
    if spread <= 0:
        raise ValueError("the start has the right party's mean left of the left party's mean")
    w = np.ascontiguousarray((xi0 - m) / spread - y0, dtype=np.float64)  # in the span of B
    _reflect(w, va, w)
    _reflect(w, vb, w)  # Q' w; its first two entries are 0
    return np.concatenate([[m, math.log(spread)], w[2:]])
