"""The data-directory sensor: pure scan logic (legis_assets.automation) and the Dagster sensor
evaluated with `build_sensor_context` against a real (temporary) instance."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from legis_assets import automation
from legis_assets.core.simulate import ChamberSpec, simulate_session, write_session
from legis_assets.defs.partitions import partition_key, session_partitions
from legis_assets.defs.resources import LegisResource
from legis_assets.defs.sensors import JOB_NAME, evaluate_data_root, session_data_sensor

TINY = ChamberSpec(seats=8, n_rollcalls=6, replacements=0)


def write(data_root: Path, legislature: str, session: str, chambers=("senate",), seed: int = 1) -> Path:
    sims = simulate_session(seed=seed, start_year=2031, specs={c: TINY for c in chambers})
    return write_session(sims, data_root / legislature / session, write_truth=False)


def age(path: Path, seconds: float = 60.0) -> None:
    """Pretend a file was last written `seconds` ago."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def age_tree(root: Path, seconds: float = 60.0) -> None:
    for p in root.rglob("*.csv"):
        age(p, seconds)


def key(legislature: str, session: str, chamber: str) -> str:
    return str(partition_key(f"{legislature}.{session}", chamber))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(autouse=True)
def no_stability_wait(monkeypatch):
    monkeypatch.setenv("LEGIS_SENSOR_STABLE_SECONDS", "0")


def tick(instance, data_root: Path, cursor: str | None) -> dg.SensorResult:
    # `with`: the context opens its own handle on the instance; leaving it closes that handle
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"legis": LegisResource(data_dir=str(data_root))}
    ) as ctx:
        return session_data_sensor(ctx)


def apply(instance, result: dg.SensorResult) -> None:
    """What the daemon does with a tick's partition requests (build_sensor_context applies nothing)."""
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))


def added(result: dg.SensorResult) -> dict[str, list[str]]:
    """The partitions a tick adds, by partitions definition (session, legislature)."""
    return {r.partitions_def_name: list(r.partition_keys) for r in result.dynamic_partitions_requests or []}


def requested(result: dg.SensorResult) -> list[str]:
    return sorted(str(r.partition_key) for r in result.run_requests or [])


# --- pure scan logic ---------------------------------------------------------------------------


def test_scan_new_unchanged_changed_removed(tmp_path):
    root = tmp_path / "data"
    write(root, "kansas", "91st_2025-2026")
    first = automation.scan_data_root(root, {}, stable_seconds=0)
    assert first.changed == first.new == ["kansas.91st_2025-2026"]
    state = first.sessions["kansas.91st_2025-2026"]
    assert state.gen == 1 and sorted(state.files) == [
        "91st_2025-2026_legislators.csv",
        "91st_2025-2026_rollcalls.csv",
        "91st_2025-2026_votes.csv",
    ]

    again = automation.scan_data_root(root, first.sessions, stable_seconds=0)
    assert again.changed == [] and again.sessions["kansas.91st_2025-2026"].gen == 1

    votes = root / "kansas/91st_2025-2026/91st_2025-2026_votes.csv"
    votes.write_bytes(votes.read_bytes() + b"")  # rewritten, same content
    age(votes, 5)
    touched = automation.scan_data_root(root, again.sessions, stable_seconds=0)
    assert touched.changed == []
    assert touched.sessions["kansas.91st_2025-2026"].files[votes.name].mtime_ns == votes.stat().st_mtime_ns

    lines = votes.read_text().splitlines(keepends=True)
    votes.write_text("".join(lines[:-1]))  # one vote fewer
    changed = automation.scan_data_root(root, touched.sessions, stable_seconds=0)
    assert changed.changed == ["kansas.91st_2025-2026"] and changed.new == []
    assert changed.sessions["kansas.91st_2025-2026"].gen == 2

    (root / "kansas/91st_2025-2026").rename(tmp_path / "moved")
    removed = automation.scan_data_root(root, changed.sessions, stable_seconds=0)
    assert removed.removed == ["kansas.91st_2025-2026"] and removed.changed == []
    assert removed.sessions["kansas.91st_2025-2026"].files == {}  # tombstone keeps the generation
    (tmp_path / "moved").rename(root / "kansas/91st_2025-2026")
    back = automation.scan_data_root(root, removed.sessions, stable_seconds=0)
    assert back.changed == ["kansas.91st_2025-2026"]
    assert back.sessions["kansas.91st_2025-2026"].gen == 3  # a fresh run key


def test_only_changed_files_are_rehashed(tmp_path, monkeypatch):
    root = tmp_path / "data"
    write(root, "kansas", "91st_2025-2026")
    first = automation.scan_data_root(root, {}, stable_seconds=0)
    hashed = []
    real = automation.file_sha256
    monkeypatch.setattr(automation, "file_sha256", lambda p: hashed.append(Path(p).name) or real(p))
    automation.scan_data_root(root, first.sessions, stable_seconds=0)
    assert hashed == []
    legislators = root / "kansas/91st_2025-2026/91st_2025-2026_legislators.csv"
    legislators.write_text(legislators.read_text())
    age(legislators, 3)
    automation.scan_data_root(root, first.sessions, stable_seconds=0)
    assert hashed == [legislators.name]


