"""Hand-written Numba log-density and gradient for the flat and the default hierarchical model,
handed to nutpie's NUTS as C callbacks (`numba.cfunc`), so that no gradient call touches Python.

Why: PyTensor's Numba backend spends ~3 ms per gradient on a House-sized chamber (34k
observed votes; gather/scatter, unfused elementwise ops, two transcendental calls per cell).
One fused loop over the cells does the same work in a fraction of that. A Python callable
(`nutpie.compiled_pyfunc`) would need the GIL on every gradient, which serialises the chains;
here nutpie's Rust sampler calls the C function pointers directly, exactly as it does for a
PyMC model compiled with its Numba backend (`nutpie.compile_pymc.CompiledPyMCModel`).

The models are exactly the PyMC models in `models.py` (same parameterisation, same priors, same
log transform for the scales, same constants): `legis_assets_tests/test_fastirt.py` checks
log-density differences and gradients against PyMC's to 1e-8.

Parameter vector (unconstrained):
* flat:                      [xi (L), alpha (J), beta (J)]
* hierarchical (centred):    [log party_gap, log sigma_within (2), xi (L), alpha (J), beta (J)]
* hierarchical_noncentered:  [log party_gap, log sigma_within (2), xi_offset (L), alpha (J), beta (J)]
* the affine frame (flat and centred hierarchical with a PCA start; what `sampling.fit` uses):
  [(hierarchical: log party_gap, log sigma_within / (gap e^s) (2)), m, s, v (L - 2), then per roll
  call either (alpha, beta) re-expressed in the frame or, where the discrimination's sign is not in
  doubt (`rollcall_signs`), (cutpoint, log |beta|) in the frame]; see `_to_inner_parts`.

Why the frame (measured on the US House 117th, 447 x 840, benchmarks/): the likelihood cannot see
where the ideal points sit or how far apart they are (any shift and rescaling, with the roll-call
parameters following, fits the votes identically), so that location and scale are left to the
priors, and in the model's own coordinates they are a direction that moves every parameter at
once. Party-line roll calls add a funnel each (beta unbounded above by the data, alpha ~ beta x
cutpoint). NUTS needed 127 leapfrog steps per draw there and 909 s for the default's 200 + 2000
draws; in the frame, where location and scale are single coordinates (m, s, log gap) and the
clearly signed roll calls are (cutpoint, log |beta|), it takes 31 steps per draw and 178-198 s
(across runs), with all gates passing. The map is a change of variables with its log-Jacobian, so the posterior is the
same (tested: log-density, gradient, expansion and short-run posterior against the model's own
coordinates). Two restrictions come with it, both on regions the posterior does not reach: the
right group's mean ideal point stays right of the left group's (the orientation the PCA start
and the party order already fix), and a sign-screened roll call keeps its sign; `sign_check`
reports after sampling how far each such roll call's posterior is from zero.

Data: everything a model needs (sizes, model kind, layout, votes, party index, prior scales) is
packed in ONE float64 array (`pack_user_data`), whose pointer is nutpie's `user_data`. So one
compiled pair of C functions serves every chamber and both models, and `cache=True` lets later
processes load the machine code from Numba's cache instead of compiling it again.

Numerics: Numba without SVML has only a scalar libm `exp`/`log1p`. `exp_neg` below is an exp for
x <= 0 that LLVM vectorises (Cody-Waite range reduction, a degree-13 polynomial, the power of two
built from the exponent bits; max relative error ~5e-16). softplus needs log1p(e) with
e = exp(-|eta|) in (0, 1]; the log1p terms are summed as the log of chunked products of (1 + e)
(each factor is in (1, 2], so _CHUNK of them cannot overflow): one scalar log per _CHUNK cells.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba.core import types as nb_types
from numba.extending import intrinsic

from legis_assets.core.models import IRTData, _sigma_scales

LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
HALFNORMAL_CONST = 0.5 * math.log(2.0 / math.pi)
GAP_SCALE = 2.0
ALPHA_SCALE = 5.0
BETA_SCALE = 1.0

#: cells per product in the log-sum (each factor is in (1, 2], so 512 of them stay < 2**512)
_CHUNK = 512

#: fast-math flags of the likelihood loops: reassociation (vectorised sums and products) and FMA
#: contraction, but no 'nnan'/'ninf', so that non-finite values still reach the caller's checks
_FM = {"nsz", "arcp", "contract", "reassoc"}
#: the exp kernel must keep its evaluation order (no 'reassoc': Cody-Waite relies on it)
_FM_EXP = {"nsz", "arcp", "contract"}
_JIT: dict[str, Any] = dict(nogil=True, cache=True, error_model="numpy", boundscheck=False)

# ---------------------------------------------------------------------------------------------
# exp(x) for x <= 0, vectorisable
# ---------------------------------------------------------------------------------------------


@intrinsic
def _bits_as_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (a no-op that LLVM vectorises)."""
    sig = nb_types.float64(nb_types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())

    return sig, codegen


