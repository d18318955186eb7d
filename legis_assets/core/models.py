"""PyMC builders for the ideal-point models. Each takes an `IRTData` and returns a `pm.Model`
with named dims (legislator, rollcall, party) and a deterministic `xi` (the ideal points).

Models (selectable by name, see MODELS):

* ``flat`` - 2PL IRT without party structure, ``xi ~ N(0, 1)``; the independent cross-check.
* ``hierarchical`` (default) - the reference model identified in location: the two party means
  are ``-gap`` and ``+gap`` (so the legislators' centre cannot drift and the left party stays on
  the left), ``gap ~ HalfNormal(2)``. Everything else is as in the reference experiment, but the
  ideal points are sampled centred (``xi ~ N(mu_party[p], sigma_within[p])``; ``xi_offset`` is
  recorded as a deterministic): the same posterior, a better geometry when every legislator
  casts hundreds of votes.
* ``hierarchical_noncentered`` - the same model parameterised non-centred, as the reference
  experiment wrote it (``xi = mu_party[p] + sigma_within[p] * xi_offset``); for comparison.
* ``hierarchical_reference`` - the reference experiment's model exactly as written:
  ``mu_party = sort(Normal(0, 2))``. Its location drifts along the likelihood's ridge, so it
  fails the convergence gates on this machine (MEASURED.md); kept for reproduction.

All hierarchical models pool exactly two parties (Democrat, Republican: HIERARCHICAL_PARTIES);
legislators of other parties (independents) are left out of them and kept in the flat model.
A party with fewer than SMALL_GROUP members gets the tighter ``sigma_within ~ HalfNormal(0.5)``.

A hierarchical model is fitted only where it can pool: both parties present with at least
MIN_POOLED_PARTY legislators each after the filters (`hierarchical_feasibility` says so, and why
not). Elsewhere (a one-party chamber, a nonpartisan one such as Nebraska's, a chamber whose
minority party is down to one or two legislators) the platform publishes the flat model alone.

The likelihood is written over the observed cells only (absences are missing, never imputed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from legis_assets.core.catalogue import (
    ALPHA_SCALE,
    BETA_SCALE,
    GAP_SCALE,
    OFFSET_SCALE,
    REFERENCE_MU_SCALE,
    XI_SCALE,
    ModelName,
    sigma_scales,
)
from legis_assets.core.matrix import VoteMatrix
from legis_assets.core.schema import HIERARCHICAL_PARTIES, DataProblem

#: fewest legislators (after the filters) each pooled party needs for the hierarchical model: a
#: within-party spread estimated from one or two members is the prior alone, and with two the
#: party's "mean" is their midpoint; three is the smallest group with a spread of its own
MIN_POOLED_PARTY = 3


@dataclass
class IRTData:
    """What a model needs: observed cells, labels and party index per legislator."""

    leg_idx: np.ndarray
    rc_idx: np.ndarray
    y: np.ndarray
    legislator_ids: list[str]
    rollcall_ids: list[str]
    party_idx: np.ndarray | None = None  # index into `parties`, hierarchical models only
    parties: tuple[str, ...] = ()
    excluded: list[str] = field(default_factory=list)  # legislators left out (and why, in `excluded_reason`)
    excluded_reason: str = ""

    @property
    def n_legislators(self) -> int:
        return len(self.legislator_ids)

    @property
    def n_rollcalls(self) -> int:
        return len(self.rollcall_ids)

    def coords(self) -> dict[str, list]:
        coords = {"legislator": self.legislator_ids, "rollcall": self.rollcall_ids}
        if self.parties:
            coords["party"] = list(self.parties)
        return coords

    def shape_key(self) -> tuple:
        """Everything a compiled model depends on besides the data values."""
        return (self.n_legislators, self.n_rollcalls, len(self.y), len(self.parties))


def flat_data(matrix: VoteMatrix) -> IRTData:
    return IRTData(
        leg_idx=matrix.leg_idx.astype(np.int64),
        rc_idx=matrix.rc_idx.astype(np.int64),
        y=matrix.y.astype(np.int64),
        legislator_ids=matrix.legislators["legislator_slug"].to_list(),
        rollcall_ids=matrix.rollcalls["vote_id"].to_list(),
    )


@dataclass(frozen=True)
class Feasibility:
    """Whether the hierarchical model can be fitted to a chamber, and if not, why."""

    fitted: bool
    reason: str
    party_sizes: dict[str, int]


def hierarchical_feasibility(
    matrix: VoteMatrix, parties: tuple[str, ...] = HIERARCHICAL_PARTIES, min_members: int = MIN_POOLED_PARTY
) -> Feasibility:
    """The hierarchical model pools `parties`; it needs each of them with at least `min_members`
    legislators in the (filtered) vote matrix. The reason says which party is missing or short."""
    codes = matrix.party_codes(parties)
    sizes = {p: int((codes == k).sum()) for k, p in enumerate(parties)}
    pooled = " and ".join(parties)
    if not any(sizes.values()):
        labels = sorted(set(matrix.legislators["party"].to_list()))
        return Feasibility(
            False,
            f"no legislator belongs to a pooled party ({pooled}); parties in the chamber: "
            f"{', '.join(labels) or 'none'} (a nonpartisan chamber)",
            sizes,
        )
    missing = [p for p in parties if sizes[p] == 0]
    if missing:
        return Feasibility(
            False,
            f"the hierarchical model pools {pooled}, but this chamber has no "
            f"{', '.join(missing)} legislator left after filtering (one party only)",
            sizes,
        )
    short = [p for p in parties if sizes[p] < min_members]
    if short:
        detail = ", ".join(f"{p} {sizes[p]}" for p in short)
        return Feasibility(
            False,
            f"the hierarchical model needs at least {min_members} legislators in each pooled "
            f"party after filtering; this chamber has {detail}",
            sizes,
        )
    return Feasibility(True, "", sizes)


def hierarchical_data(matrix: VoteMatrix, parties: tuple[str, ...] = HIERARCHICAL_PARTIES) -> IRTData:
    """Keep the legislators of the pooled parties; drop the roll calls left without a vote.
    Raises DataProblem where `hierarchical_feasibility` says the model cannot be fitted."""
    feasible = hierarchical_feasibility(matrix, parties)
    if not feasible.fitted:
        raise DataProblem(f"{feasible.reason}; only the flat model can be fitted")
    codes = matrix.party_codes(parties)
    keep_leg = codes >= 0
    slugs = matrix.legislators["legislator_slug"].to_list()
    excluded = [s for s, k in zip(slugs, keep_leg) if not k]
    new_leg = np.cumsum(keep_leg) - 1
    cell = keep_leg[matrix.leg_idx]
    leg_idx = new_leg[matrix.leg_idx[cell]]
    rc_old = matrix.rc_idx[cell]
    used_rc = np.unique(rc_old)
    rc_map = np.full(matrix.n_rollcalls, -1)
    rc_map[used_rc] = np.arange(used_rc.size)
    vote_ids = matrix.rollcalls["vote_id"].to_list()
    return IRTData(
        leg_idx=leg_idx.astype(np.int64),
        rc_idx=rc_map[rc_old].astype(np.int64),
        y=matrix.y[cell].astype(np.int64),
        legislator_ids=[s for s, k in zip(slugs, keep_leg) if k],
        rollcall_ids=[vote_ids[j] for j in used_rc],
        party_idx=codes[keep_leg],
        parties=tuple(parties),
        excluded=excluded,
        excluded_reason=f"party not one of {', '.join(parties)} (independents are not pooled)",
    )


def _likelihood(xi, alpha, beta, data: IRTData) -> None:
    eta = beta[data.rc_idx] * xi[data.leg_idx] - alpha[data.rc_idx]
    pm.Bernoulli("vote", logit_p=eta, observed=data.y, dims="obs")


def _sigma_scales(data: IRTData) -> np.ndarray:
    return sigma_scales(data.party_idx, len(data.parties))


def build_flat(data: IRTData) -> pm.Model:
    coords = data.coords() | {"obs": np.arange(len(data.y))}
    with pm.Model(coords=coords) as model:
        xi = pm.Normal("xi", 0.0, XI_SCALE, dims="legislator")
        alpha = pm.Normal("alpha", 0.0, ALPHA_SCALE, dims="rollcall")
        beta = pm.Normal("beta", 0.0, BETA_SCALE, dims="rollcall")
        _likelihood(xi, alpha, beta, data)
    return model


def _hierarchical_body(mu_party, data: IRTData) -> None:
    sigma_within = pm.HalfNormal("sigma_within", sigma=_sigma_scales(data), dims="party")
    xi_offset = pm.Normal("xi_offset", 0.0, OFFSET_SCALE, dims="legislator")
    xi = pm.Deterministic("xi", mu_party[data.party_idx] + sigma_within[data.party_idx] * xi_offset, dims="legislator")
    alpha = pm.Normal("alpha", 0.0, ALPHA_SCALE, dims="rollcall")
    beta = pm.Normal("beta", 0.0, BETA_SCALE, dims="rollcall")
    _likelihood(xi, alpha, beta, data)


def build_hierarchical_reference(data: IRTData) -> pm.Model:
    """The reference experiment's model, exactly as written."""
    coords = data.coords() | {"obs": np.arange(len(data.y))}
    with pm.Model(coords=coords) as model:
        mu_party_raw = pm.Normal("mu_party_raw", 0.0, REFERENCE_MU_SCALE, dims="party")
        mu_party = pm.Deterministic("mu_party", pt.sort(mu_party_raw), dims="party")
        _hierarchical_body(mu_party, data)
    return model


