"""The software-defined assets: one per pipeline step (declared in legis_assets/steps.py), all
partitioned by session x chamber.

Each asset is a thin wrapper: it resolves its partition, calls the matching `Pipeline` step
(legis_assets/pipeline.py) and turns the step's metadata and check outcomes into Dagster's.
The checks run in the same step as the asset (the diagnostics are in memory after sampling);
the ERROR-severity convergence gates are blocking, so a posterior that fails them stops the run
before any downstream asset reads it.

Publication (pipeline.py, storage.TraceStore): flat_posterior writes a candidate trace;
hierarchical_posterior publishes it together with the hierarchical trace only when the ERROR gates
pass (else both are kept beside the published pair as *.failed.nc), and every downstream asset
checks that the published traces belong to one run before it reads them. Where the hierarchical
model cannot be fitted (one party, no parties, a pooled party too small), hierarchical_posterior
samples nothing and its blocking gates are the flat posterior's; the checks say so.
"""

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from legis_assets import provenance
from legis_assets.core import fastirt, sampling
from legis_assets.core.schema import LegisError
from legis_assets.defs.partitions import partition_of, session_chamber
from legis_assets.defs.resources import LegisResource
from legis_assets.defs.table_metadata import WAREHOUSE_TABLES, round_float, table_value, warehouse_metadata
from legis_assets.pipeline import Markdown, PathValue, StepOutput, TableMarkdown
from legis_assets.settings import Settings
from legis_assets.steps import MCMC_POOL, STEPS, Check, Step, asset_name

__all__ = ["ALL_ASSETS", "MCMC_POOL", "Check", "call_step", "declared_asset", "to_metadata"]


