"""A daemon-launched run whose run worker is SIGKILLed mid-step, under the real `dagster dev`.

The data sensor launches a Senate run (default profile, in-process executor: one run worker process
per run); once its MCMC step holds the only slot of the `mcmc` pool, the run worker is killed with
SIGKILL. The run must end up FAILURE and the slot must be freed (Dagster's code server notices its
dead run worker and fails the run; the run-monitoring config written by `ensure_dagster_home` frees
the slots of finished runs; the `dead_run_cleanup` sensor fails runs whose worker is gone if nobody
else did), so the pool can be claimed again. Before, the slot stayed claimed forever and every later
MCMC step waited silently.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import dagster as dg
import pytest

from legis_assets.dagster_home import ensure_dagster_home, run_process
from legis_assets_tests.integration.support import DagsterDev, drop_session

pytestmark = pytest.mark.integration

POOL = "mcmc"


def _holders(instance) -> set[str]:
    return {s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots}


def _wait(predicate, timeout: float, what: str, dev: DagsterDev):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{dev.tail(80)}")


@pytest.mark.timeout(900)
def test_a_daemon_run_killed_mid_step_is_failed_and_frees_its_pool_slot(tmp_path):
    data_dir, home = tmp_path / "data", tmp_path / "legis_home"
    data_dir.mkdir()
    dagster_home = ensure_dagster_home(tmp_path / "dagster_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGIS_", "DAGSTER_"))}
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "LEGIS_DATA_DIR": str(data_dir),
            "LEGIS_HOME": str(home),
            "LEGIS_PROFILE": "default",
            "LEGIS_SENSOR_DEFAULT_RUNNING": "1",
            "LEGIS_SENSOR_STABLE_SECONDS": "2",
            "LEGIS_SENSOR_INTERVAL": "5",
            "LEGIS_DEAD_RUN_INTERVAL": "5",
            "LEGIS_EXECUTOR": "in_process",
        }
    )
    dev = DagsterDev(env, tmp_path / "dagster_dev.log")
    try:
        dev.wait_ready()
        drop_session(data_dir, 2031, seed=1)
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            # the run's MCMC step holds the pool's only slot
            holder = _wait(lambda: next(iter(_holders(instance)), None), 600, "an MCMC step holding the slot", dev)
            run = instance.get_run_by_id(holder)
            assert run.status == dg.DagsterRunStatus.STARTED
            assert run.tags.get("dagster/sensor_name") == "session_data_sensor"
            proc = run_process(instance, run)
            assert proc is not None and proc.launcher == "daemon", proc
            time.sleep(2.0)
            os.kill(proc.pid, signal.SIGKILL)
            t_kill = time.monotonic()

            _wait(
                lambda: instance.get_run_by_id(holder).status == dg.DagsterRunStatus.FAILURE,
                300,
                "the killed run to be marked failed",
                dev,
            )
            t_failed = time.monotonic() - t_kill
            _wait(lambda: holder not in _holders(instance), 300, "the killed run's slot to be freed", dev)
            t_freed = time.monotonic() - t_kill
            print(
                f"\ndaemon run worker killed mid-step: run FAILURE after {t_failed:.0f} s, "
                f"mcmc slot free after {t_freed:.0f} s"
            )
            failure = instance.all_logs(holder, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert failure, "no RUN_FAILURE event for the killed run"
            print(f"failed by: {failure[0].message[:200]!r}")

            # the pool is usable again: a new claim gets the slot
            probe = str(uuid.uuid4())
            storage = instance.event_log_storage
            assert storage.claim_concurrency_slot(POOL, probe, "probe").is_claimed
            storage.free_concurrency_slots_for_run(probe)
    except BaseException:
        print(f"--- dagster dev log ---\n{dev.tail(150)}")
        raise
    finally:
        dev.stop()
