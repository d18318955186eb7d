"""Hand-written Numba log-density and gradient for the flat and the default hierarchical model,
sampled by nutpie's NUTS through `nutpie.compiled_pyfunc.from_pyfunc`.

Why: PyTensor's Numba backend spends ~3 ms per gradient on a House-sized chamber (34k
observed votes; gather/scatter, unfused elementwise ops, two transcendental calls per cell).
One fused loop over the observed cells, with a single exp and log1p per cell, does the same
work in a fraction of that (benchmarks/bench_sampling.py measures it). The models are exactly
the PyMC models in `models.py` (same priors, same log transform for the scales, same constants):
`legis_assets_tests/test_fastirt.py` checks log-density and gradient against PyMC's to 1e-8.

Parameter vector (unconstrained):
* flat:          [xi (L), alpha (J), beta (J)]
* hierarchical:  [log party_gap, log sigma_within (2), xi_offset (L), alpha (J), beta (J)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from legis_assets.core.models import IRTData, _sigma_scales

LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
HALFNORMAL_CONST = 0.5 * math.log(2.0 / math.pi)
GAP_SCALE = 2.0
ALPHA_SCALE = 5.0
BETA_SCALE = 1.0


#: cells per product in the log-sum (each factor is in (1, 2], so 512 of them stay < 2**512)
_CHUNK = 512


@numba.njit(nogil=True, cache=True, fastmath=True)
def _neg_abs_eta(xi, alpha, beta, leg, rc, eta, buf):
    """eta = beta[j] * xi[i] - alpha[j] per observed cell; buf = -|eta| (exponentiated by numpy)."""
    for k in range(leg.shape[0]):
        v = beta[rc[k]] * xi[leg[k]] - alpha[rc[k]]
        eta[k] = v
        buf[k] = -abs(v)


@numba.njit(nogil=True, cache=True, fastmath=True)
def _accumulate(xi, beta, leg, rc, y, eta, e, g_xi, g_alpha, g_beta):
    """Bernoulli-logit log-likelihood given e = exp(-|eta|); adds the gradients into g_*.

    softplus(eta) = max(eta, 0) + log1p(e) and sigmoid(eta) = 1/(1+e) or e/(1+e) share e; the
    log1p terms are summed as the log of chunked products of (1 + e), which replaces one log
    per cell by one per _CHUNK cells (each factor is in (1, 2]: no overflow, ~1e-13 relative error).
    """
    total = 0.0
    n = leg.shape[0]
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        prod = 1.0
        for k in range(start, stop):
            v = eta[k]
            ek = e[k]
            one_plus = 1.0 + ek
            prod *= one_plus
            if v >= 0.0:
                total += (y[k] - 1.0) * v
                p = 1.0 / one_plus
            else:
                total += y[k] * v
                p = ek / one_plus
            r = y[k] - p
            i = leg[k]
            j = rc[k]
            g_xi[i] += r * beta[j]
            g_alpha[j] -= r
            g_beta[j] += r * xi[i]
        total -= math.log(prod)
    return total


@numba.njit(nogil=True, cache=True, fastmath=True)
def _dense_eta(xi, alpha, beta, eta, buf):
    """Dense layout: eta[i, j] = beta[j] * xi[i] - alpha[j] for every cell; buf = -|eta|."""
    for i in range(xi.shape[0]):
        x = xi[i]
        for j in range(alpha.shape[0]):
            v = beta[j] * x - alpha[j]
            eta[i, j] = v
            buf[i, j] = -abs(v)


@numba.njit(nogil=True, cache=True, fastmath=True)
def _dense_accumulate(xi, beta, y, mask, eta, e, g_xi, g_alpha, g_beta):
    """Dense twin of `_accumulate`: cells with mask 0 (absent) contribute nothing. Contiguous
    inner loops over roll calls vectorise (SIMD) where the sparse gathers cannot."""
    total = 0.0
    n_rc = beta.shape[0]
    for i in range(xi.shape[0]):
        x = xi[i]
        acc = 0.0
        for start in range(0, n_rc, _CHUNK):
            prod = 1.0
            for j in range(start, min(start + _CHUNK, n_rc)):
                v = eta[i, j]
                ek = e[i, j]
                m = mask[i, j]
                one_plus = 1.0 + ek
                p = (1.0 if v >= 0.0 else ek) / one_plus
                r = m * (y[i, j] - p)
                total += m * (y[i, j] * v - max(v, 0.0))
                prod *= 1.0 + m * ek
                acc += r * beta[j]
                g_alpha[j] -= r
                g_beta[j] += r * x
            total -= math.log(prod)
        g_xi[i] += acc
    return total


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


def _likelihood(xi, alpha, beta, cells: VoteCells, g_xi, g_alpha, g_beta):
    """Bernoulli-logit over the observed cells; adds d/dxi, d/dalpha, d/dbeta into the g_ arrays.

    The exponentials go through numpy (SIMD: ~6x faster per value than a scalar exp in Numba
    without SVML); the rest is two fused Numba loops.
    """
    if cells.dense_y is not None:
        eta = np.empty((cells.n_leg, cells.n_rc))
        buf = np.empty((cells.n_leg, cells.n_rc))
        _dense_eta(xi, alpha, beta, eta, buf)
        np.exp(buf, out=buf)
        return _dense_accumulate(xi, beta, cells.dense_y, cells.dense_mask, eta, buf, g_xi, g_alpha, g_beta)
    eta = np.empty(cells.leg.shape[0])
    buf = np.empty(cells.leg.shape[0])
    _neg_abs_eta(xi, alpha, beta, cells.leg, cells.rc, eta, buf)
    np.exp(buf, out=buf)
    return _accumulate(xi, beta, cells.leg, cells.rc, cells.y, eta, buf, g_xi, g_alpha, g_beta)


@numba.njit(nogil=True, cache=True)
def _normal_prior(x, scale, grad):
    """sum log N(x | 0, scale); adds the gradient into grad."""
    total = 0.0
    inv = 1.0 / (scale * scale)
    const = -LOG_2PI_HALF - math.log(scale)
    for k in range(x.shape[0]):
        total += const - 0.5 * x[k] * x[k] * inv
        grad[k] -= x[k] * inv
    return total


def flat_logp_grad(theta: np.ndarray, cells: VoteCells) -> tuple[float, np.ndarray]:
    n_leg, n_rc = cells.n_leg, cells.n_rc
    grad = np.zeros_like(theta)
    xi = theta[:n_leg]
    alpha = theta[n_leg:n_leg + n_rc]
    beta = theta[n_leg + n_rc:]
    g_xi = grad[:n_leg]
    g_alpha = grad[n_leg:n_leg + n_rc]
    g_beta = grad[n_leg + n_rc:]
    total = _likelihood(xi, alpha, beta, cells, g_xi, g_alpha, g_beta)
    total += _normal_prior(xi, 1.0, g_xi)
    total += _normal_prior(alpha, ALPHA_SCALE, g_alpha)
    total += _normal_prior(beta, BETA_SCALE, g_beta)
    return float(total), grad


@numba.njit(nogil=True, cache=True)
def _hier_xi(gap, sigma, off, party):
    xi = np.empty(off.shape[0])
    for i in range(off.shape[0]):
        sign = 1.0 if party[i] == 1 else -1.0
        xi[i] = sign * gap + sigma[party[i]] * off[i]
    return xi


@numba.njit(nogil=True, cache=True)
def _hier_backprop(theta, grad, g_xi, gap, sigma, off, party, sig_scale):
    """Chain rule through xi = -+gap + sigma[p] * offset, plus the priors of gap, sigma and
    the offsets; returns their log-density (alpha/beta priors are added by the caller)."""
    n_leg = off.shape[0]
    g_gap = 0.0
    g_sigma = np.zeros(2)
    total = 0.0
    for i in range(n_leg):
        sign = 1.0 if party[i] == 1 else -1.0
        g_gap += g_xi[i] * sign
        g_sigma[party[i]] += g_xi[i] * off[i]
        # offsets ~ N(0, 1)
        grad[3 + i] = g_xi[i] * sigma[party[i]] - off[i]
        total += -LOG_2PI_HALF - 0.5 * off[i] * off[i]
    # party_gap ~ HalfNormal(2) and sigma_within ~ HalfNormal(s), sampled on the log scale (+ Jacobian)
    total += HALFNORMAL_CONST - math.log(GAP_SCALE) - 0.5 * gap * gap / (GAP_SCALE * GAP_SCALE) + theta[0]
    grad[0] = gap * (g_gap - gap / (GAP_SCALE * GAP_SCALE)) + 1.0
    for k in range(2):
        s2 = sig_scale[k] * sig_scale[k]
        total += HALFNORMAL_CONST - math.log(sig_scale[k]) - 0.5 * sigma[k] * sigma[k] / s2 + theta[1 + k]
        grad[1 + k] = sigma[k] * (g_sigma[k] - sigma[k] / s2) + 1.0
    return total


def hier_logp_grad(theta: np.ndarray, cells: VoteCells, party: np.ndarray,
                   sig_scale: np.ndarray) -> tuple[float, np.ndarray]:
    n_leg, n_rc = cells.n_leg, cells.n_rc
    grad = np.zeros_like(theta)
    gap = math.exp(theta[0])
    sigma = np.exp(theta[1:3])
    off = theta[3:3 + n_leg]
    alpha = theta[3 + n_leg:3 + n_leg + n_rc]
    beta = theta[3 + n_leg + n_rc:]
    xi = _hier_xi(gap, sigma, off, party)
    g_xi = np.zeros(n_leg)
    g_alpha = grad[3 + n_leg:3 + n_leg + n_rc]
    g_beta = grad[3 + n_leg + n_rc:]
    total = _likelihood(xi, alpha, beta, cells, g_xi, g_alpha, g_beta)
    total += _hier_backprop(theta, grad, g_xi, gap, sigma, off, party, sig_scale)
    total += _normal_prior(alpha, ALPHA_SCALE, g_alpha)
    total += _normal_prior(beta, BETA_SCALE, g_beta)
    return float(total), grad


@dataclass(frozen=True)
class KernelModel:
    """A model with a hand-written gradient: how to build the nutpie model and read its draws."""

    name: str
    n_dim: int
    data: IRTData
    cells: VoteCells
    party: np.ndarray | None = None
    sig_scale: np.ndarray | None = None

    def logp_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        if self.name == "flat":
            return flat_logp_grad(theta, self.cells)
        return hier_logp_grad(theta, self.cells, self.party, self.sig_scale)

    def expand(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The posterior variables (named as in the PyMC model) from an unconstrained vector."""
        L, J = self.data.n_legislators, self.data.n_rollcalls
        if self.name == "flat":
            return {"xi": theta[:L].copy(), "alpha": theta[L:L + J].copy(), "beta": theta[L + J:].copy()}
        gap = math.exp(theta[0])
        sigma = np.exp(theta[1:3])
        off = theta[3:3 + L]
        mu = np.array([-gap, gap])
        return {
            "party_gap": np.asarray(gap),
            "mu_party": mu,
            "sigma_within": sigma,
            "xi_offset": off.copy(),
            "xi": mu[self.party] + sigma[self.party] * off,
            "alpha": theta[3 + L:3 + L + J].copy(),
            "beta": theta[3 + L + J:].copy(),
        }

    def initial_point(self, init: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Init rule: the PCA variable exactly at `init`, every other variable jittered
        (uniform(-1, 1) around 0 in unconstrained space, like PyMC's jitter: the scales start
        between 1/e and e, never at 0)."""
        L = self.data.n_legislators
        theta = rng.uniform(-1.0, 1.0, self.n_dim)
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


KERNEL_MODELS = ("flat", "hierarchical")


def kernel_model(name: str, data: IRTData, dense: bool | None = None) -> KernelModel:
    if name not in KERNEL_MODELS:
        raise ValueError(f"no hand-written gradient for model {name!r} (have {KERNEL_MODELS})")
    L, J = data.n_legislators, data.n_rollcalls
    cells = VoteCells.from_data(data, dense=dense)
    if name == "flat":
        return KernelModel(name, L + 2 * J, data, cells)
    if len(data.parties) != 2:
        raise ValueError("the hierarchical kernel needs exactly two parties")
    return KernelModel(name, L + 2 * J + 3, data, cells, data.party_idx.astype(np.int64),
                       _sigma_scales(data).astype(np.float64))


def compile_kernel(km: KernelModel, init: np.ndarray):
    """A nutpie model for `km`, started at `init` (see `KernelModel.initial_point`)."""
    from nutpie.compiled_pyfunc import from_pyfunc

    init = np.asarray(init, dtype=float)
    km.logp_grad(km.initial_point(init, np.random.default_rng(0)))  # JIT-compile before the chains start

    def make_logp_fn():
        return lambda x, **_: km.logp_grad(x)

    def make_expand_fn(seed1, seed2, chain):
        return lambda x, **_: km.expand(x)

    def make_initial_point(seed):
        return km.initial_point(init, np.random.default_rng(seed))

    names, shapes, dims = km.var_shapes()
    return from_pyfunc(
        ndim=km.n_dim,
        make_logp_fn=make_logp_fn,
        make_expand_fn=make_expand_fn,
        expanded_dtypes=[np.dtype("float64")] * len(names),
        expanded_shapes=shapes,
        expanded_names=names,
        coords=km.data.coords(),
        dims=dims,
        make_initial_point_fn=make_initial_point,
    )
