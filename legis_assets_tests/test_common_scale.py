"""The common scale (legis_assets/core/common_scale): joint data, model, identification,
cross-check, kernel, and recovery of a simulated legislature with known drift, movers and a
widening party gap."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from legis_assets.core import simulate
from legis_assets.core.common_scale import (
    GATE_VARS,
    ChamberSession,
    build_common_data,
    build_common_scale,
    evaluate_common_gates,
    fit_common_scale,
    fit_until_gates,
    linked_positions,
    movement,
    normalise_draws,
    party_trend,
    pca_start,
    people_from_slugs,
    positions,
)
from legis_assets.core.common_scale.kernel import CommonKernel
from legis_assets.core.diagnostics import all_errors_pass
from legis_assets.core.matrix import VoteMatrix
from legis_assets.core.people import build_people
from legis_assets.core.sampling import SamplerSettings, get_profile
from legis_assets_tests.support import simulated_common_data

# ---------------------------------------------------------------------------------------------
# a hand-made legislature: exact indices
# ---------------------------------------------------------------------------------------------

A, B, C = "leg.1st_2001-2002", "leg.2nd_2003-2004", "leg.3rd_2005-2006"


def _matrix(members: list[tuple[str, str]], n_rc: int, seed: int) -> VoteMatrix:
    rng = np.random.default_rng(seed)
    leg = pl.DataFrame(
        {
            "legislator_slug": [m[0] for m in members],
            "name": [m[0][4:] for m in members],
            "party": [m[1] for m in members],
        }
    )
    rc = pl.DataFrame({"vote_id": [f"v{seed}_{j}" for j in range(n_rc)]})
    i, j = np.meshgrid(np.arange(len(members)), np.arange(n_rc), indexing="ij")
    keep = rng.random(i.shape) > 0.2
    keep[:, 0] = True
    return VoteMatrix(
        leg, rc, i[keep].astype(np.int32), j[keep].astype(np.int32), rng.integers(0, 2, int(keep.sum())).astype(np.int8)
    )


def _toy() -> list[ChamberSession]:
    D, R = "Democrat", "Republican"
    return [
        # given out of order on purpose: the data orders chamber-sessions by session, House first
        ChamberSession(B, "senate", _matrix([("sen_c_1", R), ("sen_b_1", R), ("sen_e_1", R), ("sen_g_1", D)], 4, 4)),
        ChamberSession(A, "house", _matrix([("rep_a_1", D), ("rep_b_1", R), ("rep_c_1", R)], 3, 1)),
        ChamberSession(A, "senate", _matrix([("sen_d_1", D), ("sen_e_1", R), ("sen_c_1", R)], 5, 2)),
        ChamberSession(B, "house", _matrix([("rep_a_1", D), ("rep_f_1", R)], 2, 3)),
        # nobody in C's House sat anywhere else: left out and reported
        ChamberSession(C, "house", _matrix([("rep_x_1", D), ("rep_y_1", R)], 3, 5)),
    ]


@pytest.fixture(scope="module")
def toy():
    css = _toy()
    people = build_people([(cs.session_key, cs.chamber, cs.matrix.legislators) for cs in css])
    return css, build_common_data(css, people)


def test_data_slots_and_excluded(toy):
    _, data = toy
    assert data.chamber_sessions["label"].to_list() == [f"{A}/house", f"{A}/senate", f"{B}/house", f"{B}/senate"]
    assert data.excluded.select("session_key", "chamber").rows() == [(C, "house")]
    assert data.n_slots == 3 + 3 + 2 + 4
    assert data.slots["slot"].to_list() == list(range(data.n_slots))
    # one slot per person x chamber-session, the person ids of core.people
    assert data.slots.filter(pl.col("person_id") == "slug:c_1")["chamber"].to_list() == ["house", "senate", "senate"]
    assert data.slots.filter(pl.col("person_id") == "slug:g_1")["party"].to_list() == ["Democrat"]


def test_data_global_rollcalls_and_votes(toy):
    css, data = toy
    by_label = {cs.label: cs for cs in css}
    # roll calls concatenated in chamber-session order; every vote's roll call belongs to its slot's chamber-session
    assert data.n_rollcalls == 3 + 5 + 2 + 4
    assert data.rollcall_cs.tolist() == [0] * 3 + [1] * 5 + [2] * 2 + [3] * 4
    assert np.array_equal(data.rollcall_cs[data.rc_idx], data.slot_cs[data.slot_idx])
    assert data.chamber_sessions["rollcall_start"].to_list() == [0, 3, 8, 10]
    # every observed cell, and only those, with its value
    cells = {
        (data.slot_labels()[s], data.rollcall_ids[r]): int(y) for s, r, y in zip(data.slot_idx, data.rc_idx, data.y)
    }
    expected = {}
    for row in data.slots.iter_rows(named=True):
        cs = by_label[f"{row['session_key']}/{row['chamber']}"]
        m = cs.matrix
        i = m.legislators["legislator_slug"].to_list().index(row["legislator_slug"])
        for j, y in zip(m.rc_idx[m.leg_idx == i], m.y[m.leg_idx == i]):
            expected[(row["slot_label"], f"{cs.label}/{m.rollcalls['vote_id'][int(j)]}")] = int(y)
    assert cells == expected
    assert data.n_obs == sum(by_label[lab].matrix.n_obs for lab in data.chamber_sessions["label"].to_list())


def test_data_sequences(toy):
    _, data = toy
    label = dict(zip(data.slots["slot"].to_list(), data.slots["slot_label"].to_list()))
    seq = {p: [label[s] for s in slots] for p, slots in data.sequences().items()}
    # House and Senate of one session are consecutive, House first
    assert seq["slug:c_1"] == [f"slug:c_1@{A}/house", f"slug:c_1@{A}/senate", f"slug:c_1@{B}/senate"]
    assert seq["slug:b_1"] == [f"slug:b_1@{A}/house", f"slug:b_1@{B}/senate"]
    assert seq["slug:a_1"] == [f"slug:a_1@{A}/house", f"slug:a_1@{B}/house"]
    persons = data.slots["person_id"].n_unique()
    assert data.first_slots.size == persons == 7
    assert data.trans_from.size == data.n_slots - persons == 5
    pairs = {(label[a], label[b]) for a, b in zip(data.trans_from, data.trans_to)}
    assert (f"slug:c_1@{A}/house", f"slug:c_1@{A}/senate") in pairs
    assert (f"slug:c_1@{A}/senate", f"slug:c_1@{B}/senate") in pairs
    assert (f"slug:e_1@{A}/senate", f"slug:e_1@{B}/senate") in pairs
    firsts = {label[s] for s in data.first_slots}
    assert f"slug:c_1@{B}/senate" not in firsts and f"slug:g_1@{B}/senate" in firsts


def test_people_from_slugs_matches_slug_rule():
    css = _toy()
    people = people_from_slugs(css)
    data = build_common_data(css, people)
    assert data.n_slots == 12 and data.trans_from.size == 5


# ---------------------------------------------------------------------------------------------
# a small simulated legislature (core.simulate.simulate_legislature)
# ---------------------------------------------------------------------------------------------

SPECS_TINY = {
    "house": simulate.ChamberSpec(seats=16, n_rollcalls=60),
    "senate": simulate.ChamberSpec(seats=10, n_rollcalls=50, replacements=1),
}
SPECS_RECOVERY = {
    "house": simulate.ChamberSpec(seats=40, n_rollcalls=150),
    "senate": simulate.ChamberSpec(seats=16, n_rollcalls=120, replacements=1),
}


def _legislature(seed: int, specs, n_sessions: int = 3):
    sim, css, data = simulated_common_data(seed, specs, n_sessions)
    truth = sim.truth.with_columns(session_key=pl.lit("sim.") + pl.col("session"))
    return sim, css, data, truth


@pytest.fixture(scope="module")
def tiny():
    return _legislature(7, SPECS_TINY, n_sessions=2)


def test_model_logp_finite_at_start(tiny):
    _, css, data, _ = tiny
    start = pca_start(data, css)
    # the start: per chamber-session PC1, standardised, Republicans right
    for c in range(data.chamber_sessions.height):
        x = start[data.slot_cs == c]
        assert abs(x.mean()) < 1e-9 and abs(x.std() - 1) < 1e-9
        party = np.asarray(data.slot_party, dtype=object)[data.slot_cs == c]
        assert x[party == "Republican"].mean() > x[party == "Democrat"].mean()
    model = build_common_scale(data)
    assert set(model.coords) >= {"slot", "rollcall", "obs"}
    assert [v.name for v in model.value_vars] == ["tau_log__", "xi", "alpha", "beta"]
    point = model.initial_point() | {"xi": start}
    assert np.isfinite(model.compile_logp()(point))
    assert np.all(np.isfinite(model.compile_dlogp()(point)))


@pytest.fixture(scope="module")
def tiny_pymc(tiny):
    model = build_common_scale(tiny[2])
    return model.compile_logp(), model.compile_dlogp()


@pytest.mark.parametrize("dense", [True, False], ids=["blocks", "long"])
def test_kernel_equals_pymc(tiny, tiny_pymc, dense):
    """The Numba log-density and gradient are the PyMC model's (differences between points, since
    PyMC's log-density may carry a different constant; gradients exactly), in both vote layouts."""
    _, _, data, _ = tiny
    logp, dlogp = tiny_pymc
    km = CommonKernel(data, dense=dense)
    K, J = data.n_slots, data.n_rollcalls
    rng = np.random.default_rng(3)
    lp_k, lp_p = [], []
    for _ in range(4):
        theta = np.concatenate([[rng.normal(-1, 0.7)], rng.normal(0, 1.5, K), rng.normal(0, 2, J), rng.normal(0, 1, J)])
        point = {
            "tau_log__": theta[0],
            "xi": theta[1 : 1 + K],
            "alpha": theta[1 + K : 1 + K + J],
            "beta": theta[1 + K + J :],
        }
        value, grad = km.logp_grad(theta)
        lp_k.append(value)
        lp_p.append(float(logp(point)))
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(np.diff(lp_k), np.diff(lp_p), rtol=0, atol=1e-8)
    assert abs((lp_k[0] - lp_p[0]) - (lp_k[1] - lp_p[1])) < 1e-8


