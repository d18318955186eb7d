"""Pipeline.load_published: the downstream steps read only a posterior pair that comes from one
run. No sampling: the traces are small InferenceData objects written by the real TraceStore."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from legis_assets.core.schema import DataProblem
from legis_assets.pipeline import FLAT_TRACE, HIER_TRACE, Partition, Pipeline, Settings
from legis_assets.storage import ArtifactMismatch, TraceStore, file_sha256

PART = Partition.of("simulated.2025-2026", "senate")


def _idata(seed: int, **attrs) -> az.InferenceData:
    rng = np.random.default_rng(seed)
    idata = az.from_dict(
        posterior={"xi": rng.normal(size=(2, 50, 5))}, coords={"legislator": list("abcde")}, dims={"xi": ["legislator"]}
    )
    idata.posterior.attrs.update(attrs)
    return idata


def _publish(store: TraceStore, seed: int, recorded_flat: str | None = None) -> dict:
    """One run's pair; the hierarchical trace records `recorded_flat` (default: the real flat sha256)."""
    _, flat_sha = store.write_candidate(FLAT_TRACE, lambda tmp: _idata(seed).to_netcdf(str(tmp)))
    hier = _idata(seed + 1, flat_sha256=recorded_flat or flat_sha)
    _, hier_sha = store.write_candidate(HIER_TRACE, lambda tmp: hier.to_netcdf(str(tmp)))
    return store.promote({"run_id": f"run{seed}", "hierarchical_fitted": True, "reason": ""}, flat_sha, hier_sha)


@pytest.fixture
def pipe(tmp_path) -> Pipeline:
    return Pipeline(Settings(data_dir=tmp_path / "data", home=tmp_path / "home"), progress=lambda m: None)


def test_a_verified_pair_is_read_with_what_it_was_built_from(pipe):
    manifest = _publish(pipe.traces(PART), 1)
    pub = pipe.load_published(PART)
    assert pub.fitted and pub.published_model == "hierarchical"
    assert pub.built_from()["flat_sha256"] == manifest["files"][FLAT_TRACE] == file_sha256(pub.flat_path)
    assert pub.built_from()["run_id"] == "run1"


def test_a_hierarchical_trace_checked_against_another_flat_trace_is_refused(pipe):
    """Even with a manifest that names the files (e.g. written by hand), a hierarchical trace whose
    recorded flat sha256 is not the flat trace's is refused, naming both files."""
    store = pipe.traces(PART)
    _publish(store, 1, recorded_flat="0" * 64)
    with pytest.raises(ArtifactMismatch) as err:
        pipe.load_published(PART)
    assert str(store.path(FLAT_TRACE)) in str(err.value) and str(store.path(HIER_TRACE)) in str(err.value)
    assert "checked against a flat trace" in str(err.value)


def test_a_flat_trace_copied_from_another_run_is_refused(pipe, tmp_path):
    """convergence_diagnostics (and ideal_points, party_summary, report: the same load_published)
    refuse the pair before they read anything else."""
    other = TraceStore(tmp_path / "other")
    _publish(other, 7)
    store = pipe.traces(PART)
    _publish(store, 1)
    store.path(FLAT_TRACE).write_bytes(other.path(FLAT_TRACE).read_bytes())
    with pytest.raises(ArtifactMismatch, match="do not belong together") as err:
        pipe.convergence_diagnostics(PART)
    assert str(store.path(FLAT_TRACE)) in str(err.value) and str(store.path(HIER_TRACE)) in str(err.value)


def test_nothing_published_yet_says_what_to_materialize(pipe):
    with pytest.raises(DataProblem, match="materialize flat_posterior"):
        pipe.load_published(PART)
