"""core/models.py on its own: the data builders, the PyMC model builders (variables, dims, coords,
priors), the model registry and the per-draw standardisation (add_normalised).

No sampling: priors are checked through the models' log-densities at fixed points."""

from __future__ import annotations

import arviz as az
import numpy as np
import polars as pl
import pytest
from scipy import stats

from legis_assets.core import catalogue, models, simulate
from legis_assets.core.schema import HIERARCHICAL_PARTIES, DataProblem
from legis_assets_tests.support import matrix_from_sim

#: a chamber with independents (about 15 % of the seats), so the hierarchical data leave some out
SPEC = {
    "senate": simulate.ChamberSpec(
        seats=24, n_rollcalls=50, replacements=0, party_shares={"Republican": 0.5, "Democrat": 0.35}
    )
}


@pytest.fixture(scope="module")
def matrix():
    m = matrix_from_sim(simulate.simulate_session(seed=4, specs=SPEC)["senate"])
    assert "Independent" in m.legislators["party"].to_list()  # the fixture is what the tests need
    return m


def _cells(leg_ids, rc_ids, leg_idx, rc_idx, y) -> set[tuple[str, str, int]]:
    return {(leg_ids[i], rc_ids[j], int(v)) for i, j, v in zip(leg_idx, rc_idx, y)}


# --- data builders --------------------------------------------------------------------------------


def test_flat_data_keeps_every_cell_and_label(matrix):
    data = models.flat_data(matrix)
    assert data.legislator_ids == matrix.legislators["legislator_slug"].to_list()
    assert data.rollcall_ids == matrix.rollcalls["vote_id"].to_list()
    assert len(data.y) == matrix.n_obs and data.party_idx is None and data.parties == ()
    assert data.leg_idx.dtype == data.rc_idx.dtype == data.y.dtype == np.int64
    assert set(np.unique(data.y)) <= {0, 1}
    assert data.coords() == {"legislator": data.legislator_ids, "rollcall": data.rollcall_ids}
    assert data.shape_key() == (matrix.n_legislators, matrix.n_rollcalls, matrix.n_obs, 0)


def test_hierarchical_data_keeps_the_pooled_parties_cells_and_reindexes(matrix):
    data = models.hierarchical_data(matrix)
    parties = matrix.legislators["party"].to_list()
    slugs = matrix.legislators["legislator_slug"].to_list()
    pooled = {s for s, p in zip(slugs, parties) if p in HIERARCHICAL_PARTIES}
    assert set(data.legislator_ids) == pooled
    assert data.excluded == [s for s, p in zip(slugs, parties) if p not in HIERARCHICAL_PARTIES]
    assert data.excluded and "Independent" not in data.parties and "independents" in data.excluded_reason
    # each legislator's party index points at their party
    party_of = dict(zip(slugs, parties))
    assert [data.parties[k] for k in data.party_idx] == [party_of[s] for s in data.legislator_ids]
    # the same (legislator, roll call, vote) cells as the matrix restricted to the pooled legislators
    full = _cells(slugs, matrix.rollcalls["vote_id"].to_list(), matrix.leg_idx, matrix.rc_idx, matrix.y)
    kept = _cells(data.legislator_ids, data.rollcall_ids, data.leg_idx, data.rc_idx, data.y)
    assert kept == {c for c in full if c[0] in pooled}
    # indices are dense: every legislator and every roll call kept has a vote
    assert set(data.leg_idx) == set(range(data.n_legislators))
    assert set(data.rc_idx) == set(range(data.n_rollcalls))
    assert data.coords()["party"] == list(HIERARCHICAL_PARTIES)


def test_feasibility_reports_party_sizes_and_honours_min_members(matrix):
    counts = matrix.legislators.group_by("party").len()
    expected = {p: int(counts.filter(pl.col("party") == p)["len"].sum()) for p in HIERARCHICAL_PARTIES}
    ok = models.hierarchical_feasibility(matrix)
    assert ok.fitted and ok.reason == "" and ok.party_sizes == expected
    smallest = min(expected.values())
    assert models.hierarchical_feasibility(matrix, min_members=smallest).fitted
    short = models.hierarchical_feasibility(matrix, min_members=smallest + 1)
    assert not short.fitted and f"at least {smallest + 1}" in short.reason