_LOG2E = 1.4426950408889634
#: ln 2 split in a high part with trailing zero bits (n * _LN2_HI is exact for |n| < 2**20) and the rest
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = (1.0 / math.factorial(k) for k in range(3, 14))
#: below this exp(x) is flushed to 0 (exp(-708) ~ 3e-308 is the smallest value kept normal)
EXP_MIN_ARG = -708.0


@numba.njit(fastmath=_FM_EXP, **_JIT)
def exp_neg(x):
    """exp(x) for x <= 0 (0 below EXP_MIN_ARG); vectorises when inlined in a loop.

    x = n ln2 + r with |r| <= ln2/2; exp(r) by its Taylor polynomial of degree 13 (truncation
    < 2e-16 relative), evaluated by Estrin's scheme (short dependency chains); 2**n from the
    exponent bits (n >= -1021 keeps the result normal)."""
    xc = max(x, EXP_MIN_ARG)
    n = np.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    b0 = (1.0 + r) + (0.5 + _E3 * r) * r2
    b1 = (_E4 + _E5 * r) + (_E6 + _E7 * r) * r2
    b2 = (_E8 + _E9 * r) + (_E10 + _E11 * r) * r2
    b3 = _E12 + _E13 * r
    poly = (b0 + b1 * r4) + (b2 + b3 * r4) * r8
    scale = _bits_as_float64((np.int64(n) + 1023) << 52)
    return 0.0 if x < EXP_MIN_ARG else poly * scale


@numba.njit(fastmath=_FM, **_JIT)
def exp_neg_array(x, out):
    """out[k] = exp_neg(x[k]) (for tests and benchmarks)."""
    for k in range(x.shape[0]):
        out[k] = exp_neg(x[k])


# ---------------------------------------------------------------------------------------------
# packed data (nutpie's user_data)
# ---------------------------------------------------------------------------------------------

_MAGIC = 7431.0  # first header slot: guards against a foreign pointer
KIND_FLAT, KIND_HIER, KIND_HIER_C, KIND_HIER_S, KIND_FLAT_S = 0, 1, 2, 3, 4
LAYOUT_DENSE, LAYOUT_SPARSE = 0, 1
# header slots (float64 values; integers are exact)
_H_MAGIC, _H_KIND, _H_LAYOUT, _H_L, _H_J, _H_NCELL, _H_NDIM, _H_NEXP, _H_TOTAL = range(9)
_H_OFF_VOTE, _H_OFF_LEG, _H_OFF_RC, _H_OFF_PARTY, _H_OFF_SIG, _H_OFF_SIGN, _H_OFF_AFFINE = range(9, 16)
HEADER = 16


