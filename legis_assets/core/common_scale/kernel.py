"""Hand-written Numba log-density and gradient of the common-scale model (model.py), handed to
nutpie as C callbacks, as fastirt.py does for the per-chamber models (no Python per gradient).

The same model, the same parameterisation as the PyMC builder, in nutpie's order of PyMC's value
variables: theta = [log tau, xi (K slots), alpha (J), beta (J)]. Reused from fastirt: the sparse
Bernoulli-logit likelihood over the observed cells (`_sparse_lik`: vectorised exp, chunked log
of products) and the normal prior (`_normal_prior`), the prior constants and the C callbacks
(fastirt.callbacks, which also builds those of frame.py). Tested against PyMC's log-density and gradient to 1e-8 (test_common_scale.py).

Everything the kernel needs is packed in one float64 array (nutpie's user_data); integers are
stored as int64 bit patterns, as in fastirt.pack_user_data.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from legis_assets.core.common_scale.data import CommonScaleData
from legis_assets.core.common_scale.model import FIRST_SCALE, TAU_SCALE
from legis_assets.core.fastirt import (
    _JIT,
    ALPHA_SCALE,
    BETA_SCALE,
    DENSE_MIN_FILL,
    HALFNORMAL_CONST,
    LOG_2PI_HALF,
    _dense_lik,
    _normal_prior,
    _sparse_lik,
)
from legis_assets.core.fastirt.callbacks import HEADER_SLOTS, Callbacks, checked_expand, checked_logp, logp_grad_at
from legis_assets.core.fastirt.nutpie_adapter import nutpie_model

_MAGIC = 9137.0
(
    _H_MAGIC,
    _H_K,
    _H_J,
    _H_NOBS,
    _H_NFIRST,
    _H_NTRANS,
    _H_NDIM,
    _H_NEXP,
    _H_TOTAL,
    _H_OFF_Y,
    _H_OFF_SLOT,
    _H_OFF_RC,
    _H_OFF_FIRST,
    _H_OFF_FROM,
    _H_OFF_TO,
    _H_LAYOUT,
    _H_NCS,
    _H_OFF_BLOCKS,
) = range(18)
HEADER = 20
assert (_H_MAGIC, _H_NDIM, _H_NEXP, _H_TOTAL) == HEADER_SLOTS, "the C callbacks read these slots (fastirt.callbacks)"
LAYOUT_SPARSE, LAYOUT_BLOCKS = 0, 1
#: entries per chamber-session in the block table: slot start, slots, roll-call start, roll calls, vote offset
_BLOCK = 5


def n_dim(data: CommonScaleData) -> int:
    return 1 + data.n_slots + 2 * data.n_rollcalls


def pack(data: CommonScaleData, dense: bool | None = None) -> np.ndarray:
    """One contiguous float64 array: header, votes, first slots, transitions.

    Votes: `dense` (default: when at least fastirt.DENSE_MIN_FILL of the cells of the
    chamber-session blocks are observed) stores each chamber-session as a dense block, slots x its
    roll calls, +1 Yea / -1 Nay / 0 no vote (fastirt._dense_lik: contiguous, vectorised; ~4x faster
    per vote than the long layout on a US-House-sized block), with a table of the blocks' offsets
    (a chamber-session's slots and roll calls are contiguous by construction); otherwise the long
    arrays y, slot, rc (fastirt._sparse_lik)."""
    cs = data.chamber_sessions
    n_cells = int((cs["n_slots"] * cs["n_rollcalls"]).sum())
    if dense is None:
        dense = data.n_obs >= DENSE_MIN_FILL * n_cells
    arrays = []
    if dense:
        if np.any(np.diff(data.slot_cs) < 0) or np.any(np.diff(data.rollcall_cs) < 0):
            raise ValueError("the dense layout needs each chamber-session's slots and roll calls contiguous")
        slot_start = np.concatenate([[0], np.cumsum(cs["n_slots"].to_numpy())[:-1]])
        rc_start = cs["rollcall_start"].to_numpy()
        blocks = np.zeros((cs.height, _BLOCK), dtype=np.int64)
        votes = np.zeros(n_cells)
        c_of = data.slot_cs[data.slot_idx]
        off = 0
        for c, (n_s, n_r) in enumerate(zip(cs["n_slots"].to_list(), cs["n_rollcalls"].to_list())):
            blocks[c] = (slot_start[c], n_s, rc_start[c], n_r, off)
            sel = c_of == c
            local = (data.slot_idx[sel] - slot_start[c]) * n_r + (data.rc_idx[sel] - rc_start[c])
            votes[off + local] = 2.0 * data.y[sel] - 1.0
            off += n_s * n_r
        arrays += [(_H_OFF_Y, votes), (_H_OFF_BLOCKS, blocks.ravel())]
    else:
        arrays += [
            (_H_OFF_Y, data.y.astype(np.float64)),
            (_H_OFF_SLOT, data.slot_idx.astype(np.int64)),
            (_H_OFF_RC, data.rc_idx.astype(np.int64)),
        ]
    arrays += [
        (_H_OFF_FIRST, data.first_slots.astype(np.int64)),
        (_H_OFF_FROM, data.trans_from.astype(np.int64)),
        (_H_OFF_TO, data.trans_to.astype(np.int64)),
    ]
    parts, offsets, pos = [], {}, HEADER
    for key, arr in arrays:
        arr = np.ascontiguousarray(arr)
        offsets[key] = pos
        parts.append(arr.view(np.float64) if arr.dtype == np.int64 else arr)
        pos += arr.size
    d = n_dim(data)
    header = np.zeros(HEADER)
    header[[_H_MAGIC, _H_K, _H_J, _H_NOBS, _H_NFIRST, _H_NTRANS, _H_NDIM, _H_NEXP, _H_TOTAL, _H_LAYOUT, _H_NCS]] = (
        _MAGIC,
        data.n_slots,
        data.n_rollcalls,
        data.n_obs,
        data.first_slots.size,
        data.trans_from.size,
        d,
        d,
        pos,
        LAYOUT_BLOCKS if dense else LAYOUT_SPARSE,
        cs.height,
    )
    for key, o in offsets.items():
        header[key] = o
    return np.concatenate([header, *parts])


@numba.njit(**_JIT)
def _ints(ud, key, n):
    off = int(ud[key])
    return ud[off : off + n].view(np.int64)


@numba.njit(**_JIT)
def logp_grad_core(theta, grad, ud):
    """Log-density (PyMC's, with the log-Jacobian of tau's log transform) at theta; writes the
    gradient into grad."""
    K = int(ud[_H_K])
    J = int(ud[_H_J])
    n = int(ud[_H_NOBS])
    n_first = int(ud[_H_NFIRST])
    T = int(ud[_H_NTRANS])
    for k in range(grad.shape[0]):
        grad[k] = 0.0
    log_tau = theta[0]
    tau = math.exp(log_tau)
    xi = theta[1 : 1 + K]
    alpha = theta[1 + K : 1 + K + J]
    beta = theta[1 + K + J : 1 + K + 2 * J]
    g_xi = grad[1 : 1 + K]
    g_alpha = grad[1 + K : 1 + K + J]
    g_beta = grad[1 + K + J : 1 + K + 2 * J]
    oy = int(ud[_H_OFF_Y])
    if int(ud[_H_LAYOUT]) == LAYOUT_BLOCKS:
        n_cs = int(ud[_H_NCS])
        blocks = _ints(ud, _H_OFF_BLOCKS, _BLOCK * n_cs)
        total = 0.0
        for c in range(n_cs):
            s0 = blocks[_BLOCK * c]
            ns = blocks[_BLOCK * c + 1]
            r0 = blocks[_BLOCK * c + 2]
            nr = blocks[_BLOCK * c + 3]
            v0 = oy + blocks[_BLOCK * c + 4]
            total += _dense_lik(
                xi[s0 : s0 + ns],
                alpha[r0 : r0 + nr],
                beta[r0 : r0 + nr],
                ud[v0 : v0 + ns * nr],
                g_xi[s0 : s0 + ns],
                g_alpha[r0 : r0 + nr],
                g_beta[r0 : r0 + nr],
            )
    else:
        total = _sparse_lik(
            xi, alpha, beta, _ints(ud, _H_OFF_SLOT, n), _ints(ud, _H_OFF_RC, n), ud[oy : oy + n], g_xi, g_alpha, g_beta
        )
    # first slots ~ N(0, FIRST_SCALE)
    first = _ints(ud, _H_OFF_FIRST, n_first)
    inv_f = 1.0 / (FIRST_SCALE * FIRST_SCALE)
    ss = 0.0
    for m in range(n_first):
        k = first[m]
        ss += xi[k] * xi[k]
        g_xi[k] -= xi[k] * inv_f
    total += n_first * (-LOG_2PI_HALF - math.log(FIRST_SCALE)) - 0.5 * ss * inv_f
    # random walk: xi[to] ~ N(xi[from], tau)
    t_from = _ints(ud, _H_OFF_FROM, T)
    t_to = _ints(ud, _H_OFF_TO, T)
    inv_t = 1.0 / (tau * tau)
    ss = 0.0
    for m in range(T):
        a = t_from[m]
        b = t_to[m]
        d = xi[b] - xi[a]
        ss += d * d
        g_xi[b] -= d * inv_t
        g_xi[a] += d * inv_t
    total += T * (-LOG_2PI_HALF - log_tau) - 0.5 * ss * inv_t
    g_log_tau = -T + ss * inv_t
    # tau ~ HalfNormal(TAU_SCALE), sampled as log tau (+ log-Jacobian log_tau)
    s2 = TAU_SCALE * TAU_SCALE
    total += HALFNORMAL_CONST - math.log(TAU_SCALE) - 0.5 * tau * tau / s2 + log_tau
    grad[0] = g_log_tau - tau * tau / s2 + 1.0
    total += _normal_prior(alpha, ALPHA_SCALE, g_alpha)
    total += _normal_prior(beta, BETA_SCALE, g_beta)
    return total


@numba.njit(**_JIT)
def expand_core(theta, out, ud):
    """[tau, xi, alpha, beta] (CompiledModel.var_shapes order)."""
    out[0] = math.exp(theta[0])
    for k in range(1, theta.shape[0]):
        out[k] = theta[k]


def _c_logp(dim, x_ptr, grad_ptr, logp_ptr, user_data):
    return checked_logp(logp_grad_core, _MAGIC, dim, x_ptr, grad_ptr, logp_ptr, user_data)


def _c_expand(dim, n_expanded, x_ptr, out_ptr, user_data):
    return checked_expand(expand_core, _MAGIC, dim, n_expanded, x_ptr, out_ptr, user_data)


#: the C callbacks (fastirt.callbacks: compiled once per process, cached on disk)
CALLBACKS = Callbacks(_c_logp, _c_expand)


class CommonKernel:
    """The packed data and Python access to the kernel (tests, benchmarks)."""

    def __init__(self, data: CommonScaleData, dense: bool | None = None):
        self.data = data
        self.n_dim = n_dim(data)
        self.user_data = pack(data, dense)

    def logp_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return logp_grad_at(logp_grad_core, theta, self.user_data, self.n_dim)

    def initial_point(self, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The slot positions at `start`, log tau, alpha and beta jittered uniform(-1, 1) (PyMC's jitter)."""
        theta = rng.uniform(-1.0, 1.0, self.n_dim)
        theta[1 : 1 + self.data.n_slots] = start
        return theta

    def var_shapes(self):
        return var_shapes(self.data)


def var_shapes(data: CommonScaleData) -> tuple[list[str], list[tuple[int, ...]], dict[str, tuple[str, ...]]]:
    """The posterior variables (names, shapes, dims), in expand_core's order; in either coordinates."""
    K, J = data.n_slots, data.n_rollcalls
    return (
        ["tau", "xi", "alpha", "beta"],
        [(), (K,), (J,), (J,)],
        {"xi": ("slot",), "alpha": ("rollcall",), "beta": ("rollcall",)},
    )


def compile_common_kernel(data: CommonScaleData, start: np.ndarray):
    """A nutpie model (C callbacks) started at `start` (CommonKernel.initial_point)."""
    km = CommonKernel(data)
    start = np.asarray(start, dtype=float)
    K, J = data.n_slots, data.n_rollcalls
    names = (
        ["tau_log__"]
        + [f"xi_{k}" for k in range(K)]
        + [f"alpha_{j}" for j in range(J)]
        + [f"beta_{j}" for j in range(J)]
    )
    return nutpie_model(
        CALLBACKS.get(),
        km.user_data,
        km.n_dim,
        *var_shapes(data),
        coords(data, names),
        lambda seed: km.initial_point(start, np.random.default_rng(seed)),
    )


def coords(data: CommonScaleData, unconstrained_names: list[str]) -> dict[str, list]:
    """The trace's coordinates (slots, roll calls, the unconstrained parameters' names)."""
    return {
        "slot": data.slot_labels(),
        "rollcall": list(data.rollcall_ids),
        "unconstrained_parameter": unconstrained_names,
    }
