"""Numerics of the kernel: Numba flags, constants and a vectorisable exp(x) for x <= 0.

Numba without SVML has only a scalar libm `exp`/`log1p`. `exp_neg` is an exp for x <= 0 that LLVM
vectorises (Cody-Waite range reduction, a degree-13 polynomial, the power of two built from the
exponent bits; max relative error ~5e-16).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba.core import types as nb_types
from numba.extending import intrinsic

LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
HALFNORMAL_CONST = 0.5 * math.log(2.0 / math.pi)

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
