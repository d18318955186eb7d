"""Alerts on convergence failure: the pure alert path (legis_assets.automation) and the
run-failure sensor on a real failed run (a tiny asset with a blocking ERROR check; no MCMC)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from dagster import DagsterEventType

from legis_assets import automation
from legis_assets.defs.alerts import convergence_failure_alert, deliver_run_alerts, failed_error_checks
from legis_assets.defs.partitions import partition_key, session_chamber
from legis_assets.defs.resources import LegisResource

SESSION = "kansas.91st_2025-2026"


class Webhook:
    """A local HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self, status: int = 200):
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append(json.loads(body))
                hook.headers.append(dict(self.headers))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-listens"


# --- pure alert path ------------------------------------------------------------------------


def record(**kw):
    base = dict(
        session=SESSION,
        chamber="senate",
        asset="hierarchical_posterior",
        check="ess",
        value=120.5,
        threshold=400.0,
        severity="ERROR",
        run_id="r1",
        timestamp=0.0,
    )
    return automation.alert_record(**{**base, **kw})


def test_alert_record_fields():
    rec = record(value=float("nan"))
    assert rec == {
        "session": SESSION,
        "chamber": "senate",
        "asset": "hierarchical_posterior",
        "check": "ess",
        "value": None,
        "threshold": 400.0,
        "severity": "error",
        "run_id": "r1",
        "time": "1970-01-01T00:00:00Z",
    }


def test_append_alert_writes_json_lines_once(tmp_path):
    path = tmp_path / "home" / "alerts.jsonl"
    assert automation.append_alert(path, record())
    assert automation.append_alert(path, record(check="rhat", value=1.05, threshold=1.01))
    assert not automation.append_alert(path, record())  # same run, asset, check, partition
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and [json.loads(x)["check"] for x in lines] == ["ess", "rhat"]


def test_append_alert_from_many_threads(tmp_path):
    path = tmp_path / "alerts.jsonl"
    threads = [threading.Thread(target=automation.append_alert, args=(path, record(run_id=f"r{i}"))) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["run_id"] for r in automation.read_alerts(path)) == sorted(f"r{i}" for i in range(20))


def test_post_json_reaches_the_server(webhook):
    assert automation.post_json(webhook.url, record(), backoff=0.01)
    assert webhook.received == [record()]
    assert webhook.headers[0]["Content-Type"] == "application/json"


def test_post_json_retries_then_gives_up_without_raising(webhook):
    webhook.status = 503
    slept = []
    assert not automation.post_json(webhook.url, record(), attempts=3, backoff=0.5, sleep=slept.append)
    assert len(webhook.received) == 3 and slept == [0.5, 1.0]
    assert not automation.post_json(closed_port_url(), record(), attempts=2, backoff=0.01)
    assert not automation.post_json("not a url", record(), attempts=1)


def test_deliver_alert_with_webhook_down_still_writes(tmp_path):
    status = automation.deliver_alert(record(), tmp_path, closed_port_url(), attempts=2, backoff=0.01)
    assert status == {"written": True, "posted": False}
    assert automation.read_alerts(tmp_path / "alerts.jsonl") == [record()]


def test_deliver_alert_never_raises_on_unwritable_home(tmp_path, webhook):
    home = tmp_path / "file-not-dir"
    home.write_text("")
    status = automation.deliver_alert(record(), home, webhook.url, backoff=0.01)
    assert status["written"] is None and status["posted"] is True  # the webhook still hears about it


# --- the run-failure sensor on a real failed run ---------------------------------------------


