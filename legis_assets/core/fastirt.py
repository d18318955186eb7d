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
_JIT = dict(nogil=True, cache=True, error_model="numpy", boundscheck=False)

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
KIND_FLAT, KIND_HIER, KIND_HIER_C = 0, 1, 2
LAYOUT_DENSE, LAYOUT_SPARSE = 0, 1
# header slots (float64 values; integers are exact)
_H_MAGIC, _H_KIND, _H_LAYOUT, _H_L, _H_J, _H_NCELL, _H_NDIM, _H_NEXP, _H_TOTAL = range(9)
_H_OFF_VOTE, _H_OFF_LEG, _H_OFF_RC, _H_OFF_PARTY, _H_OFF_SIG = range(9, 14)
HEADER = 16


def pack_user_data(kind: int, cells: "VoteCells", n_dim: int, n_expanded: int,
                   party: np.ndarray | None = None, sig_scale: np.ndarray | None = None) -> np.ndarray:
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
        layout = LAYOUT_DENSE
        add(_H_OFF_VOTE, cells.dense_mask * (2.0 * cells.dense_y - 1.0))
    else:
        layout = LAYOUT_SPARSE
        add(_H_OFF_VOTE, cells.y.astype(np.float64))
        add(_H_OFF_LEG, cells.leg.astype(np.int64))
        add(_H_OFF_RC, cells.rc.astype(np.int64))
    if kind != KIND_FLAT:
        add(_H_OFF_PARTY, np.asarray(party, dtype=np.int64))
        add(_H_OFF_SIG, np.asarray(sig_scale, dtype=np.float64))
    header = np.zeros(HEADER)
    header[[_H_MAGIC, _H_KIND, _H_LAYOUT, _H_L, _H_J, _H_NCELL, _H_NDIM, _H_NEXP, _H_TOTAL]] = (
        _MAGIC, kind, layout, L, J, len(cells.y), n_dim, n_expanded, pos)
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
            ll, g = _dense_chunk(xi[i], alpha[start:stop], beta[start:stop], vote[base + start:base + stop],
                                 g_alpha[start:stop], g_beta[start:stop])
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
        e = eta[:stop - start]
        r = res[:stop - start]
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
    return math.exp(theta[0]), math.exp(theta[1]), math.exp(theta[2]), ud[op:op + L].view(np.int64)


@numba.njit(**_JIT)
def logp_grad_core(theta, grad, ud):
    """Log-density at theta; writes the gradient into grad. `ud` is `pack_user_data`'s array."""
    kind = int(ud[_H_KIND])
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
        xi = theta[3:3 + L]
        g_xi = grad[3:3 + L]
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
    alpha = theta[a0:a0 + J]
    beta = theta[a0 + J:a0 + 2 * J]
    g_alpha = grad[a0:a0 + J]
    g_beta = grad[a0 + J:a0 + 2 * J]
    ov = int(ud[_H_OFF_VOTE])
    if int(ud[_H_LAYOUT]) == LAYOUT_DENSE:
        total = _dense_lik(xi, alpha, beta, ud[ov:ov + L * J], g_xi, g_alpha, g_beta)
    else:
        n = int(ud[_H_NCELL])
        ol = int(ud[_H_OFF_LEG])
        orc = int(ud[_H_OFF_RC])
        total = _sparse_lik(xi, alpha, beta, ud[ol:ol + n].view(np.int64), ud[orc:orc + n].view(np.int64),
                            ud[ov:ov + n], g_xi, g_alpha, g_beta)
    if kind == KIND_FLAT:
        total += _normal_prior(xi, 1.0, g_xi)
    elif kind == KIND_HIER_C:
        osg = int(ud[_H_OFF_SIG])
        total += _centred_prior(theta, grad, xi, gap, sig0, sig1, party, ud[osg:osg + 2])
    else:
        osg = int(ud[_H_OFF_SIG])
        total += _hier_prior_backprop(theta, grad, g_xi, gap, sig0, sig1, theta[3:3 + L], party,
                                      ud[osg:osg + 2])
    total += _normal_prior(alpha, ALPHA_SCALE, g_alpha)
    total += _normal_prior(beta, BETA_SCALE, g_beta)
    return total


@numba.njit(**_JIT)
def expand_core(theta, out, ud):
    """The posterior variables, flattened in `KernelModel.var_shapes()` order, into out."""
    L = int(ud[_H_L])
    J = int(ud[_H_J])
    if int(ud[_H_KIND]) == KIND_FLAT:
        for k in range(L + 2 * J):
            out[k] = theta[k]
        return
    gap, sig0, sig1, party = _party_params(theta, ud, L)
    # party_gap, mu_party (2), sigma_within (2), xi_offset (L), xi (L), alpha (J), beta (J)
    out[0] = gap
    out[1] = -gap
    out[2] = gap
    out[3] = sig0
    out[4] = sig1
    centred = int(ud[_H_KIND]) == KIND_HIER_C
    for i in range(L):
        if centred:
            x = theta[3 + i]
            out[5 + i] = (x - gap) / sig1 if party[i] == 1 else (x + gap) / sig0
            out[5 + L + i] = x
        else:
            off = theta[3 + i]
            out[5 + i] = off
            out[5 + L + i] = gap + sig1 * off if party[i] == 1 else -gap + sig0 * off
    for k in range(2 * J):
        out[5 + 2 * L + k] = theta[3 + L + k]


