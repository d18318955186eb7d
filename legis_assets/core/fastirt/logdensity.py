"""The entry points of the compiled kernel: log-density with gradient, and the expansion to the
posterior variables, for every model kind (own coordinates or affine frame)."""

from __future__ import annotations

import numba

from legis_assets.core.fastirt.frame import _framed_logp_grad, _to_inner
from legis_assets.core.fastirt.layout import _H_J, _H_KIND, _H_L, KIND_FLAT, KIND_FLAT_S, KIND_HIER, KIND_HIER_S
from legis_assets.core.fastirt.likelihood import _expand_rc, _logp_grad, _party_params
from legis_assets.core.fastirt.numerics import _JIT


@numba.njit(**_JIT)
def logp_grad_core(theta, grad, ud):
    """Log-density at theta; writes the gradient into grad. `ud` is `pack_user_data`'s array."""
    kind = int(ud[_H_KIND])
    if kind == KIND_HIER_S or kind == KIND_FLAT_S:
        return _framed_logp_grad(theta, grad, ud)
    return _logp_grad(theta, grad, ud, kind)


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
