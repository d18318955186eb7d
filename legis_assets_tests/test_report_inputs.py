"""The report reads what the asset graph produced (report/inputs.py): a published run's report is
built from the tables its upstream steps stored, with no diagnostic, summary, roll-call or fit
computation of its own, and shows exactly the numbers those tables hold (the same a computation
from the traces gives)."""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

import arviz as az
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from legis_assets import steps
from legis_assets.core import diagnostics, rollcalls, simulate, summaries
from legis_assets.core import fit as fit_mod
from legis_assets.core.schema import DataProblem
from legis_assets.pipeline import Partition, Pipeline, Settings
from legis_assets.report import inputs
from legis_assets.report.render import render_report

SESSION = "simulated.2025-2026"

#: what the report must not compute: it is stored by convergence_diagnostics, ideal_points,
#: party_summary, rollcall_parameters and model_fit
COMPUTATIONS = (
    (diagnostics, "evaluate_gates"),
    (diagnostics, "parameter_table"),
    (az, "rhat"),
    (az, "ess"),
    (az, "summary"),
    (summaries, "ideal_points"),
    (summaries, "flat_ideal_points"),
    (summaries, "ideal_point_table"),
    (summaries, "party_summary"),
    (rollcalls, "posterior_draws"),
    (rollcalls, "rollcall_parameters"),
    (fit_mod, "model_fit"),
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Pipeline, Partition]:
    """A small simulated Senate through every step before the report (default profile: passes)."""
    root = tmp_path_factory.mktemp("report_inputs_data")
    spec = {"senate": simulate.ChamberSpec(seats=20, n_rollcalls=60, replacements=0)}
    simulate.write_session(simulate.simulate_session(seed=5, specs=spec), root / "simulated" / "2025-2026")
    home = tmp_path_factory.mktemp("report_inputs_home")
    pipe = Pipeline(Settings(data_dir=root, home=home, profile="default", seed=1), progress=lambda m: None)
    part = Partition.of(SESSION, "senate")
    upstream = Pipeline.STEP_NAMES[: Pipeline.STEP_NAMES.index("report")]
    pipe.run(part, steps=upstream)
    return pipe, part


def _count(monkeypatch) -> collections.Counter:
    calls: collections.Counter = collections.Counter()
    for module, name in COMPUTATIONS:
        original = getattr(module, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls


def test_the_report_step_computes_no_diagnostic_or_summary(built, monkeypatch) -> None:
    pipe, part = built
    calls = _count(monkeypatch)
    out = pipe.report(part)
    assert Path(out.metadata["path"]).name == "report.html"
    assert sum(calls.values()) == 0, dict(calls)
    # the counter sees a computation where one happens (the failed run's report computes its own)
    pub = pipe.load_published(part)
    inputs.failed_context(pipe, part, pub.hierarchical, pub.flat, fitted=True, reason="", built_from={})
    assert calls["evaluate_gates"] == 2 and calls["ideal_points"] == 1 and calls["model_fit"] == 1, dict(calls)


def test_the_stored_tables_are_what_the_traces_give(built) -> None:
    """Same numbers: the report from the stored tables equals the report computed from the traces."""
    pipe, part = built
    pub = pipe.load_published(part)
    stored = inputs.published_context(pipe, part, pub)
    computed = inputs.failed_context(
        pipe, part, pub.hierarchical, pub.flat, fitted=pub.fitted, reason=pub.reason, built_from=pub.built_from()
    )
    assert stored.analysis is not None and computed.analysis is not None, (
        stored.analysis_error,
        computed.analysis_error,
    )
    for name in ("gates", "parameters", "ideal_points", "party_summary"):
        assert_frame_equal(getattr(stored, name), getattr(computed, name), check_exact=True), name
    for name in ("rollcalls", "fit_chamber", "fit_legislators", "fit_rollcalls", "xi_mean"):
        assert_frame_equal(getattr(stored.analysis, name), getattr(computed.analysis, name)), name
    assert (stored.analysis.n_draws, stored.analysis.n_total_draws) == (
        computed.analysis.n_draws,
        computed.analysis.n_total_draws,
    )
    same = dataclasses.replace(computed, passed=True, generated_at=stored.generated_at)
    assert render_report(stored) == render_report(same)


def test_a_missing_table_is_named(built) -> None:
    pipe, part = built
    pub = pipe.load_published(part)
    fit = pipe.warehouse.read_partition("model_fit", part.key, part.chamber)
    ideal = pipe.warehouse.read_partition("ideal_points", part.key, part.chamber)
    try:
        # no model_fit table: the analysis sections say which step to run, the rest renders
        pipe.warehouse.replace_partition("model_fit", part.key, part.chamber, fit.clear())
        ctx = inputs.published_context(pipe, part, pub)
        assert ctx.analysis is None and "materialize model_fit first" in str(ctx.analysis_error)
        assert "materialize model_fit first" in render_report(ctx)
        # ideal points left by another run (not the published posterior's means): refused
        pipe.warehouse.replace_partition(
            "ideal_points", part.key, part.chamber, ideal.with_columns(xi_mean=pl.col("xi_mean") + 0.01)
        )
        with pytest.raises(DataProblem, match="does not come from the published posterior"):
            pipe.report(part)
        # no ideal points: no report
        pipe.warehouse.replace_partition("ideal_points", part.key, part.chamber, ideal.clear())
        with pytest.raises(DataProblem, match="no ideal_points table .* materialize ideal_points first"):
            pipe.report(part)
    finally:
        pipe.warehouse.replace_partition("model_fit", part.key, part.chamber, fit)
        pipe.warehouse.replace_partition("ideal_points", part.key, part.chamber, ideal)


def test_tables_read_are_declared_by_the_steps_upstream_of_the_report(built) -> None:
    pipe, part = built
    shown = {"convergence_diagnostics", "ideal_points", "party_summary", "rollcall_parameters", "model_fit"}
    assert shown <= set(steps.step("report").upstream)
    with pytest.raises(ValueError, match="does not write a table"):
        inputs.stored_table(pipe, part, "ideal_points", "party_summary")


def test_each_models_gates_are_computed_once_to_publish_and_once_for_the_tables(tmp_path, monkeypatch) -> None:
    """A whole run evaluates each model's gates twice: once to decide publication (the posterior
    step uses the gates `fit_until_gates` computed, no second evaluation) and once in
    convergence_diagnostics, whose tables the report then reads (none in the report)."""
    spec = {"senate": simulate.ChamberSpec(seats=20, n_rollcalls=60, replacements=0)}
    simulate.write_session(simulate.simulate_session(seed=5, specs=spec), tmp_path / "data" / "simulated" / "2025-2026")
    pipe = Pipeline(
        Settings(data_dir=tmp_path / "data", home=tmp_path / "home", profile="default", seed=1), progress=lambda m: None
    )
    seen: list[tuple[str, ...]] = []
    original = diagnostics.evaluate_gates

    def counted(idata, gate_vars, *args, **kwargs):
        seen.append(tuple(gate_vars))
        return original(idata, gate_vars, *args, **kwargs)

    monkeypatch.setattr(diagnostics, "evaluate_gates", counted)
    outputs = pipe.run(Partition.of(SESSION, "senate"))
    assert "report" in outputs
    flat_vars = diagnostics_vars("flat")
    hier_vars = diagnostics_vars("hierarchical")
    assert collections.Counter(seen) == {flat_vars: 2, hier_vars: 2}, seen


def diagnostics_vars(model: str) -> tuple[str, ...]:
    from legis_assets.core import models

    return tuple(models.get_model(model).gate_vars)
