"""The steps of the platform, each declared once: the per-partition steps (STEPS) and the common
scale's (SCALE_STEPS).

A :class:`Step` says everything the platform needs to know about one step: its name (= the runner's
method and the Dagster asset), the steps it reads from, its checks (name, severity, description),
its Dagster group, pool and kinds, and the warehouse tables and files it writes. From :data:`STEPS`
(one session x chamber partition) come

* the plain-Python runner's order (`Pipeline.STEP_NAMES`, pipeline.py);
* the Dagster assets and their checks (defs/assets.py: deps, kinds, pool, check specs, blocking);
* the report's sections (:data:`REPORT_SECTIONS`, each tied to the step whose output it shows).

From :data:`SCALE_STEPS` (one legislature) come `ScalePipeline.STEP_NAMES` (scale_pipeline.py), the
legislature-partitioned assets and checks (defs/common_scale.py; `upstream_partitions`: the
per-partition steps whose every partition it reads) and the list of the scale's tables
(scale_status.py). The gates are declared here too (GATES, SCALE_GATES), matching what
core.diagnostics and core.common_scale compute.

Adding a step = one `Step` here + one runner method of the same name (test_steps.py fails if
the runner, the asset graph, the computed gates or this list disagree). No Dagster imports here.
"""

from __future__ import annotations

from dataclasses import dataclass