def test_identification_invariant_to_shift_scale_reflection(tiny):
    _, _, data, _ = tiny
    rng = np.random.default_rng(11)
    n = 40
    party = np.asarray(data.slot_party, dtype=object)
    xi = rng.normal(0, 1, (n, data.n_slots)) + np.where(party == "Republican", 1.0, -1.0)
    tau = rng.uniform(0.1, 0.5, n)
    base = normalise_draws(xi, tau, data)
    shift = rng.normal(0, 3, (n, 1))
    scale = rng.uniform(0.2, 5, (n, 1)) * np.where(rng.random((n, 1)) < 0.5, -1.0, 1.0)  # half reflected
    moved = normalise_draws(shift + scale * xi, tau * np.abs(scale[:, 0]), data)
    assert set(base) == set(GATE_VARS)
    for name in GATE_VARS:
        np.testing.assert_allclose(moved[name], base[name], atol=1e-10, err_msg=name)
    x = base["xi_norm"]
    np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(x.std(axis=1), 1, atol=1e-12)
    assert np.all(x[:, party == "Republican"].mean(axis=1) > x[:, party == "Democrat"].mean(axis=1))
    # and not invariant to what the data do see: one slot moved alone changes the reported positions
    other = xi.copy()
    other[:, 0] += 1.0
    assert not np.allclose(normalise_draws(other, tau, data)["xi_norm"], base["xi_norm"])
    # the party gap is the difference of the reported party means, per chamber-session
    assert base["party_gap_norm"].shape == (n, data.chamber_sessions.height)
    np.testing.assert_allclose(base["movement_norm"], x[:, data.trans_to] - x[:, data.trans_from])


