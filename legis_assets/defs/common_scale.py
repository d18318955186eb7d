"""The common scale of a legislature as Dagster assets (DESIGN.md 6b; steps in scale_pipeline.py).

Partitioned by `legislature` (dynamic; the data sensor adds one per legislature directory). Dagster
has no partition mapping from a legislature to its session x chamber partitions, so the assets
read the warehouse (the `vote_matrix` tables of every session of the legislature present under the
data root) and record what they used:

* `people` and `common_scale_posterior` list the chamber-sessions used as a Markdown table
  (chamber-session, legislators, roll calls, content digest of its vote matrix, when it was built)
  and the digest over all of them (`inputs_digest`);
* the check `inputs_current` (WARN, its own op: re-runnable alone from the UI) fails when a used
  vote matrix now differs, a chamber-session is gone, or a new one appeared;
* `common_scale_sensor` requests a `legis_scale` run of a legislature when the digest of its
  current inputs differs from the one its last common_scale_posterior materialization recorded and
  no per-session run of that legislature is queued or in progress (run key = legislature + digest).

The lineage edge from `vote_matrix` (AllPartitionMapping) is for the UI only: the assets never load
it through an IO manager.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from legis_assets.core.schema import LegisError
from legis_assets.defs.assets import Materialize, call_step, declared_asset, to_metadata
from legis_assets.defs.partitions import (
    LEGISLATURE,
    legislature_of,
    legislature_partitions,
    partition_key,
    session_chamber,
)
from legis_assets.defs.resources import LegisResource
from legis_assets.pipeline import Partition, StepOutput
from legis_assets.scale_pipeline import ScalePipeline, inputs_digest
from legis_assets.settings import Deployment
from legis_assets.step_output import Markdown, md_table
from legis_assets.steps import INPUTS_CURRENT, SCALE_STEPS, Step, asset_name

SCALE_JOB_NAME = "legis_scale"
SCALE_SENSOR_NAME = "common_scale_sensor"
INPUTS_DIGEST_TAG = "legis/inputs_digest"
LEGISLATURE_TAG = "legis/legislature"


def vote_matrix_built_at(instance: dg.DagsterInstance):
    """`built_at` for ScalePipeline: the time of the latest vote_matrix materialization of a partition."""

    def built_at(part: Partition) -> str | None:
        try:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey("vote_matrix"),
                    asset_partitions=[str(partition_key(part.key.key, part.chamber))],
                ),
                limit=1,
            ).records
        except Exception:  # the instance is busy: the table says so, the digest still decides
            return None
        if not records:
            return None
        return datetime.fromtimestamp(records[0].timestamp, tz=UTC).isoformat(timespec="seconds")

    return built_at


def scale_pipeline(context, legis: LegisResource) -> ScalePipeline:
    return ScalePipeline(legis.settings(), progress=context.log.info, built_at=vote_matrix_built_at(context.instance))


def _scale_step(step: str) -> Materialize:
    def materialize(context: dg.AssetExecutionContext, legis: LegisResource) -> tuple[StepOutput, dict]:
        legislature = legislature_of(context)
        out = call_step(scale_pipeline(context, legis), step, legislature, {"legislature": legislature})
        return out, to_metadata(out.metadata)

    return materialize


def _scale_asset_of(step: Step) -> dg.AssetsDefinition:
    """The asset of one common-scale step (steps.SCALE_STEPS), partitioned by legislature; the
    per-partition steps it reads are upstream of it through an AllPartitionMapping (lineage only)."""
    deps: list[str | dg.AssetDep] = [
        dg.AssetDep(asset_name(u), partition_mapping=dg.AllPartitionMapping()) for u in step.upstream_partitions
    ]
    deps += [asset_name(u) for u in step.upstream]
    return declared_asset(
        step, legislature_partitions, _scale_step(step.name), deps=deps, kinds=set(step.kinds) or None
    )


SCALE_ASSETS = [_scale_asset_of(step) for step in SCALE_STEPS]
(
    people,
    common_scale_posterior,
    scale_positions,
    scale_party_trend,
    scale_movement,
    scale_diagnostics,
    common_scale_report,
) = SCALE_ASSETS


@dg.asset_check(
    asset=common_scale_posterior,
    name=INPUTS_CURRENT.name,
    partitions_def=legislature_partitions,
    blocking=INPUTS_CURRENT.blocking,
    description=INPUTS_CURRENT.description,
)
def inputs_current(context: dg.AssetCheckExecutionContext, legis: LegisResource) -> dg.AssetCheckResult:
    legislature = legislature_of(context)
    current, diff, used = scale_pipeline(context, legis).inputs_status(legislature)
    metadata: dict[str, Any] = {"used": used.height, "differences": diff.height}
    if diff.height:
        metadata["changes"] = Markdown(md_table(diff, max_rows=100))
    if not used.height:
        description = "no common scale published yet for this legislature"
    elif current:
        description = f"all {used.height} chamber-sessions used are current"
    else:
        description = "; ".join(f"{r['chamber_session']}: {r['change']}" for r in diff.iter_rows(named=True))
    return dg.AssetCheckResult(
        passed=bool(current),
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=to_metadata(metadata),
    )


SCALE_CHECKS = [inputs_current]

scale_job = dg.define_asset_job(
    SCALE_JOB_NAME,
    selection=dg.AssetSelection.assets(*SCALE_ASSETS),
    partitions_def=legislature_partitions,
    description="The common scale of one legislature partition (reads the per-session vote matrices)",
)


# --- the rebuild sensor -----------------------------------------------------------------------

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _run_session(run: dg.DagsterRun) -> str | None:
    tags = run.tags or {}
    if tags.get("dagster/partition/session"):
        return tags["dagster/partition/session"]
    key = tags.get("dagster/partition")
    if not key:
        return None
    try:
        return session_chamber.get_partition_key_from_str(key).keys_by_dimension.get("session")
    except Exception:
        return None


def busy_legislatures(instance: dg.DagsterInstance) -> dict[str, str]:
    """legislature -> why: a per-session run of it, or a common-scale run, is queued or in progress."""
    busy: dict[str, str] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE_STATUSES)):
        tags = run.tags or {}
        if run.job_name == SCALE_JOB_NAME or tags.get(LEGISLATURE_TAG):
            leg = tags.get(LEGISLATURE_TAG) or tags.get("dagster/partition")
            if leg:
                busy.setdefault(leg, f"common-scale run {run.run_id[:8]} is {run.status.value}")
            continue
        session = _run_session(run)
        if session and "." in session:
            busy.setdefault(session.split(".", 1)[0], f"run {run.run_id[:8]} of {session} is {run.status.value}")
    return busy


def last_inputs_digest(instance: dg.DagsterInstance, legislature: str) -> str | None:
    """The inputs digest the latest common_scale_posterior materialization of `legislature` recorded."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=common_scale_posterior.key, asset_partitions=[legislature]), limit=1
    ).records
    if not records:
        return None
    materialization = records[0].asset_materialization
    value = (materialization.metadata or {}).get("inputs_digest") if materialization else None
    return str(getattr(value, "value", value)) if value is not None else None