from legis_assets.core.common_scale.crosscheck import LINKED_AGREEMENT_MIN
from legis_assets.core.diagnostics import EBFMI_MIN, ESS_MIN, FLAT_AGREEMENT_MIN, RHAT_MAX, Severity
from legis_assets.core.fit import APRE_WARN
from legis_assets.core.reference_scores import REFERENCE_FILE, REFERENCE_R_WARN


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    severity: Severity = "warn"  # "error" checks are blocking (downstream steps do not run)

    @property
    def blocking(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    upstream: tuple[str, ...] = ()
    #: a common-scale step: the per-partition steps whose every partition of the legislature it
    #: reads (through the warehouse; Dagster shows the edge with an AllPartitionMapping)
    upstream_partitions: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    group: str = "legis"
    pool: str | None = None
    kinds: frozenset[str] = frozenset()
    #: warehouse tables (partition rows replaced) and files (under LEGIS_HOME) the step writes
    tables: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportSection:
    id: str
    title: str
    step: str  # the step whose output the section shows
    hierarchical_only: bool = False  # left out where the hierarchical model was not fitted


#: the pool of the steps that sample (one NUTS fit at a time by default: dagster_home.py)
MCMC_POOL = "mcmc"


def convergence_gates(rhat_over: str, ess_of: str, tail_ess: str, agreement: Check) -> tuple[Check, ...]:
    """The blocking convergence gates (core.diagnostics.evaluate_gates: R-hat, ESS, divergences)
    and E-BFMI, plus the model's cross-check `agreement` (warn)."""
    return (
        Check("rhat", f"max R-hat over {rhat_over} < {RHAT_MAX:g}", "error"),
        Check("ess", f"min bulk ESS of {ess_of} > {ESS_MIN:g} ({tail_ess})", "error"),
        Check("divergences", "0 divergent transitions", "error"),
        Check("ebfmi", f"min E-BFMI over chains > {EBFMI_MIN:g}"),
        agreement,
    )


#: the convergence gates (core.diagnostics.evaluate_gates computes them; names and severities match)
GATES = convergence_gates(
    "the model's gate variables (ideal points, party means and spread)",
    "the ideal points",
    "the result's description gives the min tail ESS",
    Check("agrees_with_flat", f"abs(r) of posterior-mean ideal points vs the flat model > {FLAT_AGREEMENT_MIN:.2f}"),
)
#: the flat model's gates: reported, never blocking (the cross-check)
FLAT_GATES = tuple(Check(f"flat_{c.name}", f"flat model: {c.description}") for c in GATES[:4])

STEPS: tuple[Step, ...] = (
    Step(
        "ingest",
        "Validated long table of one session's votes for one chamber (plus its roll calls and legislators), "
        "read from the scraper's CSVs.",
        checks=(Check("no_input_problems", "the files needed no repair (unknown legislators, duplicates, counts)"),),
        kinds=frozenset({"duckdb"}),
        tables=("legislators", "rollcalls", "votes", "ingest_problems"),
    ),
    Step(
        "vote_matrix",
        "Legislator x roll call Yea/Nay matrix after the reference filters (near-unanimous roll calls, "
        "legislators with too few votes), with a filter manifest.",
        upstream=("ingest",),
        checks=(
            Check(
                "two_parties",
                "both pooled parties present after filtering with enough members for the "
                "hierarchical model (else only the flat model is fitted)",
            ),
            Check("enough_rollcalls", "at least 20 contested roll calls"),
        ),
        kinds=frozenset({"duckdb"}),
        tables=("vote_matrix", "matrix_legislators", "matrix_rollcalls", "filter_manifest"),
    ),
    Step(
        "pca_init",
        "Standardised first principal component per legislator (sign: Republicans positive); "
        "the initial value of the ideal points.",
        upstream=("vote_matrix",),
        checks=(Check("pc1_separates_parties", "PC1 puts Democrats below 0 and Republicans above"),),
        kinds=frozenset({"scikitlearn", "duckdb"}),
        tables=("pca_init", "pca_explained_variance"),
    ),
    Step(
        "flat_posterior",
        "2PL IRT without party structure, sampled with nutpie: the independent cross-check, and the published "
        "model where the hierarchical one cannot be fitted. Writes a candidate trace that hierarchical_posterior "
        "publishes (or sets aside as failed).",
        upstream=("pca_init",),
        checks=FLAT_GATES,
        group="posterior",
        pool=MCMC_POOL,
        kinds=frozenset({"nutpie", "numba"}),  # + pymc where the profile compiles the PyMC model (defs/assets.py)
        files=("flat_posterior.nc",),
    ),
    Step(
        "hierarchical_posterior",
        "Party-pooled hierarchical 2PL IRT sampled with nutpie (Numba backend) from the PCA start; "
        "the convergence gates are blocking checks. Publishes the flat and hierarchical traces together only "
        "when they pass. Where the chamber has one party, none, or a pooled party below the minimum size, the "
        "hierarchical model is not fitted and the gates are evaluated on the flat posterior (metadata: "
        "hierarchical_fitted, reason, published_model).",
        upstream=("pca_init", "flat_posterior"),
        checks=GATES,
        group="posterior",
        pool=MCMC_POOL,
        kinds=frozenset({"nutpie", "numba"}),  # + pymc where the profile compiles the PyMC model (defs/assets.py)
        files=("flat_posterior.nc", "hierarchical_posterior.nc"),
    ),
    Step(
        "convergence_diagnostics",
        "One row per gate and model (metric, value, threshold, pass/fail) and per-parameter R-hat/ESS.",
        upstream=("hierarchical_posterior", "flat_posterior"),
        group="results",
        kinds=frozenset({"duckdb"}),
        tables=("convergence_diagnostics", "parameter_diagnostics"),
    ),
    Step(
        "ideal_points",
        "Per legislator: posterior mean, sd, 90% HDI, rank with its interval, flat estimate, shrinkage.",
        upstream=("hierarchical_posterior", "flat_posterior"),
        group="results",
        kinds=frozenset({"duckdb"}),
        tables=("ideal_points",),
    ),
    Step(
        "party_summary",
        "Party means and within-party spread with HDIs, ICC and the variance decomposition (empty, with the "
        "reason in the metadata, where the hierarchical model was not fitted).",
        upstream=("hierarchical_posterior",),
        group="results",
        kinds=frozenset({"duckdb"}),
        tables=("party_summary",),
    ),
    Step(
        "rollcall_parameters",
        "Per roll call: discrimination and cutting point (where Yea and Nay are equally likely, on the reported "
        "ideal-point scale) with 90% HDIs, bill, title, motion, date, result, and Yea/Nay by party (party-unity, "
        "party-line and party-splitting votes).",
        upstream=("vote_matrix", "hierarchical_posterior"),
        group="results",
        kinds=frozenset({"duckdb"}),
        tables=("rollcall_parameters",),
    ),
    Step(
        "model_fit",
        "How well the published posterior explains the votes: percent correctly classified, APRE and GMP per draw "
        "(mean, 90% HDI) for the chamber, every legislator and roll call, and a posterior predictive check of the "
        "Yea shares (tables model_fit, model_fit_legislators, model_fit_rollcalls).",
        upstream=("vote_matrix", "hierarchical_posterior"),
        checks=(
            Check(
                "apre_not_low",
                f"APRE >= {APRE_WARN:g} (one-dimensional W-NOMINATE on US Congresses: 0.6-0.8; below 0.4 one "
                "dimension explains little of the contested voting)",
            ),
        ),
        group="results",
        kinds=frozenset({"duckdb"}),
        tables=("model_fit", "model_fit_legislators", "model_fit_rollcalls"),
    ),
    Step(
        "report",
        "Self-contained HTML report (opens offline): gates, ranked ideal points, party posteriors, shrinkage, "
        "convergence diagnostics, data filters. A run whose gates fail writes report.failed.html beside the last "
        "passing report instead.",
        # the tables it shows (report/inputs.py reads them; it recomputes none of them)
        upstream=("convergence_diagnostics", "ideal_points", "party_summary", "rollcall_parameters", "model_fit"),
        group="results",
        kinds=frozenset({"html"}),
        files=("report.html",),
    ),
    Step(
        "reference_comparison",
        f"|r| of the posterior means (and of the flat model's) with the reference scores in the session's "
        f"{REFERENCE_FILE} (legislator_slug or person_id, score, optional source), with the outliers; not "
        "applicable without the file. A bad file fails with its line and problem and leaves the earlier "
        "comparison in place. The CLI runs it after the report, so a bad file still gets a report that names the problem.",
        upstream=("ideal_points",),
        checks=(
            Check(
                "agrees_with_reference",
                f"|r| with the reference score >= {REFERENCE_R_WARN:g} (first-dimension estimates from the same "
                "votes agree at > 0.95)",
            ),
        ),
        group="results",
        kinds=frozenset({"duckdb"}),
        tables=("reference_comparison", "reference_summary"),
    ),
)

#: the common scale's gates (core.common_scale.evaluate_common_gates computes them)
SCALE_GATES = convergence_gates(
    "the reported quantities (positions, party means and gaps, movements, tau)",
    "the positions",
    "tail ESS in the description",
    Check(
        "agrees_with_linked",
        "abs(r) of the joint positions vs each chamber-session's PC1 linked by the bridge people "
        f"> {LINKED_AGREEMENT_MIN:.2f}",
    ),
)
#: the staleness check of the common scale: its own op on common_scale_posterior (defs/common_scale.py),
#: re-runnable alone, not an outcome of the step
INPUTS_CURRENT = Check(
    "inputs_current",
    "the chamber-sessions the common scale used are the ones found now, with the same "
    "vote matrices (fails when a vote matrix changed, a session appeared or was removed)",
)
SCALE_GROUP = "common_scale"

#: the common scale's steps (scale_pipeline.ScalePipeline methods and defs/common_scale.py assets),
#: partitioned by legislature; tables keyed by the column `scale`, files under
#: $LEGIS_HOME/{traces,reports}/<legislature>/common_scale/
SCALE_STEPS: tuple[Step, ...] = (
    Step(
        "people",
        "Person table of the legislature (identity rule + <data root>/<legislature>/people_overrides.csv) and its "
        "bridge graph (shared people per chamber-session pair, components, thin bridges); reads the vote_matrix "
        "tables of every session of the legislature under the data root and lists them in the metadata.",
        upstream_partitions=("vote_matrix",),
        checks=(
            Check(
                "connected",
                "every chamber-session is linked to the others by shared people (else it is left "
                "out of the common scale, named here)",
            ),
        ),
        group=SCALE_GROUP,
        kinds=frozenset({"duckdb"}),
        tables=("people", "bridge_edges", "bridge_nodes"),
    ),
    Step(
        "common_scale_posterior",
        "Every chamber-session of the legislature on one scale: joint 2PL IRT with a random walk of each person's "
        "position between consecutive chamber-sessions, sampled with nutpie; the gates are blocking checks. A fit "
        "that fails them is written beside the last good trace as common_scale_posterior.failed.nc.",
        upstream=("people",),
        checks=SCALE_GATES,
        group=SCALE_GROUP,
        pool=MCMC_POOL,
        kinds=frozenset({"pymc"}),
        tables=("scale_inputs",),
        files=("common_scale_posterior.nc",),
    ),
    Step(
        "scale_positions",
        "Per person x session x chamber: position on the common scale (mean, sd, 90% HDI).",
        upstream=("common_scale_posterior",),
        group=SCALE_GROUP,
        kinds=frozenset({"duckdb"}),
        tables=("scale_positions",),
    ),
    Step(
        "scale_party_trend",
        "Per party x chamber-session: party mean, and the Republican - Democratic gap, with 90% HDIs.",
        upstream=("common_scale_posterior",),
        group=SCALE_GROUP,
        kinds=frozenset({"duckdb"}),
        tables=("scale_party_trend",),
    ),
    Step(
        "scale_movement",
        "Per person: the change of position between consecutive chamber-sessions with its 90% HDI (moved: the HDI "
        "excludes 0).",
        upstream=("common_scale_posterior",),
        group=SCALE_GROUP,
        kinds=frozenset({"duckdb"}),
        tables=("scale_movement",),
    ),
    Step(
        "scale_diagnostics",
        "One row per gate of the common-scale posterior (metric, value, threshold, pass/fail) and per-parameter "
        "R-hat/ESS.",
        upstream=("common_scale_posterior",),
        group=SCALE_GROUP,
        kinds=frozenset({"duckdb"}),
        tables=("scale_diagnostics", "scale_parameter_diagnostics"),
    ),
    Step(
        "common_scale_report",
        "Self-contained HTML page of the common scale: gates, positions over time, party trend, movers, bridges.",
        upstream=("scale_positions", "scale_party_trend", "scale_movement", "scale_diagnostics"),
        group=SCALE_GROUP,
        kinds=frozenset({"html"}),
        files=("report.html",),
    ),
)

#: the report's sections, in page order, each with the step whose output it shows
REPORT_SECTIONS: tuple[ReportSection, ...] = (
    ReportSection("headline", "Headline", "hierarchical_posterior"),
    ReportSection("ideal-points", "Ideal points", "ideal_points"),
    ReportSection("party-posteriors", "Party posteriors", "party_summary", hierarchical_only=True),
    ReportSection("shrinkage", "Shrinkage", "ideal_points", hierarchical_only=True),
    ReportSection("convergence", "Convergence diagnostics", "convergence_diagnostics"),
    ReportSection("data", "Data", "vote_matrix"),
)

STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
BY_NAME: dict[str, Step] = {s.name: s for s in STEPS}
SCALE_STEP_NAMES: tuple[str, ...] = tuple(s.name for s in SCALE_STEPS)
#: the warehouse tables of a common scale, in step order
SCALE_TABLES: tuple[str, ...] = tuple(t for s in SCALE_STEPS for t in s.tables)

#: the Dagster asset of each step where the names differ (the ingest step materializes `votes`)
ASSET_NAMES: dict[str, str] = {"ingest": "votes"}


def asset_name(step: str) -> str:
    return ASSET_NAMES.get(step, step)


def step(name: str) -> Step:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown step {name!r}; the steps are {', '.join(STEP_NAMES)}") from None


def validate(
    steps: tuple[Step, ...] = STEPS,
    sections: tuple[ReportSection, ...] = REPORT_SECTIONS,
    partition_steps: tuple[Step, ...] = (),
) -> None:
    """Every upstream step is declared before the step that reads it (so `steps` is a run order),
    names are unique, every report section shows a declared step, and every `upstream_partitions`
    step is one of `partition_steps` (the per-partition steps a common-scale step reads)."""
    seen: set[str] = set()
    partition_names = {p.name for p in partition_steps}
    for s in steps:
        unknown = [u for u in s.upstream_partitions if u not in partition_names]
        if unknown:
            raise ValueError(f"step {s.name!r} reads the partitions of unknown steps {unknown}")
        if s.name in seen:
            raise ValueError(f"step {s.name!r} declared twice")
        missing = [u for u in s.upstream if u not in seen]
        if missing:
            raise ValueError(f"step {s.name!r} reads {missing} before they run")
        names = [c.name for c in s.checks]
        if len(names) != len(set(names)):
            raise ValueError(f"step {s.name!r} declares a check twice")
        seen.add(s.name)
    for sec in sections:
        if sec.step not in seen:
            raise ValueError(f"report section {sec.id!r} shows an unknown step {sec.step!r}")


validate()
validate(SCALE_STEPS, (), partition_steps=STEPS)