def test_file_still_being_written_is_left_for_the_next_tick(tmp_path):
    root = tmp_path / "data"
    write(root, "kansas", "91st_2025-2026")
    votes = root / "kansas/91st_2025-2026/91st_2025-2026_votes.csv"
    age_tree(root, 60)
    with open(votes, "a") as handle:  # the scraper is still appending
        handle.write("")
    os.utime(votes)  # modified just now
    scan = automation.scan_data_root(root, {}, stable_seconds=10)
    assert scan.changed == [] and "kansas.91st_2025-2026" in scan.pending
    assert "kansas.91st_2025-2026" not in scan.sessions  # not recorded half-done
    age(votes, 11)
    later = automation.scan_data_root(root, scan.sessions, stable_seconds=10)
    assert later.changed == ["kansas.91st_2025-2026"] and later.pending == {}


def test_incomplete_session_waits_for_all_three_files(tmp_path):
    root = tmp_path / "data"
    session = write(root, "kansas", "91st_2025-2026")
    (session / "91st_2025-2026_legislators.csv").unlink()
    scan = automation.scan_data_root(root, {}, stable_seconds=0)
    assert scan.changed == [] and "missing" in scan.pending["kansas.91st_2025-2026"]


def test_stray_files_do_not_trigger(tmp_path):
    root = tmp_path / "data"
    session = write(root, "kansas", "91st_2025-2026")
    first = automation.scan_data_root(root, {}, stable_seconds=0)
    (session / "failure_manifest.json").write_text("{}")
    (session / ".cache").mkdir()
    assert automation.scan_data_root(root, first.sessions, stable_seconds=0).changed == []


def test_cursor_round_trip_and_garbage():
    state = {"kansas.91st_2025-2026": automation.SessionState({"a.csv": automation.FileState(3, 10, "ab" * 32)}, gen=2)}
    text = automation.dump_cursor(state)
    assert json.loads(text)["sessions"]["kansas.91st_2025-2026"] == {"gen": 2, "files": {"a.csv": [3, 10, "ab" * 32]}}
    back = automation.load_cursor(text)
    assert back["kansas.91st_2025-2026"].files == state["kansas.91st_2025-2026"].files
    assert back["kansas.91st_2025-2026"].gen == 2
    assert automation.load_cursor(None) == {} and automation.load_cursor("not json") == {}
    assert automation.load_cursor('{"sessions": 3}') == {}


def test_chambers_with_data(tmp_path):
    both = write(tmp_path, "kansas", "91st_2025-2026", chambers=("house", "senate"))
    senate = write(tmp_path, "kansas", "90th_2023-2024", chambers=("senate",))
    assert automation.chambers_with_data(both) == ["house", "senate"]
    assert automation.chambers_with_data(senate) == ["senate"]
    broken = tmp_path / "kansas" / "2024s"
    broken.mkdir()
    (broken / "2024s_rollcalls.csv").write_bytes(b"\xff\xfe garbage")
    assert automation.chambers_with_data(broken) == ["house", "senate"]  # let ingest report the error


# --- the Dagster sensor ---------------------------------------------------------------------------


def test_sensor_adds_partition_and_requests_chambers_with_data(instance, tmp_path):
    root = tmp_path / "data"
    write(root, "kansas", "91st_2025-2026", chambers=("senate",))
    result = tick(instance, root, None)
    assert requested(result) == [key("kansas", "91st_2025-2026", "senate")]  # no House data -> no House run
    assert added(result) == {session_partitions.name: ["kansas.91st_2025-2026"], "legislature": ["kansas"]}
    (req,) = result.run_requests
    digest = automation.load_cursor(result.cursor)["kansas.91st_2025-2026"].digest
    assert req.run_key == f"{req.partition_key}:1:{digest[:16]}"
    assert req.tags["legis/trigger"] == "data_sensor"
    assert session_data_sensor.job_name == JOB_NAME


def test_sensor_requests_nothing_on_unchanged_tree_and_keeps_cursor(instance, tmp_path):
    root = tmp_path / "data"
    write(root, "kansas", "91st_2025-2026", chambers=("house", "senate"))
    first = tick(instance, root, None)
    apply(instance, first)
    assert requested(first) == [key("kansas", "91st_2025-2026", "house"), key("kansas", "91st_2025-2026", "senate")]
    second = tick(instance, root, first.cursor)
    assert second.run_requests == [] and not second.dynamic_partitions_requests
    assert second.skip_reason is not None
    assert json.loads(second.cursor) == json.loads(first.cursor)  # cursor kept
    # a "restarted daemon" evaluating from the stored cursor sees nothing new either
    third = tick(instance, root, second.cursor)
    assert third.run_requests == []


