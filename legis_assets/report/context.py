"""The report's input: everything one session x chamber report shows, already computed.

The report never samples or fits anything; it reads results the core produced (posteriors as
InferenceData, tables as polars frames) and draws them. No dagster import here or anywhere in
``legis_assets.report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import arviz as az
import polars as pl


@dataclass
class AnalysisResults:
    """The analysis sections' input (report/inputs.py): roll-call parameters (core.rollcalls) and
    fit with the posterior predictive check (core.fit), as the rollcall_parameters and model_fit
    steps stored them, and the reference comparison (core.reference_scores) of the stored ideal
    points."""

    rollcalls: pl.DataFrame
    fit_chamber: pl.DataFrame
    fit_legislators: pl.DataFrame
    fit_rollcalls: pl.DataFrame
    #: legislator_slug, xi_mean: the positions (ideal_points table) the cutpoints are drawn against
    xi_mean: pl.DataFrame
    #: vote_id, legislator_slug, vote_value (1 Yea, 0 Nay): the votes drawn at the cutting points
    votes: pl.DataFrame
    reference: pl.DataFrame | None = None
    reference_summary: dict | None = None
    #: why there is no comparison (no file, no row for this chamber)
    reference_note: str | None = None
    #: the reference file was refused: the error (file, line, problem)
    reference_error: str | None = None
    n_draws: int = 0
    n_total_draws: int = 0


@dataclass
class ReportContext:
    #: session directory key, e.g. "simulated.91st_2025-2026"
    session_key: str
    #: "house" | "senate"
    chamber: str
    #: all ERROR gates of the hierarchical posterior passed
    passed: bool
    #: model ("hierarchical"|"flat"), gate, metric, value, threshold, comparison,
    #: severity ("error"|"warn"), passed (bool), status ("PASS"|"FAIL"|"WARN"), description
    gates: pl.DataFrame
    #: model, group ("xi", "mu_party", "sigma_within", ...), parameter (e.g. "xi[rep_smith_ann_1]"),
    #: rhat, ess_bulk, ess_tail
    parameters: pl.DataFrame
    #: posterior: xi (chain, draw, legislator), xi_offset, mu_party (party), sigma_within (party),
    #: alpha, beta (rollcall), maybe party_gap; sample_stats: diverging, energy, n_steps.
    #: None where the hierarchical model was not fitted (see hierarchical_fitted)
    hierarchical: az.InferenceData | None
    #: posterior: xi (legislator), alpha, beta
    flat: az.InferenceData | None
    #: summaries.ideal_points(): legislator_slug, name, full_name, party, district, n_votes, xi_mean,
    #: xi_sd, xi_hdi_low, xi_hdi_high, rank, rank_low, rank_high, flat_mean, xi_flat, xi_flat_hdi_low,
    #: xi_flat_hdi_high, model, shrinkage, position, overall_rank
    ideal_points: pl.DataFrame | None
    #: summaries.party_summary(): parameter, party, n_legislators, mean, sd, hdi_low, hdi_high
    party_summary: pl.DataFrame | None
    #: the vote-matrix filter manifest (matrix.py)
    manifest: dict
    #: legislator_slug, party, pc1, pc2
    pca_scores: pl.DataFrame
    explained_variance: list[float]
    #: {"hierarchical": {...}, "flat": {...}}: model, profile, chains, tune, draws, seed,
    #: compile_seconds, sample_seconds, grad_evals (any may be missing)
    sampler: dict[str, dict]
    #: ingest problems, listed in the Data section
    problems: list[str] = field(default_factory=list)
    #: ISO time the report was generated
    generated_at: str = ""
    #: False where the hierarchical model was not fitted (one party, no parties, a pooled party
    #: too small): the report says so and why (`hierarchical_reason`), shows the flat model's
    #: estimates and gates, and leaves out the party and shrinkage sections
    hierarchical_fitted: bool = True
    hierarchical_reason: str = ""
    #: what the report was built from: run_id, flat_sha256, hierarchical_sha256 (shown in the footer)
    built_from: dict = field(default_factory=dict)
    #: relative URL of the legislature's common-scale page (reports/<legislature>/common_scale/
    #: report.html, i.e. ``../../common_scale/report.html``) when it exists; None: no link
    scale_report_link: str | None = None
    #: the session's legislators table (legislator_slug, name, full_name, party, district), to name
    #: the legislators the filters dropped; None: they are listed by slug
    legislators: pl.DataFrame | None = None
    #: provenance.collect(): package version, git commit, run id, data hash, settings (footer)
    provenance: dict = field(default_factory=dict)
    #: roll calls, fit, reference comparison (report/analysis.py); None: those sections are left out
    analysis: AnalysisResults | None = None
    #: why the analysis sections could not be computed (shown in their place)
    analysis_error: str | None = None

    @property
    def published_model(self) -> str:
        return "hierarchical" if self.hierarchical_fitted and self.hierarchical is not None else "flat"

    @property
    def published(self) -> az.InferenceData | None:
        """The posterior whose estimates and gates are published."""
        return self.hierarchical if self.published_model == "hierarchical" else self.flat
