"""The scheduled rebuild of the current session (for upstream data that change in place, or to
refit after a code change).

* cron: `LEGIS_SCHEDULE_CRON` (default `0 3 * * *`, nightly at 03:00), timezone `LEGIS_SCHEDULE_TZ`
  (default UTC);
* which session: `LEGIS_CURRENT_SESSION` (one key or a comma-separated list) if set, else the newest
  registered `session` partition of each legislature (by the years in the directory name, then the
  name; `automation.current_sessions`);
* requests one `legis_all` run per chamber that has roll calls in that session's files.

Off until turned on in the UI; `LEGIS_SCHEDULE_DEFAULT_RUNNING=1` starts it on by default.
"""

from __future__ import annotations

import dagster as dg

from legis_assets import automation
from legis_assets.core.schema import SessionKey
from legis_assets.defs.partitions import SESSION, partition_key
from legis_assets.defs.resources import LegisResource
from legis_assets.defs.sensors import JOB_NAME, TRIGGER_TAG
from legis_assets.settings import Deployment

SCHEDULE_NAME = "current_session_rebuild"
DEFAULT_CRON = Deployment().schedule_cron


def evaluate_current_session(context: dg.ScheduleEvaluationContext, legis: LegisResource):
    """One tick: run requests for the current session's chambers, or a SkipReason."""
    registered = context.instance.get_dynamic_partitions(SESSION)
    try:
        sessions = automation.current_sessions(registered, Deployment.from_env().current_session)
    except ValueError as err:
        return dg.SkipReason(f"LEGIS_CURRENT_SESSION: {err}")
    if not sessions:
        return dg.SkipReason("no session registered yet (turn on the session_data_sensor or run `legis-assets run`)")
    data_root = legis.settings().data_dir
    when = context.scheduled_execution_time
    stamp = when.isoformat() if when else "manual"
    requests, skipped = [], []
    for key in sessions:
        if key not in registered:
            skipped.append(f"{key} is not a registered session partition")
            continue
        session_dir = SessionKey.parse(key).directory(data_root)
        if not session_dir.is_dir():
            skipped.append(f"{key}: no directory {session_dir}")
            continue
        for chamber in automation.chambers_with_data(session_dir):
            pk = partition_key(key, chamber)
            requests.append(dg.RunRequest(run_key=f"{pk}@{stamp}", partition_key=pk, tags={TRIGGER_TAG: "schedule"}))
    for reason in skipped:
        context.log.warning(reason)
    if not requests:
        return dg.SkipReason("; ".join(skipped) or f"no chamber with roll calls in {', '.join(sessions)}")
    return requests


@dg.schedule(
    name=SCHEDULE_NAME,
    job_name=JOB_NAME,
    cron_schedule=Deployment.from_env().schedule_cron,
    execution_timezone=Deployment.from_env().schedule_tz,
    default_status=(
        dg.DefaultScheduleStatus.RUNNING
        if Deployment.from_env().schedule_default_running
        else dg.DefaultScheduleStatus.STOPPED
    ),
    description="Rebuild the current session (newest registered session per legislature, or "
    "LEGIS_CURRENT_SESSION) for every chamber with data.",
)
def current_session_rebuild(context: dg.ScheduleEvaluationContext, legis: LegisResource):
    return evaluate_current_session(context, legis)


SCHEDULES = [current_session_rebuild]
