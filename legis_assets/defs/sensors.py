"""The data-directory sensor: new or changed session files -> session partitions + runs.

Every tick (`LEGIS_SENSOR_INTERVAL` seconds, default 30) it scans `LEGIS_DATA_DIR` with
`automation.scan_data_root` against its cursor (content hashes per session, stored by the Dagster
instance, so it survives daemon restarts):

* a new session directory -> the `session` partition is added and one run of `legis_all` is
  requested per chamber that has roll calls;
* a changed input file (votes, roll calls, legislators) -> runs for that session's chambers only;
* nothing changed (or files only touched, same content) -> no run;
* a legislature seen for the first time -> its `legislature` partition is added (the common-scale
  assets, defs/common_scale.py; their own sensor requests the rebuild once the sessions are built);
* a file missing or modified less than `LEGIS_SENSOR_STABLE_SECONDS` (default 10) ago -> the
  session is left for a later tick, not recorded in the cursor.

Run keys are `<partition>:<generation>:<content digest>`, so a restarted daemon never launches the
same work twice. The sensor is off until turned on in the UI (Automation tab), like every Dagster
sensor; `LEGIS_SENSOR_DEFAULT_RUNNING=1` makes it start on by default (used by the integration test
and unattended deployments).
"""

from __future__ import annotations

import dagster as dg

from legis_assets import automation
from legis_assets.defs.partitions import LEGISLATURE, SESSION, legislature_partitions, partition_key, session_partitions
from legis_assets.defs.resources import LegisResource
from legis_assets.settings import Deployment

#: the job the sensor and the schedule launch (defined in legis_assets/definitions.py)
JOB_NAME = "legis_all"
SENSOR_NAME = "session_data_sensor"
TRIGGER_TAG = "legis/trigger"
DIGEST_TAG = "legis/content_digest"


def _default_status(running: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def evaluate_data_root(
    context: dg.SensorEvaluationContext, legis: LegisResource, stable_seconds: float | None = None
) -> dg.SensorResult:
    """One tick of the sensor (separate from the decorator so tests can pass `stable_seconds`)."""
    if stable_seconds is None:
        stable_seconds = Deployment.from_env().sensor_stable_seconds
    settings = legis.settings()
    data_root = settings.data_dir
    previous = automation.load_cursor(context.cursor)
    scan = automation.scan_data_root(
        data_root, previous, stable_seconds=stable_seconds, allow_outside_root=settings.allow_outside_root
    )

    run_requests: list[dg.RunRequest] = []
    for key in scan.changed:
        chambers = automation.chambers_with_data(scan.directories[key])
        if not chambers:
            context.log.info(f"{key}: no House or Senate roll calls in the files; nothing to run")
        digest = scan.sessions[key].digest
        for chamber in chambers:
            pk = partition_key(key, chamber)
            run_requests.append(
                dg.RunRequest(
                    run_key=scan.run_key(key, str(pk)),
                    partition_key=pk,
                    tags={TRIGGER_TAG: "data_sensor", DIGEST_TAG: digest[:16]},
                )
            )
    # register new sessions (also ones whose directory came back after a partition was deleted)
    to_add = sorted({key for key in scan.changed if not context.instance.has_dynamic_partition(SESSION, key)})
    # register new legislatures (the common scale's partitions) of every session ready now
    legislatures = sorted(
        {key.split(".", 1)[0] for key, state in scan.sessions.items() if state.files}
        - set(context.instance.get_dynamic_partitions(LEGISLATURE))
    )
    for key, reason in sorted(scan.pending.items()):
        context.log.info(f"{key}: waiting ({reason})")
    for key in scan.removed:
        context.log.info(f"{key}: the session directory is gone; its partition and results are kept")

    cursor = automation.dump_cursor(scan.sessions)
    partition_requests = []
    if to_add:
        partition_requests.append(session_partitions.build_add_request(to_add))
    if legislatures:
        partition_requests.append(legislature_partitions.build_add_request(legislatures))
    if not run_requests and not partition_requests:
        why = "no new or changed session files under " + str(data_root)
        if scan.pending:
            why += f"; waiting for {', '.join(sorted(scan.pending))}"
        return dg.SensorResult(skip_reason=why, cursor=cursor)
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=partition_requests,
        cursor=cursor,
    )


@dg.sensor(
    name=SENSOR_NAME,
    job_name=JOB_NAME,
    minimum_interval_seconds=Deployment.from_env().sensor_interval,
    default_status=_default_status(Deployment.from_env().sensor_default_running),
    description="New session directory -> new `session` partition + runs for its chambers; changed input "
    "files -> runs for that session's chambers only (cursor: content hashes per session).",
)
def session_data_sensor(context: dg.SensorEvaluationContext, legis: LegisResource) -> dg.SensorResult:
    return evaluate_data_root(context, legis)


def _scale_sensors() -> list:
    from legis_assets.defs.common_scale import common_scale_sensor

    return [common_scale_sensor]


SENSORS = [session_data_sensor, *_scale_sensors()]
