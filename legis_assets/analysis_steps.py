"""The analysis steps of one session x chamber partition: roll-call parameters, model fit, and the
comparison with a reference score. Plain Python like pipeline.py (which calls these through one-line
methods); the statistics are in core/rollcalls.py, core/fit.py and core/reference_scores.py.

Each step reads the published posterior pair (refused unless it is one run's), computes, and replaces
its partition's warehouse tables, which the report reads (report/inputs.py; a failed run's report
computes them from its traces with the same functions: same thinning, same seed for the replicated
votes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import polars as pl

from legis_assets.core import fit as fit_mod
from legis_assets.core import matrix as matrix_mod
from legis_assets.core import reference_scores as ref_mod
from legis_assets.core import rollcalls as rc_mod
from legis_assets.core import summaries

if TYPE_CHECKING:
    from legis_assets.pipeline import Partition, Pipeline, StepOutput

T_RC_PARAMS = "rollcall_parameters"
T_FIT, T_FIT_LEG, T_FIT_RC = "model_fit", "model_fit_legislators", "model_fit_rollcalls"
T_REF, T_REF_SUMMARY = "reference_comparison", "reference_summary"

REF_SUMMARY_SCHEMA = {
    "n": pl.Int64,
    "r_published": pl.Float64,
    "abs_r_published": pl.Float64,
    "r_flat": pl.Float64,
    "abs_r_flat": pl.Float64,
    "source": pl.String,
    "threshold": pl.Float64,
    "outliers": pl.Int64,
    "file": pl.String,
}


def draws_and_votes(
    m: matrix_mod.VoteMatrix, idata: az.InferenceData
) -> tuple[rc_mod.PosteriorDraws, rc_mod.AlignedVotes]:
    draws = rc_mod.posterior_draws(idata)
    votes = rc_mod.align_votes(
        m.legislators["legislator_slug"].to_list(), m.rollcalls["vote_id"].to_list(), m.leg_idx, m.rc_idx, m.y, draws
    )
    return draws, votes


def rollcall_table(m: matrix_mod.VoteMatrix, rollcalls: pl.DataFrame, draws: rc_mod.PosteriorDraws) -> pl.DataFrame:
    split = rc_mod.party_split(
        m.rollcalls["vote_id"].to_list(), m.legislators["party"].fill_null("").to_list(), m.leg_idx, m.rc_idx, m.y
    )
    return rc_mod.rollcall_parameters(draws, rollcalls, split)


def reference_for(
    pipe: Pipeline, part: Partition, ideal_points: pl.DataFrame
) -> tuple[ref_mod.Comparison | None, str | None, str]:
    """(comparison, why there is none, file path) for this partition; raises ReferenceFileError for a
    bad file. No file, or no row for this chamber's legislators: (None, reason, path)."""
    path = ref_mod.reference_path(pipe.session_dir(part))
    if not path.exists():
        return None, f"no {ref_mod.REFERENCE_FILE} in {path.parent}", str(path)
    session_legislators = _session_legislators(pipe, part)
    reference = ref_mod.read_reference_scores(path, session_legislators)
    mine = reference.filter(pl.col("legislator_slug").is_in(ideal_points["legislator_slug"].to_list()))
    if mine.is_empty():
        return None, f"{path} has no row for a legislator of this chamber", str(path)
    return ref_mod.compare(mine, ideal_points), None, str(path)


def _session_legislators(pipe: Pipeline, part: Partition) -> pl.DataFrame:
    """Every legislator of the session (both chambers), to resolve the reference file's ids."""
    from legis_assets.core import ingest

    tables = ingest.read_session(pipe.session_dir(part))
    return tables.legislators


def _published_ideal_points(pub_hier: az.InferenceData | None, flat: az.InferenceData, m: matrix_mod.VoteMatrix):
    if pub_hier is not None:
        return summaries.ideal_points(pub_hier, flat, m.legislators)
    return summaries.flat_ideal_points(flat, m.legislators)


# --- the steps -------------------------------------------------------------------------------


def rollcall_parameters_step(pipe: Pipeline, part: Partition) -> StepOutput:
    from legis_assets.pipeline import T_ROLLCALLS, StepOutput, _md_table

    m = pipe.load_matrix(part)
    pub = pipe.load_published(part)
    draws, _ = draws_and_votes(m, pub.published)
    rollcalls = pipe.warehouse.read_partition(T_ROLLCALLS, part.key, part.chamber)
    table = rollcall_table(m, rollcalls, draws)
    pipe.warehouse.replace_partition(T_RC_PARAMS, part.key, part.chamber, table)
    top = table.head(8).select("vote_id", "bill_number", "motion", "discrimination", "cutpoint", "party_split")
    return StepOutput(
        {
            "rollcalls": table.height,
            "party_unity_votes": int(table["party_unity"].sum()),
            "party_line_votes": int(table["party_line"].sum()),
            "votes_splitting_a_party": int((table["split_parties"] != "").sum()),
            "median_abs_discrimination": float(np.median(table["abs_discrimination"].to_numpy())),
            "most_discriminating": _md_table(top, max_rows=8),
            "draws_used": draws.n_draws,
            "draws_in_posterior": draws.n_total_draws,
            **pub.built_from(),
        }
    )


