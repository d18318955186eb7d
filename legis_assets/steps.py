"""The per-partition steps, each declared once.

A :class:`Step` says everything the platform needs to know about one step of a session x chamber
partition: its name (= the `Pipeline` method and the Dagster asset), the steps it reads from, its
checks (name, severity, description), its Dagster group, pool and kinds, and the warehouse tables
and files it writes. From :data:`STEPS` come

* the plain-Python runner's order (`Pipeline.STEP_NAMES`, pipeline.py);
* the Dagster assets and their checks (defs/assets.py: deps, kinds, pool, check specs, blocking);
* the report's sections (:data:`REPORT_SECTIONS`, each tied to the step whose output it shows).

Adding a step = one `Step` here + one `Pipeline` method of the same name (test_steps.py fails if
the runner, the asset graph or this list disagree). No Dagster imports here.
"""

from __future__ import annotations

from dataclasses import dataclass

from legis_assets.core.diagnostics import Severity
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

#: the convergence gates (core.diagnostics.evaluate_gates computes them; names and severities match)
GATES = (
    Check(
        "rhat",
        "max R-hat over the model's gate variables (ideal points, party means and spread) < 1.01",
        "error",
    ),
    Check("ess", "min bulk ESS of the ideal points > 400 (the result's description gives the min tail ESS)", "error"),
    Check("divergences", "0 divergent transitions", "error"),
    Check("ebfmi", "min E-BFMI over chains > 0.3"),
    Check("agrees_with_flat", "abs(r) of posterior-mean ideal points vs the flat model > 0.90"),
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

#: the Dagster asset of each step where the names differ (the ingest step materializes `votes`)
ASSET_NAMES: dict[str, str] = {"ingest": "votes"}


def asset_name(step: str) -> str:
    return ASSET_NAMES.get(step, step)


def step(name: str) -> Step:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown step {name!r}; the steps are {', '.join(STEP_NAMES)}") from None


def validate(steps: tuple[Step, ...] = STEPS, sections: tuple[ReportSection, ...] = REPORT_SECTIONS) -> None:
    """Every upstream step is declared before the step that reads it (so STEPS is a run order),
    names are unique, and every report section shows a step upstream of the report."""
    seen: set[str] = set()
    for s in steps:
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
