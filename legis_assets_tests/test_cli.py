"""The command line: `sql` prints results as a table, and a user's bad query or a missing warehouse as one
`error:` line (exit 2), never a traceback; `run` refuses bad input the same way as `pipeline`."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from legis_assets import cli, cli_output
from legis_assets.core.schema import SessionKey
from legis_assets.storage import Warehouse


def test_sql_prints_rows_and_reports_bad_queries(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEGIS_HOME", str(tmp_path))
    assert cli.main(["sql", "select 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no warehouse at ") and "Traceback" not in err

    Warehouse(tmp_path / "warehouse.duckdb").replace_partition(
        "ideal_points",
        SessionKey.parse("simulated.91st_2025-2026"),
        "house",
        pl.DataFrame({"legislator_slug": ["rep_a_1", "rep_b_1"], "mean": [-1.0, 1.0]}),
    )
    assert cli.main(["sql", "select legislator_slug, mean from ideal_points order by mean"]) == 0
    out = capsys.readouterr().out
    assert "rep_a_1" in out and "rep_b_1" in out

    assert cli.main(["sql", "select session from ideal_points"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: query failed: Binder Error") and '"session"' in err
    assert "Traceback" not in err


def test_built_summary_prints_the_published_models_gates(tmp_path, capsys):
    """A flat-only chamber (no hierarchical rows) prints the flat model's gates, labelled as such;
    a two-party chamber prints the hierarchical model's only."""
    from legis_assets.pipeline import Partition, Settings

    settings = Settings(data_dir=tmp_path, home=tmp_path / "home")
    wh = Warehouse(settings.warehouse_path)
    rows = {
        "house": (["hierarchical", "flat"], [1.003, 1.02]),  # flat's gate fails, hierarchical's passes
        "senate": (["flat"], [1.004]),
    }
    for chamber, (models, values) in rows.items():
        wh.replace_partition(
            "convergence_diagnostics",
            SessionKey.parse("simulated.91st_2025-2026"),
            chamber,
            pl.DataFrame(
                {
                    "model": models,
                    "gate": ["rhat"] * len(models),
                    "value": values,
                    "threshold": [1.01] * len(models),
                    "status": ["PASS" if v < 1.01 else "FAIL" for v in values],
                }
            ),
        )
    parts = [Partition.of("simulated.91st_2025-2026", c) for c in ("house", "senate")]
    cli_output.print_outputs(settings, parts)
    out = capsys.readouterr().out
    house, senate = out.split("simulated.91st_2025-2026 / senate")
    assert "gates: rhat 1.003 PASS" in house and "1.02" not in house
    assert "gates (flat model: the hierarchical model was not fitted): rhat 1.004 PASS" in senate


