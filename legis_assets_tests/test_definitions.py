"""The Dagster layer: definitions load, the whole graph materializes for one partition, the
convergence gates block downstream assets, and a failed posterior never replaces a good one."""

import os
import subprocess
import sys

import arviz as az
import dagster as dg
import polars as pl
import pytest

from legis_assets.definitions import defs
from legis_assets.defs.assets import ALL_ASSETS
from legis_assets.defs.partitions import partition_key, session_chamber
from legis_assets.defs.resources import LegisResource
from legis_assets.storage import Warehouse, file_sha256
from legis_assets_tests.support import REPO

SESSION = "simulated.2025-2026"


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {
        "votes",
        "vote_matrix",
        "pca_init",
        "flat_posterior",
        "hierarchical_posterior",
        "convergence_diagnostics",
        "ideal_points",
        "party_summary",
    } <= keys
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"rhat", "ess", "divergences", "ebfmi", "agrees_with_flat"} <= checks


def test_dagster_cli_validates_the_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # a fresh checkout has no instance directory yet
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "passed validation" in out.stdout + out.stderr


def test_partition_keys_are_built_by_dimension():
    key = partition_key(SESSION, "senate")
    assert key.keys_by_dimension == {"session": SESSION, "chamber": "senate"}
    assert session_chamber.get_partition_key_from_str(str(key)).keys_by_dimension["session"] == SESSION


def _materialize(instance, root, home, profile, chamber="senate", selection=None):
    return dg.materialize(
        ALL_ASSETS,
        partition_key=partition_key(SESSION, chamber),
        instance=instance,
        resources={"legis": LegisResource(data_dir=str(root), home=str(home), profile=profile)},
        raise_on_error=False,
        selection=selection,
    )


def _failure_message(result) -> str:
    failure = next(e for e in result.all_events if e.is_step_failure)
    return (
        f"{failure.step_failure_data.error.message if failure.step_failure_data.error else ''} "
        f"{failure.step_failure_data.user_failure_data}"
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("session", [SESSION])
        yield inst


def test_whole_graph_materializes_then_a_starved_run_is_blocked(instance, small_session_root, tmp_path):
    home = tmp_path / "home"
    good = _materialize(instance, small_session_root, home, "default")
    assert good.success
    evaluations = {e.check_name: e for e in good.get_asset_check_evaluations()}
    for gate in ("rhat", "ess", "divergences"):
        assert evaluations[gate].passed, evaluations[gate].metadata
    materialized = {e.asset_key.to_user_string() for e in good.get_asset_materialization_events()}
    assert materialized == {a.key.to_user_string() for a in ALL_ASSETS}
    ess_meta = evaluations["ess"].metadata
    assert ess_meta["value"].value > 400 and ess_meta["threshold"].value == 400
    # the sampling coordinates reach the metadata and the report (flat: always the affine frame)
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in good.get_asset_materialization_events()}
    assert meta["flat_posterior"]["sampling_coordinates"].value == "affine frame"
    assert meta["flat_posterior"]["sign_check_near_zero"].value <= 0.001
    assert meta["hierarchical_posterior"]["sampling_coordinates"].value in ("affine frame", "direct")
    html = next((home / "reports").rglob("report.html")).read_text()
    assert "sampled in (same posterior)" in html and "affine frame" in html

    wh = Warehouse(home / "warehouse.duckdb")
    ideal = wh.query("SELECT * FROM ideal_points WHERE session_key = ? AND chamber = 'senate'", [SESSION])
    assert ideal.height >= 25 and ideal["xi_mean"].null_count() <= 1
    gates = wh.query("SELECT gate, status FROM convergence_diagnostics WHERE model = 'hierarchical'")
    assert set(gates["status"]) <= {"PASS", "WARN"}
    trace = home / "traces" / "simulated" / "2025-2026" / "senate" / "hierarchical_posterior.nc"
    flat_trace = trace.with_name("flat_posterior.nc")
    good_bytes = trace.read_bytes()
    good_flat_sha = file_sha256(flat_trace)
    assert meta["flat_posterior"]["sha256"].value == good_flat_sha  # the recorded checksum is the published file's
    assert meta["hierarchical_posterior"]["flat_sha256"].value == good_flat_sha
    assert az.from_netcdf(trace).posterior.attrs["flat_sha256"] == good_flat_sha
    ideal_before = wh.read_partition("ideal_points", *_key_chamber())
    diag_before = wh.read_partition("convergence_diagnostics", *_key_chamber())

    starved = _materialize(instance, small_session_root, home, "starved")
    assert not starved.success
    evaluations = {e.check_name: e for e in starved.get_asset_check_evaluations()}
    assert not evaluations["ess"].passed
    assert evaluations["ess"].metadata["value"].value < 400
    ran = {e.asset_key.to_user_string() for e in starved.get_asset_materialization_events()}
    assert "ideal_points" not in ran and "party_summary" not in ran  # blocked downstream
    # the failed posterior went beside the good one; the good trace and tables are untouched
    assert trace.read_bytes() == good_bytes
    assert trace.with_name("hierarchical_posterior.failed.nc").exists()
    assert wh.read_partition("ideal_points", *_key_chamber()).equals(ideal_before)
    # ... and so is the good flat trace (byte for byte); the starved one is beside it, named as failed,
    # paired with the failed hierarchical trace
    assert file_sha256(flat_trace) == good_flat_sha
    failed_flat = flat_trace.with_name("flat_posterior.failed.nc")
    assert failed_flat.exists() and not flat_trace.with_name("flat_posterior.candidate.nc").exists()
    failed_hier = az.from_netcdf(trace.with_name("hierarchical_posterior.failed.nc"))
    assert failed_hier.posterior.attrs["flat_sha256"] == file_sha256(failed_flat)
    assert (home / "reports" / "simulated" / "2025-2026" / "senate" / "report.failed.html").exists()

    # a rebuild of convergence_diagnostics alone reports the good pair's gates, not the starved run's
    rebuilt = _materialize(instance, small_session_root, home, "default", selection=["convergence_diagnostics"])
    assert rebuilt.success
    diag = wh.read_partition("convergence_diagnostics", *_key_chamber())
    assert diag.equals(diag_before)
    assert set(diag.filter(pl.col("severity") == "error")["status"]) == {"PASS"}, diag

    # a trace copied in from another run (here: the starved one) is refused, naming both files
    trace.write_bytes(trace.with_name("hierarchical_posterior.failed.nc").read_bytes())
    mixed = _materialize(instance, small_session_root, home, "default", selection=["convergence_diagnostics"])
    assert not mixed.success
    message = _failure_message(mixed)
    assert "do not belong together" in message and str(trace) in message and str(flat_trace) in message
    assert wh.read_partition("convergence_diagnostics", *_key_chamber()).equals(diag_before)


