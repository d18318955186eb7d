"""The model catalogue: the models' names, priors and parameterisations, defined once.

Both implementations of the per-chamber models read them from here: the PyMC builders
(core/models.py) and the hand-written Numba kernel (core/fastirt/); the common scale's models
(core/common_scale/) use the same roll-call priors. `legis_assets_tests/test_models.py` checks that
every PyMC model's priors are these (and test_fastirt.py that the kernel's log-density is PyMC's),
so the two cannot drift.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np


class ModelName(StrEnum):
    """The per-chamber models (selectable by name: LEGIS_MODEL, --model)."""

    FLAT = "flat"
    HIERARCHICAL = "hierarchical"
    HIERARCHICAL_NONCENTERED = "hierarchical_noncentered"
    HIERARCHICAL_REFERENCE = "hierarchical_reference"


class Parameterisation(StrEnum):
    """How a hierarchical model samples the ideal points."""

    NONE = "none"  # the flat model: xi ~ N(0, XI_SCALE) directly, no party structure
    CENTRED = "centred"  # xi ~ N(mu_party[p], sigma_within[p]) sampled directly
    NONCENTRED = "noncentred"  # xi_offset ~ N(0, OFFSET_SCALE); xi = mu_party[p] + sigma_within[p] * xi_offset


#: the parameterisation each model samples
PARAMETERISATION: dict[ModelName, Parameterisation] = {
    ModelName.FLAT: Parameterisation.NONE,
    ModelName.HIERARCHICAL: Parameterisation.CENTRED,
    ModelName.HIERARCHICAL_NONCENTERED: Parameterisation.NONCENTRED,
    ModelName.HIERARCHICAL_REFERENCE: Parameterisation.NONCENTRED,
}

#: the models with a hand-written Numba gradient (core/fastirt)
KERNEL_MODELS: tuple[ModelName, ...] = (
    ModelName.FLAT,
    ModelName.HIERARCHICAL,
    ModelName.HIERARCHICAL_NONCENTERED,
)

# --- priors (Normal: mean 0, this sd; HalfNormal: this scale) ---------------------------------
#: flat model: xi ~ N(0, 1)
XI_SCALE = 1.0
#: non-centred hierarchical models: xi_offset ~ N(0, 1)
OFFSET_SCALE = 1.0
#: every model: alpha ~ N(0, 5), beta ~ N(0, 1)
ALPHA_SCALE = 5.0
BETA_SCALE = 1.0
#: hierarchical (default, non-centred): party means -gap / +gap, gap ~ HalfNormal(2)
GAP_SCALE = 2.0
#: hierarchical_reference: mu_party = sort(N(0, 2))
REFERENCE_MU_SCALE = 2.0
#: sigma_within ~ HalfNormal(1), or HalfNormal(0.5) for a party with fewer than SMALL_GROUP members
SIGMA_SCALE = 1.0
SIGMA_SCALE_SMALL = 0.5
SMALL_GROUP = 5


def sigma_scales(party_idx: np.ndarray | None, n_parties: int) -> np.ndarray:
    """The HalfNormal scale of each party's sigma_within (SIGMA_SCALE_SMALL for a small party)."""
    if party_idx is None:
        raise ValueError("the party scales need data.party_idx (data built for a hierarchical model)")
    sizes = np.bincount(party_idx, minlength=n_parties)
    return np.where(sizes < SMALL_GROUP, SIGMA_SCALE_SMALL, SIGMA_SCALE)