def _party_gap_means(data: IRTData):
    if len(data.parties) != 2:
        raise DataProblem(f"the hierarchical model needs exactly two parties, got {list(data.parties)}")
    gap = pm.HalfNormal("party_gap", sigma=GAP_SCALE)
    return pm.Deterministic("mu_party", pt.stack([-gap, gap]), dims="party")


def build_hierarchical_noncentered(data: IRTData) -> pm.Model:
    """Party means at -gap / +gap (location identified, left party on the left), ideal points
    non-centred (xi = mu_party + sigma_within * xi_offset) as in the reference experiment."""
    coords = data.coords() | {"obs": np.arange(len(data.y))}
    with pm.Model(coords=coords) as model:
        _hierarchical_body(_party_gap_means(data), data)
    return model


def build_hierarchical(data: IRTData) -> pm.Model:
    """The default: the same model as `build_hierarchical_noncentered`, parameterised centred
    (xi ~ N(mu_party[p], sigma_within[p]) sampled directly; xi_offset is a deterministic). With
    hundreds of votes per legislator the data pin each ideal point far more tightly than the
    party prior does, which is where centred parameterisations mix best (benchmarks/)."""
    coords = data.coords() | {"obs": np.arange(len(data.y))}
    with pm.Model(coords=coords) as model:
        mu_party = _party_gap_means(data)
        sigma_within = pm.HalfNormal("sigma_within", sigma=_sigma_scales(data), dims="party")
        xi = pm.Normal("xi", mu_party[data.party_idx], sigma_within[data.party_idx], dims="legislator")
        pm.Deterministic("xi_offset", (xi - mu_party[data.party_idx]) / sigma_within[data.party_idx], dims="legislator")
        alpha = pm.Normal("alpha", 0.0, ALPHA_SCALE, dims="rollcall")
        beta = pm.Normal("beta", 0.0, BETA_SCALE, dims="rollcall")
        _likelihood(xi, alpha, beta, data)
    return model


