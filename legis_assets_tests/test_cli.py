"""The `sql` command: results as a table, and a user's bad query or a missing warehouse as one
`error:` line (exit 2), never a traceback."""

from __future__ import annotations

import polars as pl

from legis_assets import cli
from legis_assets.core.schema import SessionKey
from legis_assets.storage import Warehouse


def test_sql_prints_rows_and_reports_bad_queries(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEGIS_HOME", str(tmp_path))
    assert cli.main(["sql", "select 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no warehouse at ") and "Traceback" not in err

    Warehouse(tmp_path / "warehouse.duckdb").replace_partition(
        "ideal_points", SessionKey.parse("simulated.91st_2025-2026"), "house",
        pl.DataFrame({"legislator_slug": ["rep_a_1", "rep_b_1"], "mean": [-1.0, 1.0]}))
    assert cli.main(["sql", "select legislator_slug, mean from ideal_points order by mean"]) == 0
    out = capsys.readouterr().out
    assert "rep_a_1" in out and "rep_b_1" in out

    assert cli.main(["sql", "select session from ideal_points"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: query failed: Binder Error") and '"session"' in err
    assert "Traceback" not in err