# ---------------------------------------------------------------------------------------------
# C callbacks for nutpie (signatures of nutpie.compile_pymc._make_c_logp_func / _make_c_expand_func)
# ---------------------------------------------------------------------------------------------

_LOGP_SIG = nb_types.int64(nb_types.uint64, nb_types.CPointer(nb_types.double), nb_types.CPointer(nb_types.double),
                           nb_types.CPointer(nb_types.double), nb_types.voidptr)
_EXPAND_SIG = nb_types.int64(nb_types.uint64, nb_types.uint64, nb_types.CPointer(nb_types.double),
                             nb_types.CPointer(nb_types.double), nb_types.voidptr)


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
                _CFUNCS = (numba.cfunc(_LOGP_SIG, cache=True)(_c_logp),
                           numba.cfunc(_EXPAND_SIG, cache=True)(_c_expand))
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
    def from_data(cls, data: IRTData, dense: bool | None = None) -> "VoteCells":
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
    #: `pack_user_data`'s array (nutpie's user_data); built by `kernel_model`
    user_data: np.ndarray | None = field(default=None, repr=False, compare=False)

    def _packed(self) -> np.ndarray:
        if self.user_data is not None:
            return self.user_data
        kind = {"flat": KIND_FLAT, "hierarchical_noncentered": KIND_HIER}.get(self.name, KIND_HIER_C)
        packed = pack_user_data(kind, self.cells, self.n_dim, self.n_expanded, self.party, self.sig_scale)
        object.__setattr__(self, "user_data", packed)
        return packed

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
            out[name] = flat[pos:pos + size].reshape(shape)
            pos += size
        return out

    def initial_point(self, init: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Init rule: the PCA variable exactly at `init`, every other variable jittered
        (uniform(-1, 1) around 0 in unconstrained space, like PyMC's jitter: the scales start
        between 1/e and e, never at 0)."""
        L = self.data.n_legislators
        theta = rng.uniform(-1.0, 1.0, self.n_dim)
        if init is None:  # no PCA start: every variable jittered (the reference's "from zeros" run)
            return theta
        if self.name == "flat":
            theta[:L] = init
        else:
            theta[3:3 + L] = init
        return theta

    def var_shapes(self) -> tuple[list[str], list[tuple], dict[str, tuple[str, ...]]]:
        L, J = self.data.n_legislators, self.data.n_rollcalls
        if self.name == "flat":
            names = ["xi", "alpha", "beta"]
            shapes = [(L,), (J,), (J,)]
            dims = {"xi": ("legislator",), "alpha": ("rollcall",), "beta": ("rollcall",)}
        else:
            names = ["party_gap", "mu_party", "sigma_within", "xi_offset", "xi", "alpha", "beta"]
            shapes = [(), (2,), (2,), (L,), (L,), (J,), (J,)]
            dims = {"mu_party": ("party",), "sigma_within": ("party",), "xi_offset": ("legislator",),
                    "xi": ("legislator",), "alpha": ("rollcall",), "beta": ("rollcall",)}
        return names, shapes, dims

    def unconstrained_names(self) -> list[str]:
        """Names of the entries of theta (PyMC's value variables, flattened like nutpie does)."""
        L, J = self.data.n_legislators, self.data.n_rollcalls
        blocks = [("xi", L), ("alpha", J), ("beta", J)] if self.name == "flat" else [
            ("party_gap_log__", 0), ("sigma_within_log__", 2),
            ("xi" if self.centred else "xi_offset", L), ("alpha", J), ("beta", J)]
        names = []
        for base, n in blocks:
            names += [base] if n == 0 else [f"{base}_{k}" for k in range(n)]
        return names


KERNEL_MODELS = ("flat", "hierarchical", "hierarchical_noncentered")


def kernel_model(name: str, data: IRTData, dense: bool | None = None) -> KernelModel:
    if name not in KERNEL_MODELS:
        raise ValueError(f"no hand-written gradient for model {name!r} (have {KERNEL_MODELS})")
    L, J = data.n_legislators, data.n_rollcalls
    cells = VoteCells.from_data(data, dense=dense)
    if name == "flat":
        km = KernelModel(name, L + 2 * J, data, cells)
    else:
        if len(data.parties) != 2:
            raise ValueError("the hierarchical kernel needs exactly two parties")
        km = KernelModel(name, L + 2 * J + 3, data, cells, data.party_idx.astype(np.int64),
                         _sigma_scales(data).astype(np.float64))
    km._packed()
    return km


def compile_kernel(km: KernelModel, init: np.ndarray):
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
