"""The common-scale model sampled in a per-chamber-session affine frame: the same posterior as
kernel.py (model.py's model), in coordinates where NUTS needs far fewer leapfrog steps.

Why: the roll calls keep their own parameters, so the likelihood of one chamber-session is
unchanged by any shift and rescaling of its slots' positions (its roll calls' alpha, beta
following). Only the priors (newcomers' N(0, 1), the random walk of the bridge people, the
roll-call priors) hold each chamber-session's location and scale, and in the model's own
coordinates (xi, alpha, beta) those are directions that move every parameter of the
chamber-session at once; party-line roll calls add a funnel each (beta unbounded above by the
data, alpha ~ beta x cutpoint). This is what fastirt.py's affine frame removes for one chamber
(US House 127 -> 31 steps per draw); here it is done for every chamber-session of the scale.

Coordinates, per framed chamber-session c with n slots (contiguous: data.py builds them so):

* m_c, s_c and v_c (n - 2 entries): xi = m_c + e^{s_c} (y0 + B v_c) for the slots of c, where
  y_hat = y0 + B v_c has mean 0 and a Republican-minus-Democratic mean of 1 (B: an orthonormal
  basis of the rest, two Householder reflections, O(n)); so m_c is the chamber-session's mean
  position and e^{s_c} its party gap, single coordinates;
* its roll calls, in the frame: where the discrimination's sign is not in doubt
  (fastirt.rollcall_signs on the chamber-session's PCA start, |signed root| >= 5), (cutpoint, log
  |beta|) in the frame, beta = sign e^{b - s_c}, cutpoint = m_c + e^{s_c} c; elsewhere (a, b) with
  alpha = a + b m_c / e^{s_c}, beta = b / e^{s_c}. Then the likelihood depends on y_hat and the
  frame's roll-call entries only.

Not framed (kept in the model's coordinates): a chamber-session without both parties, with fewer
than three slots (fewer than MIN_FRAMED_SLOTS with the setting "auto"), or whose start does not put
the Republicans right of the Democrats.

The map is a change of variables; the log-density is the model's at the mapped point plus the
log-Jacobian, (n - 1 - J_c) s_c + 2 sum b over the sign-fixed roll calls, so the posterior is the
same (tested against PyMC's log-density, by finite differences and by short-run posterior means
against kernel.py). Two restrictions come with it, both on regions the posterior does not reach
with the start's orientation: in every framed chamber-session the Republicans' mean stays right of
the Democrats' (the orientation the PCA start fixes; identify.py reports per draw, reflection-
invariant), and a sign-fixed roll call keeps its sign (`sign_check` reports how close any came).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from legis_assets.core.common_scale import kernel as _k
from legis_assets.core.common_scale.data import CommonScaleData
from legis_assets.core.fastirt import _JIT, FRAME_MIN_LEGISLATORS, rollcall_signs
from legis_assets.core.fastirt.callbacks import Callbacks, checked_expand, checked_logp, logp_grad_at
from legis_assets.core.fastirt.nutpie_adapter import nutpie_model
from legis_assets.core.models import IRTData

_MAGIC = 9151.0
#: header slot (free in kernel.py's header) holding the offset of the frame section
_H_OFF_FRAME = 18
#: entries per chamber-session in the frame table: framed (0/1), slot start, slots, roll-call start, roll calls
_CS = 5
RIGHT, LEFT = "Republican", "Democrat"
#: the frame's "auto" setting frames chamber-sessions of at least this many slots (the per-chamber
#: kernel's rule, fastirt.FRAME_MIN_LEGISLATORS). Measured on California (2 x (150 + 150) draws, load
#: ~19, nutpie's eigenvalue cutoff 2): every chamber-session framed (two 40-seat Senates among them)
#: 226 leapfrog steps per draw, none 63; on the example (4 x (200 + 2000)) framing all six, Senates
#: of 40 included, kept 32 steps per draw and raised the ESS 2.3x. The joint fit's profile "scale"
#: frames every chamber-session ("on") with the eigenvalue cutoff 20, measured on a quiet machine
#: (benchmarks/bench_common_scale.py frame): California 206 s to the gates against 764 s for "auto"
#: with cutoff 2 (181 steps per draw at 0.4 ms each, against 64 at 2.7 ms).
MIN_FRAMED_SLOTS = FRAME_MIN_LEGISLATORS


def _reflect_np(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    vv = v @ v
    return x - 2.0 * v * (v @ x) / vv if vv > 0 else x


def frame_basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y0, va, vb) for one chamber-session: Q = H_a H_b (Householder reflections) maps e_1 to
    1/sqrt(n) and e_2 to the unit contrast orthogonal to it, so its last n - 2 columns B span
    {y : sum y = 0, d'y = 0}; y0 is the least-norm y with sum 0 and d'y = 1 (as fastirt.affine_frame,
    for any contrast d with sum 0)."""
    n = d.size
    u1 = np.full(n, 1.0 / math.sqrt(n))
    u2 = d - (d @ u1) * u1
    u2 = u2 / np.linalg.norm(u2)
    va = -u1
    va[0] += 1.0
    vb = -_reflect_np(u2, va)
    vb[1] += 1.0
    y0 = np.linalg.lstsq(np.vstack([np.ones(n), d]), np.array([0.0, 1.0]), rcond=None)[0]
    return y0, va, vb


