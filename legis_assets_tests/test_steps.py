"""The step declaration (legis_assets/steps.py) is the one source of the runner's order, the asset
graph, the checks and the report's sections, for the per-partition steps (STEPS) and the common
scale's (SCALE_STEPS): these tests fail if any of them disagrees with it."""

from __future__ import annotations

import warnings

import arviz as az
import dagster as dg
import numpy as np
import pytest

from legis_assets import analysis_steps, pipeline, scale_inputs, scale_status, steps
from legis_assets.core import diagnostics, simulate
from legis_assets.core.common_scale import evaluate_common_gates, pca_start
from legis_assets.pipeline import Pipeline
from legis_assets.report import render
from legis_assets.scale_pipeline import ScalePipeline
from legis_assets_tests.support import simulated_common_data


@pytest.fixture(scope="module")
def asset_graph():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        from legis_assets.defs.assets import ALL_ASSETS
    return {a.key.to_user_string(): a for a in ALL_ASSETS}


def _deps(asset: dg.AssetsDefinition) -> set[str]:
    return {k.to_user_string() for k in asset.asset_deps[asset.key]}


def test_the_runner_runs_the_declared_steps_in_a_graph_order(asset_graph):
    assert Pipeline.STEP_NAMES == steps.STEP_NAMES
    assert all(callable(getattr(Pipeline, name, None)) for name in steps.STEP_NAMES)
    assert set(asset_graph) == {steps.asset_name(n) for n in Pipeline.STEP_NAMES}
    done: set[str] = set()
    for name in Pipeline.STEP_NAMES:  # every asset's upstream assets run before it
        asset = asset_graph[steps.asset_name(name)]
        assert _deps(asset) <= done, (name, _deps(asset) - done)
        done.add(steps.asset_name(name))


def test_every_asset_is_its_declaration(asset_graph):
    for step in steps.STEPS:
        asset = asset_graph[steps.asset_name(step.name)]
        assert _deps(asset) == {steps.asset_name(u) for u in step.upstream}, step.name
        kinds = set(asset.specs_by_key[asset.key].kinds)
        # the declared kinds, plus PyMC on the posterior steps where the profile compiles it
        assert set(step.kinds) <= kinds and kinds - set(step.kinds) <= {"pymc"}, step.name
        assert asset.group_names_by_key[asset.key] == step.group
        specs = {s.name: s for s in asset.check_specs}
        assert list(specs) == [c.name for c in step.checks], step.name
        for check in step.checks:
            assert specs[check.name].description == check.description
            assert specs[check.name].blocking == (check.severity == "error")
        pools = {asset.get_op_def_for_asset_key(asset.key).pool}
        assert pools == {step.pool}, step.name


def test_a_misordered_or_unknown_declaration_is_refused():
    a, b = steps.Step("a", "first"), steps.Step("b", "second", upstream=("a",))
    steps.validate((a, b), ())
    with pytest.raises(ValueError, match="reads \\['a'\\] before they run"):
        steps.validate((b, a), ())
    with pytest.raises(ValueError, match="unknown step 'c'"):
        steps.validate((a, b), (steps.ReportSection("x", "X", "c"),))
    with pytest.raises(KeyError, match="unknown step 'nope'"):
        steps.step("nope")


def test_the_declared_tables_are_the_pipelines_tables():
    declared = {t for s in steps.STEPS for t in s.tables}
    constants = {
        v
        for module in (pipeline, analysis_steps)
        for k, v in vars(module).items()
        if k.startswith("T_") and isinstance(v, str)
    }
    assert declared == constants
    files = {f for s in steps.STEPS for f in s.files}
    assert {pipeline.FLAT_TRACE, pipeline.HIER_TRACE, pipeline.REPORT} == files


def test_the_gate_checks_are_the_gates_the_diagnostics_compute():
    rng = np.random.default_rng(0)
    idata = az.from_dict(
        posterior={"xi_norm": rng.normal(size=(2, 50, 5))},
        sample_stats={"diverging": np.zeros((2, 50), dtype=bool), "energy": rng.normal(size=(2, 50))},
    )
    gates, _ = diagnostics.evaluate_gates(idata, ("xi_norm",), flat_r=0.95)
    assert [(g.name, g.severity) for g in gates] == [(c.name, c.severity) for c in steps.GATES]
    assert [c.name for c in steps.FLAT_GATES] == [f"flat_{g.name}" for g in gates[:4]]
    assert not any(c.blocking for c in steps.FLAT_GATES)