def pack_user_data(
    kind: int,
    cells: VoteCells,
    n_dim: int,
    n_expanded: int,
    party: np.ndarray | None = None,
    sig_scale: np.ndarray | None = None,
    sign: np.ndarray | None = None,
    affine: np.ndarray | None = None,
) -> np.ndarray:
    """One contiguous float64 array: header, then the votes and (hierarchical) party data.

    dense layout: vote[i * J + j] = +1 (Yea), -1 (Nay), 0 (no vote) for every cell;
    sparse layout: vote[k] = y in {0, 1} per observed cell, with leg[k], rc[k] stored as int64
    bit patterns. party (int64 bits, L) and sig_scale (2) follow for the hierarchical models.
    """
    L, J = cells.n_leg, cells.n_rc
    parts: list[np.ndarray] = []
    offsets = {}
    pos = HEADER

    def add(key, arr):
        nonlocal pos
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.int64:
            arr = arr.view(np.float64)
        offsets[key] = pos
        parts.append(arr.astype(np.float64, copy=False).ravel())
        pos += arr.size

    if cells.dense_y is not None:
        if cells.dense_mask is None:
            raise ValueError("VoteCells has dense_y but no dense_mask")
        layout = LAYOUT_DENSE
        add(_H_OFF_VOTE, cells.dense_mask * (2.0 * cells.dense_y - 1.0))
    else:
        layout = LAYOUT_SPARSE
        add(_H_OFF_VOTE, cells.y.astype(np.float64))
        add(_H_OFF_LEG, cells.leg.astype(np.int64))
        add(_H_OFF_RC, cells.rc.astype(np.int64))
    if kind not in (KIND_FLAT, KIND_FLAT_S):
        add(_H_OFF_PARTY, np.asarray(party, dtype=np.int64))
        add(_H_OFF_SIG, np.asarray(sig_scale, dtype=np.float64))
    if sign is not None:
        add(_H_OFF_SIGN, np.asarray(sign, dtype=np.float64))
    if affine is not None:
        add(_H_OFF_AFFINE, np.asarray(affine, dtype=np.float64))
    header = np.zeros(HEADER)
    header[[_H_MAGIC, _H_KIND, _H_LAYOUT, _H_L, _H_J, _H_NCELL, _H_NDIM, _H_NEXP, _H_TOTAL]] = (
        _MAGIC,
        kind,
        layout,
        L,
        J,
        len(cells.y),
        n_dim,
        n_expanded,
        pos,
    )
    for key, off in offsets.items():
        header[key] = off
    # left writeable: a read-only array would be a different Numba type (a second compilation)
    return np.concatenate([header, *parts])


# ---------------------------------------------------------------------------------------------
# likelihood and priors (one Numba core, called by the C callbacks and by KernelModel.logp_grad)
# ---------------------------------------------------------------------------------------------


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
def logp_grad_core(theta, grad, ud):
    """Log-density at theta; writes the gradient into grad. `ud` is `pack_user_data`'s array."""
    kind = int(ud[_H_KIND])
    if kind == KIND_HIER_S or kind == KIND_FLAT_S:
        return _framed_logp_grad(theta, grad, ud)
    return _logp_grad(theta, grad, ud, kind)


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
        total += _normal_prior(xi, 1.0, g_xi)
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
def expand_core(theta, out, ud):
    """The posterior variables, flattened in `KernelModel.var_shapes()` order, into out."""
    kind = int(ud[_H_KIND])
    if kind == KIND_HIER_S or kind == KIND_FLAT_S:
        theta = _to_inner(theta, ud)
    L = int(ud[_H_L])
    J = int(ud[_H_J])
    if kind == KIND_FLAT or kind == KIND_FLAT_S:
        for k in range(L):
            out[k] = theta[k]
        _expand_rc(theta[L : L + J], theta[L + J : L + 2 * J], out[L : L + 2 * J], ud)
        return
    gap, sig0, sig1, party = _party_params(theta, ud, L)
    # party_gap, mu_party (2), sigma_within (2), xi_offset (L), xi (L), alpha (J), beta (J)
    out[0] = gap
    out[1] = -gap
    out[2] = gap
    out[3] = sig0
    out[4] = sig1
    centred = kind != KIND_HIER
    for i in range(L):
        if centred:
            x = theta[3 + i]
            out[5 + i] = (x - gap) / sig1 if party[i] == 1 else (x + gap) / sig0
            out[5 + L + i] = x
        else:
            off = theta[3 + i]
            out[5 + i] = off
            out[5 + L + i] = gap + sig1 * off if party[i] == 1 else -gap + sig0 * off
    _expand_rc(theta[3 + L : 3 + L + J], theta[3 + L + J : 3 + L + 2 * J], out[5 + 2 * L : 5 + 2 * L + 2 * J], ud)


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


# ---------------------------------------------------------------------------------------------
# C callbacks for nutpie (signatures of nutpie.compile_pymc._make_c_logp_func / _make_c_expand_func)
# ---------------------------------------------------------------------------------------------

_LOGP_SIG = nb_types.int64(
    nb_types.uint64,
    nb_types.CPointer(nb_types.double),
    nb_types.CPointer(nb_types.double),
    nb_types.CPointer(nb_types.double),
    nb_types.voidptr,
)
_EXPAND_SIG = nb_types.int64(
    nb_types.uint64,
    nb_types.uint64,
    nb_types.CPointer(nb_types.double),
    nb_types.CPointer(nb_types.double),
    nb_types.voidptr,
)


