"""The analysis assets of one session x chamber partition (legis_assets/analysis_steps.py): roll-call
parameters, model fit (with a WARN check on APRE) and the comparison with a user's reference scores
(a WARN check on |r|). Thin wrappers made by `step_asset`, like the other assets."""

from legis_assets.core.fit import APRE_WARN
from legis_assets.core.reference_scores import REFERENCE_FILE, REFERENCE_R_WARN
from legis_assets.defs.assets import Check, step_asset

rollcall_parameters = step_asset(
    "rollcall_parameters",
    "rollcall_parameters",
    "Per roll call: discrimination and cutting point (where Yea and Nay are equally likely, on the reported "
    "ideal-point scale) with 90% HDIs, bill, title, motion, date, result, and Yea/Nay by party (party-unity, "
    "party-line and party-splitting votes).",
    deps=("hierarchical_posterior", "vote_matrix"),
    group="results",
    kinds={"duckdb"},
)
model_fit = step_asset(
    "model_fit",
    "model_fit",
    "How well the published posterior explains the votes: percent correctly classified, APRE and GMP per draw "
    "(mean, 90% HDI) for the chamber, every legislator and roll call, and a posterior predictive check of the Yea "
    "shares (tables model_fit, model_fit_legislators, model_fit_rollcalls).",
    deps=("hierarchical_posterior", "vote_matrix"),
    checks=(
        Check(
            "apre_not_low",
            f"APRE >= {APRE_WARN:g} (one-dimensional W-NOMINATE on US Congresses: 0.6-0.8; below 0.4 one dimension "
            "explains little of the contested voting)",
        ),
    ),
    group="results",
    kinds={"duckdb"},
)
reference_comparison = step_asset(
    "reference_comparison",
    "reference_comparison",
    f"|r| of the posterior means (and of the flat model's) with the reference scores in the session's "
    f"{REFERENCE_FILE} (legislator_slug or person_id, score, optional source), with the outliers; not applicable "
    "without the file. A bad file fails with its line and problem and leaves the earlier comparison in place.",
    deps=("ideal_points",),
    checks=(
        Check(
            "agrees_with_reference",
            f"|r| with the reference score >= {REFERENCE_R_WARN:g} (first-dimension estimates from the same votes "
            "agree at > 0.95)",
        ),
    ),
    group="results",
    kinds={"duckdb"},
)

ANALYSIS_ASSETS = [rollcall_parameters, model_fit, reference_comparison]
