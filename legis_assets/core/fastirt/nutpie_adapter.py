"""The one place that touches nutpie's private API.

nutpie has no public constructor for a model given as C callbacks: `nutpie.compile_pymc` builds its
`CompiledPyMCModel` (a dataclass) from a PyMC model, and we build the same dataclass around our own
callbacks, with the C signatures of `nutpie.compile_pymc._make_c_logp_func` /
`_make_c_expand_func` (callbacks.py), in :func:`nutpie_model`, for every kernel (the per-chamber
one, `compile_kernel`, and the common scale's). :func:`check_nutpie` compares what this module relies on
with the installed nutpie and raises, naming its version, if a release changed it;
`nutpie_model` calls it first, and legis_assets_tests/test_fastirt.py runs it on its own.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from legis_assets.core.fastirt.callbacks import c_callbacks
from legis_assets.core.fastirt.model import KernelModel

#: the CompiledPyMCModel fields compile_kernel sets (nutpie 0.16: all of them but one default)
NUTPIE_FIELDS = frozenset(
    {
        "dims",
        "_n_dim",
        "_coords",
        "_shapes",
        "compiled_logp_func",
        "compiled_expand_func",
        "initial_point_func",
        "shared_data",
        "user_data",
        "n_expanded",
        "shape_info",
        "logp_func",
        "expand_func",
    }
)
#: the arguments of nutpie's own C-callback builders, whose signatures callbacks.py copies
NUTPIE_CALLBACK_ARGS = {
    "_make_c_logp_func": ["n_dim", "logp_fn", "user_data", "shared_logp", "shared_data"],
    "_make_c_expand_func": ["n_dim", "n_expanded", "expand_fn", "user_data", "shared_vars", "shared_data"],
}


class NutpieChanged(RuntimeError):
    """The installed nutpie's private model class is not the one this adapter was written for."""


def check_nutpie() -> None:
    """Raise NutpieChanged (naming the installed version and what differs) unless nutpie's
    `CompiledPyMCModel` takes exactly the fields compile_kernel passes (new ones need a default)
    and its C-callback builders have the arguments callbacks.py's signatures were copied from."""
    import nutpie
    from nutpie import compile_pymc

    version = getattr(nutpie, "__version__", "unknown")
    problems = []
    cls = getattr(compile_pymc, "CompiledPyMCModel", None)
    if cls is None or not dataclasses.is_dataclass(cls):
        problems.append("nutpie.compile_pymc.CompiledPyMCModel is gone or no longer a dataclass")
    else:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        missing = sorted(NUTPIE_FIELDS - set(fields))
        required_new = sorted(
            name
            for name, f in fields.items()
            if name not in NUTPIE_FIELDS
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        )
        if missing:
            problems.append(f"CompiledPyMCModel lost the fields {missing}")
        if required_new:
            problems.append(f"CompiledPyMCModel has new required fields {required_new}")
    for name, args in NUTPIE_CALLBACK_ARGS.items():
        fn = getattr(compile_pymc, name, None)
        if fn is None or list(inspect.signature(fn).parameters) != args:
            problems.append(f"nutpie.compile_pymc.{name} changed (its C signature is copied in callbacks.py)")
    if problems:
        raise NutpieChanged(
            f"nutpie {version}: the kernel's adapter (legis_assets/core/fastirt/nutpie_adapter.py) was written "
            f"for nutpie 0.16: " + "; ".join(problems)
        )


def compile_kernel(km: KernelModel, init: np.ndarray | None):
    """A nutpie model for `km` (C callbacks, no Python per gradient), started at `init`
    (see `KernelModel.initial_point`)."""
    init = None if init is None else np.asarray(init, dtype=float)
    L = km.data.n_legislators
    if init is not None and init.shape != (L,):
        raise ValueError(f"init has shape {init.shape}, expected ({L},)")

    def initial_point(seed):
        return km.initial_point(init, np.random.default_rng(seed))

    names, shapes, dims = km.var_shapes()
    coords = {**km.data.coords(), "unconstrained_parameter": km.unconstrained_names()}
    return nutpie_model(c_callbacks(), km._packed(), km.n_dim, names, shapes, dims, coords, initial_point)


def nutpie_model(
    callbacks: tuple,
    user_data: np.ndarray,
    n_dim: int,
    names: Sequence[str],
    shapes: Sequence[tuple[int, ...]],
    dims: dict[str, tuple[str, ...]],
    coords: Mapping[str, Sequence],
    initial_point: Callable[[int], np.ndarray],
):
    """nutpie's model object for a kernel: its (logp, expand) cfuncs (`callbacks.Callbacks.get`)
    over `user_data`, `n_dim` unconstrained parameters (named in coords["unconstrained_parameter"]),
    expanded to the variables `names` of `shapes` (flattened in that order), started at
    `initial_point(seed)`. Every kernel (per chamber, common scale) builds its model here."""
    import pandas as pd
    from nutpie.compile_pymc import CompiledPyMCModel

    check_nutpie()
    logp_cfunc, expand_cfunc = callbacks
    slices, pos = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        slices.append(slice(pos, pos + size))
        pos += size
    return CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords={name: pd.Index(values) for name, values in coords.items()},
        _shapes={name: tuple(shape) for name, shape in zip(names, shapes)},
        compiled_logp_func=logp_cfunc,
        compiled_expand_func=expand_cfunc,
        initial_point_func=initial_point,
        shared_data={},
        user_data=user_data,
        n_expanded=pos,
        shape_info=(list(names), slices, [tuple(s) for s in shapes]),
        logp_func=None,
        expand_func=None,
    )
