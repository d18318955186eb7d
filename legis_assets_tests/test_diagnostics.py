"""core/diagnostics.py on synthetic posteriors with known properties (arviz.from_dict, no MCMC):
well-mixed chains pass every gate; chains centred apart fail R-hat; sticky chains fail ESS;
divergences are counted; an autocorrelated energy fails E-BFMI (a warning); the agreement with
the flat model is |r| whatever the sign."""

from __future__ import annotations

import arviz as az
import numpy as np
import polars as pl
import pytest

from legis_assets.core import diagnostics

LEGISLATORS = [f"leg{i}" for i in range(6)]
GATE_VARS = ("xi_norm", "mu_party_norm")
CHAINS, DRAWS = 4, 1000


def _ar1(rng, shape, phi):
    out = np.empty(shape)
    out[..., 0] = rng.normal(size=shape[:-1])
    for t in range(1, shape[-1]):
        out[..., t] = phi * out[..., t - 1] + np.sqrt(1 - phi**2) * rng.normal(size=shape[:-1])
    return out


def posterior(seed=0, shift_chain=0.0, phi=0.0, diverging=0, energy_phi=0.0, energy=True) -> az.InferenceData:
    """iid normal draws (or AR(1) with coefficient `phi`) for xi_norm and mu_party_norm; chain 0
    shifted by `shift_chain`; `diverging` divergent transitions; energy AR(1) with `energy_phi`."""
    rng = np.random.default_rng(seed)
    xi = (
        np.moveaxis(_ar1(rng, (CHAINS, len(LEGISLATORS), DRAWS), phi), 1, 2)
        if phi
        else rng.normal(size=(CHAINS, DRAWS, len(LEGISLATORS)))
    )
    xi = xi * 0.2 + np.linspace(-1.5, 1.5, len(LEGISLATORS))
    xi[0] += shift_chain
    div = np.zeros((CHAINS, DRAWS), dtype=bool)
    div.flat[np.linspace(0, div.size - 1, diverging).astype(int)] = True
    stats = {"diverging": div}
    if energy:
        stats["energy"] = _ar1(rng, (CHAINS, DRAWS), energy_phi) + 50.0
    return az.from_dict(
        posterior={"xi_norm": xi, "mu_party_norm": rng.normal([-1.0, 1.0], 0.1, size=(CHAINS, DRAWS, 2))},
        sample_stats=stats,
        coords={"legislator": LEGISLATORS, "party": ["Democrat", "Republican"]},
        dims={"xi_norm": ["legislator"], "mu_party_norm": ["party"]},
    )


def gates_of(idata, flat_r=None) -> dict[str, diagnostics.Gate]:
    gates, _ = diagnostics.evaluate_gates(idata, GATE_VARS, flat_r=flat_r)
    return {g.name: g for g in gates}


def test_well_mixed_chains_pass_every_gate():
    gates = gates_of(posterior())
    assert list(gates) == ["rhat", "ess", "divergences", "ebfmi"]
    assert all(g.passed for g in gates.values()), gates
    assert gates["rhat"].value < 1.01 and gates["ess"].value > 2000  # iid: ESS near the 4000 draws
    assert gates["divergences"].value == 0 and gates["ebfmi"].value > 1.5  # iid energy: E-BFMI near 2
    assert diagnostics.all_errors_pass(list(gates.values()))
    assert {g.status for g in gates.values()} == {"PASS"}


def test_one_chain_centred_elsewhere_fails_rhat():
    gates = gates_of(posterior(shift_chain=0.5))
    assert not gates["rhat"].passed and gates["rhat"].value > 1.1
    assert gates["rhat"].status == "FAIL" and gates["rhat"].severity == "error"
    assert not diagnostics.all_errors_pass(list(gates.values()))


def test_sticky_chains_fail_ess():
    gates = gates_of(posterior(phi=0.98))  # ESS per chain ~ 1000 (1 - phi) / (1 + phi) = 10
    assert not gates["ess"].passed and gates["ess"].value < 400
    assert "min bulk ESS (xi_norm)" == gates["ess"].metric
    assert not diagnostics.all_errors_pass(list(gates.values()))


def test_divergences_are_counted_and_any_fails():
    gates = gates_of(posterior(diverging=3))
    assert gates["divergences"].value == 3 and not gates["divergences"].passed
    one = gates_of(posterior(diverging=1))
    assert one["divergences"].value == 1 and not one["divergences"].passed
    assert not diagnostics.all_errors_pass(list(one.values()))


def test_autocorrelated_energy_is_a_warning_only():
    gates = gates_of(posterior(energy_phi=0.9))  # E-BFMI ~ 2 (1 - phi) = 0.2
    assert gates["ebfmi"].value < diagnostics.EBFMI_MIN and not gates["ebfmi"].passed
    assert gates["ebfmi"].status == "WARN"
    assert diagnostics.all_errors_pass(list(gates.values()))  # a warning does not block
    assert np.isnan(diagnostics.min_ebfmi(posterior(energy=False)))
    assert not gates_of(posterior(energy=False))["ebfmi"].passed