def to_metadata(values: dict[str, Any], typed_tables: bool = False) -> dict[str, dg.MetadataValue]:
    """Plain values to typed Dagster metadata (floats stay floats so the UI can plot them, rounded
    for reading). `typed_tables`: small tables as Dagster tables with a column schema (the
    per-session assets); else as Markdown (the common scale's, whose tests read them as text)."""
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if value is None:
            continue
        if typed_tables and isinstance(value, TableMarkdown):
            out[key] = table_value(value.frame)
        elif isinstance(value, str) and key == "settings" and value.startswith("{"):
            out[key] = dg.MetadataValue.json(json.loads(value))  # sampler settings: a JSON object
        elif isinstance(value, str) and key == "url":
            out[key] = dg.MetadataValue.url(value)
        elif isinstance(value, Markdown):
            out[key] = dg.MetadataValue.md(str(value))
        elif isinstance(value, PathValue):
            out[key] = dg.MetadataValue.path(str(value))
        elif isinstance(value, bool):
            out[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            out[key] = dg.MetadataValue.float(round_float(value) if math.isfinite(value) else float("nan"))
        elif isinstance(value, (dict, list)):
            out[key] = dg.MetadataValue.json(value)
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out


def _check_results(asset_name: str, out: StepOutput, declared: tuple[Check, ...]) -> list[dg.AssetCheckResult]:
    by_name = {c.name: c for c in out.checks}
    results = []
    for check in declared:
        outcome = by_name[check.name]
        results.append(
            dg.AssetCheckResult(
                asset_key=asset_name,
                check_name=check.name,
                passed=bool(outcome.passed),
                severity=dg.AssetCheckSeverity.ERROR if check.severity == "error" else dg.AssetCheckSeverity.WARN,
                description=outcome.description,
                metadata=to_metadata(outcome.metadata),
            )
        )
    return results


def _provenance_metadata(pipeline: Any, part: Any, run_id: str) -> dict[str, dg.MetadataValue]:
    """What made this materialization: package version, git commit, Dagster run id, sha256 of the
    session's input CSVs and the settings (legis_assets/provenance.py)."""
    prov = provenance.collect(pipeline.settings, pipeline.session_dir(part), run_id)
    return {
        "package_version": dg.MetadataValue.text(prov["package_version"] or "unknown"),
        "git_commit": dg.MetadataValue.text(prov["git_commit"] or "not a git checkout"),
        "data_sha256": dg.MetadataValue.text(prov["data_sha256"] or "unknown"),
        "provenance": dg.MetadataValue.json(json.loads(provenance.to_json(prov))),
    }


def posterior_kinds(model: str, profile: str) -> set[str]:
    """Kinds badges of a posterior asset, from the sampling profile it will run with: nutpie +
    Numba always; PyMC only where the PyMC model is compiled (the reference profile, or a model
    without a hand-written kernel), not where the Numba kernel is sampled."""
    try:
        backend = sampling.get_profile(profile).backend
    except ValueError:
        backend = "auto"
    kernel = backend == "kernel" or (backend == "auto" and model in fastirt.KERNEL_MODELS)
    return {"nutpie", "numba"} if kernel else {"pymc", "nutpie", "numba"}


def kinds_of(step: Step) -> set[str] | None:
    """The declared kinds of a step (steps.py), plus PyMC on the posterior steps where the
    configured profile compiles the PyMC model (LEGIS_PROFILE / LEGIS_MODEL, settings.py)."""
    kinds = set(step.kinds)
    if step.pool == MCMC_POOL:
        try:
            settings = Settings.from_env()
            profile, model = settings.profile, settings.model
        except ValueError:  # a bad setting is refused when a run starts, not when the UI loads
            profile, model = "default", "hierarchical"
        kinds |= posterior_kinds("flat" if step.name == "flat_posterior" else model, profile)
    return kinds or None


#: what an asset does when it materializes: run its step, return the outcome and its Dagster metadata
Materialize = Callable[[dg.AssetExecutionContext, LegisResource], tuple[StepOutput, dict[str, dg.MetadataValue]]]


def declared_asset(
    step: Step,
    partitions_def: dg.PartitionsDefinition,
    materialize: Materialize,
    deps: Sequence[str | dg.AssetDep] | None = None,
    kinds: set[str] | None = None,
) -> dg.AssetsDefinition:
    """The asset of one declared step (steps.py): name, description, deps (the declared upstream
    steps' assets unless given), check specs (blocking = error severity), group, pool; the per-partition
    assets and the common scale's (defs/common_scale.py) are all made here."""
    name = asset_name(step.name)
    specs = [
        dg.AssetCheckSpec(
            c.name, asset=name, description=c.description, blocking=c.blocking, partitions_def=partitions_def
        )
        for c in step.checks
    ]

    # on Celery workers the MCMC steps go to their own queue (deploy/celery)
    op_tags = {"dagster-celery/queue": step.pool} if step.pool else None

    @dg.asset(
        name=name,
        description=step.description,
        partitions_def=partitions_def,
        deps=list(deps) if deps is not None else [asset_name(u) for u in step.upstream],
        check_specs=specs or None,
        group_name=step.group,
        pool=step.pool,
        kinds=kinds,
        op_tags=op_tags,
    )
    def _asset(context: dg.AssetExecutionContext, legis: LegisResource) -> dg.MaterializeResult:
        out, metadata = materialize(context, legis)
        return dg.MaterializeResult(metadata=metadata, check_results=_check_results(name, out, step.checks))

    return _asset


def call_step(runner: Any, step: str, key: Any, where: dict[str, str]) -> StepOutput:
    """`runner.<step>(key)`; bad input or unusable data fails the step saying what and where
    (`where`: the partition), and the earlier results stay."""
    try:
        return getattr(runner, step)(key)
    except LegisError as err:
        raise dg.Failure(description=str(err), metadata=where) from err


def _partition_step(step: str, name: str) -> Materialize:
    def materialize(context: dg.AssetExecutionContext, legis: LegisResource) -> tuple[StepOutput, dict]:
        part = partition_of(context)
        pipeline = legis.pipeline(log=context.log.info)
        out = call_step(pipeline, step, part, {"partition": str(part)})
        metadata = to_metadata(out.metadata, typed_tables=True)
        metadata.update(_provenance_metadata(pipeline, part, context.run_id))
        if name in WAREHOUSE_TABLES:
            metadata.update(
                warehouse_metadata(pipeline.warehouse.read_partition(WAREHOUSE_TABLES[name], part.key, part.chamber))
            )
        return out, metadata

    return materialize


def _asset_of(step: Step) -> dg.AssetsDefinition:
    """The asset of one per-partition step, partitioned by session x chamber."""
    return declared_asset(
        step, session_chamber, _partition_step(step.name, asset_name(step.name)), kinds=kinds_of(step)
    )


ALL_ASSETS = [_asset_of(step) for step in STEPS]
(
    votes,
    vote_matrix,
    pca_init,
    flat_posterior,
    hierarchical_posterior,
    convergence_diagnostics,
    ideal_points,
    party_summary,
    rollcall_parameters,
    model_fit,
    report,
    reference_comparison,
) = ALL_ASSETS