def model_fit_step(pipe: Pipeline, part: Partition) -> StepOutput:
    from legis_assets.pipeline import CheckOutcome, StepOutput, _md_table

    m = pipe.load_matrix(part)
    pub = pipe.load_published(part)
    draws, votes = draws_and_votes(m, pub.published)
    fit = fit_mod.model_fit(draws, votes)
    pipe.warehouse.replace_partition(T_FIT, part.key, part.chamber, fit.chamber)
    pipe.warehouse.replace_partition(T_FIT_LEG, part.key, part.chamber, fit.legislators)
    pipe.warehouse.replace_partition(T_FIT_RC, part.key, part.chamber, fit.rollcalls)
    by = {r["metric"]: r for r in fit.chamber.iter_rows(named=True)}
    names = dict(zip(m.legislators["legislator_slug"].to_list(), m.legislators["name"].to_list(), strict=True))
    worst = (
        fit.legislators.sort("gmp")
        .head(8)
        .select(
            pl.col("legislator_slug").replace_strict(names, default=pl.col("legislator_slug")).alias("name"),
            "n_votes",
            "gmp",
            "pcc",
            "apre",
        )
    )
    meta: dict[str, Any] = {}
    for metric in ("pcc", "apre", "gmp"):
        meta[metric] = float(by[metric]["mean"])
        meta[f"{metric}_hdi_low"] = float(by[metric]["hdi_low"])
        meta[f"{metric}_hdi_high"] = float(by[metric]["hdi_high"])
    meta |= fit_mod.ppc_summary(fit)
    meta |= {
        "fit": _md_table(fit.chamber.select("metric", "mean", "hdi_low", "hdi_high", "at_posterior_mean")),
        "worst_fitting_legislators": _md_table(worst, max_rows=8),
        "votes_assessed": int(votes.y.size),
        "draws_used": draws.n_draws,
        "model": pub.published_model,
        **pub.built_from(),
    }
    apre = float(by["apre"]["mean"])
    check = CheckOutcome(
        "apre_not_low",
        bool(apre >= fit_mod.APRE_WARN),
        "warn",
        f"APRE (posterior mean) >= {fit_mod.APRE_WARN:g}: one-dimensional W-NOMINATE fits of US Congresses reach "
        "0.6-0.8; a one-dimensional model removing under 40 % of the majority-side baseline's errors leaves most "
        "contested voting unexplained (second dimension, non-ideological agenda, or a data problem)",
        {
            "value": apre,
            "threshold": fit_mod.APRE_WARN,
            "hdi_low": float(by["apre"]["hdi_low"]),
            "hdi_high": float(by["apre"]["hdi_high"]),
            "pcc": float(by["pcc"]["mean"]),
            "gmp": float(by["gmp"]["mean"]),
        },
    )
    return StepOutput(meta, [check])


def reference_comparison_step(pipe: Pipeline, part: Partition) -> StepOutput:
    """Validate the reference file before anything is written: a bad file raises (file, line,
    problem) and leaves the partition's earlier comparison as it was."""
    from legis_assets.pipeline import CheckOutcome, Markdown, PathValue, StepOutput, _md_table

    m = pipe.load_matrix(part)
    pub = pipe.load_published(part)
    ip = _published_ideal_points(pub.hierarchical, pub.flat, m)
    comparison, note, path = reference_for(pipe, part, ip)
    if comparison is None:
        pipe.warehouse.replace_partition(T_REF, part.key, part.chamber, _empty_reference_table())
        pipe.warehouse.replace_partition(T_REF_SUMMARY, part.key, part.chamber, pl.DataFrame(schema=REF_SUMMARY_SCHEMA))
        return StepOutput(
            {"note": Markdown(f"No comparison: {note}."), "file": PathValue(path), **pub.built_from()},
            [
                CheckOutcome(
                    "agrees_with_reference",
                    True,
                    "warn",
                    f"not applicable: {note} (columns legislator_slug or person_id, score, optional source)",
                    {"applicable": False},
                )
            ],
        )
    s = comparison.summary
    pipe.warehouse.replace_partition(T_REF, part.key, part.chamber, comparison.table.select(_REF_COLUMNS))
    pipe.warehouse.replace_partition(
        T_REF_SUMMARY, part.key, part.chamber, pl.DataFrame([{**s, "file": path}], schema=REF_SUMMARY_SCHEMA)
    )
    outliers = comparison.table.filter(pl.col("outlier")).select("name", "party", "score", "position", "residual_z")
    r = float(s["abs_r_published"])
    return StepOutput(
        {
            "n": s["n"],
            "abs_r_published": r,
            "abs_r_flat": float(s["abs_r_flat"]),
            "source": s["source"],
            "outliers": _md_table(outliers) if outliers.height else Markdown("none (no |residual| >= 2 sd)"),
            "file": PathValue(path),
            **pub.built_from(),
        },
        [
            CheckOutcome(
                "agrees_with_reference",
                bool(np.isfinite(r) and r >= ref_mod.REFERENCE_R_WARN),
                "warn",
                f"|r| of the posterior means with the reference score >= {ref_mod.REFERENCE_R_WARN:g}: estimates of "
                "the first dimension from the same votes agree at |r| > 0.95 (IRT vs NOMINATE); below 0.8 the two no "
                "longer rank the chamber alike (other dimension, wrong file, or an error)",
                {"value": r, "threshold": ref_mod.REFERENCE_R_WARN, "n": s["n"], "abs_r_flat": float(s["abs_r_flat"])},
            )
        ],
    )


_REF_COLUMNS = (
    "legislator_slug",
    "name",
    "party",
    "score",
    "source",
    "position",
    "flat_mean",
    "fitted",
    "residual_z",
    "outlier",
)


def _empty_reference_table() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "legislator_slug": pl.String,
            "name": pl.String,
            "party": pl.String,
            "score": pl.Float64,
            "source": pl.String,
            "position": pl.Float64,
            "flat_mean": pl.Float64,
            "fitted": pl.Float64,
            "residual_z": pl.Float64,
            "outlier": pl.Boolean,
        }
    )
