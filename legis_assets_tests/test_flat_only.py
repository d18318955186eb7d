"""Chambers the hierarchical model cannot pool (one party, no party labels, a pooled party with
fewer than models.MIN_POOLED_PARTY members): the flat model is fitted and published alone, with
its R-hat / ESS / divergence gates blocking, and the metadata, the checks and the report say that
the hierarchical model was not fitted and why.

The chambers are the small simulated Senate (30 seats, 90 roll calls) with its party column
rewritten. The runs use the `default` profile: `quick` (2 x 300 draws) is too short for the
flat model's R-hat gate on this chamber (1.014 measured), and a failed gate is not what these
tests are about; the flat model alone samples this chamber in seconds.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from legis_assets.core import models, pca, simulate
from legis_assets.defs.assets import ALL_ASSETS
from legis_assets.defs.partitions import partition_key
from legis_assets.defs.resources import LegisResource
from legis_assets.pipeline import Partition, Pipeline, Settings
from legis_assets.storage import Warehouse
from legis_assets_tests.support import SMALL, matrix_from_sim

SESSION = "simulated.2025-2026"
NOTICE = "hierarchical model not fitted"


def write_chamber(root: Path, party: str) -> Path:
    """The small simulated session with every legislator's party set to `party` ('' = none)."""
    session = root / "simulated" / "2025-2026"
    simulate.write_session(simulate.simulate_session(seed=11, specs=SMALL), session)
    path = session / "2025-2026_legislators.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    col = rows[0].index("party")
    for row in rows[1:]:
        row[col] = party
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    path.write_bytes(out.getvalue().encode("utf-8"))
    return root


CASES = {"one_party": "Republican", "no_party_labels": ""}


# --- the decision and the orientation (no sampling) ---------------------------------------------


def _matrix_with(parties: list[str]):
    m = matrix_from_sim(simulate.simulate_session(seed=11, specs=SMALL)["senate"])
    return type(m)(
        m.legislators.with_columns(party=pl.Series(parties)), m.rollcalls, m.leg_idx, m.rc_idx, m.y, m.manifest
    )


def test_feasibility_says_when_and_why_the_hierarchical_model_cannot_be_fitted():
    m = matrix_from_sim(simulate.simulate_session(seed=11, specs=SMALL)["senate"])
    assert models.hierarchical_feasibility(m).fitted
    parties = m.legislators["party"].to_list()
    n = len(parties)

    one = models.hierarchical_feasibility(_matrix_with(["Republican"] * n))
    assert not one.fitted and "no Democrat legislator" in one.reason
    none = models.hierarchical_feasibility(_matrix_with(["Independent"] * n))
    assert not none.fitted and "nonpartisan" in none.reason
    # the Democrats cut down to MIN_POOLED_PARTY - 1: too few to pool
    dems = [i for i, p in enumerate(parties) if p == "Democrat"]
    short = [
        ("Independent" if p == "Democrat" and i not in dems[: models.MIN_POOLED_PARTY - 1] else p)
        for i, p in enumerate(parties)
    ]
    few = models.hierarchical_feasibility(_matrix_with(short))
    assert not few.fitted and f"at least {models.MIN_POOLED_PARTY}" in few.reason and "Democrat 2" in few.reason
    with pytest.raises(Exception, match="only the flat model can be fitted"):
        models.hierarchical_data(_matrix_with(short))
    # exactly the minimum is enough
    enough = [
        ("Independent" if p == "Democrat" and i not in dems[: models.MIN_POOLED_PARTY] else p)
        for i, p in enumerate(parties)
    ]
    assert models.hierarchical_feasibility(_matrix_with(enough)).fitted


@pytest.mark.parametrize("label", ["Republican", "Independent"])
def test_pca_orients_a_one_group_chamber_by_its_majority_side(label):
    m = _matrix_with([label] * matrix_from_sim(simulate.simulate_session(seed=11, specs=SMALL)["senate"]).n_legislators)
    flipped = type(m)(m.legislators, m.rollcalls, m.leg_idx, m.rc_idx, (1 - m.y).astype(np.int8), m.manifest)
    a, b = pca.fit_pca_init(m), pca.fit_pca_init(flipped)
    assert "majority side" in a.sign_rule
    assert (a.pc1 > 0).sum() >= (a.pc1 < 0).sum()
    assert np.allclose(a.pc1, b.pc1, atol=1e-8)  # the vote coding does not decide the orientation


# --- whole runs -------------------------------------------------------------------------------------