@pytest.mark.slow  # a real `legis-assets run` process (Dagster, PyMC imports): ~30 s
def test_run_refuses_bad_input_with_one_line_and_the_pipeline_exit_code(tmp_path):
    """A bad vote code through `legis-assets run` (a real process): one `error: <file>, line N, ...`
    line on stderr, no Dagster stack trace or class name anywhere on the terminal, exit code 2 as
    through `pipeline`, and the full Dagster log (with the trace) in the log file whose path is printed."""
    import subprocess

    from legis_assets_tests.reliability import support

    session_dir = tmp_path / "data" / support.LEGISLATURE / support.SESSION
    support.write_simulated(session_dir, seats=20, n_rollcalls=40)
    header, rows = support.read_rows(support.csv_path(session_dir, "votes"))
    rows[10]["vote"] = "Yes"
    support.write_rows(support.csv_path(session_dir, "votes"), header, rows)
    args = [
        "--data-dir",
        str(tmp_path / "data"),
        "--session",
        support.KEY,
        "--chamber",
        support.CHAMBER,
        "--profile",
        "quick",
    ]

    pipeline_code, _, pipeline_err = support.run_cli(["pipeline", *args], tmp_path / "home-pipeline")
    proc = subprocess.run(
        support.cli_command("run", *args),
        env=support.child_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert proc.returncode == pipeline_code == 2, (proc.stdout[-2000:], proc.stderr[-2000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    expected = (
        f"error: {support.csv_path(session_dir, 'votes')}, line {support.line_of(10)}, column 'vote': "
        "unknown vote code 'Yes'"
    )
    assert len(errors) == 1 and errors[0].startswith(expected), proc.stderr[-3000:]
    assert [line for line in pipeline_err.splitlines() if line.startswith("error: ")] == errors
    for stream in (proc.stdout, proc.stderr):
        assert "Stack Trace" not in stream and "dagster._core" not in stream and "Traceback" not in stream
    logs = [line.split(": ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("Dagster log: ")]
    assert len(logs) == 1 and Path(logs[0]).parent == tmp_path / "home" / "logs"
    log = Path(logs[0]).read_text()
    assert "STEP_FAILURE" in log and "Stack Trace:" in log and "unknown vote code 'Yes'" in log


def _export_warehouse(home: Path) -> Warehouse:
    wh = Warehouse(home / "warehouse.duckdb")
    for key, chamber, xs in (
        ("simulated.91st_2025-2026", "house", [-1.0, 1.0]),
        ("simulated.91st_2025-2026", "senate", [0.5]),
        ("simulated.90th_2023-2024", "house", [2.0, -2.0, 0.0]),
    ):
        wh.replace_partition(
            "ideal_points",
            SessionKey.parse(key),
            chamber,
            pl.DataFrame(
                {"legislator_slug": [f"s{i}" for i in range(len(xs))], "name": ['Ann, "A"'] * len(xs), "x": xs}
            ),
        )
    # a table another step adds later is exported too (the export is generic over the tables)
    wh.replace_partition(
        "some_new_table", SessionKey.parse("simulated.91st_2025-2026"), "house", pl.DataFrame({"k": [1, 2, 3]})
    )
    wh.replace_scale("scale_positions", "simulated", pl.DataFrame({"person": ["p"], "mean": [0.1]}))
    return wh


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trips_every_table_and_one_session(tmp_path, monkeypatch, capsys, fmt):
    monkeypatch.setenv("LEGIS_HOME", str(tmp_path / "home"))
    wh = _export_warehouse(tmp_path / "home")
    read = pl.read_csv if fmt == "csv" else pl.read_parquet

    out = tmp_path / "all"
    assert cli.main(["export", "--out", str(out), "--format", fmt]) == 0
    assert {p.name for p in out.iterdir()} == {
        f"{t}.{fmt}" for t in ("ideal_points", "some_new_table", "scale_positions")
    }
    for table in ("ideal_points", "some_new_table", "scale_positions"):
        back = read(out / f"{table}.{fmt}")
        expected = wh.query(f"SELECT * FROM {table}")
        assert back.sort(back.columns).equals(expected.sort(expected.columns)), table

    one = tmp_path / "one"
    assert (
        cli.main(
            [
                "export",
                "--out",
                str(one),
                "--format",
                fmt,
                "--session",
                "simulated.91st_2025-2026",
                "--chamber",
                "house",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "skipped scale_positions" in printed
    back = read(one / f"ideal_points.{fmt}")
    assert back["x"].to_list() == [-1.0, 1.0] and set(back["session_key"]) == {"simulated.91st_2025-2026"}
    assert set(back["chamber"]) == {"house"} and back["name"][0] == 'Ann, "A"'
    assert read(one / f"some_new_table.{fmt}").height == 3
    assert not (one / f"scale_positions.{fmt}").exists()
    assert not [p for p in one.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_export_refuses_unknown_session_and_format_and_keeps_earlier_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEGIS_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    assert cli.main(["export", "--out", str(out)]) == 2  # no warehouse yet
    assert "no warehouse at" in capsys.readouterr().err
    _export_warehouse(tmp_path / "home")
    assert cli.main(["export", "--out", str(out)]) == 0
    before = (out / "ideal_points.csv").read_bytes()
    capsys.readouterr()
    assert cli.main(["export", "--out", str(out), "--session", "simulated.99th_2099-2100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the warehouse has no results for simulated.99th_2099-2100") and "Traceback" not in err
    assert "simulated.91st_2025-2026 / house" in err
    assert cli.main(["export", "--out", str(out), "--session", "../etc"]) == 2
    assert "invalid session key" in capsys.readouterr().err
    assert cli.main(["export", "--out", str(out), "--format", "xlsx"]) == 2
    assert "unknown export format 'xlsx'" in capsys.readouterr().err
    assert (out / "ideal_points.csv").read_bytes() == before


def test_gate_values_read_as_numbers_on_the_terminal():
    from legis_assets.scale_status import number

    assert number(11480.4) == "11,480" and number(1000) == "1,000"
    assert number(1.00349) == "1.003" and number(0.9774) == "0.9774" and number(0) == "0"


def _evaluation(check: str, passed: bool, error: bool, value: float = 1.05):
    from types import SimpleNamespace

    import dagster as dg

    severity = dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN
    return SimpleNamespace(
        asset_key=dg.AssetKey("common_scale_posterior"),
        check_name=check,
        passed=passed,
        severity=severity,
        metadata={"value": dg.MetadataValue.float(value), "threshold": dg.MetadataValue.float(1.01)},
    )


def _step_failure(step: str, description: str | None = None, message: str = ""):
    from types import SimpleNamespace

    user = SimpleNamespace(description=description) if description is not None else None
    error = SimpleNamespace(message=message, cls_name="ValueError", cause=None)
    return SimpleNamespace(
        is_step_failure=True, step_key=step, step_failure_data=SimpleNamespace(user_failure_data=user, error=error)
    )


def _result(success: bool, evaluations=(), events=()):
    from types import SimpleNamespace

    return SimpleNamespace(
        success=success,
        get_asset_check_evaluations=lambda: list(evaluations),
        all_events=list(events),
        dagster_run=None,
    )


def test_a_finished_run_is_reported_the_same_way_for_partitions_and_scales(tmp_path, monkeypatch, capsys):
    """cli_runs.report_run (both `run`'s partitions and the common scale): the status line, the
    failed checks, and the exit class: refused input, a failed step, a failed gate (with its alert)."""
    from legis_assets import cli_runs
    from legis_assets.defs import alerts
    from legis_assets.settings import Settings

    settings = Settings(data_dir=tmp_path, home=tmp_path / "home")
    log = tmp_path / "run.log"
    label, run_id = "testleg common scale", "0123456789abcdef"
    ok = _result(True, [_evaluation("connected", False, error=False)])
    assert cli_runs.report_run(ok, label, run_id, 12.4, None, settings, log) == "succeeded"
    out = capsys.readouterr().out
    assert f"=== {label}: run 01234567 succeeded in 12 s ===" in out
    assert "check common_scale_posterior:connected failed (WARN)" in out

    refused = _result(False, events=[_step_failure("people", "testleg: people_overrides.csv: line 3: bad id")])
    assert cli_runs.report_run(refused, label, run_id, 1, None, settings, log) == "refused"
    captured = capsys.readouterr()
    assert "REFUSED its input" in captured.out
    assert captured.err.strip() == "error: testleg: people_overrides.csv: line 3: bad id"

    crashed = _result(False, events=[_step_failure("scale_positions", message="boom\ndetail")])
    assert cli_runs.report_run(crashed, label, run_id, 1, None, settings, log) == "failed"
    err = capsys.readouterr().err
    assert err.strip() == f"error: {label}: step scale_positions failed: boom (full trace in {log})"

    sent = []
    monkeypatch.setattr(
        alerts,
        "deliver_run_alerts",
        lambda *a: (
            sent.append(a)
            or [({"asset": "common_scale_posterior", "check": "rhat"}, {"written": True, "posted": False})]
        ),
    )
    gate = _result(False, [_evaluation("rhat", False, error=True, value=1.0523)], [_step_failure("x")])
    assert cli_runs.report_run(gate, label, run_id, 1, None, settings, log) == "failed"
    captured = capsys.readouterr()
    assert f"GATE FAILURE: {label}: convergence gates failed: rhat: 1.052 (threshold 1.01)" in captured.err
    assert "check common_scale_posterior:rhat failed (ERROR)" in captured.out
    assert f"alert for common_scale_posterior:rhat: sent to {settings.home / 'alerts.jsonl'}" in captured.out
    assert len(sent) == 1