@dg.asset(
    name="hierarchical_posterior",
    partitions_def=session_chamber,
    check_specs=[
        dg.AssetCheckSpec("ess", asset="hierarchical_posterior", blocking=True, partitions_def=session_chamber),
        dg.AssetCheckSpec("rhat", asset="hierarchical_posterior", blocking=True, partitions_def=session_chamber),
        dg.AssetCheckSpec("divergences", asset="hierarchical_posterior", blocking=True, partitions_def=session_chamber),
        dg.AssetCheckSpec("ebfmi", asset="hierarchical_posterior", partitions_def=session_chamber),
    ],
)
def fake_posterior(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Stands in for the MCMC asset: ESS and divergences fail (blocking ERROR), R-hat passes,
    E-BFMI fails (WARN)."""
    return dg.MaterializeResult(
        check_results=[
            dg.AssetCheckResult(
                check_name="ess",
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"value": 37.5, "threshold": 400.0},
            ),
            dg.AssetCheckResult(
                check_name="rhat",
                passed=True,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"value": 1.001, "threshold": 1.01},
            ),
            dg.AssetCheckResult(
                check_name="divergences",
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"value": 3.0, "threshold": 0.0},
            ),
            dg.AssetCheckResult(
                check_name="ebfmi",
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"value": 0.2, "threshold": 0.3},
            ),
        ]
    )


@dg.asset(partitions_def=session_chamber)
def healthy(context: dg.AssetExecutionContext) -> None:
    pass


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("session", [SESSION])
        yield inst


def failed_run(instance, asset=fake_posterior):
    result = dg.materialize(
        [asset], partition_key=partition_key(SESSION, "senate"), instance=instance, raise_on_error=False
    )
    return result


def alert(instance, result, home) -> None:
    """Evaluate the run-failure sensor for `result`'s failure, as the daemon does."""
    (failure,) = [e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE]
    with dg.build_run_status_sensor_context(
        sensor_name="convergence_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
        resources={"legis": LegisResource(home=str(home))},
    ) as ctx:
        convergence_failure_alert(ctx.for_run_failure())


def test_failed_error_checks_reads_the_runs_events(instance):
    result = failed_run(instance)
    assert not result.success
    # one alert for the partition: the WARN failure and the passing rhat are not in it
    (rec,) = failed_error_checks(instance, result.dagster_run)
    assert rec["check"] == "ess" and rec["value"] == 37.5 and rec["threshold"] == 400.0
    assert [(c["check"], c["value"], c["threshold"]) for c in rec["failed_checks"]] == [
        ("ess", 37.5, 400.0),
        ("divergences", 3.0, 0.0),
    ]
    assert (rec["session"], rec["chamber"], rec["partition"]) == (SESSION, "senate", "senate|" + SESSION)


def test_run_failure_sensor_writes_line_and_posts(instance, tmp_path, webhook, monkeypatch):
    monkeypatch.setenv("LEGIS_ALERT_WEBHOOK", webhook.url)
    result = failed_run(instance)
    t0 = time.time()
    alert(instance, result, tmp_path)
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert {
        k: line[k] for k in ("session", "chamber", "asset", "check", "value", "threshold", "severity", "run_id")
    } == {
        "session": SESSION,
        "chamber": "senate",
        "asset": "hierarchical_posterior",
        "check": "ess",
        "value": 37.5,
        "threshold": 400.0,
        "severity": "error",
        "run_id": result.run_id,
    }
    assert abs(time.mktime(time.strptime(line["time"], "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.gmtime(t0))) < 120
    assert webhook.received == [line]

    # the same failure delivered again (e.g. the daemon restarted mid-alert): no second line or POST
    alert(instance, result, tmp_path)
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1
    assert len(webhook.received) == 1


def test_run_failure_sensor_with_webhook_down(instance, tmp_path, monkeypatch):
    monkeypatch.setenv("LEGIS_ALERT_WEBHOOK", closed_port_url())
    monkeypatch.setenv("LEGIS_ALERT_BACKOFF", "0.01")
    result = failed_run(instance)
    alert(instance, result, tmp_path)  # no exception
    (line,) = automation.read_alerts(tmp_path / "alerts.jsonl")
    assert line["check"] == "ess" and line["run_id"] == result.run_id


def test_run_failure_without_failed_checks_alerts_once_as_run_failed(instance, tmp_path, webhook, monkeypatch):
    """A daemon-launched run that fails for another reason (bad input, a killed worker) alerts once
    as `run_failed`, naming the step and its error; the CLI's path (run_failures=False) does not."""
    monkeypatch.setenv("LEGIS_ALERT_WEBHOOK", webhook.url)

    @dg.asset(partitions_def=session_chamber, name="votes")
    def broken(context):
        raise dg.Failure("bad input: votes.csv line 3")

    result = failed_run(instance, broken)
    assert not result.success
    assert deliver_run_alerts(instance, result.dagster_run, tmp_path) == []
    assert not (tmp_path / "alerts.jsonl").exists()
    alert(instance, result, tmp_path)
    alert(instance, result, tmp_path)  # a second evaluation does not alert twice
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and len(webhook.received) == 1
    (record,) = lines
    assert record["check"] == "run_failed" and record["asset"] == "votes"
    assert "bad input: votes.csv line 3" in record["description"]
    assert (record["session"], record["chamber"]) == (SESSION, "senate")


def test_alert_sensor_is_on_by_default():
    from legis_assets.definitions import defs

    (sensor,) = [s for s in defs.sensors if s.name == "convergence_failure_alert"]
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


# --- every launch path alerts once -------------------------------------------------------------------

LAUNCH_TAGS = {
    "ui": {},
    "schedule": {"dagster/schedule_name": "current_session_rebuild", "legis/trigger": "schedule"},
    "data_sensor": {"dagster/sensor_name": "session_data_sensor", "legis/trigger": "data_sensor"},
    "backfill": {"dagster/backfill": "abcdefgh"},
}


@pytest.mark.parametrize("launch", sorted(LAUNCH_TAGS))
def test_run_failure_sensor_alerts_once_whatever_launched_the_run(launch, instance, tmp_path, webhook, monkeypatch):
    """UI, schedule, data sensor and backfill runs all reach the run-failure sensor: one line, one POST."""
    monkeypatch.setenv("LEGIS_ALERT_WEBHOOK", webhook.url)
    result = dg.materialize(
        [fake_posterior],
        partition_key=partition_key(SESSION, "senate"),
        instance=instance,
        raise_on_error=False,
        tags=LAUNCH_TAGS[launch],
    )
    assert not result.success
    alert(instance, result, tmp_path)
    alert(instance, result, tmp_path)  # delivered twice: still one
    (line,) = automation.read_alerts(tmp_path / "alerts.jsonl")
    assert line["run_id"] == result.run_id and line["check"] == "ess"
    assert webhook.received == [line]


def _starved_cli_run(data_root, home, webhook, monkeypatch):
    from legis_assets_tests.reliability import support

    monkeypatch.setenv("LEGIS_ALERT_WEBHOOK", webhook.url)
    code, out, err = support.run_cli(
        [
            "run",
            "--data-dir",
            str(data_root),
            "--session",
            "simulated.2025-2026",
            "--chamber",
            "senate",
            "--profile",
            "starved",
        ],
        home,
    )
    return code, out, err


@pytest.mark.slow
def test_cli_run_with_a_failed_gate_alerts_once_and_the_sensor_adds_nothing(
    small_session_root, tmp_path, webhook, monkeypatch
):
    """`legis-assets run` executes in process: no run-failure sensor ever sees its runs, so the CLI
    alerts itself, through the sensor's own delivery function. The sensor evaluated on the same
    failed run afterwards finds the alert already sent: no second line, no second POST."""
    home = tmp_path / "home"
    code, out, err = _starved_cli_run(small_session_root, home, webhook, monkeypatch)
    assert code == 1, (out[-3000:], err[-3000:])  # a failed gate: exit 1, as `pipeline`
    assert "GATE FAILURE: simulated.2025-2026 / senate: convergence gates failed" in err
    lines = automation.read_alerts(home / "alerts.jsonl")
    assert len(lines) == 1, lines
    (line,) = lines
    assert (line["session"], line["chamber"], line["asset"], line["severity"]) == (
        "simulated.2025-2026",
        "senate",
        "hierarchical_posterior",
        "error",
    )
    assert line["run_id"] in out and "alert for hierarchical_posterior" in out
    assert webhook.received == [line]

    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as inst:
        run = inst.get_run_by_id(line["run_id"])
        assert run.status == dg.DagsterRunStatus.FAILURE
        (failure,) = inst.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
        with dg.build_run_status_sensor_context(
            sensor_name="convergence_failure_alert",
            dagster_instance=inst,
            dagster_run=run,
            dagster_event=failure.dagster_event,
            resources={"legis": LegisResource(home=str(home))},
        ) as ctx:
            convergence_failure_alert(ctx.for_run_failure())
    assert automation.read_alerts(home / "alerts.jsonl") == [line]
    assert len(webhook.received) == 1
