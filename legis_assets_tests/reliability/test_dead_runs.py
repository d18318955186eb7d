"""A killed run must not wedge the instance (issue 12, item 1).

A `legis-assets run` killed with SIGKILL stays STARTED in the Dagster instance and keeps the only
slot of the `mcmc` pool; before the fix every later run waited for that slot, silently and forever.
Now `legis-assets run` finds runs whose process is gone (pid + host + process start time in the run's
tags), reports them failed and frees their pool slots before it runs anything; a step that waits for
a slot says which run holds it; and the dagster.yaml written for the instance turns on Dagster's run
monitoring (daemon-launched runs that never start, and slots of finished runs).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from legis_assets import dagster_home
from legis_assets.dagster_home import (
    TAG_PID,
    TAG_PID_START,
    clean_up_dead_runs,
    ensure_dagster_home,
    process_start_time,
    this_process_tags,
)
from legis_assets_tests.reliability import support

POOL = "mcmc"


@pytest.fixture
def instance(tmp_path):
    home = ensure_dagster_home(tmp_path / "dagster_home")
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def _dead_pid() -> tuple[int, str | None]:
    """The pid (and start token) of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    start = process_start_time(proc.pid)
    proc.wait()
    return proc.pid, start


def _started_run(instance, tags: dict[str, str]) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="legis_all", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED, tags=tags)
    instance.add_run(run)
    return run


def _claim(instance, run_id: str, step: str) -> bool:
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    return storage.claim_concurrency_slot(POOL, run_id, step).is_claimed


def _holders(instance) -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots}


# --- the instance config ----------------------------------------------------------------------------


def test_instance_config_enables_run_monitoring_and_validates(tmp_path):
    home = ensure_dagster_home(tmp_path / "dagster_home")
    written = yaml.safe_load((home / "dagster.yaml").read_text())
    assert written["run_monitoring"]["enabled"] is True
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(home))  # Dagster's own schema validation: raises if a key is unknown
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    with dg.DagsterInstance.from_config(str(home)) as inst:
        assert inst.run_monitoring_enabled
        assert inst.run_monitoring_start_timeout_seconds == dagster_home.RUN_MONITORING["start_timeout_seconds"]
        assert (
            inst.run_monitoring_settings["free_slots_after_run_end_seconds"]
            == dagster_home.RUN_MONITORING["free_slots_after_run_end_seconds"]
        )
        assert inst.event_log_storage.get_pool_config().default_pool_limit == 1


# --- dead-run detection on a real instance (no MCMC) ------------------------------------------------


def test_a_dead_cli_run_is_marked_failed_and_its_slot_freed_a_live_one_is_not(instance):
    pid, start = _dead_pid()
    dead = _started_run(
        instance, {**this_process_tags(), TAG_PID: str(pid), **({TAG_PID_START: start} if start else {})}
    )
    assert _claim(instance, dead.run_id, "flat_posterior")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _started_run(
            instance,
            {**this_process_tags(), TAG_PID: str(sleeper.pid), TAG_PID_START: process_start_time(sleeper.pid) or ""},
        )
        # a live pid with another start time is a reused pid: its run is dead
        reused = _started_run(instance, {**this_process_tags(), TAG_PID: str(sleeper.pid), TAG_PID_START: "1"})
        # a run of another machine is not ours to judge
        elsewhere = _started_run(instance, {**this_process_tags(), TAG_PID: str(pid), "legis/host": "other-host"})
        assert _holders(instance) == {dead.run_id}

        cleaned = clean_up_dead_runs(instance)

        assert {c.run_id for c in cleaned} == (
            {dead.run_id, reused.run_id} if Path("/proc").exists() else {dead.run_id}
        )
        (first,) = [c for c in cleaned if c.run_id == dead.run_id]
        assert first.freed_slots == 1 and f"pid {pid}" in first.reason
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED
        assert instance.get_run_by_id(elsewhere.run_id).status == dg.DagsterRunStatus.STARTED
        assert _holders(instance) == set()
        failure = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert len(failure) == 1 and "is gone" in failure[0].message
        assert clean_up_dead_runs(instance) == []  # idempotent
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_dead_daemon_run_worker_is_found_from_its_engine_event(instance):
    """A run launched by the daemon has no legis/* tags: its worker's pid is in Dagster's
    'Started process for run (pid: N)' engine event."""
    pid, _ = _dead_pid()
    run = _started_run(instance, {"dagster/schedule_name": "current_session_rebuild"})
    from dagster._core.events import EngineEventData

    # the event Dagster's run worker writes first (dagster/_grpc/impl.py)
    instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    assert _claim(instance, run.run_id, "hierarchical_posterior")
    (cleaned,) = clean_up_dead_runs(instance)
    assert cleaned.run_id == run.run_id and cleaned.process.launcher == "daemon" and cleaned.freed_slots == 1
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert _holders(instance) == set()


