"""A ReportContext with the analysis sections filled (report_support's synthetic posteriors, votes
drawn from them, hostile text in a bill title and in names), computed by the real core functions."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from legis_assets.core import fit as fit_mod
from legis_assets.core import reference_scores as ref_mod
from legis_assets.core import rollcalls as rc_mod
from legis_assets.report.context import AnalysisResults, ReportContext

HOSTILE_TITLE = "<img src=x onerror=alert(2)> An act concerning $x^2$"


def with_analysis(ctx: ReportContext, seed: int = 0) -> ReportContext:
    rng = np.random.default_rng(seed)
    published = ctx.published
    assert published is not None and ctx.ideal_points is not None
    draws = rc_mod.posterior_draws(published)
    slugs = ctx.ideal_points["legislator_slug"].to_list()
    parties = ctx.ideal_points["party"].to_list()
    pos = {s: i for i, s in enumerate(draws.legislators)}
    n_rc = len(draws.rollcalls)
    xi, alpha, beta = draws.xi.mean(0), draws.alpha.mean(0), draws.beta.mean(0)
    leg_idx, rc_idx, y = [], [], []
    for i, slug in enumerate(slugs):
        for j in range(n_rc):
            if rng.random() < 0.05:
                continue  # absent
            p = 1 / (1 + np.exp(-(beta[j] * xi[pos[slug]] - alpha[j]))) if slug in pos else 0.5
            leg_idx.append(i), rc_idx.append(j), y.append(int(rng.random() < p))
    leg_idx_a, rc_idx_a, y_a = np.array(leg_idx), np.array(rc_idx), np.array(y, dtype=np.int8)
    rollcalls = pl.DataFrame(
        {
            "vote_id": draws.rollcalls,
            "bill_number": [f"HB {2000 + j}" for j in range(n_rc)],
            "bill_title": [HOSTILE_TITLE if j == 0 else f"An act concerning item {j}" for j in range(n_rc)],
            "motion": ["Final Action - Passed"] * n_rc,
            "vote_date": [f"03/{1 + j % 28:02d}/2025" for j in range(n_rc)],
            "vote_datetime": [f"2025-03-{1 + j % 28:02d}T10:00:00" for j in range(n_rc)],
            "result": ["Passed"] * n_rc,
        }
    )
    split = rc_mod.party_split(draws.rollcalls, parties, leg_idx_a, rc_idx_a, y_a)
    table = rc_mod.rollcall_parameters(draws, rollcalls, split)
    votes = rc_mod.align_votes(slugs, draws.rollcalls, leg_idx_a, rc_idx_a, y_a, draws)
    fit = fit_mod.model_fit(draws, votes)
    ip = ctx.ideal_points
    reference = ip.select(
        "legislator_slug",
        "name",
        score=pl.col("position") * 0.4 + pl.Series(rng.normal(0, 0.1, ip.height)),
        source=pl.lit("synthetic <b>score</b>"),
    ).with_columns(
        score=pl.when(pl.col("name").str.contains("alert(1)", literal=True)).then(-2.0).otherwise(pl.col("score"))
    )
    comparison = ref_mod.compare(reference.drop("name"), ip)
    analysis = AnalysisResults(
        rollcalls=table,
        fit_chamber=fit.chamber,
        fit_legislators=fit.legislators,
        fit_rollcalls=fit.rollcalls,
        xi_mean=pl.DataFrame({"legislator_slug": draws.legislators, "xi_mean": xi}),
        votes=pl.DataFrame(
            {
                "vote_id": [draws.rollcalls[j] for j in rc_idx],
                "legislator_slug": [slugs[i] for i in leg_idx],
                "vote_value": y,
            }
        ),
        reference=comparison.table,
        reference_summary=comparison.summary,
        n_draws=draws.n_draws,
        n_total_draws=draws.n_total_draws,
    )
    return dataclasses.replace(ctx, analysis=analysis)