def test_the_report_sections_come_from_the_declaration():
    assert render.SECTIONS == tuple((s.id, s.title) for s in steps.REPORT_SECTIONS)
    assert set(render.HIERARCHICAL_SECTIONS) == {"party-posteriors", "shrinkage"}
    ancestors, todo = set(), ["report"]
    while todo:  # every step the report reads, directly or not
        for up in steps.step(todo.pop()).upstream:
            if up not in ancestors:
                ancestors.add(up)
                todo.append(up)
    assert {s.step for s in steps.REPORT_SECTIONS} <= ancestors


# --- the common scale (steps.SCALE_STEPS) ---------------------------------------------------


@pytest.fixture(scope="module")
def scale_graph():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        from legis_assets.defs.common_scale import SCALE_ASSETS, SCALE_CHECKS
    return {a.key.to_user_string(): a for a in SCALE_ASSETS}, SCALE_CHECKS


def test_the_scale_runner_runs_the_declared_scale_steps(scale_graph):
    graph, _ = scale_graph
    assert ScalePipeline.STEP_NAMES == steps.SCALE_STEP_NAMES
    assert all(callable(getattr(ScalePipeline, name, None)) for name in steps.SCALE_STEP_NAMES)
    assert list(graph) == [steps.asset_name(n) for n in ScalePipeline.STEP_NAMES]


def test_every_scale_asset_is_its_declaration(scale_graph):
    graph, separate_checks = scale_graph
    for step in steps.SCALE_STEPS:
        asset = graph[steps.asset_name(step.name)]
        upstream = {steps.asset_name(u) for u in (*step.upstream, *step.upstream_partitions)}
        assert _deps(asset) == upstream, step.name
        for u in step.upstream_partitions:  # every session x chamber partition of the legislature
            mapping = asset.get_partition_mapping(dg.AssetKey(steps.asset_name(u)))
            assert isinstance(mapping, dg.AllPartitionMapping), step.name
        assert set(asset.specs_by_key[asset.key].kinds) == set(step.kinds), step.name
        assert asset.group_names_by_key[asset.key] == step.group == steps.SCALE_GROUP
        assert {asset.get_op_def_for_asset_key(asset.key).pool} == {step.pool}, step.name
        assert asset.partitions_def is not None and asset.partitions_def.name == "legislature"
        specs = {s.name: s for s in asset.check_specs}
        assert list(specs) == [c.name for c in step.checks], step.name
        for check in step.checks:
            assert specs[check.name].description == check.description
            assert specs[check.name].blocking == check.blocking
    # the staleness check is its own op on the posterior, declared beside the steps
    (inputs_current,) = separate_checks
    (spec,) = inputs_current.check_specs
    assert spec.asset_key == dg.AssetKey("common_scale_posterior")
    assert (spec.name, spec.description, spec.blocking) == (
        steps.INPUTS_CURRENT.name,
        steps.INPUTS_CURRENT.description,
        steps.INPUTS_CURRENT.blocking,
    )


def test_the_declared_scale_tables_and_files_are_the_scale_pipelines():
    constants = {v for k, v in vars(scale_inputs).items() if k.startswith("T_") and isinstance(v, str)}
    assert set(steps.SCALE_TABLES) == constants and len(steps.SCALE_TABLES) == len(constants)
    assert {f for s in steps.SCALE_STEPS for f in s.files} == {scale_inputs.SCALE_TRACE, scale_inputs.SCALE_REPORT}
    assert scale_status.SCALE_TABLES == steps.SCALE_TABLES


def test_the_scale_gate_checks_are_the_gates_the_common_scale_computes():
    specs = {
        "house": simulate.ChamberSpec(seats=16, n_rollcalls=60),
        "senate": simulate.ChamberSpec(seats=10, n_rollcalls=50, replacements=1),
    }
    _, css, data = simulated_common_data(3, specs, n_sessions=2)
    start = pca_start(data, css)
    rng = np.random.default_rng(0)
    idata = az.from_dict(
        posterior={"xi_norm": start + 0.1 * rng.normal(size=(2, 50, data.n_slots))},
        sample_stats={"diverging": np.zeros((2, 50), dtype=bool), "energy": rng.normal(size=(2, 50))},
    )
    gates, _ = evaluate_common_gates(idata, data, start)
    assert [(g.name, g.severity) for g in gates] == [(c.name, c.severity) for c in steps.SCALE_GATES]
    assert [c.name for c in steps.SCALE_GATES if c.blocking] == ["rhat", "ess", "divergences"]


def test_a_scale_step_reading_an_unknown_partition_step_is_refused():
    people = steps.Step("people", "persons", upstream_partitions=("vote_matrix",))
    steps.validate((people,), (), partition_steps=steps.STEPS)
    with pytest.raises(ValueError, match="reads the partitions of unknown steps \\['vote_matrix'\\]"):
        steps.validate((people,), (), partition_steps=())