def test_the_dead_run_sensor_fails_dead_runs_while_the_daemon_runs(instance):
    """The same check as a sensor (on by default), so a daemon-launched run whose worker was killed
    mid-step frees its slot without waiting for the next `legis-assets run`."""
    from legis_assets.definitions import defs
    from legis_assets.defs.alerts import DEAD_RUN_SENSOR_NAME, dead_run_cleanup

    (sensor,) = [s for s in defs.sensors if s.name == DEAD_RUN_SENSOR_NAME]
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    pid, start = _dead_pid()
    run = _started_run(instance, {**this_process_tags(), TAG_PID: str(pid), TAG_PID_START: start or ""})
    assert _claim(instance, run.run_id, "flat_posterior")
    skip = dead_run_cleanup(dg.build_sensor_context(instance=instance))
    assert run.run_id in skip.skip_message
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert _holders(instance) == set()
    assert dead_run_cleanup(dg.build_sensor_context(instance=instance)).skip_message == "no dead run"


def test_a_step_waiting_for_a_slot_names_the_run_holding_it(instance, capsys):
    """The watcher of `legis-assets run` prints which run holds the slot a step waits for."""
    from legis_assets.cli import _RunWatcher

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = _started_run(
            instance,
            {**this_process_tags(), TAG_PID: str(sleeper.pid), TAG_PID_START: process_start_time(sleeper.pid) or ""},
        )
        assert _claim(instance, holder.run_id, "flat_posterior")
        waiting = str(uuid.uuid4())
        assert not _claim(instance, waiting, "flat_posterior")  # blocked: pending in the pool's queue
        out = ""
        with _RunWatcher(instance, waiting, io.StringIO(), notice_seconds=0, progress_prefix="x:"):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "waiting" not in out:
                time.sleep(0.5)
                out += capsys.readouterr().out
        assert f"for a slot of pool {POOL} (limit 1), held by run {holder.run_id}" in out, out
        assert f"pid {sleeper.pid}" in out and "launched by legis-assets run" in out
    finally:
        sleeper.kill()
        sleeper.wait()


def test_giving_up_leaves_no_claim_while_dagster_keeps_claiming(instance):
    """SIGTERM while waiting: the watcher frees the run's claims while Dagster's wait loop (another
    thread) keeps re-claiming every moment. Freeing once let a claim in flight re-insert the pending
    step after the process exited (CI, stop 19); no claim of the run may survive."""
    import threading

    from legis_assets.cli import _RunWatcher
    from legis_assets.dagster_home import run_claims

    holder = str(uuid.uuid4())
    assert _claim(instance, holder, "hierarchical_posterior")
    waiting = str(uuid.uuid4())
    stop = threading.Event()
    claims = []

    def dagster_wait_loop():  # what Dagster's in-process executor does while a step waits
        while not stop.is_set():
            claims.append(_claim(instance, waiting, "hierarchical_posterior"))
            time.sleep(0.01)

    loop = threading.Thread(target=dagster_wait_loop, daemon=True)
    loop.start()
    try:
        while len(claims) < 5:
            time.sleep(0.01)
        watcher = _RunWatcher(instance, waiting, io.StringIO(), notice_seconds=60, progress_prefix="x:")
        watcher._drop_claims()
        time.sleep(1.0)  # the wait loop had ~100 chances to re-claim meanwhile
        assert run_claims(instance, waiting) == (0, 0)
        assert loop.is_alive()  # blocked in its next claim, as the exiting process leaves it
        assert _holders(instance) == {holder}
    finally:
        stop.set()


# --- the real thing: `legis-assets run` killed with SIGKILL while it samples ------------------------