def add_normalised(idata) -> None:
    """Add the identified quantities to a posterior, per draw: ``xi_norm`` = xi standardised to
    mean 0, sd 1 across the legislators; ``mu_party_norm``, ``sigma_within_norm`` and
    ``alpha_norm``, ``beta_norm`` transformed to match (beta*xi - alpha is unchanged). This is
    the usual identification of ideal-point software; it removes the location/scale ridge along
    which the likelihood is flat, so the gates judge what the platform reports."""
    post = idata.posterior
    xi = post["xi"]
    centre = xi.mean("legislator")
    scale = xi.std("legislator")
    post["xi_norm"] = (xi - centre) / scale
    if "mu_party" in post:
        post["mu_party_norm"] = (post["mu_party"] - centre) / scale
        post["sigma_within_norm"] = post["sigma_within"] / scale
    if "beta" in post and "alpha" in post:
        post["beta_norm"] = post["beta"] * scale
        post["alpha_norm"] = post["alpha"] - post["beta"] * centre


@dataclass(frozen=True)
class ModelSpec:
    name: str  # a ModelName's value: a plain str (it is written into the traces' attributes)
    build: Callable[[IRTData], pm.Model]
    hierarchical: bool
    #: variable initialised from PCA (never jittered)
    init_var: str
    #: parameters whose convergence the gates judge
    gate_vars: tuple[str, ...]
    description: str


