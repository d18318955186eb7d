"""The chamber report's input (`ReportContext`), from what the asset graph produced.

* **A published run** (the `report` step, :func:`published_context`): every number comes from a
  table an upstream step stored in the warehouse: the gates and per-parameter diagnostics
  (`convergence_diagnostics`), the ideal points, the party parameters, the roll-call parameters
  and the model fit; none of them is recomputed here. The published traces are read only for what
  is per draw and not stored: the figures of draws (party densities, trace, rank and energy plots),
  the per-chain E-BFMI, divergences and tree depth, and the sampler's settings and times (trace
  attributes).
* **A failed run** (`hierarchical_posterior` whose ERROR gates failed, :func:`failed_context`):
  nothing downstream of the gates runs, so the same tables are computed here, once each, from the
  failed traces, for the ``report.failed.html`` kept beside the last good report.

In both, the comparison with a reference score is computed for the report from the ideal points:
its own step runs after the report, so that a bad reference file still gets a report that names
the problem.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import arviz as az
import polars as pl

from legis_assets import provenance, steps
from legis_assets.core import fit as fit_mod
from legis_assets.core import sampling, summaries
from legis_assets.core.idata import posterior_of
from legis_assets.core.schema import DataProblem, LegisError
from legis_assets.report.context import AnalysisResults, ReportContext
from legis_assets.storage import write_atomic

if TYPE_CHECKING:
    from legis_assets.core.matrix import VoteMatrix
    from legis_assets.pipeline import Partition, Pipeline, PublishedPosterior

log = logging.getLogger(__name__)

REPORT = steps.step("report").files[0]  # report.html
FAILED_REPORT = REPORT.replace(".html", ".failed.html")


def stored_table(pipe: Pipeline, part: Partition, step: str, table: str) -> pl.DataFrame:
    """A table `step` declares (legis_assets/steps.py) and stored for this partition."""
    if table not in steps.step(step).tables:
        raise ValueError(f"step {step!r} does not write a table {table!r} (steps.py)")
    return pipe.warehouse.read_partition(table, part.key, part.chamber)


def _required(pipe: Pipeline, part: Partition, step: str, table: str) -> pl.DataFrame:
    frame = stored_table(pipe, part, step, table)
    if frame.is_empty():
        raise DataProblem(f"{part}: no {table} table in the warehouse; materialize {step} first")
    return frame


def sampler_info(idata: az.InferenceData, profile: str) -> dict:
    """A model's sampler settings and times, from its trace's attributes."""
    attrs = dict(posterior_of(idata).attrs)
    info = {k.removeprefix("settings_"): v for k, v in attrs.items() if k.startswith("settings_")}
    # what actually ran (e.g. the backend "auto" resolved to) wins over the requested settings
    info.update(
        {
            k: v
            for k, v in attrs.items()
            if k in ("model", "backend", "compile_seconds", "sample_seconds", "grad_evals", *sampling.FRAME_ATTRS)
        }
    )
    info.setdefault("profile", profile)
    return info


def scale_report_link(pipe: Pipeline, part: Partition) -> str | None:
    """The relative link to the legislature's common-scale page: when it exists, or when the
    legislature has two or more sessions under the data root (`legis-assets run` builds the
    common scale right after its sessions, so the link works once the run ends)."""
    from legis_assets.core import ingest

    settings = pipe.settings
    scale_page = settings.home / "reports" / part.key.legislature / "common_scale" / REPORT
    if not scale_page.exists():
        try:
            sessions = [
                leg
                for leg, _ in ingest.discover_sessions(
                    settings.data_dir, allow_outside_root=settings.allow_outside_root
                )
            ]
        except LegisError:
            return None
        if sessions.count(part.key.legislature) < 2:
            return None
    return "../../common_scale/" + REPORT


def _context(
    pipe: Pipeline,
    part: Partition,
    m: VoteMatrix,
    hier: az.InferenceData | None,
    flat: az.InferenceData,
    *,
    passed: bool,
    fitted: bool,
    reason: str,
    built_from: dict | None,
    gates: pl.DataFrame,
    parameters: pl.DataFrame,
    ideal_points: pl.DataFrame,
    party_summary: pl.DataFrame | None,
) -> ReportContext:
    """What both kinds of report read the same way: the vote matrix's manifest, PCA, ingest
    problems, legislators, sampler settings, provenance."""
    variance = stored_table(pipe, part, "pca_init", "pca_explained_variance").sort("component")
    problems = stored_table(pipe, part, "ingest", "ingest_problems")
    sampler = {"flat": sampler_info(flat, pipe.settings.profile)}
    if hier is not None:
        sampler = {"hierarchical": sampler_info(hier, pipe.settings.profile), **sampler}
    return ReportContext(
        session_key=part.key.key,
        chamber=part.chamber,
        passed=passed,
        gates=gates,
        parameters=parameters,
        hierarchical=hier,
        flat=flat,
        ideal_points=ideal_points,
        party_summary=party_summary,
        manifest=m.manifest,
        pca_scores=pipe.load_pca(part),
        explained_variance=variance["explained_variance_ratio"].to_list() if variance.height else [],
        sampler=sampler,
        problems=problems["problem"].to_list() if problems.height else [],
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        hierarchical_fitted=fitted,
        hierarchical_reason=reason,
        built_from=dict(built_from or {}),
        scale_report_link=scale_report_link(pipe, part),
        legislators=stored_table(pipe, part, "ingest", "legislators"),
        provenance=provenance.collect(
            pipe.settings, pipe.session_dir(part), str((built_from or {}).get("run_id") or "") or None
        ),
    )


def _positions(ideal_points: pl.DataFrame) -> pl.DataFrame:
    """legislator_slug, xi_mean of the published model's legislators (the cutting-point figures
    draw each vote at this position: the one the ideal-points table shows)."""
    return ideal_points.filter(pl.col("xi_mean").is_not_null()).select("legislator_slug", "xi_mean")


def _reference(
    pipe: Pipeline, part: Partition, ideal_points: pl.DataFrame
) -> tuple[pl.DataFrame | None, dict | None, str | None, str | None]:
    """(table, summary, why there is none, the refused file's error) of the reference comparison."""
    from legis_assets import analysis_steps

    try:
        comparison, note, _ = analysis_steps.reference_for(pipe, part, ideal_points)
    except LegisError as err:
        return None, None, None, str(err)
    if comparison is None:
        return None, None, note, None
    return comparison.table, comparison.summary, None, None


def _analysis_results(
    pipe: Pipeline,
    part: Partition,
    m: VoteMatrix,
    ideal_points: pl.DataFrame,
    rollcalls: pl.DataFrame,
    fit: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
    n_draws: int,
    n_total_draws: int,
) -> AnalysisResults:
    """The analysis sections' input: the roll-call parameters and the fit (chamber, legislators,
    roll calls) with the votes, the positions and the reference comparison."""
    table, summary, note, error = _reference(pipe, part, ideal_points)
    return AnalysisResults(
        rollcalls=rollcalls,
        fit_chamber=fit[0],
        fit_legislators=fit[1],
        fit_rollcalls=fit[2],
        xi_mean=_positions(ideal_points),
        votes=m.long_frame().select("vote_id", "legislator_slug", "vote_value"),
        reference=table,
        reference_summary=summary,
        reference_note=note,
        reference_error=error,
        n_draws=n_draws,
        n_total_draws=n_total_draws,
    )


def _stored_analysis(
    pipe: Pipeline, part: Partition, m: VoteMatrix, published: az.InferenceData, ideal_points: pl.DataFrame
) -> AnalysisResults:
    rollcalls = _required(pipe, part, "rollcall_parameters", "rollcall_parameters")
    fit = (
        _required(pipe, part, "model_fit", "model_fit"),
        _required(pipe, part, "model_fit", "model_fit_legislators"),
        _required(pipe, part, "model_fit", "model_fit_rollcalls"),
    )
    sizes = posterior_of(published).sizes
    return _analysis_results(
        pipe,
        part,
        m,
        ideal_points,
        rollcalls,
        fit,
        n_draws=int(rollcalls["n_draws"][0]),
        n_total_draws=int(sizes["chain"] * sizes["draw"]),
    )


def _computed_analysis(
    pipe: Pipeline, part: Partition, m: VoteMatrix, published: az.InferenceData, ideal_points: pl.DataFrame
) -> AnalysisResults:
    """The analysis sections of a failed run, computed from its traces (no step stored them)."""
    from legis_assets import analysis_steps

    draws, votes = analysis_steps.draws_and_votes(m, published)
    rollcalls = analysis_steps.rollcall_table(m, stored_table(pipe, part, "ingest", "rollcalls"), draws)
    fit = fit_mod.model_fit(draws, votes)
    return _analysis_results(
        pipe,
        part,
        m,
        ideal_points,
        rollcalls,
        (fit.chamber, fit.legislators, fit.rollcalls),
        n_draws=draws.n_draws,
        n_total_draws=draws.n_total_draws,
    )


def _analysis(compute, *args: Any) -> tuple[AnalysisResults | None, str | None]:
    """The analysis sections, or (None, the error) when they cannot be had: the report says so in
    their place and the rest of it still renders."""
    part = args[1]
    try:
        return compute(*args), None
    except Exception as exc:  # noqa: BLE001 - an analysis section must never sink the report
        log.warning("%s: the report's analysis sections could not be read", part, exc_info=True)
        return None, f"{type(exc).__name__}: {exc}"


def _check_same_run(part: Partition, pub: PublishedPosterior, ideal_points: pl.DataFrame) -> None:
    """Refuse tables left by an earlier run (a posterior re-materialized without the steps after
    it): the stored ideal points must be the published posterior's means, legislator by
    legislator, or the page would show old numbers beside the new run's figures."""
    draws = posterior_of(pub.published)[summaries.IDEAL_POINT_VAR]
    slugs = [str(v) for v in draws["legislator"].values]
    means = draws.values.reshape(-1, len(slugs)).mean(axis=0)
    stored = {s: v for s, v in zip(ideal_points["legislator_slug"], ideal_points["xi_mean"]) if v is not None}
    same = set(stored) == set(slugs) and all(abs(stored[s] - x) <= 1e-9 * (1 + abs(x)) for s, x in zip(slugs, means))
    if not same:
        raise DataProblem(
            f"{part}: the stored ideal_points table does not come from the published posterior (run "
            f"{pub.built_from()['run_id']}); materialize convergence_diagnostics, ideal_points, party_summary, "
            "rollcall_parameters and model_fit for this partition before the report"
        )


def published_context(pipe: Pipeline, part: Partition, pub: PublishedPosterior) -> ReportContext:
    """The report of the published pair, from the tables its downstream steps stored."""
    m = pipe.load_matrix(part)
    ideal_points = _required(pipe, part, "ideal_points", "ideal_points")
    _check_same_run(part, pub, ideal_points)
    ctx = _context(
        pipe,
        part,
        m,
        pub.hierarchical,
        pub.flat,
        passed=True,
        fitted=pub.fitted,
        reason=pub.reason,
        built_from=pub.built_from(),
        gates=_required(pipe, part, "convergence_diagnostics", "convergence_diagnostics"),
        parameters=_required(pipe, part, "convergence_diagnostics", "parameter_diagnostics"),
        ideal_points=ideal_points,
        party_summary=_required(pipe, part, "party_summary", "party_summary") if pub.fitted else None,
    )
    ctx.analysis, ctx.analysis_error = _analysis(_stored_analysis, pipe, part, m, pub.published, ideal_points)
    return ctx


def failed_context(
    pipe: Pipeline,
    part: Partition,
    hier: az.InferenceData | None,
    flat: az.InferenceData,
    *,
    fitted: bool,
    reason: str,
    built_from: dict | None,
) -> ReportContext:
    """The report of a run whose gates failed, computed once from its traces (the steps that
    would have stored these tables do not run on a failed posterior)."""
    m = pipe.load_matrix(part)
    gates, parameters = pipe._gate_tables(hier, flat)
    if hier is not None:
        ideal_points = summaries.ideal_points(hier, flat, m.legislators)
        sizes = {p: int(n) for p, n in m.legislators.group_by("party").len().iter_rows()}
        party_summary = summaries.party_summary(hier, sizes)
    else:
        ideal_points, party_summary = summaries.flat_ideal_points(flat, m.legislators), None
    ctx = _context(
        pipe,
        part,
        m,
        hier,
        flat,
        passed=False,
        fitted=fitted,
        reason=reason,
        built_from=built_from,
        gates=gates,
        parameters=parameters,
        ideal_points=ideal_points,
        party_summary=party_summary,
    )
    published = hier if hier is not None else flat
    ctx.analysis, ctx.analysis_error = _analysis(_computed_analysis, pipe, part, m, published, ideal_points)
    return ctx


def write_report(pipe: Pipeline, part: Partition, ctx: ReportContext) -> Path:
    """Render and write the report atomically: report.html for a published run (removing a failed
    attempt's report), report.failed.html beside it for a failed one."""
    from legis_assets.report.render import render_report

    html = render_report(ctx)
    path = pipe.report_dir(part) / (REPORT if ctx.passed else FAILED_REPORT)
    write_atomic(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    if ctx.passed:
        (pipe.report_dir(part) / FAILED_REPORT).unlink(missing_ok=True)
    return path