def _c_logp(dim, x_ptr, grad_ptr, logp_ptr, user_data):
    """int64 logp(uint64 dim, double* x, double* grad, double* logp, void* user_data);
    0 ok, -1 wrong dimension or data (fatal), 3 / 4 non-finite gradient / log-density (a divergence)."""
    head = numba.carray(user_data, (HEADER,), np.float64)
    if head[_H_MAGIC] != _MAGIC:
        return -1
    n_dim = int(head[_H_NDIM])
    if dim != n_dim:
        return -1
    ud = numba.carray(user_data, (int(head[_H_TOTAL]),), np.float64)
    x = numba.carray(x_ptr, (n_dim,))
    grad = numba.carray(grad_ptr, (n_dim,))
    value = logp_grad_core(x, grad, ud)
    logp_ptr[0] = value
    for k in range(n_dim):
        if not np.isfinite(grad[k]):
            return 3
    if not np.isfinite(value):
        return 4
    return 0


def _c_expand(dim, n_expanded, x_ptr, out_ptr, user_data):
    """int64 expand(uint64 dim, uint64 n_expanded, double* x, double* out, void* user_data)."""
    head = numba.carray(user_data, (HEADER,), np.float64)
    if head[_H_MAGIC] != _MAGIC:
        return -1
    n_dim = int(head[_H_NDIM])
    n_exp = int(head[_H_NEXP])
    if dim != n_dim or n_expanded != n_exp:
        return -1
    ud = numba.carray(user_data, (int(head[_H_TOTAL]),), np.float64)
    expand_core(numba.carray(x_ptr, (n_dim,)), numba.carray(out_ptr, (n_exp,)), ud)
    return 0


_CFUNCS: tuple | None = None
_CFUNC_LOCK = threading.Lock()


def c_callbacks():
    """(logp, expand) as `numba.cfunc` objects: compiled on first use (or loaded from Numba's
    cache), shared by every model in the process."""
    global _CFUNCS
    with _CFUNC_LOCK:
        if _CFUNCS is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", numba.NumbaWarning)
                _CFUNCS = (numba.cfunc(_LOGP_SIG, cache=True)(_c_logp), numba.cfunc(_EXPAND_SIG, cache=True)(_c_expand))
        return _CFUNCS


# ---------------------------------------------------------------------------------------------
# model objects
# ---------------------------------------------------------------------------------------------

#: use the dense layout when at least this share of the legislator x roll-call cells is observed
DENSE_MIN_FILL = 0.5


@dataclass(frozen=True)
class VoteCells:
    """The observed cells in the layout the likelihood uses (dense matrix or long arrays)."""

    leg: np.ndarray
    rc: np.ndarray
    y: np.ndarray
    n_leg: int
    n_rc: int
    dense_y: np.ndarray | None = None
    dense_mask: np.ndarray | None = None

    @classmethod
    def from_data(cls, data: IRTData, dense: bool | None = None) -> VoteCells:
        n_leg, n_rc = data.n_legislators, data.n_rollcalls
        fill = len(data.y) / max(n_leg * n_rc, 1)
        dense = fill >= DENSE_MIN_FILL if dense is None else dense
        leg, rc, y = data.leg_idx.astype(np.int64), data.rc_idx.astype(np.int64), data.y.astype(np.float64)
        if not dense:
            return cls(leg, rc, y, n_leg, n_rc)
        dense_y = np.zeros((n_leg, n_rc))
        dense_mask = np.zeros((n_leg, n_rc))
        dense_y[leg, rc] = y
        dense_mask[leg, rc] = 1.0
        return cls(leg, rc, y, n_leg, n_rc, dense_y, dense_mask)


