"""The model catalogue (core/catalogue.py) is what the PyMC builders build and what the kernel
samples: a prior or a name changed in one place only fails here (the kernel's log-density is
checked against PyMC's in test_fastirt.py)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from legis_assets.core import catalogue, fastirt, models, simulate
from legis_assets.core.catalogue import ModelName, Parameterisation
from legis_assets_tests.support import matrix_from_sim


@pytest.fixture(scope="module")
def data():
    spec = simulate.ChamberSpec(
        seats=24, n_rollcalls=40, replacements=0, party_shares={"Republican": 0.8, "Democrat": 0.2}
    )
    sim = simulate.simulate_session(seed=4, specs={"senate": spec})["senate"]
    return models.hierarchical_data(matrix_from_sim(sim))


def _scale(model: pm.Model, name: str) -> np.ndarray:
    """The sd (Normal) or scale (HalfNormal) of a free variable's prior: the last input of its op."""
    return np.asarray(model[name].owner.inputs[-1].eval())


def _mean(model: pm.Model, name: str) -> np.ndarray:
    return np.asarray(model[name].owner.inputs[-2].eval())


def test_every_model_is_named_once_and_has_a_parameterisation():
    assert set(models.MODELS) == set(ModelName) == set(catalogue.PARAMETERISATION)
    assert all(spec.name == key for key, spec in models.MODELS.items())
    assert set(fastirt.KERNEL_MODELS) <= set(ModelName)
    assert models.get_model("flat") is models.MODELS[ModelName.FLAT]


@pytest.mark.parametrize("name", list(ModelName))
def test_the_pymc_priors_are_the_catalogues(name, data):
    spec = models.get_model(name)
    model = spec.build(data if spec.hierarchical else models.IRTData(**{**data.__dict__, "party_idx": None}))
    assert np.all(_scale(model, "alpha") == catalogue.ALPHA_SCALE) and np.all(_mean(model, "alpha") == 0)
    assert np.all(_scale(model, "beta") == catalogue.BETA_SCALE) and np.all(_mean(model, "beta") == 0)
    free = {rv.name for rv in model.free_RVs}
    parameterisation = catalogue.PARAMETERISATION[name]
    if parameterisation is Parameterisation.NONE:
        assert np.all(_scale(model, "xi") == catalogue.XI_SCALE)
        return
    expected_sigma = catalogue.sigma_scales(data.party_idx, len(data.parties))
    assert np.array_equal(_scale(model, "sigma_within"), expected_sigma)
    if parameterisation is Parameterisation.NONCENTRED:
        assert "xi_offset" in free and "xi" not in free
        assert np.all(_scale(model, "xi_offset") == catalogue.OFFSET_SCALE)
    else:
        assert "xi" in free and "xi_offset" not in free
    if name == ModelName.HIERARCHICAL_REFERENCE:
        assert np.all(_scale(model, "mu_party_raw") == catalogue.REFERENCE_MU_SCALE)
    else:
        assert float(_scale(model, "party_gap")) == catalogue.GAP_SCALE


def test_the_small_party_scale_applies_below_the_small_group_size():
    party = np.array([0] * (catalogue.SMALL_GROUP - 1) + [1] * catalogue.SMALL_GROUP)
    assert list(catalogue.sigma_scales(party, 2)) == [catalogue.SIGMA_SCALE_SMALL, catalogue.SIGMA_SCALE]
    with pytest.raises(ValueError, match="party_idx"):
        catalogue.sigma_scales(None, 2)