@pytest.mark.slow
def test_a_run_killed_mid_sampling_does_not_wedge_the_next_run(tmp_path):
    """Kill `legis-assets run` (its whole process group, as `kill -9 -- -PGID` does) while the flat
    model samples with the `default` profile; the next `legis-assets run` on the same LEGIS_HOME
    reports the dead run, fails it, frees its slot and runs to the end instead of waiting forever."""
    data = tmp_path / "data"
    support.write_simulated(data / support.LEGISLATURE / support.SESSION, seats=20, n_rollcalls=40)
    home = tmp_path / "home"
    args = ["run", "--data-dir", str(data), "--session", support.KEY, "--chamber", support.CHAMBER]
    proc = subprocess.Popen(
        # reference: 1500 tuning draws, so the kill lands mid-sampling even on a fast, quiet machine
        support.cli_command(*args, "--profile", "reference"),
        env=support.child_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        watcher = support.LineWatcher(proc)
        watcher.wait_for(lambda line: "flat: compiled" in line, timeout=600)
        time.sleep(1.0)
        assert proc.poll() is None, "the run ended before it could be killed mid-sampling:\n" + watcher.text()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    first = watcher.text()
    assert "flat: sampled" not in first, first[-2000:]
    killed_run = next(line for line in first.splitlines() if "materializing" in line).split("run ")[-1].rstrip(") =\n")

    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as inst:
        (record,) = inst.get_run_records()
        assert record.dagster_run.status == dg.DagsterRunStatus.STARTED  # what the kill leaves behind
        assert record.dagster_run.run_id.startswith(killed_run)
        assert _holders(inst) == {record.dagster_run.run_id}
        dead_id = record.dagster_run.run_id

    t0 = time.monotonic()
    again = subprocess.Popen(
        support.cli_command(*args, "--profile", "starved"),
        env=support.child_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        watcher = support.LineWatcher(again)
        warning = watcher.wait_for(lambda line: line.startswith("warning: run "), timeout=600)
        cleaned = time.monotonic() - t0
        watcher.wait_for(lambda line: "hierarchical: sampled" in line, timeout=1200)
        again.wait(timeout=600)
    finally:
        if again.poll() is None:
            os.killpg(again.pid, signal.SIGKILL)
            again.wait()
    output = watcher.text()
    print(
        f"\nwedged instance: dead run failed and its slot freed {cleaned:.0f} s after the next "
        f"`legis-assets run` started; that run finished in {time.monotonic() - t0:.0f} s"
    )
    # it ran every step (the starved profile fails the gates on purpose: exit 1, not a hang)
    assert again.returncode == 1, output[-3000:]
    assert warning.startswith(f"warning: run {dead_id} was STARTED but its process (pid {proc.pid}"), warning
    assert "marked failed, 1 pool slot(s) freed" in warning
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as inst:
        statuses = {r.dagster_run.run_id: r.dagster_run.status for r in inst.get_run_records()}
        assert statuses[dead_id] == dg.DagsterRunStatus.FAILURE
        assert len(statuses) == 2 and set(statuses.values()) == {dg.DagsterRunStatus.FAILURE}
        assert _holders(inst) == set()


@pytest.mark.slow
def test_a_run_waiting_for_a_live_holder_says_so_and_stops_on_sigterm(tmp_path):
    """A real `legis-assets run` whose MCMC step waits for a slot held by a live run names that run;
    SIGTERM then cancels the waiting run and exits (Dagster alone ignored the signal while waiting)."""
    data = tmp_path / "data"
    support.write_simulated(data / support.LEGISLATURE / support.SESSION, seats=20, n_rollcalls=40)
    home = tmp_path / "home"
    home_dir = ensure_dagster_home(home / "dagster_home")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
    proc = None
    try:
        with dg.DagsterInstance.from_config(str(home_dir)) as inst:
            holder = _started_run(
                inst,
                {
                    **this_process_tags(),
                    TAG_PID: str(sleeper.pid),
                    TAG_PID_START: process_start_time(sleeper.pid) or "",
                },
            )
            assert _claim(inst, holder.run_id, "hierarchical_posterior")
        proc = subprocess.Popen(
            support.cli_command(
                "run",
                "--data-dir",
                str(data),
                "--session",
                support.KEY,
                "--chamber",
                support.CHAMBER,
                "--profile",
                "starved",
            ),
            env=support.child_env(home, LEGIS_POOL_WAIT_NOTICE="2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        watcher = support.LineWatcher(proc)
        notice = watcher.wait_for(lambda line: "for a slot of pool mcmc" in line, timeout=600)
        assert f"held by run {holder.run_id} (step hierarchical_posterior, STARTED, pid {sleeper.pid}" in notice
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 130, watcher.text()[-3000:]
        assert "interrupted while waiting for a slot of pool mcmc" in watcher.text()
        with dg.DagsterInstance.from_config(str(home_dir)) as inst:
            mine = [r.dagster_run for r in inst.get_run_records() if r.dagster_run.run_id != holder.run_id]
            assert [r.status for r in mine] == [dg.DagsterRunStatus.CANCELED]
            info = inst.event_log_storage.get_concurrency_info(POOL)
            assert {s.run_id for s in info.claimed_slots} == {holder.run_id}
            assert [p.run_id for p in info.pending_steps if p.run_id != holder.run_id] == []
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        sleeper.kill()
        sleeper.wait()
