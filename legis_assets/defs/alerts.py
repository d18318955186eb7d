"""Alerts on convergence failure, through Dagster's run-failure sensor.

Why this mechanism: the convergence gates (`rhat`, `ess`, `divergences` on hierarchical_posterior)
are blocking ERROR checks, so a failed gate fails its run. `@run_failure_sensor` is the public,
daemon-driven hook that fires once per failed run (its cursor lives in the instance, so it survives
restarts). For the failed run it reads the run's ASSET_CHECK_EVALUATION events
(`instance.all_logs(run_id, of_type=...)`, the stable route in Dagster 1.13) and alerts once per
failed ERROR-severity check: one JSON line in `$LEGIS_HOME/alerts.jsonl` and, if
`LEGIS_ALERT_WEBHOOK` is set, the same JSON POSTed there (timeout 5 s, 3 attempts with backoff).
A run that the daemon launched (UI, schedule, sensor, backfill) and that fails for another reason
(bad input, a crashed or killed worker) alerts too, once, as check `run_failed` with the failed
step and its error: nobody watches a terminal for those runs. `legis-assets run` prints such
failures itself (one `error:` line, exit code 2), so on that path only the convergence gates alert.
WARN checks never fail a run and are not alerted.

The sensor is on by default (alerts must not depend on a click); it monitors every job of the code
location, including runs launched from the asset graph, by a schedule, a sensor or a backfill.
`legis-assets run` executes its runs in process (`execute_in_process`): such runs belong to no code
location, so no run-failure sensor ever sees them; the CLI delivers their alerts itself through
`deliver_run_alerts`, the same function, and the de-duplication in alerts.jsonl (by run id + asset +
check + partition) makes sure a run alerts once whichever path delivers it. Nothing on the alert
path raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from legis_assets import automation
from legis_assets.defs.partitions import session_chamber
from legis_assets.defs.resources import LegisResource
from legis_assets.settings import Deployment

ALERT_SENSOR_NAME = "convergence_failure_alert"


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _session_chamber(partition: str | None, run: dg.DagsterRun) -> tuple[str | None, str | None]:
    tags = run.tags or {}
    if partition:
        try:
            dims = session_chamber.get_partition_key_from_str(partition).keys_by_dimension
            return dims.get("session"), dims.get("chamber")
        except Exception:  # not a session x chamber key: fall back to the run's tags
            pass
    return tags.get("dagster/partition/session"), tags.get("dagster/partition/chamber")


#: the order in which failed gates are named; the first failed one is the alert's `check`
GATE_ORDER = ("rhat", "ess", "divergences")


def failed_error_checks(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dict[str, Any]]:
    """One alert record per (asset, partition) of `run` with failed ERROR-severity checks.

    A non-converging partition usually fails several gates at once (a starved chain has both a high
    R-hat and a low ESS); the analyst gets one alert for it: `check`, `value` and `threshold` name
    the first failed gate (in GATE_ORDER), `failed_checks` lists every failed ERROR gate.
    """
    groups: dict[tuple, dict[str, Any]] = {}
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = entry.get_dagster_event().asset_check_evaluation_data
        if ev.passed or ev.severity != dg.AssetCheckSeverity.ERROR:
            continue
        metadata = {k: _metadata_value(v) for k, v in (ev.metadata or {}).items()}
        partition = ev.partition or (run.tags or {}).get("dagster/partition")
        asset = ev.asset_key.to_user_string()
        group = groups.setdefault((asset, partition), {"timestamp": entry.timestamp, "failed": []})
        group["failed"].append(
            {
                "check": ev.check_name,
                "value": metadata.get("value"),
                "threshold": metadata.get("threshold"),
                "description": ev.description,
            }
        )
    records = []
    for (asset, partition), group in groups.items():
        failed = sorted(
            group["failed"],
            key=lambda c: (GATE_ORDER.index(c["check"]) if c["check"] in GATE_ORDER else len(GATE_ORDER), c["check"]),
        )
        first = failed[0]
        session, chamber = _session_chamber(partition, run)
        record = automation.alert_record(
            session=session,
            chamber=chamber,
            asset=asset,
            check=first["check"],
            value=first["value"],
            threshold=first["threshold"],
            severity=dg.AssetCheckSeverity.ERROR.value,
            run_id=run.run_id,
            timestamp=group["timestamp"],
            partition=partition,
            description=first["description"],
        )
        record["failed_checks"] = [{k: automation._plain(v) for k, v in c.items() if v is not None} for c in failed]
        records.append(record)
    return records


def run_failure_record(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, Any]:
    """The alert of a run that failed without a failed ERROR check (bad input, a crashed or killed
    step): `check` is `run_failed`, `asset` the first failed step (or `run`), `description` its
    error's first line."""
    step, message, timestamp = "run", "the run failed", None
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = entry.get_dagster_event()
        step = event.step_key or step
        error = getattr(event.step_failure_data, "error", None)
        message = (getattr(error, "message", "") or message).strip().splitlines()[0]
        timestamp = entry.timestamp
        break
    else:
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE):
            event = entry.get_dagster_event()
            message = (event.message or message).strip().splitlines()[0]
            timestamp = entry.timestamp
    partition = (run.tags or {}).get("dagster/partition")
    session, chamber = _session_chamber(partition, run)
    return automation.alert_record(
        session=session,
        chamber=chamber,
        asset=step,
        check="run_failed",
        value=None,
        threshold=None,
        severity=dg.AssetCheckSeverity.ERROR.value,
        run_id=run.run_id,
        timestamp=timestamp,
        partition=partition,
        description=message,
    )