def test_gate_comparisons_and_non_finite_values():
    def gate(value, comparison, threshold=1.0):
        return diagnostics.Gate("g", "m", value, threshold, comparison, "error", "d")

    assert gate(0.5, "<").passed and not gate(1.0, "<").passed
    assert gate(1.5, ">").passed and not gate(1.0, ">").passed
    assert gate(1.0, "<=").passed and not gate(1.01, "<=").passed
    assert not gate(float("nan"), "<").passed and not gate(float("inf"), ">").passed
    with pytest.raises(ValueError):
        _ = gate(0.0, "==").passed


def test_flat_agreement_is_the_absolute_correlation_joined_on_slug():
    rng = np.random.default_rng(2)
    x = rng.normal(size=20)
    slugs = [f"s{i}" for i in range(20)]
    hier = pl.DataFrame({"legislator_slug": slugs, "xi_mean": x})
    flipped = pl.DataFrame({"legislator_slug": slugs[::-1], "xi_mean": (-2 * x + 1)[::-1]})  # other order, sign
    assert diagnostics.flat_agreement(hier, flipped) == pytest.approx(1.0)
    noisy = pl.DataFrame({"legislator_slug": slugs, "xi_mean": x + rng.normal(0, 1, 20)})
    r = abs(np.corrcoef(x, noisy["xi_mean"])[0, 1])
    assert diagnostics.flat_agreement(hier, noisy) == pytest.approx(r) and r < 0.95
    # legislators missing from one side are left out; fewer than 3 in common: undefined
    assert np.isnan(diagnostics.flat_agreement(hier, flipped.head(2)))
    assert diagnostics.flat_agreement(hier, flipped.head(3)) == pytest.approx(1.0)


def test_agreement_gate_is_added_only_when_given_and_warns():
    gates = gates_of(posterior(), flat_r=0.5)
    assert list(gates)[-1] == "agrees_with_flat"
    assert gates["agrees_with_flat"].status == "WARN" and gates["agrees_with_flat"].severity == "warn"
    assert diagnostics.all_errors_pass(list(gates.values()))
    assert gates_of(posterior(), flat_r=0.95)["agrees_with_flat"].passed


def test_parameter_table_one_row_per_scalar_and_group_table():
    idata = posterior(shift_chain=0.5)
    _, params = diagnostics.evaluate_gates(idata, GATE_VARS + ("not_in_posterior",))
    assert params.columns == ["group", "parameter", "rhat", "ess_bulk", "ess_tail"]
    assert params.height == len(LEGISLATORS) + 2
    assert params["parameter"].to_list()[:2] == ["xi_norm[leg0]", "xi_norm[leg1]"]
    assert params["parameter"].to_list()[-2:] == ["mu_party_norm[Democrat]", "mu_party_norm[Republican]"]
    groups = diagnostics.group_table(params)
    xi = groups.filter(pl.col("group") == "xi_norm").row(0, named=True)
    assert xi["n"] == len(LEGISLATORS)
    assert xi["max_rhat"] == params.filter(pl.col("group") == "xi_norm")["rhat"].max() > 1.1
    mu = groups.filter(pl.col("group") == "mu_party_norm").row(0, named=True)
    assert mu["max_rhat"] < 1.01  # only xi was shifted


def test_gates_frame_columns_and_rows():
    gates, _ = diagnostics.evaluate_gates(posterior(diverging=2), GATE_VARS, flat_r=0.99)
    frame = diagnostics.gates_frame(gates)
    assert frame.columns == [
        "gate",
        "metric",
        "value",
        "threshold",
        "comparison",
        "severity",
        "passed",
        "status",
        "description",
    ]
    assert frame["gate"].to_list() == ["rhat", "ess", "divergences", "ebfmi", "agrees_with_flat"]
    row = frame.filter(pl.col("gate") == "divergences").row(0, named=True)
    assert (row["value"], row["threshold"], row["passed"], row["status"]) == (2.0, 0.0, False, "FAIL")
    assert frame.filter(pl.col("gate") == "rhat")["threshold"].item() == diagnostics.RHAT_MAX
    assert frame.filter(pl.col("gate") == "ess")["threshold"].item() == diagnostics.ESS_MIN


def test_all_errors_pass_ignores_warnings_only():
    def g(severity, passed):
        return diagnostics.Gate("x", "m", 0.0 if passed else 2.0, 1.0, "<", severity, "d")

    assert diagnostics.all_errors_pass([g("error", True), g("warn", False)])
    assert not diagnostics.all_errors_pass([g("error", True), g("error", False), g("warn", True)])
    assert diagnostics.all_errors_pass([])
