"""The C callbacks nutpie calls (`numba.cfunc`), written once for every kernel (the per-chamber
models here, the common scale's two in core/common_scale/), and their compile cache.

A kernel is a pair of compiled functions, `logp(theta, grad, user_data) -> value` and
`expand(theta, out, user_data)`, over one packed float64 array whose header starts, in every
kernel, with the slots `HEADER_SLOTS` names (a magic number telling the kernels' arrays apart,
the dimension, the expanded size, the array's length). `checked_logp` / `checked_expand` are the
C side: they check the header and the sizes, map the pointers to arrays and report non-finite
values to nutpie. `Callbacks` compiles a kernel's pair on first use, once per process.

Why each kernel still has its own two-line module-level `_c_logp` / `_c_expand` (naming its
compiled functions and magic number) instead of a closure made here: Numba's on-disk cache
(`cache=True`) keys a closure by its pickled cell contents, and a pickled Numba function carries a
per-process id, so a cfunc built from a closure would be compiled again (seconds) in every
process. A module-level function is cached by its file and name.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import numba
import numpy as np
from numba.core import types as nb_types

from legis_assets.core.fastirt.layout import _H_MAGIC, _H_NDIM, _H_NEXP, _H_TOTAL, _MAGIC
from legis_assets.core.fastirt.logdensity import expand_core, logp_grad_core
from legis_assets.core.fastirt.numerics import _JIT

#: the header slots every kernel's user_data shares (magic, dimension, expanded size, length)
HEADER_SLOTS = (_H_MAGIC, _H_NDIM, _H_NEXP, _H_TOTAL)
_HEAD = max(HEADER_SLOTS) + 1

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

#: inlined into each kernel's cfunc at Numba's IR level (and cached with it), so that the compiled
#: function passed in is called directly: passed to a separately compiled function it would become a
#: run-time address ("dynamic global"), and Numba refuses to cache a cfunc holding one (measured:
#: the common scale's expand was compiled again in every process, ~0.6 s)
_JIT_INLINE = {**{k: v for k, v in _JIT.items() if k != "cache"}, "inline": "always"}


@numba.njit(**_JIT_INLINE)
def checked_logp(logp, magic, dim, x_ptr, grad_ptr, logp_ptr, user_data):
    """int64 logp(uint64 dim, double* x, double* grad, double* logp, void* user_data) of the kernel
    `logp` whose arrays carry `magic`; 0 ok, -1 wrong dimension or data (fatal), 3 / 4 non-finite
    gradient / log-density (a divergence)."""
    head = numba.carray(user_data, (_HEAD,), np.float64)
    if head[_H_MAGIC] != magic:
        return -1
    n_dim = int(head[_H_NDIM])
    if dim != n_dim:
        return -1
    ud = numba.carray(user_data, (int(head[_H_TOTAL]),), np.float64)
    x = numba.carray(x_ptr, (n_dim,))
    grad = numba.carray(grad_ptr, (n_dim,))
    value = logp(x, grad, ud)
    logp_ptr[0] = value
    for k in range(n_dim):
        if not np.isfinite(grad[k]):
            return 3
    if not np.isfinite(value):
        return 4
    return 0


@numba.njit(**_JIT_INLINE)
def checked_expand(expand, magic, dim, n_expanded, x_ptr, out_ptr, user_data):
    """int64 expand(uint64 dim, uint64 n_expanded, double* x, double* out, void* user_data) of the
    kernel `expand` whose arrays carry `magic`."""
    head = numba.carray(user_data, (_HEAD,), np.float64)
    if head[_H_MAGIC] != magic:
        return -1
    n_dim = int(head[_H_NDIM])
    n_exp = int(head[_H_NEXP])
    if dim != n_dim or n_expanded != n_exp:
        return -1
    ud = numba.carray(user_data, (int(head[_H_TOTAL]),), np.float64)
    expand(numba.carray(x_ptr, (n_dim,)), numba.carray(out_ptr, (n_exp,)), ud)
    return 0


def logp_grad_at(logp: Callable, theta: np.ndarray, user_data: np.ndarray, n_dim: int) -> tuple[float, np.ndarray]:
    """A kernel's compiled `logp(theta, grad, user_data)` called from Python (tests, benchmarks):
    (log-density, gradient) at theta, which must have `n_dim` entries."""
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    if theta.shape != (n_dim,):
        raise ValueError(f"theta has shape {theta.shape}, expected ({n_dim},)")
    grad = np.empty(n_dim)
    return float(logp(theta, grad, user_data)), grad


class Callbacks:
    """A kernel's (logp, expand) `numba.cfunc` pair from its module-level wrappers: compiled on
    first use (or loaded from Numba's on-disk cache), then shared by every model in the process."""

    def __init__(self, c_logp: Callable, c_expand: Callable):
        self._py = (c_logp, c_expand)
        self._compiled: tuple | None = None
        self._lock = threading.Lock()

    def get(self) -> tuple:
        with self._lock:
            if self._compiled is None:
                c_logp, c_expand = self._py
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", numba.NumbaWarning)
                    self._compiled = (
                        numba.cfunc(_LOGP_SIG, cache=True)(c_logp),
                        numba.cfunc(_EXPAND_SIG, cache=True)(c_expand),
                    )
            return self._compiled


def _c_logp(dim, x_ptr, grad_ptr, logp_ptr, user_data):
    return checked_logp(logp_grad_core, _MAGIC, dim, x_ptr, grad_ptr, logp_ptr, user_data)


def _c_expand(dim, n_expanded, x_ptr, out_ptr, user_data):
    return checked_expand(expand_core, _MAGIC, dim, n_expanded, x_ptr, out_ptr, user_data)


_CALLBACKS = Callbacks(_c_logp, _c_expand)


def c_callbacks():
    """The per-chamber kernel's (logp, expand) `numba.cfunc` objects, shared by every model."""
    return _CALLBACKS.get()
