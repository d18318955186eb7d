"""core/sampling.py: the profiles, the settings record, one tiny real fit (a 16-seat chamber,
the Numba kernel backend: well under a second of sampling), and fit_until_gates: a real starved
fit that fails its gates and is extended once, then the extension rule itself with `fit`
replaced by a stub (deterministic: which settings each attempt gets, how timings add up)."""

from __future__ import annotations

import dataclasses

import arviz as az
import numpy as np
import pytest

from legis_assets.core import models, pca, sampling, simulate
from legis_assets_tests.support import matrix_from_sim

TINY = {"senate": simulate.ChamberSpec(seats=16, n_rollcalls=40, replacements=0, absence_rate=0.05)}


# --- profiles and settings ------------------------------------------------------------------


def test_profiles_have_the_documented_values():
    assert set(sampling.PROFILES) == {"reference", "default", "scale", "quick", "starved"}
    scale = sampling.get_profile("scale")  # the common scale's joint fit
    assert (scale.chains, scale.tune, scale.draws, scale.extensions) == (4, 200, 1000, 1)
    assert (scale.low_rank_mass_matrix, scale.eigval_cutoff, scale.frame) == (True, 20.0, "on")
    ref = sampling.get_profile("reference")
    assert (ref.chains, ref.tune, ref.draws, ref.backend) == (4, 1500, 2000, "pymc")
    default = sampling.get_profile("default")
    assert (default.chains, default.draws, default.extensions, default.low_rank_mass_matrix) == (4, 2000, 1, True)
    quick = sampling.get_profile("quick")
    assert (quick.chains, quick.tune, quick.draws, quick.extensions) == (2, 300, 300, 0)
    starved = sampling.get_profile("starved")
    assert (starved.chains, starved.tune, starved.draws) == (2, 20, 20)
    # starved must fail the ESS gate: fewer kept draws in total than the gate's minimum ESS
    from legis_assets.core.diagnostics import ESS_MIN

    assert starved.chains * starved.draws < ESS_MIN


def test_get_profile_overrides_without_touching_the_profile():
    quick = sampling.get_profile("quick", seed=7, draws=50)
    assert (quick.seed, quick.draws, quick.tune) == (7, 50, 300)
    assert sampling.PROFILES["quick"].seed == 42 and sampling.PROFILES["quick"].draws == 300
    # None means "not given": the profile's value stays
    assert sampling.get_profile("quick", seed=None, draws=None) == sampling.PROFILES["quick"]
    with pytest.raises(ValueError, match="unknown sampling profile 'fast'.*quick"):
        sampling.get_profile("fast")
    with pytest.raises(TypeError):
        sampling.get_profile("quick", warp=9)


def test_settings_to_dict_round_trip():
    settings = sampling.SamplerSettings(
        chains=3,
        tune=11,
        draws=12,
        seed=5,
        cores=1,
        low_rank_mass_matrix=True,
        backend="kernel",
        extensions=2,
        frame="off",
        eigval_cutoff=7.0,
    )
    record = settings.to_dict()
    assert record == {
        "chains": 3,
        "tune": 11,
        "draws": 12,
        "seed": 5,
        "cores": 1,
        "low_rank_mass_matrix": True,
        "backend": "kernel",
        "extensions": 2,
        "frame": "off",
        "eigval_cutoff": 7.0,
    }
    assert sampling.SamplerSettings(**record) == settings
    assert set(record) == {f.name for f in dataclasses.fields(sampling.SamplerSettings)}