def _check_outputs(home: Path, n_legislators: int) -> None:
    wh = Warehouse(home / "warehouse.duckdb")
    ideal = wh.query("SELECT * FROM ideal_points WHERE session_key = ? AND chamber = 'senate'", [SESSION])
    assert ideal.height == n_legislators
    assert set(ideal["model"]) == {"flat"} and ideal["xi_mean"].null_count() == 0
    assert sorted(ideal["overall_rank"].to_list()) == list(range(1, n_legislators + 1))
    assert wh.query("SELECT count(*) FROM party_summary").item() == 0
    diag = wh.query("SELECT * FROM convergence_diagnostics WHERE session_key = ?", [SESSION])
    assert set(diag["model"]) == {"flat"}
    assert set(diag.filter(pl.col("severity") == "error")["status"]) == {"PASS"}
    traces = home / "traces" / "simulated" / "2025-2026" / "senate"
    assert sorted(p.name for p in traces.iterdir()) == ["flat_posterior.nc", "published.json"]
    text = html.unescape((home / "reports" / "simulated" / "2025-2026" / "senate" / "report.html").read_text())
    assert "Hierarchical model not fitted:" in text and "estimates are from the flat model" in text
    assert 'id="party-posteriors"' not in text and 'id="shrinkage"' not in text


@pytest.mark.parametrize("case", list(CASES))
def test_pipeline_run_publishes_the_flat_model_where_no_two_parties_can_be_pooled(case, tmp_path):
    root = write_chamber(tmp_path / "data", CASES[case])
    home = tmp_path / "home"
    pipe = Pipeline(Settings(data_dir=root, home=home, profile="default", seed=1), progress=lambda m: None)
    outs = pipe.run(Partition.of(SESSION, "senate"))
    hier = outs["hierarchical_posterior"]
    assert hier.metadata["hierarchical_fitted"] is False and hier.metadata["published_model"] == "flat"
    reason = hier.metadata["reason"]
    assert ("no Democrat" if case == "one_party" else "nonpartisan") in reason
    checks = {c.name: c for c in hier.checks}
    for gate in ("rhat", "ess", "divergences"):
        assert checks[gate].severity == "error" and checks[gate].passed
        assert checks[gate].metadata["evaluated_on"] == "flat" and NOTICE in checks[gate].description
    assert checks["agrees_with_flat"].metadata["applicable"] is False
    assert outs["party_summary"].metadata["hierarchical_fitted"] is False
    assert reason in outs["party_summary"].metadata["note"]
    assert outs["ideal_points"].metadata["published_model"] == "flat"
    assert outs["vote_matrix"].checks[0].name == "two_parties" and not outs["vote_matrix"].checks[0].passed
    _check_outputs(home, outs["ideal_points"].metadata["legislators"])
    # hierarchical_posterior alone again (no new flat candidate): it pairs with the published flat
    # trace, samples nothing and leaves the published flat trace as it was
    flat = home / "traces" / "simulated" / "2025-2026" / "senate" / "flat_posterior.nc"
    before = flat.read_bytes()
    again = pipe.hierarchical_posterior(Partition.of(SESSION, "senate"))
    assert again.metadata["flat_source"] == "published" and again.metadata["all_gates_passed"]
    assert flat.read_bytes() == before
    _check_outputs(home, outs["ideal_points"].metadata["legislators"])


@pytest.mark.parametrize("case", list(CASES))
def test_dagster_materializes_a_chamber_without_two_parties(case, tmp_path):
    root = write_chamber(tmp_path / "data", CASES[case])
    home = tmp_path / "home"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("session", [SESSION])
        result = dg.materialize(
            ALL_ASSETS,
            partition_key=partition_key(SESSION, "senate"),
            instance=instance,
            resources={"legis": LegisResource(data_dir=str(root), home=str(home), profile="default", seed=1)},
            raise_on_error=False,
        )
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        a.key.to_user_string() for a in ALL_ASSETS
    }
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for gate in ("rhat", "ess", "divergences"):
        assert evaluations[gate].passed
        assert evaluations[gate].metadata["evaluated_on"].value == "flat"
        assert evaluations[gate].metadata["hierarchical_fitted"].value is False
        assert NOTICE in evaluations[gate].description
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert meta["hierarchical_posterior"]["hierarchical_fitted"].value is False
    assert meta["hierarchical_posterior"]["published_model"].value == "flat"
    assert meta["party_summary"]["rows"].value == 0
    _check_outputs(home, meta["ideal_points"]["legislators"].value)
