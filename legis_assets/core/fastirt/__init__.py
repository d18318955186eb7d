"""The per-chamber kernel: hand-written Numba log-density and gradient for the flat and the default hierarchical model,
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

Numerics: Numba without SVML has only a scalar libm `exp`/`log1p`. `exp_neg` (numerics.py) is an exp for
x <= 0 that LLVM vectorises (Cody-Waite range reduction, a degree-13 polynomial, the power of two
built from the exponent bits; max relative error ~5e-16). softplus needs log1p(e) with
e = exp(-|eta|) in (0, 1]; the log1p terms are summed as the log of chunked products of (1 + e)
(each factor is in (1, 2], so _CHUNK of them cannot overflow): one scalar log per _CHUNK cells.

Modules (one responsibility each): `numerics` (Numba flags, constants, the vectorised exp),
`layout` (the packed user_data array, the vote cells), `likelihood` (log-density and gradient in
the model's coordinates; priors from core/catalogue.py), `frame` (the affine frame and its
Jacobian), `logdensity` (the compiled entry points per model kind), `callbacks` (the C callbacks
and their compile cache, for this kernel and the common scale's), `signs` (the sign screen), `model`
(`KernelModel`, `kernel_model`), `nutpie_adapter` (`compile_kernel`; `nutpie_model`, which builds
every kernel's nutpie model: the only use of nutpie's private API, checked by `check_nutpie`). Every name importers used from the former single module is re-exported here.
"""

from __future__ import annotations

from legis_assets.core.catalogue import ALPHA_SCALE, BETA_SCALE, GAP_SCALE, KERNEL_MODELS
from legis_assets.core.fastirt.callbacks import _EXPAND_SIG, _LOGP_SIG, _c_expand, _c_logp, c_callbacks
from legis_assets.core.fastirt.frame import (
    _affine_parts,
    _contrast,
    _framed_logp_grad,
    _reflect,
    _to_inner,
    _to_inner_parts,
    affine_coords,
    affine_frame,
    frame_orders_parties,
)
from legis_assets.core.fastirt.layout import (
    _H_J,
    _H_KIND,
    _H_L,
    _H_LAYOUT,
    _H_MAGIC,
    _H_NCELL,
    _H_NDIM,
    _H_NEXP,
    _H_OFF_AFFINE,
    _H_OFF_LEG,
    _H_OFF_PARTY,
    _H_OFF_RC,
    _H_OFF_SIG,
    _H_OFF_SIGN,
    _H_OFF_VOTE,
    _H_TOTAL,
    _MAGIC,
    DENSE_MIN_FILL,
    HEADER,
    KIND_FLAT,
    KIND_FLAT_S,
    KIND_HIER,
    KIND_HIER_C,
    KIND_HIER_S,
    LAYOUT_DENSE,
    LAYOUT_SPARSE,
    VoteCells,
    pack_user_data,
)
from legis_assets.core.fastirt.likelihood import (
    _centred_prior,
    _dense_chunk,
    _dense_lik,
    _expand_rc,
    _hier_prior_backprop,
    _logp_grad,
    _normal_prior,
    _party_params,
    _rc_backprop,
    _rc_params,
    _scale_priors,
    _sparse_chunk,
    _sparse_eta,
    _sparse_lik,
    _sparse_scatter,
)
from legis_assets.core.fastirt.logdensity import expand_core, logp_grad_core
from legis_assets.core.fastirt.model import FRAME_MIN_LEGISLATORS, KernelModel, kernel_model
from legis_assets.core.fastirt.numerics import (
    _CHUNK,
    _E3,
    _E4,
    _E5,
    _E6,
    _E7,
    _E8,
    _E9,
    _E10,
    _E11,
    _E12,
    _E13,
    _FM,
    _FM_EXP,
    _JIT,
    _LN2_HI,
    _LN2_LO,
    _LOG2E,
    EXP_MIN_ARG,
    HALFNORMAL_CONST,
    LOG_2PI_HALF,
    _bits_as_float64,
    exp_neg,
    exp_neg_array,
)
from legis_assets.core.fastirt.nutpie_adapter import NutpieChanged, check_nutpie, compile_kernel
from legis_assets.core.fastirt.signs import (
    _SCREEN_ALPHA_SCALE,
    _SCREEN_BETA_SCALE,
    SIGN_MIN_ROOT,
    rollcall_signs,
    sign_check,
)

__all__ = [
    "ALPHA_SCALE",
    "BETA_SCALE",
    "DENSE_MIN_FILL",
    "EXP_MIN_ARG",
    "FRAME_MIN_LEGISLATORS",
    "GAP_SCALE",
    "HALFNORMAL_CONST",
    "HEADER",
    "KERNEL_MODELS",
    "KIND_FLAT",
    "KIND_FLAT_S",
    "KIND_HIER",
    "KIND_HIER_C",
    "KIND_HIER_S",
    "KernelModel",
    "LAYOUT_DENSE",
    "LAYOUT_SPARSE",
    "LOG_2PI_HALF",
    "NutpieChanged",
    "SIGN_MIN_ROOT",
    "VoteCells",
    "_CHUNK",
    "_E10",
    "_E11",
    "_E12",
    "_E13",
    "_E3",
    "_E4",
    "_E5",
    "_E6",
    "_E7",
    "_E8",
    "_E9",
    "_EXPAND_SIG",
    "_FM",
    "_FM_EXP",
    "_H_J",
    "_H_KIND",
    "_H_L",
    "_H_LAYOUT",
    "_H_MAGIC",
    "_H_NCELL",
    "_H_NDIM",
    "_H_NEXP",
    "_H_OFF_AFFINE",
    "_H_OFF_LEG",
    "_H_OFF_PARTY",
    "_H_OFF_RC",
    "_H_OFF_SIG",
    "_H_OFF_SIGN",
    "_H_OFF_VOTE",
    "_H_TOTAL",
    "_JIT",
    "_LN2_HI",
    "_LN2_LO",
    "_LOG2E",
    "_LOGP_SIG",
    "_MAGIC",
    "_SCREEN_ALPHA_SCALE",
    "_SCREEN_BETA_SCALE",
    "_affine_parts",
    "_bits_as_float64",
    "_c_expand",
    "_c_logp",
    "_centred_prior",
    "_contrast",
    "_dense_chunk",
    "_dense_lik",
    "_expand_rc",
    "_framed_logp_grad",
    "_hier_prior_backprop",
    "_logp_grad",
    "_normal_prior",
    "_party_params",
    "_rc_backprop",
    "_rc_params",
    "_reflect",
    "_scale_priors",
    "_sparse_chunk",
    "_sparse_eta",
    "_sparse_lik",
    "_sparse_scatter",
    "_to_inner",
    "_to_inner_parts",
    "affine_coords",
    "affine_frame",
    "c_callbacks",
    "check_nutpie",
    "compile_kernel",
    "exp_neg",
    "exp_neg_array",
    "expand_core",
    "frame_orders_parties",
    "kernel_model",
    "logp_grad_core",
    "pack_user_data",
    "rollcall_signs",
    "sign_check",
]