def test_hierarchical_data_refuses_an_infeasible_chamber(matrix):
    one = type(matrix)(
        matrix.legislators.with_columns(party=pl.lit("Republican")),
        matrix.rollcalls,
        matrix.leg_idx,
        matrix.rc_idx,
        matrix.y,
        matrix.manifest,
    )
    with pytest.raises(DataProblem, match="no Democrat legislator"):
        models.hierarchical_data(one)


# --- model builders -----------------------------------------------------------------------------


def _logp(model, var: str, values: dict) -> float:
    """log-density of one variable's prior at `values` (value-variable names), no Jacobian."""
    point = model.initial_point() | values
    return float(model.compile_logp(vars=[model[var]], jacobian=False)(point))


def _tiny(parties=("Democrat", "Republican"), sizes=(2, 6), n_rc=3) -> models.IRTData:
    n = sum(sizes)
    leg = np.repeat(np.arange(n), n_rc)
    rc = np.tile(np.arange(n_rc), n)
    return models.IRTData(
        leg_idx=leg,
        rc_idx=rc,
        y=(leg + rc) % 2,
        legislator_ids=[f"l{i}" for i in range(n)],
        rollcall_ids=[f"r{j}" for j in range(n_rc)],
        party_idx=np.repeat(np.arange(len(sizes)), sizes),
        parties=tuple(parties),
    )


def test_flat_model_variables_dims_and_priors():
    data = _tiny()
    model = models.build_flat(data)
    assert {rv.name for rv in model.free_RVs} == {"xi", "alpha", "beta"}
    assert [rv.name for rv in model.observed_RVs] == ["vote"]
    dims = model.named_vars_to_dims
    assert dims["xi"] == ("legislator",) and dims["alpha"] == dims["beta"] == ("rollcall",) and dims["vote"] == ("obs",)
    assert list(model.coords["legislator"]) == data.legislator_ids
    assert list(model.coords["rollcall"]) == data.rollcall_ids
    x = np.linspace(-1.5, 2.0, data.n_legislators)
    r = np.array([-3.0, 0.5, 4.0])
    assert _logp(model, "xi", {"xi": x}) == pytest.approx(stats.norm(0, 1).logpdf(x).sum())
    assert _logp(model, "alpha", {"alpha": r}) == pytest.approx(stats.norm(0, 5).logpdf(r).sum())
    assert _logp(model, "beta", {"beta": r}) == pytest.approx(stats.norm(0, 1).logpdf(r).sum())


def test_flat_model_likelihood_is_the_2pl_over_the_observed_cells():
    data = _tiny()
    model = models.build_flat(data)
    xi = np.linspace(-1, 1, data.n_legislators)
    alpha, beta = np.array([0.2, -0.4, 1.0]), np.array([1.5, -0.7, 0.3])
    eta = beta[data.rc_idx] * xi[data.leg_idx] - alpha[data.rc_idx]
    expected = stats.bernoulli(1 / (1 + np.exp(-eta))).logpmf(data.y).sum()
    assert _logp(model, "vote", {"xi": xi, "alpha": alpha, "beta": beta}) == pytest.approx(expected)


def _evaluate(model, var: str, values: dict) -> np.ndarray:
    out = model.replace_rvs_by_values([model[var]])[0]
    fn = model.compile_fn(out, inputs=model.value_vars, on_unused_input="ignore")
    return np.asarray(fn(model.initial_point() | values))


def test_hierarchical_model_centred_party_means_at_minus_and_plus_gap_and_small_party_prior():
    data = _tiny(sizes=(2, 6))  # Democrats below SMALL_GROUP: the tighter sigma_within prior
    model = models.build_hierarchical(data)
    assert {rv.name for rv in model.free_RVs} == {"party_gap", "sigma_within", "xi", "alpha", "beta"}
    assert {"mu_party", "xi_offset"} <= {v.name for v in model.deterministics}
    dims = model.named_vars_to_dims
    assert dims["mu_party"] == dims["sigma_within"] == ("party",) and dims["xi"] == dims["xi_offset"] == ("legislator",)
    assert list(model.coords["party"]) == ["Democrat", "Republican"]
    gap = 0.8
    point = {"party_gap_log__": np.log(gap), "sigma_within_log__": np.log([0.3, 0.6])}
    assert _evaluate(model, "mu_party", point) == pytest.approx([-gap, gap])
    assert _logp(model, "party_gap", point) == pytest.approx(stats.halfnorm(scale=2.0).logpdf(gap))
    scales = [catalogue.SIGMA_SCALE_SMALL, catalogue.SIGMA_SCALE]
    assert _logp(model, "sigma_within", point) == pytest.approx(
        sum(stats.halfnorm(scale=s).logpdf(v) for s, v in zip(scales, [0.3, 0.6]))
    )
    # centred: xi ~ N(mu_party[p], sigma_within[p]), xi_offset recorded as (xi - mu) / sigma
    xi = np.linspace(-1, 1, data.n_legislators)
    mu, sigma = np.array([-gap, gap])[data.party_idx], np.array([0.3, 0.6])[data.party_idx]
    assert _logp(model, "xi", point | {"xi": xi}) == pytest.approx(stats.norm(mu, sigma).logpdf(xi).sum())
    assert _evaluate(model, "xi_offset", point | {"xi": xi}) == pytest.approx((xi - mu) / sigma)


