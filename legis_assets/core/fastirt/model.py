"""The kernel models: what to sample for a model name and a chamber (kind, layout, frame, sign
screen), their parameter vectors, initial points and the expansion to named variables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from legis_assets.core.catalogue import KERNEL_MODELS, PARAMETERISATION, ModelName, Parameterisation, sigma_scales
from legis_assets.core.fastirt.callbacks import logp_grad_at
from legis_assets.core.fastirt.frame import affine_coords, affine_frame, frame_orders_parties
from legis_assets.core.fastirt.layout import (
    KIND_FLAT,
    KIND_FLAT_S,
    KIND_HIER,
    KIND_HIER_C,
    KIND_HIER_S,
    VoteCells,
    pack_user_data,
)
from legis_assets.core.fastirt.logdensity import expand_core, logp_grad_core
from legis_assets.core.fastirt.signs import rollcall_signs
from legis_assets.core.models import IRTData


@dataclass(frozen=True)
class KernelModel:
    """A model with a hand-written gradient: how to build the nutpie model and read its draws."""

    name: str
    n_dim: int
    data: IRTData
    cells: VoteCells
    party: np.ndarray | None = None
    sig_scale: np.ndarray | None = None
    #: per roll call: 0 = sampled as (alpha, beta); +1/-1 = as (cutpoint, log |beta|) with that sign
    sign: np.ndarray | None = None
    #: sample in the affine frame (KIND_HIER_S / KIND_FLAT_S, see `_to_inner_parts`), oriented by this
    #: 0/1 grouping of the legislators (1 = right: the hierarchical model's parties; for the flat
    #: model the sign of the PCA start); None: the model's own coordinates
    frame_group: np.ndarray | None = None
    #: `pack_user_data`'s array (nutpie's user_data); built by `kernel_model`
    user_data: np.ndarray | None = field(default=None, repr=False, compare=False)

    def _packed(self) -> np.ndarray:
        if self.user_data is not None:
            return self.user_data
        if self.name == ModelName.FLAT:
            kind = KIND_FLAT_S if self.framed else KIND_FLAT
        else:
            kind = (
                KIND_HIER
                if self.name == ModelName.HIERARCHICAL_NONCENTERED
                else (KIND_HIER_S if self.framed else KIND_HIER_C)
            )
        packed = pack_user_data(
            kind,
            self.cells,
            self.n_dim,
            self.n_expanded,
            self.party,
            self.sig_scale,
            self.sign,
            affine_frame(self.frame_group)[0] if self.frame_group is not None else None,
        )
        object.__setattr__(self, "user_data", packed)
        return packed

    @property
    def framed(self) -> bool:
        return self.frame_group is not None

    @property
    def centred(self) -> bool:
        """Centred hierarchy (xi sampled directly) or non-centred (xi_offset sampled)."""
        return PARAMETERISATION[ModelName(self.name)] is Parameterisation.CENTRED

    @property
    def n_expanded(self) -> int:
        return sum(int(np.prod(s)) for s in self.var_shapes()[1])

    def logp_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return logp_grad_at(logp_grad_core, theta, self._packed(), self.n_dim)

    def expand(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The posterior variables (named as in the PyMC model) from an unconstrained vector."""
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        flat = np.empty(self.n_expanded)
        expand_core(theta, flat, self._packed())
        names, shapes, _ = self.var_shapes()
        out, pos = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            out[name] = flat[pos : pos + size].reshape(shape)
            pos += size
        return out

    def initial_point(self, init: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """Init rule: the PCA variable exactly at `init`, every other variable jittered
        (uniform(-1, 1) around 0 in unconstrained space, like PyMC's jitter: the scales start
        between 1/e and e, never at 0)."""
        L = self.data.n_legislators
        theta = rng.uniform(-1.0, 1.0, self.n_dim)
        if init is None:  # no PCA start: every variable jittered (the reference's "from zeros" run)
            return theta
        h = 0 if self.name == ModelName.FLAT else 3
        theta[h : h + L] = affine_coords(init, self.frame_group) if self.frame_group is not None else init
        return theta

    def var_shapes(self) -> tuple[list[str], list[tuple[int, ...]], dict[str, tuple[str, ...]]]:
        L, J = self.data.n_legislators, self.data.n_rollcalls
        shapes: list[tuple[int, ...]]
        dims: dict[str, tuple[str, ...]]
        if self.name == ModelName.FLAT:
            names = ["xi", "alpha", "beta"]
            shapes = [(L,), (J,), (J,)]
            dims = {"xi": ("legislator",), "alpha": ("rollcall",), "beta": ("rollcall",)}
        else:
            names = ["party_gap", "mu_party", "sigma_within", "xi_offset", "xi", "alpha", "beta"]
            shapes = [(), (2,), (2,), (L,), (L,), (J,), (J,)]
            dims = {
                "mu_party": ("party",),
                "sigma_within": ("party",),
                "xi_offset": ("legislator",),
                "xi": ("legislator",),
                "alpha": ("rollcall",),
                "beta": ("rollcall",),
            }
        return names, shapes, dims

    def unconstrained_names(self) -> list[str]:
        """Names of the entries of theta (PyMC's value variables, flattened like nutpie does; the
        reparameterised entries named for what they are)."""
        L, J = self.data.n_legislators, self.data.n_rollcalls
        frame = ["xi_frame_location", "xi_frame_log_scale"] + [f"xi_in_frame_{k}" for k in range(L - 2)]
        if self.name == ModelName.FLAT:
            head = frame if self.framed else [f"xi_{i}" for i in range(L)]
        elif self.framed:
            head = ["party_gap_log__", "sigma_within_in_frame_log___0", "sigma_within_in_frame_log___1"] + frame
        else:
            head = ["party_gap_log__", "sigma_within_log___0", "sigma_within_log___1"] + [
                f"{'xi' if self.centred else 'xi_offset'}_{i}" for i in range(L)
            ]
        sign = np.zeros(J) if self.sign is None else self.sign
        tag = "_in_frame" if self.framed else ""
        first = [f"cutpoint{tag}_{j}" if sign[j] else f"alpha{tag}_{j}" for j in range(J)]
        second = [f"log_abs_beta{tag}_{j}" if sign[j] else f"beta{tag}_{j}" for j in range(J)]
        names = head + first + second
        return names


#: the hierarchical model is sampled in the frame from this many legislators (sampling's "auto").
#: Measured, 4 x (200 + 500), min ESS/s of the gated quantities, frame vs the model's coordinates:
#: California Senate (41 x 811) 8.2 vs 11.2 (131 vs 64 leapfrog steps per draw); US Senate 107th
#: (101 x 457) 100 vs 29; US Senate 117th (100 x 906) 4.7 vs 3.2; US House (447 x 840) 4.2 vs 2.5
#: (benchmarks/, 200 + 2000). The flat model gained on all of them (California 2.2x less time).
FRAME_MIN_LEGISLATORS = 60


def kernel_model(
    name: str,
    data: IRTData,
    dense: bool | None = None,
    frame_init: np.ndarray | None = None,
    frame_min_legislators: int = 0,
) -> KernelModel:
    """The kernel model of `name`. With `frame_init` (the PCA start), the flat and the centred
    hierarchical model are sampled in the affine frame (`_to_inner_parts`), their clearly signed roll
    calls as (cutpoint, log |beta|): the same posterior, in coordinates where it mixes faster.
    The frame is oriented by the parties (hierarchical) or by the sign of the start (flat); a start
    that does not order them, or a hierarchical chamber with fewer than `frame_min_legislators`,
    leaves the model in its own coordinates."""
    if name not in KERNEL_MODELS:
        raise ValueError(f"no hand-written gradient for model {name!r} (have {', '.join(KERNEL_MODELS)})")
    L, J = data.n_legislators, data.n_rollcalls
    cells = VoteCells.from_data(data, dense=dense)
    if name == ModelName.FLAT:
        group = None if frame_init is None else (np.asarray(frame_init) > 0).astype(np.int64)
        party, sig_scale, n_dim = None, None, L + 2 * J
    else:
        if len(data.parties) != 2:
            raise ValueError("the hierarchical kernel needs exactly two parties")
        if data.party_idx is None:
            raise ValueError("the hierarchical kernel needs data.party_idx (the legislators' parties)")
        party = data.party_idx.astype(np.int64)
        group = (
            party
            if (
                frame_init is not None
                and name == ModelName.HIERARCHICAL
                and data.n_legislators >= frame_min_legislators
            )
            else None
        )
        sig_scale, n_dim = sigma_scales(data.party_idx, len(data.parties)).astype(np.float64), L + 2 * J + 3
    sign = None
    if group is not None and frame_init is not None and frame_orders_parties(frame_init, group):
        sign, _ = rollcall_signs(data, frame_init)
    else:
        group = None
    km = KernelModel(name, n_dim, data, cells, party, sig_scale, sign=sign, frame_group=group)
    km._packed()
    return km
