"""End to end with the real `dagster dev` (webserver + daemon + code server).

Scenario, on a temporary DAGSTER_HOME, LEGIS_HOME and data directory, with the data sensor on by
default (LEGIS_SENSOR_DEFAULT_RUNNING=1) and the alert webhook pointed at a local HTTP server:

1. a new session directory (simulated Senate only, 30 seats x 80 roll calls) is dropped into the
   data directory -> the sensor registers the `session` partition and launches exactly one run
   (Senate; no House data -> no House run); the run finishes; the hierarchical_posterior check
   results are read through the webserver's GraphQL API. With the `default` profile and seed 7
   this partition converges (measured: R-hat 1.006, ESS 1229), so no alert is expected; the test
   asserts in general that alerts == failed ERROR checks.
2. `dagster dev` is restarted with LEGIS_PROFILE=starved (2 chains x 20 draws, always fails the ESS
   gate), which also checks that the sensor cursor survives a daemon restart (the first session is
   not run again); a second session is dropped in -> one run, which fails its blocking gates ->
   the run-failure sensor writes exactly one alert line per failed ERROR check (the `ess` check
   among them) and POSTs each exactly once, with no duplicates on later ticks.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from legis_assets import automation
from legis_assets.dagster_home import ensure_dagster_home
from legis_assets_tests.integration.support import DagsterDev, drop_session

pytestmark = pytest.mark.integration

GATES = ("rhat", "ess", "divergences", "ebfmi", "agrees_with_flat")
ERROR_GATES = {"rhat", "ess", "divergences"}
RUN_TIMEOUT = 360  # seconds for one partition run (measured ~1-2 min on 2 busy cores)
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


class Webhook:
    def __init__(self):
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


RUNS = """query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) {
  __typename ... on Runs { results { runId status tags { key value } } } ... on PythonError { message } } }"""
CHECKS = """query($key: AssetKeyInput!, $name: String!, $partition: String) {
  assetCheckExecutions(assetKey: $key, checkName: $name, partition: $partition, limit: 5) {
    runId status partition
    evaluation { success severity partition
      metadataEntries { label ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue } } } } }"""


def runs_for(dev: DagsterDev, partition: str) -> list[dict]:
    data = dev.gql(RUNS, {"tags": [{"key": "dagster/partition", "value": partition}]})["runsOrError"]
    assert data["__typename"] == "Runs", data
    return data["results"]


def wait_for_run(dev: DagsterDev, partition: str, timeout: float = RUN_TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = runs_for(dev, partition)
        if runs and all(r["status"] in TERMINAL for r in runs):
            assert len(runs) == 1, f"expected one run for {partition}, got {runs}"
            return runs[0]
        time.sleep(3)
    raise AssertionError(f"no finished run for {partition} after {timeout} s (runs: {runs}):\n{dev.tail()}")


def check_results(dev: DagsterDev, partition: str, run_id: str) -> dict[str, dict]:
    out = {}
    for name in GATES:
        execs = dev.gql(CHECKS, {"key": {"path": ["hierarchical_posterior"]}, "name": name, "partition": partition})[
            "assetCheckExecutions"
        ]
        mine = [e for e in execs if e["runId"] == run_id]
        assert mine, f"no {name} check result for {partition} in run {run_id}: {execs}"
        out[name] = mine[0]
    return out


def alerts_for(home: Path, session: str) -> list[dict]:
    return [a for a in automation.read_alerts(home / "alerts.jsonl") if a["session"] == session]


def wait_for(predicate, timeout: float, what: str, dev: DagsterDev) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}:\n{dev.tail()}")


@pytest.mark.timeout(900)
def test_sensor_runs_checks_and_alerts_through_dagster_dev(tmp_path):
    t_start = time.monotonic()
    data_dir, home = tmp_path / "data", tmp_path / "legis_home"
    data_dir.mkdir()
    dagster_home = ensure_dagster_home(tmp_path / "dagster_home")
    hook = Webhook()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGIS_", "DAGSTER_"))}
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "LEGIS_DATA_DIR": str(data_dir),
            "LEGIS_HOME": str(home),
            "LEGIS_PROFILE": "default",
            "LEGIS_SEED": "7",
            "LEGIS_SENSOR_DEFAULT_RUNNING": "1",
            "LEGIS_SENSOR_STABLE_SECONDS": "2",
            "LEGIS_SENSOR_INTERVAL": "5",
            "LEGIS_ALERT_INTERVAL": "5",
            "LEGIS_ALERT_WEBHOOK": hook.url,
            "LEGIS_ALERT_BACKOFF": "0.2",
            # one process per run instead of one per step: saves ~30 s of imports per step on 2 busy cores
            "LEGIS_EXECUTOR": "in_process",
        }
    )
    log = tmp_path / "dagster_dev.log"
    dev = DagsterDev(env, log)
    try:
        # --- 1: a new session -> partition + one Senate run -> check results via GraphQL -------------
        dev.wait_ready()
        first = drop_session(data_dir, 2031, seed=1)
        part1 = f"senate|{first}"
        run1 = wait_for_run(dev, part1)
        assert runs_for(dev, f"house|{first}") == []  # no House roll calls -> no House run
        tags = {t["key"]: t["value"] for t in run1["tags"]}
        assert tags["dagster/sensor_name"] == "session_data_sensor"
        assert tags["dagster/partition/session"] == first and tags["dagster/partition/chamber"] == "senate"
        assert tags["dagster/run_key"].startswith(f"{part1}:1:")
        checks1 = check_results(dev, part1, run1["runId"])
        for name, ex in checks1.items():
            assert ex["status"] in ("SUCCEEDED", "FAILED"), (name, ex)
            assert ex["evaluation"]["partition"] == part1
        failed1 = {n for n, ex in checks1.items() if ex["status"] == "FAILED" and n in ERROR_GATES}
        assert (run1["status"] == "SUCCESS") == (not failed1), (run1, checks1)
        if failed1:  # not expected with this seed; the alert must still list exactly the failed gates
            wait_for(lambda: len(alerts_for(home, first)) >= 1, 60, "the alert of the first run", dev)
        assert {c["check"] for a in alerts_for(home, first) for c in a["failed_checks"]} == failed1
        dev.stop()

        # --- 2: restart with a starved sampler; cursor survives; a non-converging partition alerts --
        env["LEGIS_PROFILE"] = "starved"
        dev = DagsterDev(env, log)
        dev.wait_ready()
        second = drop_session(data_dir, 2033, seed=2)
        part2 = f"senate|{second}"
        run2 = wait_for_run(dev, part2)
        assert run2["status"] == "FAILURE", run2
        assert len(runs_for(dev, part1)) == 1  # the unchanged first session was not run again
        checks2 = check_results(dev, part2, run2["runId"])
        failed2 = {n for n, ex in checks2.items() if ex["status"] == "FAILED" and n in ERROR_GATES}
        assert "ess" in failed2, checks2
        ess = checks2["ess"]["evaluation"]
        assert ess["success"] is False and ess["severity"] == "ERROR"

        wait_for(
            lambda: len(alerts_for(home, second)) >= 1 and sum(p["session"] == second for p in hook.received) >= 1,
            90,
            "the alert line and POST of the failed run",
            dev,
        )
        time.sleep(12)  # two more alert-sensor ticks: nothing is sent twice
        lines = alerts_for(home, second)
        posts = [p for p in hook.received if p["session"] == second]
        assert len(lines) == 1 and posts == lines  # exactly one alert line and one POST for the partition
        (line,) = lines
        assert {c["check"] for c in line["failed_checks"]} == failed2  # listing every failed ERROR gate
        assert line["run_id"] == run2["runId"] and line["chamber"] == "senate"
        assert line["asset"] == "hierarchical_posterior" and line["severity"] == "error"
        (ess_line,) = [c for c in line["failed_checks"] if c["check"] == "ess"]
        assert ess_line["threshold"] == 400.0 and ess_line["value"] < 400.0
        assert len(automation.read_alerts(home / "alerts.jsonl")) == (1 if failed1 else 0) + 1
    except BaseException:
        print(f"--- dagster dev log ({log}) ---\n{dev.tail(150)}")
        raise
    finally:
        dev.stop()
        hook.close()
        print(f"integration test wall time: {time.monotonic() - t_start:.0f} s")

    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert sorted(instance.get_dynamic_partitions("session")) == sorted([first, second])