def test_hierarchical_noncentered_samples_the_offsets():
    data = _tiny(sizes=(6, 6))  # both parties large: sigma_within ~ HalfNormal(1) for both
    model = models.build_hierarchical_noncentered(data)
    assert {rv.name for rv in model.free_RVs} == {"party_gap", "sigma_within", "xi_offset", "alpha", "beta"}
    off = np.linspace(-2, 2, data.n_legislators)
    point = {"party_gap_log__": np.log(1.2), "sigma_within_log__": np.log([0.5, 0.25]), "xi_offset": off}
    expected = np.array([-1.2, 1.2])[data.party_idx] + np.array([0.5, 0.25])[data.party_idx] * off
    assert _evaluate(model, "xi", point) == pytest.approx(expected)
    assert _logp(model, "sigma_within", point) == pytest.approx(stats.halfnorm(scale=1.0).logpdf([0.5, 0.25]).sum())


def test_hierarchical_reference_sorts_free_party_means():
    model = models.build_hierarchical_reference(_tiny())
    assert "mu_party_raw" in {rv.name for rv in model.free_RVs} and "party_gap" not in model.named_vars
    point = {"mu_party_raw": np.array([1.5, -0.5])}
    assert _evaluate(model, "mu_party", point) == pytest.approx([-0.5, 1.5])
    assert _logp(model, "mu_party_raw", point) == pytest.approx(stats.norm(0, 2).logpdf([1.5, -0.5]).sum())


@pytest.mark.parametrize("build", [models.build_hierarchical, models.build_hierarchical_noncentered])
def test_gap_models_need_exactly_two_parties(build):
    with pytest.raises(DataProblem, match="exactly two parties"):
        build(_tiny(parties=("Democrat", "Republican", "Green"), sizes=(3, 3, 3)))


# --- registry ---------------------------------------------------------------------------------


def test_get_model_knows_the_documented_models_and_refuses_others():
    assert set(models.MODELS) == {"flat", "hierarchical", "hierarchical_noncentered", "hierarchical_reference"}
    for name, spec in models.MODELS.items():
        assert models.get_model(name) is spec and spec.name == name
    assert not models.get_model("flat").hierarchical and models.get_model("flat").gate_vars == ("xi_norm",)
    assert models.get_model("hierarchical").gate_vars[0] == "xi_norm"
    assert models.get_model("hierarchical_reference").gate_vars == ("xi", "mu_party", "sigma_within")
    with pytest.raises(ValueError, match="unknown model 'nope'.*hierarchical"):
        models.get_model("nope")