@pytest.mark.parametrize(
    ("low_rank", "cutoff", "expected"),
    [(True, 20.0, {"mass_matrix_eigval_cutoff": 20.0}), (True, None, {}), (False, 20.0, {})],
)
def test_the_eigenvalue_cutoff_reaches_nutpie_only_with_a_low_rank_mass_matrix(monkeypatch, low_rank, cutoff, expected):
    import nutpie

    seen = {}

    class Stop(Exception):
        pass

    def fake_sample(compiled, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(nutpie, "sample", fake_sample)
    settings = sampling.SamplerSettings(low_rank_mass_matrix=low_rank, eigval_cutoff=cutoff)
    with pytest.raises(Stop):
        sampling.sample(object(), settings, "m", lambda msg: None, 30.0)
    assert seen["low_rank_modified_mass_matrix"] is low_rank
    assert {k: v for k, v in seen.items() if k == "mass_matrix_eigval_cutoff"} == expected


def test_nutpie_accepts_the_eigenvalue_cutoff():
    """The setting's name is nutpie's (a rename would make nutpie.sample refuse it, not ignore it)."""
    import nutpie
    from nutpie import _lib

    settings = _lib.PyNutsSettings.LowRank(1)
    # the profiles were measured against this default (its docstring says 100)
    assert settings.mass_matrix_eigval_cutoff == 2.0, f"nutpie {nutpie.__version__} changed its default"
    settings.mass_matrix_eigval_cutoff = 20.0
    assert settings.mass_matrix_eigval_cutoff == 20.0


# --- real fits on a tiny chamber ----------------------------------------------------------------


@pytest.fixture(scope="module")
def chamber():
    m = matrix_from_sim(simulate.simulate_session(seed=3, specs=TINY)["senate"])
    scores = pca.fit_pca_init(m).scores
    pc1 = dict(zip(scores["legislator_slug"].to_list(), scores["pc1"].to_list()))

    def init(data):
        x = np.array([pc1[s] for s in data.legislator_ids])
        return (x - x.mean()) / x.std()

    return m, init


def test_a_tiny_flat_fit_returns_the_documented_trace(chamber):
    m, init = chamber
    data = models.flat_data(m)
    messages = []
    settings = sampling.get_profile("quick", seed=3)
    result = sampling.fit(models.get_model("flat"), data, init(data), settings, progress=messages.append)
    idata = result.idata
    assert isinstance(idata, az.InferenceData)
    assert set(idata.groups()) == {"posterior", "sample_stats"}  # warm-up groups dropped
    post = idata.posterior
    assert {"xi", "alpha", "beta", "xi_norm", "alpha_norm", "beta_norm"} <= set(post.data_vars)
    assert dict(post["xi"].sizes) == {"chain": 2, "draw": 300, "legislator": m.n_legislators}
    assert list(post["xi"]["legislator"].values) == data.legislator_ids
    np.testing.assert_allclose(post["xi_norm"].std("legislator").values, 1.0)
    assert {"diverging", "n_steps"} <= set(idata.sample_stats.data_vars)
    attrs = post.attrs
    assert (attrs["model"], attrs["parameterisation"], attrs["sampler"]) == ("flat", "none", "nutpie")
    assert attrs["backend"] == result.backend == "kernel"  # "auto": the kernel where the model has one
    assert attrs["sampling_coordinates"] == "affine frame"
    assert {attrs[f"settings_{k}"] for k in ("chains", "draws", "seed")} == {"2", "300", "3"}
    assert attrs["grad_evals"] == result.grad_evals > 0 and result.grad_evals_tune > 0
    assert result.model == "flat" and result.settings == settings and result.attempts == 1
    timing = result.timing()
    assert set(timing) == {
        "backend",
        "attempts",
        "compile_seconds",
        "sample_seconds",
        "grad_evals",
        "grad_evals_draws",
        "seconds_per_grad",
    }
    assert any("compiled" in msg for msg in messages) and any("sampled in" in msg for msg in messages)


def test_fit_refuses_an_init_of_the_wrong_shape(chamber):
    m, _ = chamber
    data = models.flat_data(m)
    with pytest.raises(ValueError, match="init has shape"):
        sampling.fit(models.get_model("flat"), data, np.zeros(data.n_legislators + 1), sampling.get_profile("quick"))


def test_unknown_backend_is_refused(chamber):
    m, init = chamber
    data = models.flat_data(m)
    with pytest.raises(ValueError, match="unknown backend"):
        sampling.fit(models.get_model("flat"), data, init(data), sampling.get_profile("quick", backend="gpu"))


def test_a_starved_fit_fails_its_gates_and_is_extended_once(chamber):
    m, init = chamber
    data = models.hierarchical_data(m)
    spec = models.get_model("hierarchical")
    messages = []
    settings = sampling.get_profile("starved", extensions=1, seed=10)
    result, gates = sampling.fit_until_gates(spec, data, init(data), settings, progress=messages.append)
    assert result.attempts == 2 and result.idata.posterior.attrs["attempts"] == 2
    assert sum("gates failed" in msg for msg in messages) == 1
    # the second attempt: twice the tuning and the draws, the next seed (recorded in the trace)
    attrs = result.idata.posterior.attrs
    assert (attrs["settings_tune"], attrs["settings_draws"], attrs["settings_seed"]) == ("40", "40", "11")
    assert result.idata.posterior.sizes["draw"] == 40
    assert attrs["parameterisation"] == "non-centred"  # a few dozen votes each: below CENTRED_MIN_VOTES
    failed = {g.name for g in gates if g.severity == "error" and not g.passed}
    assert "ess" in failed  # 2 x 40 draws cannot give an ESS of 400


# --- the extension rule, with `fit` stubbed -----------------------------------------------------


def _fake_idata(good: bool) -> az.InferenceData:
    rng = np.random.default_rng(0)
    xi = rng.normal(size=(4, 1000, 3))
    if not good:
        xi[0] += 3.0  # one chain elsewhere: R-hat fails
    idata = az.from_dict(
        posterior={"xi_norm": xi},
        sample_stats={"diverging": np.zeros((4, 1000), bool)},
        coords={"legislator": ["a", "b", "c"]},
        dims={"xi_norm": ["legislator"]},
    )
    return idata


@pytest.fixture
def stub_fit(monkeypatch):
    """`sampling.fit` replaced: attempt k (from 1) passes its gates iff k is in `passing`."""
    calls: list[sampling.SamplerSettings] = []
    passing: set[int] = set()

    def fake(spec, data, init, settings, progress=None):
        calls.append(settings)
        good = len(calls) in passing
        return sampling.FitResult(
            _fake_idata(good),
            spec.name,
            settings,
            compile_seconds=1.0,
            sample_seconds=10.0 * len(calls),
            grad_evals_tune=100,
            grad_evals_draws=1000,
        )

    monkeypatch.setattr(sampling, "fit", fake)
    return calls, passing


def test_a_passing_fit_is_not_extended(stub_fit):
    calls, passing = stub_fit
    passing.add(1)
    settings = sampling.SamplerSettings(tune=10, draws=20, seed=1, extensions=3)
    result, gates = sampling.fit_until_gates(models.get_model("flat"), None, None, settings)
    assert len(calls) == 1 and result.attempts == 1 and all(g.passed for g in gates if g.severity == "error")


def test_extensions_double_tuning_and_draws_with_a_new_seed_and_add_up_the_cost(stub_fit):
    calls, passing = stub_fit
    passing.add(3)
    settings = sampling.SamplerSettings(tune=10, draws=20, seed=1, extensions=5)
    result, gates = sampling.fit_until_gates(models.get_model("flat"), None, None, settings)
    assert [(c.tune, c.draws, c.seed) for c in calls] == [(10, 20, 1), (20, 40, 2), (40, 80, 3)]
    assert result.attempts == 3 and result.settings == calls[-1]
    assert (result.compile_seconds, result.sample_seconds) == (3.0, 60.0)  # 10 + 20 + 30
    assert (result.grad_evals_tune, result.grad_evals_draws) == (300, 3000)
    attrs = result.idata.posterior.attrs
    assert (attrs["attempts"], attrs["sample_seconds"], attrs["grad_evals"]) == (3, 60.0, 3300)


def test_extensions_stop_at_the_limit_and_return_the_failing_gates(stub_fit):
    calls, _ = stub_fit  # never passes
    result, gates = sampling.fit_until_gates(
        models.get_model("flat"), None, None, sampling.SamplerSettings(tune=10, draws=20, extensions=2)
    )
    assert len(calls) == 3 and result.attempts == 3
    assert not {g.name: g for g in gates}["rhat"].passed
    none, _ = sampling.fit_until_gates(
        models.get_model("flat"), None, None, sampling.SamplerSettings(tune=10, draws=20, extensions=0)
    )
    assert none.attempts == 1 and len(calls) == 4