def _key_chamber():
    from legis_assets.core.schema import SessionKey

    return SessionKey.parse(SESSION), "senate"


def test_missing_chamber_fails_with_a_clear_message(instance, small_session_root, tmp_path):
    result = _materialize(instance, small_session_root, tmp_path / "home", "quick", chamber="house")
    assert not result.success
    assert "has no House roll calls" in _failure_message(result)


def test_materializations_carry_typed_metadata_and_provenance(instance, small_session_root, tmp_path):
    """What the Dagster UI shows: tables as TableMetadataValue with a column schema (descriptions)
    and dagster/row_count, the report as a path and a URL, rounded floats, settings as JSON,
    provenance on every materialization, and kinds badges from the sampling profile."""
    from legis_assets import provenance
    from legis_assets.defs.assets import flat_posterior, hierarchical_posterior

    home = tmp_path / "home"
    result = _materialize(instance, small_session_root, home, "default")
    assert result.success
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    wh = Warehouse(home / "warehouse.duckdb")
    for asset, table in (("ideal_points", "ideal_points"), ("convergence_diagnostics", "convergence_diagnostics")):
        rows = wh.query(f"SELECT count(*) AS n FROM {table} WHERE session_key = ? AND chamber = 'senate'", [SESSION])
        assert meta[asset]["dagster/row_count"].value == rows["n"][0] > 0
        schema = meta[asset]["dagster/column_schema"].value
        assert "model" in {c.name for c in schema.columns}
        assert all(c.description for c in schema.columns), [c.name for c in schema.columns if not c.description]
    gates = meta["convergence_diagnostics"]["gates"]
    assert isinstance(gates, dg.TableMetadataValue)
    assert [c.name for c in gates.schema.columns] == ["model", "gate", "value", "threshold", "status"]
    assert all(c.description for c in gates.schema.columns)
    assert isinstance(meta["ideal_points"]["most_liberal"], dg.TableMetadataValue)
    # the report: a path and a link
    assert isinstance(meta["report"]["path"], dg.PathMetadataValue)
    assert isinstance(meta["report"]["url"], dg.UrlMetadataValue) and meta["report"]["url"].value.startswith("file://")
    # settings as JSON, floats rounded for reading
    settings = meta["hierarchical_posterior"]["settings"]
    assert isinstance(settings, dg.JsonMetadataValue) and settings.value["chains"] == 4
    for asset_meta in meta.values():
        for value in asset_meta.values():
            if isinstance(value, dg.FloatMetadataValue) and value.value is not None and value.value == value.value:
                v = abs(value.value)
                assert v >= 1 or float(f"{v:.4g}") == v, value  # 4 significant digits
                assert v < 1 or round(v, 4) == v, value
    # provenance on every materialization, the data hash the same as the session's CSVs'
    expected_hash, _ = provenance.data_hash(small_session_root / "simulated" / "2025-2026")
    for asset, asset_meta in meta.items():
        prov = asset_meta["provenance"].value
        assert prov["run_id"] == result.run_id and prov["package_version"], asset
        assert asset_meta["data_sha256"].value == prov["data_sha256"] == expected_hash, asset
        assert prov["settings"]["profile"] == "default"
    # kinds: the default profile samples the hand-written Numba kernel with nutpie, not PyMC
    for posterior in (flat_posterior, hierarchical_posterior):
        kinds = {k.removeprefix("dagster/kind/") for k in posterior.specs_by_key[posterior.key].tags if "kind" in k}
        assert kinds == {"nutpie", "numba"}, kinds


def test_round_float_and_table_value():
    from legis_assets.defs.table_metadata import round_float, table_value

    assert round_float(0.00011298651781861262) == 0.000113
    assert round_float(10070.3456) == 10070.3 and round_float(1.00992345) == 1.0099 and round_float(0.0) == 0.0
    table = table_value(pl.DataFrame({"gate": ["rhat"], "value": [1.00412345], "passed": [True], "n": [3]}))
    assert [(c.name, c.type) for c in table.schema.columns] == [
        ("gate", "string"),
        ("value", "float"),
        ("passed", "bool"),
        ("n", "int"),
    ]
    assert all(c.description for c in table.schema.columns)
    assert table.records[0].data == {"gate": "rhat", "value": 1.0041, "passed": True, "n": 3}