def _votes_per_legislator(counts: list[int]) -> models.IRTData:
    leg = np.repeat(np.arange(len(counts)), counts)
    return models.IRTData(
        leg_idx=leg,
        rc_idx=np.zeros_like(leg),
        y=np.zeros_like(leg),
        legislator_ids=[f"l{i}" for i in range(len(counts))],
        rollcall_ids=["r0"],
        party_idx=np.array([0, 1] * (len(counts) // 2)),
        parties=("Democrat", "Republican"),
    )


def test_parameterisation_follows_the_median_votes_per_legislator():
    hier = models.get_model("hierarchical")
    limit = models.CENTRED_MIN_VOTES
    assert models.parameterisation_for(hier, _votes_per_legislator([limit] * 4)) is hier
    # the median decides, not the mean: one prolific legislator does not make the chamber centred
    few = _votes_per_legislator([limit - 1, limit - 1, limit - 1, 10 * limit])
    assert models.parameterisation_for(hier, few) is models.MODELS["hierarchical_noncentered"]
    for name in ("flat", "hierarchical_noncentered", "hierarchical_reference"):
        spec = models.get_model(name)
        assert models.parameterisation_for(spec, few) is spec
        assert models.parameterisation_for(spec, _votes_per_legislator([limit] * 4)) is spec


# --- add_normalised -----------------------------------------------------------------------------


def _posterior(xi, mu, sigma, alpha, beta) -> az.InferenceData:
    return az.from_dict(
        posterior={"xi": xi, "mu_party": mu, "sigma_within": sigma, "alpha": alpha, "beta": beta},
        coords={
            "legislator": [f"l{i}" for i in range(xi.shape[-1])],
            "party": ["Democrat", "Republican"],
            "rollcall": [f"r{j}" for j in range(alpha.shape[-1])],
        },
        dims={
            "xi": ["legislator"],
            "mu_party": ["party"],
            "sigma_within": ["party"],
            "alpha": ["rollcall"],
            "beta": ["rollcall"],
        },
    )


@pytest.fixture(scope="module")
def raw_draws():
    rng = np.random.default_rng(3)
    chains, draws, n, k = 2, 50, 9, 4
    return (
        rng.normal(0.3, 1.7, (chains, draws, n)),
        rng.normal(0, 1, (chains, draws, 2)),
        np.abs(rng.normal(0.5, 0.1, (chains, draws, 2))),
        rng.normal(0, 2, (chains, draws, k)),
        rng.normal(1, 0.5, (chains, draws, k)),
    )


def test_xi_norm_has_mean_0_and_sd_1_in_every_draw(raw_draws):
    idata = _posterior(*raw_draws)
    models.add_normalised(idata)
    norm = idata.posterior["xi_norm"].values
    assert norm.shape == raw_draws[0].shape
    np.testing.assert_allclose(norm.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(norm.std(axis=-1), 1.0, atol=1e-12)
    # the order of the legislators within a draw is kept
    assert (norm.argsort(axis=-1) == raw_draws[0].argsort(axis=-1)).all()
    # the linear predictor beta * xi - alpha is unchanged by the transformation
    post = idata.posterior
    for i in range(raw_draws[0].shape[-1]):
        raw = post["beta"] * post["xi"].isel(legislator=i) - post["alpha"]
        new = post["beta_norm"] * post["xi_norm"].isel(legislator=i) - post["alpha_norm"]
        np.testing.assert_allclose(new.values, raw.values, atol=1e-10)


def test_normalised_quantities_are_invariant_to_a_location_scale_change_per_draw(raw_draws):
    xi, mu, sigma, alpha, beta = raw_draws
    rng = np.random.default_rng(9)
    a = rng.normal(0, 3, xi.shape[:2])[..., None]  # a different shift and stretch in every draw
    b = rng.uniform(0.2, 5, xi.shape[:2])[..., None]
    base, moved = _posterior(*raw_draws), _posterior(a + b * xi, a + b * mu, b * sigma, alpha + beta * a / b, beta / b)
    models.add_normalised(base)
    models.add_normalised(moved)
    for var in ("xi_norm", "mu_party_norm", "sigma_within_norm", "alpha_norm", "beta_norm"):
        np.testing.assert_allclose(moved.posterior[var].values, base.posterior[var].values, atol=1e-9, err_msg=var)
    # ... but not to a sign flip (the orientation is the model's, not the standardisation's)
    flipped = _posterior(-xi, -mu, sigma, alpha, -beta)
    models.add_normalised(flipped)
    np.testing.assert_allclose(flipped.posterior["xi_norm"].values, -base.posterior["xi_norm"].values, atol=1e-9)


def test_add_normalised_on_a_flat_posterior_adds_only_what_it_can():
    rng = np.random.default_rng(1)
    idata = az.from_dict(
        posterior={"xi": rng.normal(size=(2, 10, 5))}, coords={"legislator": list("abcde")}, dims={"xi": ["legislator"]}
    )
    models.add_normalised(idata)
    assert "xi_norm" in idata.posterior
    assert not {"mu_party_norm", "sigma_within_norm", "alpha_norm", "beta_norm"} & set(idata.posterior.data_vars)
