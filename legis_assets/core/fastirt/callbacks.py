"""The C callbacks nutpie calls (`numba.cfunc`) and their compile cache: compiled once per
process (or loaded from Numba's on-disk cache), shared by every model."""

from __future__ import annotations

import threading
import warnings

import numba
import numpy as np
from numba.core import types as nb_types

from legis_assets.core.fastirt.layout import _H_MAGIC, _H_NDIM, _H_NEXP, _H_TOTAL, _MAGIC, HEADER
from legis_assets.core.fastirt.logdensity import expand_core, logp_grad_core

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
