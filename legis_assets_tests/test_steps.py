"""The step declaration (legis_assets/steps.py) is the one source of the runner's order, the asset
graph, the checks and the report's sections: these tests fail if any of them disagrees with it."""

from __future__ import annotations

import warnings

import arviz as az
import dagster as dg
import numpy as np
import pytest

from legis_assets import analysis_steps, pipeline, steps
from legis_assets.core import diagnostics
from legis_assets.pipeline import Pipeline
from legis_assets.report import render


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