def evaluate_common_scale(context: dg.SensorEvaluationContext, legis: LegisResource) -> dg.SensorResult:
    """One tick: a run request per legislature whose current inputs differ from its last scale's."""
    pipeline = ScalePipeline(legis.settings())
    registered = sorted(context.instance.get_dynamic_partitions(LEGISLATURE))
    busy = busy_legislatures(context.instance)
    requests, waiting = [], []
    for legislature in registered:
        try:
            inputs = pipeline.current_inputs(legislature, load=False)
        except LegisError as err:
            waiting.append(f"{legislature}: {err}")
            continue
        built = inputs.built
        if built.height < 2 or built["session_key"].n_unique() < 2:
            waiting.append(
                f"{legislature}: {built.height} chamber-session(s) built in "
                f"{built['session_key'].n_unique()} session(s) (a common scale needs 2+ sessions)"
            )
            continue
        not_built = inputs.rows.filter(inputs.rows["matrix_digest"].is_null())["chamber_session"].to_list()
        if not_built:
            waiting.append(f"{legislature}: waiting for the vote matrices of {', '.join(not_built)}")
            continue
        if legislature in busy:
            waiting.append(f"{legislature}: waiting ({busy[legislature]})")
            continue
        digest = inputs_digest(inputs.rows)
        if last_inputs_digest(context.instance, legislature) == digest:
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{legislature}:{digest[:16]}",
                partition_key=legislature,
                tags={LEGISLATURE_TAG: legislature, INPUTS_DIGEST_TAG: digest[:16], "legis/trigger": SCALE_SENSOR_NAME},
            )
        )
    for line in waiting:
        context.log.info(line)
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(waiting) or "every common scale is built from its current inputs")
    return dg.SensorResult(run_requests=requests)


def _default_status() -> dg.DefaultSensorStatus:

    # its own flag: turning the data sensor on by default (LEGIS_SENSOR_DEFAULT_RUNNING) does not
    # also start joint fits behind the user's back
    return (
        dg.DefaultSensorStatus.RUNNING
        if Deployment.from_env().scale_sensor_default_running
        else dg.DefaultSensorStatus.STOPPED
    )


@dg.sensor(
    name=SCALE_SENSOR_NAME,
    job=scale_job,
    minimum_interval_seconds=60,
    default_status=_default_status(),
    description="Rebuilds a legislature's common scale when its inputs changed (digest of the vote matrices of its "
    "sessions under the data root vs the last common_scale_posterior's), once no per-session run of "
    "that legislature is queued or in progress. Run key: legislature + inputs digest.",
)
def common_scale_sensor(context: dg.SensorEvaluationContext, legis: LegisResource) -> dg.SensorResult:
    return evaluate_common_scale(context, legis)


def materialize_common_scale(instance: dg.DagsterInstance, legislature: str, **execute_kwargs):
    """Run the legis_scale job for one legislature in this process (the CLI path); registers the
    partition first. Returns the ExecuteInProcessResult (raise_on_error=False)."""
    from legis_assets.definitions import defs

    if not instance.has_dynamic_partition(LEGISLATURE, legislature):
        instance.add_dynamic_partitions(LEGISLATURE, [legislature])
    job = defs.resolve_job_def(SCALE_JOB_NAME)
    tags = {LEGISLATURE_TAG: legislature, **(execute_kwargs.pop("tags", None) or {})}
    return job.execute_in_process(
        partition_key=legislature, instance=instance, raise_on_error=False, tags=tags, **execute_kwargs
    )