def _contrast(party: np.ndarray) -> np.ndarray:
    """d with d'x = Republicans' mean of x minus Democrats' (0 weight on anyone else)."""
    r, d = party == RIGHT, party == LEFT
    return np.where(r, 1.0 / max(r.sum(), 1), 0.0) - np.where(d, 1.0 / max(d.sum(), 1), 0.0)


def frame_coords(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """[m, s, v] with m + e^s (y0 + B v) = x (the inverse of the map, for the start)."""
    y0, va, vb = frame_basis(d)
    m = float(x.mean())
    spread = float(d @ x)
    if spread <= 0:
        raise ValueError("the start does not put the Republicans right of the Democrats")
    w = _reflect_np(_reflect_np((x - m) / spread - y0, va), vb)  # Q'w; its first two entries are 0
    return np.concatenate([[m, math.log(spread)], w[2:]])


class FrameSpec:
    """Which chamber-sessions are framed, their bases, the roll calls' signs, packed with the data."""

    def __init__(
        self, data: CommonScaleData, start: np.ndarray, dense: bool | None = None, min_slots: int = MIN_FRAMED_SLOTS
    ):
        start = np.asarray(start, dtype=float)
        if start.shape != (data.n_slots,):
            raise ValueError(f"start has shape {start.shape}, expected ({data.n_slots},)")
        K, J = data.n_slots, data.n_rollcalls
        party = np.asarray(data.slot_party, dtype=object)
        cs = data.chamber_sessions
        slot_start = np.concatenate([[0], np.cumsum(cs["n_slots"].to_numpy())[:-1]]).astype(int)
        if np.any(np.diff(data.slot_cs) < 0) or np.any(np.diff(data.rollcall_cs) < 0):
            raise ValueError("the frame needs each chamber-session's slots and roll calls contiguous")
        self.table = np.zeros((cs.height, _CS), dtype=np.int64)
        self.y0, self.va, self.vb = np.zeros(K), np.zeros(K), np.zeros(K)
        self.contrast = np.zeros(K)
        self.sign = np.zeros(J)
        for c, (n_s, r0, n_r) in enumerate(zip(cs["n_slots"], cs["rollcall_start"], cs["n_rollcalls"])):
            s0 = int(slot_start[c])
            sl = slice(s0, s0 + n_s)
            d = _contrast(party[sl])
            framed = (
                n_s >= max(3, min_slots)
                and (party[sl] == RIGHT).any()
                and (party[sl] == LEFT).any()
                and d @ start[sl] > 0
            )
            self.table[c] = (int(framed), s0, n_s, r0, n_r)
            if not framed:
                continue
            self.contrast[sl] = d
            self.y0[sl], self.va[sl], self.vb[sl] = frame_basis(d)
            self.sign[r0 : r0 + n_r] = self._signs(data, c, s0, n_s, r0, n_r, start[sl])
        self.data = data
        self.start = start
        self.n_dim = _k.n_dim(data)
        self.user_data = self._pack(_k.pack(data, dense))

    @staticmethod
    def _signs(data: CommonScaleData, c: int, s0: int, n_s: int, r0: int, n_r: int, x: np.ndarray) -> np.ndarray:
        sel = data.slot_cs[data.slot_idx] == c
        irt = IRTData(
            leg_idx=(data.slot_idx[sel] - s0).astype(np.int64),
            rc_idx=(data.rc_idx[sel] - r0).astype(np.int64),
            y=data.y[sel],
            legislator_ids=[str(k) for k in range(n_s)],
            rollcall_ids=[str(j) for j in range(n_r)],
        )
        return rollcall_signs(irt, (x - x.mean()) / (x.std() or 1.0))[0]

    def _pack(self, inner: np.ndarray) -> np.ndarray:
        section = np.concatenate([self.table.ravel().view(np.float64), self.y0, self.va, self.vb, self.sign])
        ud = np.concatenate([inner, section])
        ud[_k._H_MAGIC] = _MAGIC
        ud[_H_OFF_FRAME] = inner.size
        ud[_k._H_TOTAL] = ud.size
        return ud

    @property
    def n_framed(self) -> int:
        return int(self.table[:, 0].sum())

    @property
    def n_sign_fixed(self) -> int:
        return int(np.count_nonzero(self.sign))

    def initial_point(self, rng: np.random.Generator) -> np.ndarray:
        """The slot positions exactly at the start (in frame coordinates where framed); log tau and
        the roll calls' entries jittered uniform(-1, 1), as kernel.CommonKernel.initial_point."""
        theta = rng.uniform(-1.0, 1.0, self.n_dim)
        for framed, s0, n_s, _, _ in self.table:
            x = self.start[s0 : s0 + n_s]
            theta[1 + s0 : 1 + s0 + n_s] = frame_coords(x, self.contrast[s0 : s0 + n_s]) if framed else x
        return theta

    def logp_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return logp_grad_at(framed_logp_grad, theta, self.user_data, self.n_dim)

    def to_model(self, theta: np.ndarray) -> np.ndarray:
        """The model's own coordinates [log tau, xi, alpha, beta] of a frame point."""
        return _to_inner(np.ascontiguousarray(theta, dtype=np.float64), self.user_data)[0]

    def unconstrained_names(self) -> list[str]:
        data = self.data
        labels = data.chamber_sessions["label"].to_list()
        names = ["tau_log__"]
        for c, (framed, s0, n_s, _, _) in enumerate(self.table):
            if framed:
                names += [f"frame_location[{labels[c]}]", f"frame_log_gap[{labels[c]}]"]
                names += [f"xi_in_frame[{labels[c]}]_{k}" for k in range(n_s - 2)]
            else:
                names += [f"xi_{s0 + k}" for k in range(n_s)]
        framed_rc = np.repeat(self.table[:, 0], self.table[:, 4]).astype(bool)
        for first in (True, False):
            for r in range(data.n_rollcalls):
                tag = "_in_frame" if framed_rc[r] else ""
                if self.sign[r]:
                    names.append(f"{'cutpoint' if first else 'log_abs_beta'}{tag}_{r}")
                else:
                    names.append(f"{'alpha' if first else 'beta'}{tag}_{r}")
        return names


def sign_check(beta_draws: np.ndarray, sign: np.ndarray) -> float:
    """fastirt.sign_check's rule: the largest share of draws, over the sign-fixed roll calls, in
    which |beta| is below a tenth of its posterior median (0 if none is fixed)."""
    from legis_assets.core.fastirt import sign_check as _check

    return _check(beta_draws, sign)


# ---------------------------------------------------------------------------------------------
# the map and the log-density (Numba)
# ---------------------------------------------------------------------------------------------


@numba.njit(**_JIT)
def _reflect(x, v):
    """x <- (I - 2 v v' / v'v) x in place (v = 0: identity)."""
    vx = 0.0
    vv = 0.0
    for i in range(x.shape[0]):
        vx += v[i] * x[i]
        vv += v[i] * v[i]
    c = 2.0 * vx / vv if vv > 0.0 else 0.0
    for i in range(x.shape[0]):
        x[i] -= c * v[i]


@numba.njit(**_JIT)
def _frame_arrays(ud):
    K = int(ud[_k._H_K])
    J = int(ud[_k._H_J])
    n_cs = int(ud[_k._H_NCS])
    o = int(ud[_H_OFF_FRAME])
    table = ud[o : o + _CS * n_cs].view(np.int64)
    o += _CS * n_cs
    return table, ud[o : o + K], ud[o + K : o + 2 * K], ud[o + 2 * K : o + 3 * K], ud[o + 3 * K : o + 3 * K + J]


@numba.njit(**_JIT)
def _block(table, c, theta):
    """Chamber-session c's first slot, slots, first roll call, roll calls, and its frame's location
    m, log-scale s and scale e^s at theta."""
    s0 = table[_CS * c + 1]
    s = theta[2 + s0]
    return s0, table[_CS * c + 2], table[_CS * c + 3], table[_CS * c + 4], theta[1 + s0], s, math.exp(s)


@numba.njit(**_JIT)
def _to_inner(theta, ud):
    """(model coordinates [log tau, xi, alpha, beta], y_hat per slot) of a frame point."""
    K = int(ud[_k._H_K])
    J = int(ud[_k._H_J])
    n_cs = int(ud[_k._H_NCS])
    table, y0, va, vb, sign = _frame_arrays(ud)
    inner = theta.copy()
    yhat = np.zeros(K)
    for c in range(n_cs):
        if table[_CS * c] == 0:
            continue
        s0, ns, r0, nr, m, s, es = _block(table, c, theta)
        w = np.zeros(ns)
        for i in range(ns - 2):
            w[2 + i] = theta[3 + s0 + i]
        _reflect(w, vb[s0 : s0 + ns])
        _reflect(w, va[s0 : s0 + ns])
        for i in range(ns):
            y = y0[s0 + i] + w[i]
            yhat[s0 + i] = y
            inner[1 + s0 + i] = m + es * y
        for j in range(r0, r0 + nr):
            a = theta[1 + K + j]
            b = theta[1 + K + J + j]
            if sign[j] != 0.0:
                beta = sign[j] * math.exp(b - s)
                inner[1 + K + J + j] = beta
                inner[1 + K + j] = beta * (m + es * a)
            else:
                inner[1 + K + j] = a + b * m / es
                inner[1 + K + J + j] = b / es
    return inner, yhat


@numba.njit(**_JIT)
def framed_logp_grad(theta, grad, ud):
    """kernel.logp_grad_core at the mapped point, plus the log-Jacobian of the map (module doc);
    the gradient by the chain rule back to the frame."""
    K = int(ud[_k._H_K])
    J = int(ud[_k._H_J])
    n_cs = int(ud[_k._H_NCS])
    table, _, va, vb, sign = _frame_arrays(ud)
    inner, yhat = _to_inner(theta, ud)
    g = np.empty(theta.shape[0])
    total = _k.logp_grad_core(inner, g, ud)
    for k in range(theta.shape[0]):
        grad[k] = g[k]
    for c in range(n_cs):
        if table[_CS * c] == 0:
            continue
        s0, ns, r0, nr, m, s, es = _block(table, c, theta)
        g_m = 0.0
        g_s = 0.0
        g_y = np.empty(ns)
        for i in range(ns):
            gx = g[1 + s0 + i]
            g_m += gx
            g_s += gx * es * yhat[s0 + i]
            g_y[i] = gx * es
        _reflect(g_y, va[s0 : s0 + ns])
        _reflect(g_y, vb[s0 : s0 + ns])
        for i in range(ns - 2):
            grad[3 + s0 + i] = g_y[2 + i]
        for j in range(r0, r0 + nr):
            ga = g[1 + K + j]
            gb = g[1 + K + J + j]
            a = theta[1 + K + j]
            b = theta[1 + K + J + j]
            if sign[j] != 0.0:
                beta = inner[1 + K + J + j]
                t = (gb + ga * (m + es * a)) * beta
                grad[1 + K + j] = ga * beta * es
                grad[1 + K + J + j] = t + 2.0
                g_s += ga * beta * es * a - t
                g_m += ga * beta
                total += 2.0 * b
            else:
                grad[1 + K + j] = ga
                grad[1 + K + J + j] = (ga * m + gb) / es
                g_m += ga * b / es
                g_s -= (ga * m + gb) * b / es
        # log|Jacobian|: (ns - 1) s from the positions, - s per roll call (+ 2 b where sign-fixed, above)
        total += (ns - 1 - nr) * s
        grad[1 + s0] = g_m
        grad[2 + s0] = g_s + (ns - 1 - nr)
    return total


@numba.njit(**_JIT)
def framed_expand(theta, out, ud):
    """[tau, xi, alpha, beta] in the model's coordinates (CompiledModel.var_shapes order)."""
    _k.expand_core(_to_inner(theta, ud)[0], out, ud)


def _c_logp(dim, x_ptr, grad_ptr, logp_ptr, user_data):
    return checked_logp(framed_logp_grad, _MAGIC, dim, x_ptr, grad_ptr, logp_ptr, user_data)


def _c_expand(dim, n_expanded, x_ptr, out_ptr, user_data):
    return checked_expand(framed_expand, _MAGIC, dim, n_expanded, x_ptr, out_ptr, user_data)


#: the C callbacks (fastirt.callbacks: compiled once per process, cached on disk)
CALLBACKS = Callbacks(_c_logp, _c_expand)


def compile_framed_kernel(data: CommonScaleData, start: np.ndarray, min_slots: int = MIN_FRAMED_SLOTS):
    """(nutpie model with the framed C callbacks, started at `start`; its FrameSpec)."""
    spec = FrameSpec(data, start, min_slots=min_slots)
    compiled = nutpie_model(
        CALLBACKS.get(),
        spec.user_data,
        spec.n_dim,
        *_k.var_shapes(data),
        _k.coords(data, spec.unconstrained_names()),
        lambda seed: spec.initial_point(np.random.default_rng(seed)),
    )
    return compiled, spec