def test_sensor_requests_exactly_the_changed_partitions(instance, tmp_path):
    root = tmp_path / "data"
    write(root, "kansas", "90th_2023-2024", chambers=("house", "senate"))
    write(root, "kansas", "91st_2025-2026", chambers=("senate",))
    first = tick(instance, root, None)
    apply(instance, first)
    assert len(first.run_requests) == 3

    # change one file of the 91st, add a new session with both chambers; the 90th is untouched
    votes = root / "kansas/91st_2025-2026/91st_2025-2026_votes.csv"
    votes.write_text("".join(votes.read_text().splitlines(keepends=True)[:-1]))
    write(root, "california", "2019-2020", chambers=("house", "senate"), seed=2)
    second = tick(instance, root, first.cursor)
    assert requested(second) == sorted(
        [
            key("kansas", "91st_2025-2026", "senate"),
            key("california", "2019-2020", "house"),
            key("california", "2019-2020", "senate"),
        ]
    )
    # the 91st and kansas are already registered
    assert added(second) == {"session": ["california.2019-2020"], "legislature": ["california"]}
    apply(instance, second)
    assert sorted(instance.get_dynamic_partitions("session")) == [
        "california.2019-2020",
        "kansas.90th_2023-2024",
        "kansas.91st_2025-2026",
    ]
    assert sorted(instance.get_dynamic_partitions("legislature")) == ["california", "kansas"]
    assert tick(instance, root, second.cursor).run_requests == []


def test_run_keys_are_stable_across_a_lost_cursor_update(instance, tmp_path):
    """A daemon that launched runs but crashed before saving the cursor re-evaluates from the old
    cursor: the same run keys come back, so Dagster does not launch the work twice."""
    root = tmp_path / "data"
    write(root, "kansas", "91st_2025-2026")
    first = tick(instance, root, None)
    apply(instance, first)
    votes = root / "kansas/91st_2025-2026/91st_2025-2026_votes.csv"
    votes.write_text("".join(votes.read_text().splitlines(keepends=True)[:-1]))
    a = tick(instance, root, first.cursor)
    b = tick(instance, root, first.cursor)
    assert [r.run_key for r in a.run_requests] == [r.run_key for r in b.run_requests]
    assert {r.run_key for r in a.run_requests}.isdisjoint({r.run_key for r in first.run_requests})


def test_sensor_waits_for_stable_files(instance, tmp_path, monkeypatch):
    root = tmp_path / "data"
    write(root, "kansas", "91st_2025-2026")
    with dg.build_sensor_context(
        instance=instance, cursor=None, resources={"legis": LegisResource(data_dir=str(root))}
    ) as ctx:
        waiting = evaluate_data_root(ctx, LegisResource(data_dir=str(root)), stable_seconds=30)
    assert waiting.run_requests == [] and "waiting for kansas.91st_2025-2026" in waiting.skip_reason.skip_message
    assert automation.load_cursor(waiting.cursor) == {}
    monkeypatch.setenv("LEGIS_SENSOR_STABLE_SECONDS", "30")
    age_tree(root, 31)
    assert requested(tick(instance, root, waiting.cursor)) == [key("kansas", "91st_2025-2026", "senate")]


def test_sensor_in_definitions():
    from legis_assets.definitions import defs

    (sensor,) = [s for s in defs.sensors if s.name == "session_data_sensor"]
    assert sensor.job_name == JOB_NAME
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED  # turned on in the UI (or by env)


def test_sensor_adds_a_legislature_once_whatever_its_sessions_do(instance, tmp_path):
    """The common scale's `legislature` partitions follow the data root: added with the first session
    of a legislature, not again for its later sessions, and kept when a session directory is removed."""
    root = tmp_path / "data"
    write(root, "kansas", "90th_2023-2024")
    first = tick(instance, root, None)
    assert added(first)["legislature"] == ["kansas"]
    apply(instance, first)
    write(root, "kansas", "91st_2025-2026", seed=3)
    second = tick(instance, root, first.cursor)
    assert added(second) == {"session": ["kansas.91st_2025-2026"]}
    apply(instance, second)
    import shutil

    shutil.rmtree(root / "kansas" / "90th_2023-2024")
    third = tick(instance, root, second.cursor)
    assert not third.dynamic_partitions_requests and third.run_requests == []
    assert instance.get_dynamic_partitions("legislature") == ["kansas"]


def test_common_scale_sensor_in_definitions():
    from legis_assets.definitions import defs

    (sensor,) = [s for s in defs.sensors if s.name == "common_scale_sensor"]
    assert sensor.job_name == "legis_scale"
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