@pytest.fixture(scope="module")
def recovery_data():
    return _legislature(2021, SPECS_RECOVERY)


def test_linked_crosscheck_undoes_per_chamber_session_maps(recovery_data):
    """Scores that are each chamber-session's own affine image of one common truth (nobody moves)
    are put back on one scale exactly by the bridge people (every chamber-session here has at least
    crosscheck.MIN_SCALE_PAIRS of them)."""
    _, _, data, _ = recovery_data
    rng = np.random.default_rng(5)
    persons = data.slots["person_id"].to_list()
    truth_of = {p: rng.normal() for p in set(persons)}
    truth = np.array([truth_of[p] for p in persons])
    n_cs = data.chamber_sessions.height
    a, b = rng.normal(0, 2, n_cs), rng.uniform(0.3, 3, n_cs)
    scores = a[data.slot_cs] + b[data.slot_cs] * truth
    assert np.corrcoef(scores, truth)[0, 1] < 0.999
    linked = linked_positions(data, scores)
    assert np.corrcoef(linked, truth)[0, 1] > 1 - 1e-10


def test_fit_until_gates_extends_a_failed_fit(tiny):
    """A starved run fails an ERROR gate and is sampled once more, twice as long, with a new seed;
    the posterior carries the reported quantities, one-dimensional, and the sampling facts."""
    _, css, data, _ = tiny
    start = pca_start(data, css)
    settings = SamplerSettings(chains=2, tune=20, draws=20, seed=3, backend="kernel", extensions=1)
    fit, gates = fit_until_gates(data, start, settings)
    assert fit.attempts == 2 and fit.backend == "kernel"
    post = fit.idata.posterior
    assert post.sizes["draw"] == 40 and post.attrs["attempts"] == 2 and post.attrs["model"] == "common_scale"
    assert [g.name for g in gates] == ["rhat", "ess", "divergences", "ebfmi", "agrees_with_linked"]
    assert not all_errors_pass(gates)  # 2 x 40 draws cannot pass
    for var in GATE_VARS:
        assert var in post and post[var].ndim == (2 if var == "tau_norm" else 3), var
    assert post["xi_norm"].sizes["slot"] == data.n_slots
    assert fit.grad_evals_draws > 0 and fit.sample_seconds > 0
    # the tables have one row per slot / party x chamber-session and gap / step
    assert positions(fit.idata, data).height == data.n_slots
    trend = party_trend(fit.idata, data)
    assert trend.filter(pl.col("quantity") == "party_gap").height == post["party_gap_norm"].sizes["chamber_session"]
    assert movement(fit.idata, data).height == data.trans_from.size