NORMALISED_GATES = ("xi_norm", "mu_party_norm", "sigma_within_norm")

MODELS: dict[ModelName, ModelSpec] = {
    ModelName.FLAT: ModelSpec(
        ModelName.FLAT.value, build_flat, False, "xi", ("xi_norm",), "2PL IRT, xi ~ N(0, 1), no party structure"
    ),
    ModelName.HIERARCHICAL: ModelSpec(
        ModelName.HIERARCHICAL.value,
        build_hierarchical,
        True,
        "xi",
        NORMALISED_GATES,
        "party-pooled 2PL IRT, party means at -gap/+gap (location identified in the model), "
        "ideal points sampled centred; gates and estimates on ideal points standardised "
        "per draw (scale identified)",
    ),
    ModelName.HIERARCHICAL_NONCENTERED: ModelSpec(
        ModelName.HIERARCHICAL_NONCENTERED.value,
        build_hierarchical_noncentered,
        True,
        "xi_offset",
        NORMALISED_GATES,
        "the default model parameterised non-centred (xi_offset sampled), as in the reference experiment",
    ),
    ModelName.HIERARCHICAL_REFERENCE: ModelSpec(
        ModelName.HIERARCHICAL_REFERENCE.value,
        build_hierarchical_reference,
        True,
        "xi_offset",
        ("xi", "mu_party", "sigma_within"),
        "reference experiment model as written, mu_party = sort(N(0, 2)); gates on "
        "the raw parameters, which drift along the location/scale ridge",
    ),
}


#: the default model is sampled centred when the median legislator has at least this many
#: observed votes, non-centred below. Measured: centred gave divergences on a 31 x 70 chamber
#: (20-46 per run, seed-dependent; non-centred none) and mixed 15-20 % better on every chamber
#: with 150+ votes per legislator (simulated Senate ~170, House ~280, all real chambers 400-900).
CENTRED_MIN_VOTES = 150


def parameterisation_for(spec: ModelSpec, data: IRTData) -> ModelSpec:
    """The spec actually sampled: the default `hierarchical` model is centred where the data pin
    each ideal point tightly (CENTRED_MIN_VOTES), else its non-centred twin (same posterior)."""
    if spec.name != ModelName.HIERARCHICAL:
        return spec
    votes = np.bincount(data.leg_idx, minlength=data.n_legislators)
    return spec if np.median(votes) >= CENTRED_MIN_VOTES else MODELS[ModelName.HIERARCHICAL_NONCENTERED]


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[ModelName(name)]
    except ValueError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(m.value for m in MODELS)}") from None
