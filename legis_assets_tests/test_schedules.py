"""The scheduled rebuild of the current session."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import dagster as dg
import pytest

from legis_assets import automation
from legis_assets.core.simulate import ChamberSpec, simulate_session, write_session
from legis_assets.defs import schedules
from legis_assets.defs.resources import LegisResource

TINY = ChamberSpec(seats=8, n_rollcalls=6, replacements=0)


def write(data_root: Path, legislature: str, session: str, chambers=("senate",)) -> None:
    sims = simulate_session(seed=3, start_year=2031, specs={c: TINY for c in chambers})
    write_session(sims, data_root / legislature / session, write_truth=False)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def evaluate(instance, data_root: Path):
    # `with`: the context opens its own handle on the instance; leaving it closes that handle
    with dg.build_schedule_context(
        instance=instance,
        resources={"legis": LegisResource(data_dir=str(data_root))},
        scheduled_execution_time=dt.datetime(2031, 3, 1, 3, 0, tzinfo=dt.UTC),
    ) as ctx:
        return schedules.current_session_rebuild(ctx)


def test_session_sort_key_orders_by_years_then_name():
    keys = ["kansas.90th_2023-2024", "kansas.2024s", "kansas.91st_2025-2026", "kansas.notes", "kansas.84th_2011-2012"]
    assert sorted(keys, key=automation.session_sort_key) == [
        "kansas.notes",
        "kansas.84th_2011-2012",
        "kansas.90th_2023-2024",
        "kansas.2024s",
        "kansas.91st_2025-2026",
    ]


def test_current_sessions_newest_per_legislature_or_override():
    registered = [
        "kansas.90th_2023-2024",
        "kansas.91st_2025-2026",
        "california.2019-2020",
        "us_congress.97th_1981-1982",
        "us_congress.117th_2021-2022",
        "us_congress.107th_2001-2002",
    ]
    assert automation.current_sessions(registered) == [
        "california.2019-2020",
        "kansas.91st_2025-2026",
        "us_congress.117th_2021-2022",
    ]
    assert automation.current_sessions(["kansas.90th_2023-2024"]) == ["kansas.90th_2023-2024"]
    assert automation.current_sessions([]) == []
    assert automation.current_sessions(registered, " kansas.90th_2023-2024 ,california.2019-2020") == [
        "kansas.90th_2023-2024",
        "california.2019-2020",
    ]
    with pytest.raises(ValueError):
        automation.current_sessions(registered, "../etc")


def test_schedule_defaults():
    s = schedules.current_session_rebuild
    assert s.cron_schedule == "0 3 * * *"
    assert s.execution_timezone == "UTC"
    assert s.job_name == "legis_all"
    assert s.default_status == dg.DefaultScheduleStatus.STOPPED


def test_schedule_cron_and_timezone_from_env(monkeypatch):
    monkeypatch.setenv("LEGIS_SCHEDULE_CRON", "30 1 * * 1")
    monkeypatch.setenv("LEGIS_SCHEDULE_TZ", "America/Chicago")
    monkeypatch.setenv("LEGIS_SCHEDULE_DEFAULT_RUNNING", "1")
    try:
        module = importlib.reload(schedules)
        s = module.current_session_rebuild
        assert (s.cron_schedule, s.execution_timezone) == ("30 1 * * 1", "America/Chicago")
        assert s.default_status == dg.DefaultScheduleStatus.RUNNING
    finally:
        monkeypatch.undo()
        importlib.reload(schedules)


def test_schedule_skips_without_sessions(instance, tmp_path):
    result = evaluate(instance, tmp_path)
    assert isinstance(result, dg.SkipReason) and "no session registered" in result.skip_message


def test_schedule_requests_newest_session_chambers_with_data(instance, tmp_path):
    write(tmp_path, "kansas", "90th_2023-2024", chambers=("house", "senate"))
    write(tmp_path, "kansas", "91st_2025-2026", chambers=("senate",))
    instance.add_dynamic_partitions("session", ["kansas.90th_2023-2024", "kansas.91st_2025-2026"])
    requests = evaluate(instance, tmp_path)
    assert [str(r.partition_key) for r in requests] == ["senate|kansas.91st_2025-2026"]
    assert requests[0].tags["legis/trigger"] == "schedule"
    assert requests[0].run_key.startswith("senate|kansas.91st_2025-2026@2031-03-01T03:00")


def test_schedule_override_by_env(instance, tmp_path, monkeypatch):
    write(tmp_path, "kansas", "90th_2023-2024", chambers=("house", "senate"))
    write(tmp_path, "kansas", "91st_2025-2026", chambers=("senate",))
    instance.add_dynamic_partitions("session", ["kansas.90th_2023-2024", "kansas.91st_2025-2026"])
    monkeypatch.setenv("LEGIS_CURRENT_SESSION", "kansas.90th_2023-2024")
    requests = evaluate(instance, tmp_path)
    assert sorted(str(r.partition_key) for r in requests) == [
        "house|kansas.90th_2023-2024",
        "senate|kansas.90th_2023-2024",
    ]
    monkeypatch.setenv("LEGIS_CURRENT_SESSION", "kansas.89th_2021-2022")
    skipped = evaluate(instance, tmp_path)
    assert isinstance(skipped, dg.SkipReason) and "not a registered session" in skipped.skip_message


def test_schedule_skips_when_directory_is_gone(instance, tmp_path):
    instance.add_dynamic_partitions("session", ["kansas.91st_2025-2026"])
    result = evaluate(instance, tmp_path)
    assert isinstance(result, dg.SkipReason) and "no directory" in result.skip_message


def test_schedule_in_definitions():
    from legis_assets.definitions import defs

    (schedule,) = [s for s in defs.schedules if s.name == "current_session_rebuild"]
    assert schedule.job_name == "legis_all"