# ---------------------------------------------------------------------------------------------
# recovery
# ---------------------------------------------------------------------------------------------

#: the platform's joint-fit profile ("scale": 4 x (200 + 1000), every chamber-session framed, low-rank
#: mass matrix), without its extension, so that the gates judge one run
RECOVERY_SETTINGS = get_profile("scale", seed=1, extensions=0, backend="kernel")


@pytest.fixture(scope="module")
def recovered(recovery_data):
    sim, css, data, truth = recovery_data
    start = pca_start(data, css)
    fit = fit_common_scale(data, start, RECOVERY_SETTINGS)
    gates, params = evaluate_common_gates(fit.idata, data, start)
    return sim, data, truth, fit, gates, params


def _truth_norm(truth: pl.DataFrame) -> pl.DataFrame:
    """The truth on the reported scale: standardised over all slots (Republicans are right already)."""
    return truth.with_columns(z=(pl.col("xi_true") - pl.col("xi_true").mean()) / pl.col("xi_true").std(ddof=0))


@pytest.mark.slow
def test_recovery_positions_and_gates(recovered, record_property):
    sim, data, truth, fit, gates, params = recovered
    status = {g.name: g for g in gates}
    assert all_errors_pass(gates), [(g.name, g.value) for g in gates]
    assert status["agrees_with_linked"].passed, status["agrees_with_linked"].value
    # every reported entry reaches the R-hat table
    assert set(params["group"].unique()) == set(GATE_VARS)
    assert params.height == sum(
        fit.idata.posterior[v].size // (RECOVERY_SETTINGS.chains * RECOVERY_SETTINGS.draws) for v in GATE_VARS
    )
    pos = positions(fit.idata, data).join(
        _truth_norm(truth).select("person_id", "session_key", "chamber", "z"),
        on=["person_id", "session_key", "chamber"],
        how="left",
    )
    assert pos.height == data.n_slots and pos["z"].null_count() == 0
    r = float(np.corrcoef(pos["mean"], pos["z"])[0, 1])
    coverage = float(((pos["hdi_low"] <= pos["z"]) & (pos["z"] <= pos["hdi_high"])).mean())
    record_property("corr_with_truth", r)
    record_property("coverage_90", coverage)
    record_property("sample_seconds", fit.sample_seconds)
    record_property("steps_per_draw", fit.steps_per_draw)
    print(f"common scale recovery: r {r:.3f}, 90% coverage {coverage:.3f}, {fit.timing()}")
    assert r > 0.9
    assert 0.80 <= coverage <= 0.97


@pytest.mark.slow
def test_recovery_party_gap_widens(recovered):
    sim, data, truth, fit, gates, params = recovered
    trend = party_trend(fit.idata, data)
    gaps = trend.filter(pl.col("quantity") == "party_gap").sort("session_order")
    assert gaps["party"].null_count() == gaps.height
    post = fit.idata.posterior["party_gap_norm"]
    for chamber in ("house", "senate"):
        g = gaps.filter(pl.col("chamber") == chamber)
        first, last = g.row(0, named=True), g.row(-1, named=True)
        assert last["mean"] > first["mean"], chamber
        # the posterior is sure of the direction
        d = post.sel(chamber_session=f"{last['session_key']}/{chamber}") - post.sel(
            chamber_session=f"{first['session_key']}/{chamber}"
        )
        assert float((d > 0).mean()) > 0.95, chamber
    # party means: Democrats left of Republicans in every chamber-session
    means = trend.filter(pl.col("quantity") == "party_mean").pivot(
        "party", index=["session_key", "chamber"], values="mean"
    )
    assert (means["Republican"] > means["Democrat"]).all()


@pytest.mark.slow
def test_recovery_movement(recovered):
    sim, data, truth, fit, gates, params = recovered
    mv = movement(fit.idata, data)
    assert mv.height == data.trans_from.size
    big = truth.filter(pl.col("big_move")).select("person_id", pl.col("session_key").alias("to_session_key"), "step")
    assert big.height > 0
    found = mv.join(big, on=["person_id", "to_session_key"])
    assert found.height == big.height
    # the big movers move in their direction, and most are detected (the Gaussian random walk shrinks
    # a big move towards 0: across seeds 2021-2023, 4/4, 3/4 and 1/4 were detected)
    assert (np.sign(found["mean"]) == np.sign(found["step"])).all()
    assert found["moved"].sum() >= big.height / 2
    # most people do not move detectably
    assert mv["moved"].mean() < 0.5
    assert float(fit.idata.posterior["tau_norm"].mean()) > 0