def deliver_run_alerts(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    home: Path,
    log: Any = None,
    run_failures: bool = False,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Deliver the alerts of one failed run (the sensor and `legis-assets run` both call this).

    Each record goes through `automation.deliver_alert`, which de-duplicates by run id + asset +
    check + partition in alerts.jsonl and POSTs only a new line: whichever launch path delivers
    first writes the line and POSTs, the other one finds the line and does nothing.
    `run_failures`: a run that failed without a failed ERROR check alerts as `run_failed` (the
    sensor's path; the CLI prints those failures itself).
    Returns (record, {"written": ..., "posted": ...}) per record; never raises.
    """
    log = log or automation.log
    try:
        records = failed_error_checks(instance, run)
        if not records and run_failures:
            records = [run_failure_record(instance, run)]
    except Exception as err:  # never break the daemon's sensor loop or the CLI's summary
        log.error(f"could not read the check results of run {run.run_id}: {err}")
        return []
    if not records:
        log.info(f"run {run.run_id} failed without a failed ERROR check: no alert")
        return []
    deployment = Deployment.from_env()
    webhook = deployment.alert_webhook
    out = []
    for record in records:
        status = automation.deliver_alert(
            record,
            home,
            webhook,
            timeout=deployment.alert_timeout,
            attempts=deployment.alert_attempts,
            backoff=deployment.alert_backoff,
        )
        out.append((record, status))
        where = f"{automation.alerts_path(home)}" + (" and the webhook" if status["posted"] else "")
        if status["written"] is False:
            log.info(f"alert for {record['check']} of run {record['run_id']} was already sent")
        else:
            log.info(
                f"alert: {record['session']} {record['chamber']} {record['asset']}:{record['check']} "
                f"= {record['value']} (threshold {record['threshold']}) -> {where}"
            )
            if webhook and not status["posted"]:
                log.warning("the alert webhook did not accept the alert (see the daemon log)")
    return out


def send_convergence_alerts(context: dg.RunFailureSensorContext, legis: LegisResource) -> int:
    """Deliver the alerts of one failed run; returns how many new alert lines were written."""
    try:
        home = legis.settings().home
    except Exception as err:
        context.log.error(f"could not resolve LEGIS_HOME ({err}); using ./.legis")
        home = Path(".legis").resolve()
    delivered = deliver_run_alerts(context.instance, context.dagster_run, home, context.log, run_failures=True)
    return sum(bool(status["written"]) for _, status in delivered)


@dg.run_failure_sensor(
    name=ALERT_SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=Deployment.from_env().alert_interval,
    description="A failed run with failed ERROR convergence checks -> one line per failed partition "
    "(every failed gate listed) in $LEGIS_HOME/alerts.jsonl and a POST to LEGIS_ALERT_WEBHOOK if set; "
    "a run failed for another reason (bad input, a killed worker) -> one `run_failed` line with its error.",
)
def convergence_failure_alert(context: dg.RunFailureSensorContext, legis: LegisResource) -> None:
    send_convergence_alerts(context, legis)


DEAD_RUN_SENSOR_NAME = "dead_run_cleanup"


@dg.sensor(
    name=DEAD_RUN_SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=Deployment.from_env().dead_run_interval,
    description="A run left STARTED by a process that is gone (a killed `legis-assets run`, a run worker killed "
    "mid-step) -> reported failed with the reason, and its pool slots (mcmc) freed, so later runs "
    "do not wait for them forever. Dagster's own run monitoring cannot see a dead run worker "
    "under the default run launcher.",
)
def dead_run_cleanup(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    from legis_assets.dagster_home import clean_up_dead_runs

    try:
        cleaned = clean_up_dead_runs(context.instance)
    except Exception as err:  # never break the daemon's sensor loop
        context.log.error(f"could not check for dead runs: {err}")
        return dg.SkipReason(f"dead-run check failed: {err}")
    for dead in cleaned:
        context.log.warning(f"run {dead.run_id}: {dead.reason} ({dead.freed_slots} slot(s))")
    if cleaned:
        return dg.SkipReason(
            f"failed {len(cleaned)} dead run(s) and freed their pool slots: " + ", ".join(d.run_id for d in cleaned)
        )
    return dg.SkipReason("no dead run")


ALERT_SENSORS = [convergence_failure_alert, dead_run_cleanup]