@dataclass(frozen=True)
class KernelModel:
    """A model with a hand-written gradient: how to build the nutpie model and read its draws."""

    name: str
    n_dim: int
    data: IRTData
    cells: VoteCells
    party: np.ndarray | None = None
    sig_scale: np.ndarray | None = None
    #: per roll call: 0 = sampled as (alpha, beta); +1/-1 = as (cutpoint, log |beta|) with that sign
    sign: np.ndarray | None = None
    #: sample in the affine frame (KIND_HIER_S / KIND_FLAT_S, see `_to_inner_parts`), oriented by this
    #: 0/1 grouping of the legislators (1 = right: the hierarchical model's parties; for the flat
    #: model the sign of the PCA start); None: the model's own coordinates
    frame_group: np.ndarray | None = None
    #: `pack_user_data`'s array (nutpie's user_data); built by `kernel_model`
    user_data: np.ndarray | None = field(default=None, repr=False, compare=False)

    def _packed(self) -> np.ndarray:
        if self.user_data is not None:
            return self.user_data
        if self.name == "flat":
            kind = KIND_FLAT_S if self.framed else KIND_FLAT
        else:
            kind = (
                KIND_HIER if self.name == "hierarchical_noncentered" else (KIND_HIER_S if self.framed else KIND_HIER_C)
            )
        packed = pack_user_data(
            kind,
            self.cells,
            self.n_dim,
            self.n_expanded,
            self.party,
            self.sig_scale,
            self.sign,
            affine_frame(self.frame_group)[0] if self.frame_group is not None else None,
        )
        object.__setattr__(self, "user_data", packed)
        return packed

    @property
    def framed(self) -> bool:
        return self.frame_group is not None

    @property
    def centred(self) -> bool:
        """Centred hierarchy (xi sampled directly) or non-centred (xi_offset sampled)."""
        return self.name not in ("flat", "hierarchical_noncentered")

    @property
    def n_expanded(self) -> int:
        return sum(int(np.prod(s)) for s in self.var_shapes()[1])

    def logp_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        if theta.shape != (self.n_dim,):
            raise ValueError(f"theta has shape {theta.shape}, expected ({self.n_dim},)")
        grad = np.empty(self.n_dim)
        return float(logp_grad_core(theta, grad, self._packed())), grad

    def expand(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The posterior variables (named as in the PyMC model) from an unconstrained vector."""
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        flat = np.empty(self.n_expanded)
        expand_core(theta, flat, self._packed())
        names, shapes, _ = self.var_shapes()
        out, pos = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            out[name] = flat[pos : pos + size].reshape(shape)
            pos += size
        return out

    def initial_point(self, init: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """Init rule: the PCA variable exactly at `init`, every other variable jittered
        (uniform(-1, 1) around 0 in unconstrained space, like PyMC's jitter: the scales start
        between 1/e and e, never at 0)."""
        L = self.data.n_legislators
        theta = rng.uniform(-1.0, 1.0, self.n_dim)
        if init is None:  # no PCA start: every variable jittered (the reference's "from zeros" run)
            return theta
        h = 0 if self.name == "flat" else 3
        theta[h : h + L] = affine_coords(init, self.frame_group) if self.frame_group is not None else init
        return theta

    def var_shapes(self) -> tuple[list[str], list[tuple[int, ...]], dict[str, tuple[str, ...]]]:
        L, J = self.data.n_legislators, self.data.n_rollcalls
        shapes: list[tuple[int, ...]]
        dims: dict[str, tuple[str, ...]]
        if self.name == "flat":
            names = ["xi", "alpha", "beta"]
            shapes = [(L,), (J,), (J,)]
            dims = {"xi": ("legislator",), "alpha": ("rollcall",), "beta": ("rollcall",)}
        else:
            names = ["party_gap", "mu_party", "sigma_within", "xi_offset", "xi", "alpha", "beta"]
            shapes = [(), (2,), (2,), (L,), (L,), (J,), (J,)]
            dims = {
                "mu_party": ("party",),
                "sigma_within": ("party",),
                "xi_offset": ("legislator",),
                "xi": ("legislator",),
                "alpha": ("rollcall",),
                "beta": ("rollcall",),
            }
        return names, shapes, dims

    def unconstrained_names(self) -> list[str]:
        """Names of the entries of theta (PyMC's value variables, flattened like nutpie does; the
        reparameterised entries named for what they are)."""
        L, J = self.data.n_legislators, self.data.n_rollcalls
        frame = ["xi_frame_location", "xi_frame_log_scale"] + [f"xi_in_frame_{k}" for k in range(L - 2)]
        if self.name == "flat":
            head = frame if self.framed else [f"xi_{i}" for i in range(L)]
        elif self.framed:
            head = ["party_gap_log__", "sigma_within_in_frame_log___0", "sigma_within_in_frame_log___1"] + frame
        else:
            head = ["party_gap_log__", "sigma_within_log___0", "sigma_within_log___1"] + [
                f"{'xi' if self.centred else 'xi_offset'}_{i}" for i in range(L)
            ]
        sign = np.zeros(J) if self.sign is None else self.sign
        tag = "_in_frame" if self.framed else ""
        first = [f"cutpoint{tag}_{j}" if sign[j] else f"alpha{tag}_{j}" for j in range(J)]
        second = [f"log_abs_beta{tag}_{j}" if sign[j] else f"beta{tag}_{j}" for j in range(J)]
        names = head + first + second
        return names


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


KERNEL_MODELS = ("flat", "hierarchical", "hierarchical_noncentered")


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


#: the hierarchical model is sampled in the frame from this many legislators (sampling's "auto").
#: Measured, 4 x (200 + 500), min ESS/s of the gated quantities, frame vs the model's coordinates:
#: California Senate (41 x 811) 8.2 vs 11.2 (131 vs 64 leapfrog steps per draw); US Senate 107th
#: (101 x 457) 100 vs 29; US Senate 117th (100 x 906) 4.7 vs 3.2; US House (447 x 840) 4.2 vs 2.5
#: (benchmarks/, 200 + 2000). The flat model gained on all of them (California 2.2x less time).
FRAME_MIN_LEGISLATORS = 60


def kernel_model(
    name: str,
    data: IRTData,
    dense: bool | None = None,
    frame_init: np.ndarray | None = None,
    frame_min_legislators: int = 0,
) -> KernelModel:
    """The kernel model of `name`. With `frame_init` (the PCA start), the flat and the centred
    hierarchical model are sampled in the affine frame (`_to_inner_parts`), their clearly signed roll
    calls as (cutpoint, log |beta|): the same posterior, in coordinates where it mixes faster.
    The frame is oriented by the parties (hierarchical) or by the sign of the start (flat); a start
    that does not order them, or a hierarchical chamber with fewer than `frame_min_legislators`,
    leaves the model in its own coordinates."""
    if name not in KERNEL_MODELS:
        raise ValueError(f"no hand-written gradient for model {name!r} (have {KERNEL_MODELS})")
    L, J = data.n_legislators, data.n_rollcalls
    cells = VoteCells.from_data(data, dense=dense)
    if name == "flat":
        group = None if frame_init is None else (np.asarray(frame_init) > 0).astype(np.int64)
        party, sig_scale, n_dim = None, None, L + 2 * J
    else:
        if len(data.parties) != 2:
            raise ValueError("the hierarchical kernel needs exactly two parties")
        if data.party_idx is None:
            raise ValueError("the hierarchical kernel needs data.party_idx (the legislators' parties)")
        party = data.party_idx.astype(np.int64)
        group = (
            party
            if (frame_init is not None and name == "hierarchical" and data.n_legislators >= frame_min_legislators)
            else None
        )
        sig_scale, n_dim = _sigma_scales(data).astype(np.float64), L + 2 * J + 3
    sign = None
    if group is not None and frame_init is not None and frame_orders_parties(frame_init, group):
        sign, _ = rollcall_signs(data, frame_init)
    else:
        group = None
    km = KernelModel(name, n_dim, data, cells, party, sig_scale, sign=sign, frame_group=group)
    km._packed()
    return km


def compile_kernel(km: KernelModel, init: np.ndarray | None):
    """A nutpie model for `km` (C callbacks, no Python per gradient), started at `init`
    (see `KernelModel.initial_point`)."""
    import pandas as pd
    from nutpie.compile_pymc import CompiledPyMCModel

    init = None if init is None else np.asarray(init, dtype=float)
    L = km.data.n_legislators
    if init is not None and init.shape != (L,):
        raise ValueError(f"init has shape {init.shape}, expected ({L},)")
    logp_cfunc, expand_cfunc = c_callbacks()
    user_data = km._packed()

    def initial_point(seed):
        return km.initial_point(init, np.random.default_rng(seed))

    names, shapes, dims = km.var_shapes()
    slices, pos = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        slices.append(slice(pos, pos + size))
        pos += size
    coords = {name: pd.Index(values) for name, values in km.data.coords().items()}
    coords["unconstrained_parameter"] = pd.Index(km.unconstrained_names())
    return CompiledPyMCModel(
        _n_dim=km.n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, shape in zip(names, shapes)},
        compiled_logp_func=logp_cfunc,
        compiled_expand_func=expand_cfunc,
        initial_point_func=initial_point,
        shared_data={},
        user_data=user_data,
        n_expanded=pos,
        shape_info=(names, slices, [tuple(s) for s in shapes]),
        logp_func=None,
        expand_func=None,
    )
