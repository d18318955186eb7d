"""The software-defined assets: one per pipeline step, all partitioned by session x chamber.

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
import os
from dataclasses import dataclass
from typing import Any

import dagster as dg

from legis_assets import provenance
from legis_assets.core import fastirt, sampling
from legis_assets.core.schema import LegisError
from legis_assets.defs.partitions import partition_of, session_chamber
from legis_assets.defs.resources import LegisResource
from legis_assets.defs.table_metadata import WAREHOUSE_TABLES, round_float, table_value, warehouse_metadata
from legis_assets.pipeline import Markdown, PathValue, StepOutput, TableMarkdown

MCMC_POOL = "mcmc"


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    severity: str = "warn"  # "error" checks are blocking

    @property
    def blocking(self) -> bool:
        return self.severity == "error"


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


def posterior_kinds(model: str) -> set[str]:
    """Kinds badges of a posterior asset, from the sampling profile (LEGIS_PROFILE) it will run
    with: nutpie + Numba always; PyMC only where the PyMC model is compiled (the reference
    profile, or a model without a hand-written kernel), not where the Numba kernel is sampled."""
    try:
        backend = sampling.get_profile(os.environ.get("LEGIS_PROFILE", "default")).backend
    except ValueError:
        backend = "auto"
    kernel = backend == "kernel" or (backend == "auto" and model in fastirt.KERNEL_MODELS)
    return {"nutpie", "numba"} if kernel else {"pymc", "nutpie", "numba"}


def step_asset(
    name: str,
    step: str,
    description: str,
    deps: tuple[str, ...] = (),
    checks: tuple[Check, ...] = (),
    group: str = "legis",
    pool: str | None = None,
    kinds: set[str] | None = None,
) -> dg.AssetsDefinition:
    specs = [
        dg.AssetCheckSpec(
            c.name, asset=name, description=c.description, blocking=c.blocking, partitions_def=session_chamber
        )
        for c in checks
    ]

    # on Celery workers the MCMC steps go to their own queue (deploy/celery)
    op_tags = {"dagster-celery/queue": pool} if pool else None

    @dg.asset(
        name=name,
        description=description,
        partitions_def=session_chamber,
        deps=list(deps),
        check_specs=specs or None,
        group_name=group,
        pool=pool,
        kinds=kinds,
        op_tags=op_tags,
    )
    def _asset(context: dg.AssetExecutionContext, legis: LegisResource) -> dg.MaterializeResult:
        part = partition_of(context)
        pipeline = legis.pipeline(log=context.log.info)
        try:
            out = getattr(pipeline, step)(part)
        except LegisError as err:  # bad input or unusable data: say what and where, keep old results
            raise dg.Failure(description=str(err), metadata={"partition": str(part)}) from err
        metadata = to_metadata(out.metadata, typed_tables=True)
        metadata.update(_provenance_metadata(pipeline, part, context.run_id))
        if name in WAREHOUSE_TABLES:
            metadata.update(
                warehouse_metadata(pipeline.warehouse.read_partition(WAREHOUSE_TABLES[name], part.key, part.chamber))
            )
        return dg.MaterializeResult(metadata=metadata, check_results=_check_results(name, out, checks))

    return _asset


GATES = (
    Check("rhat", "max R-hat over xi, mu_party, sigma_within < 1.01", "error"),
    Check("ess", "min bulk ESS of xi > 400 (the result's description gives the min tail ESS)", "error"),
    Check("divergences", "0 divergent transitions", "error"),
    Check("ebfmi", "min E-BFMI over chains > 0.3"),
    Check("agrees_with_flat", "abs(r) of posterior-mean xi vs the flat model > 0.90"),
)
FLAT_GATES = tuple(Check(f"flat_{c.name}", f"flat model: {c.description}") for c in GATES[:4])

votes = step_asset(
    "votes",
    "ingest",
    "Validated long table of one session's votes for one chamber (plus its roll calls and legislators), "
    "read from the scraper's CSVs.",
    checks=(Check("no_input_problems", "the files needed no repair (unknown legislators, duplicates, counts)"),),
    kinds={"duckdb"},
)
vote_matrix = step_asset(
    "vote_matrix",
    "vote_matrix",
    "Legislator x roll call Yea/Nay matrix after the reference filters (near-unanimous roll calls, "
    "legislators with too few votes), with a filter manifest.",
    deps=("votes",),
    checks=(
        Check(
            "two_parties",
            "both pooled parties present after filtering with enough members for the "
            "hierarchical model (else only the flat model is fitted)",
        ),
        Check("enough_rollcalls", "at least 20 contested roll calls"),
    ),
    kinds={"duckdb"},
)
pca_init = step_asset(
    "pca_init",
    "pca_init",
    "Standardised first principal component per legislator (sign: Republicans positive); "
    "the initial value of the ideal points.",
    deps=("vote_matrix",),
    checks=(Check("pc1_separates_parties", "PC1 puts Democrats below 0 and Republicans above"),),
    kinds={"scikitlearn", "duckdb"},
)
flat_posterior = step_asset(
    "flat_posterior",
    "flat_posterior",
    "2PL IRT without party structure, sampled with nutpie: the independent cross-check, and the published model "
    "where the hierarchical one cannot be fitted. Writes a candidate trace that hierarchical_posterior publishes "
    "(or sets aside as failed).",
    deps=("pca_init",),
    checks=FLAT_GATES,
    pool=MCMC_POOL,
    group="posterior",
    kinds=posterior_kinds("flat"),
)
hierarchical_posterior = step_asset(
    "hierarchical_posterior",
    "hierarchical_posterior",
    "Party-pooled hierarchical 2PL IRT sampled with nutpie (Numba backend) from the PCA start; "
    "the convergence gates are blocking checks. Publishes the flat and hierarchical traces together only when "
    "they pass. Where the chamber has one party, none, or a pooled party below the minimum size, the "
    "hierarchical model is not fitted and the gates are evaluated on the flat posterior (metadata: "
    "hierarchical_fitted, reason, published_model).",
    deps=("pca_init", "flat_posterior"),
    checks=GATES,
    pool=MCMC_POOL,
    group="posterior",
    kinds=posterior_kinds(os.environ.get("LEGIS_MODEL", "hierarchical")),
)
convergence_diagnostics = step_asset(
    "convergence_diagnostics",
    "convergence_diagnostics",
    "One row per gate and model (metric, value, threshold, pass/fail) and per-parameter R-hat/ESS.",
    deps=("hierarchical_posterior", "flat_posterior"),
    group="results",
    kinds={"duckdb"},
)
ideal_points = step_asset(
    "ideal_points",
    "ideal_points",
    "Per legislator: posterior mean, sd, 90% HDI, rank with its interval, flat estimate, shrinkage.",
    deps=("hierarchical_posterior", "flat_posterior"),
    group="results",
    kinds={"duckdb"},
)
party_summary = step_asset(
    "party_summary",
    "party_summary",
    "Party means and within-party spread with HDIs, ICC and the variance decomposition (empty, with the reason "
    "in the metadata, where the hierarchical model was not fitted).",
    deps=("hierarchical_posterior",),
    group="results",
    kinds={"duckdb"},
)

report = step_asset(
    "report",
    "report",
    "Self-contained HTML report (opens offline): gates, ranked ideal points, party posteriors, shrinkage, "
    "convergence diagnostics, data filters. A run whose gates fail writes report.failed.html beside the last "
    "passing report instead.",
    deps=("convergence_diagnostics", "ideal_points", "party_summary"),
    group="results",
    kinds={"html"},
)

ALL_ASSETS = [
    votes,
    vote_matrix,
    pca_init,
    flat_posterior,
    hierarchical_posterior,
    convergence_diagnostics,
    ideal_points,
    party_summary,
    report,
]
