"""The report step of one session x chamber partition (`Pipeline.report` calls `report`): the
self-contained HTML page of the published posterior, rendered from what the steps stored; also the
page of a failed run (`render_report(passed=False)`, written beside the last passing one). No
Dagster imports here."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import arviz as az

from legis_assets import provenance
from legis_assets.core import ingest, sampling, summaries
from legis_assets.core.idata import posterior_of
from legis_assets.core.schema import LegisError
from legis_assets.pipeline import FAILED_SUFFIX, REPORT, T_LEGISLATORS, T_PCA_VAR, T_PROBLEMS, Partition, Pipeline
from legis_assets.step_output import PathValue, StepOutput
from legis_assets.storage import file_sha256, write_atomic

log = logging.getLogger(__name__)


def sampler_info(idata: az.InferenceData, profile: str) -> dict:
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


def render_report(
    pipe: Pipeline,
    part: Partition,
    hier: az.InferenceData | None,
    flat: az.InferenceData,
    passed: bool,
    fitted: bool = True,
    reason: str = "",
    built_from: dict | None = None,
) -> Path:
    from legis_assets.report import ReportContext
    from legis_assets.report import render_report as render_html

    m = pipe.load_matrix(part)
    gates, params = pipe._gate_tables(hier, flat)
    sizes = {p: int(n) for p, n in m.legislators.group_by("party").len().iter_rows()}
    variance = pipe.warehouse.read_partition(T_PCA_VAR, part.key, part.chamber).sort("component")
    problems = pipe.warehouse.read_partition(T_PROBLEMS, part.key, part.chamber)
    sampler = {"flat": sampler_info(flat, pipe.settings.profile)}
    if hier is not None:
        sampler = {"hierarchical": sampler_info(hier, pipe.settings.profile), **sampler}
    ctx = ReportContext(
        session_key=part.key.key,
        chamber=part.chamber,
        passed=passed,
        gates=gates,
        parameters=params,
        hierarchical=hier,
        flat=flat,
        ideal_points=summaries.ideal_points(hier, flat, m.legislators)
        if hier is not None
        else summaries.flat_ideal_points(flat, m.legislators),
        party_summary=summaries.party_summary(hier, sizes) if hier is not None else None,
        manifest=m.manifest,
        pca_scores=pipe.load_pca(part),
        explained_variance=variance["explained_variance_ratio"].to_list() if variance.height else [],
        sampler=sampler,
        problems=problems["problem"].to_list() if problems.height else [],
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        hierarchical_fitted=fitted,
        hierarchical_reason=reason,
        built_from=dict(built_from or {}),
        scale_report_link=_scale_report_link(pipe, part),
        legislators=pipe.warehouse.read_partition(T_LEGISLATORS, part.key, part.chamber),
        provenance=provenance.collect(
            pipe.settings, pipe.session_dir(part), str((built_from or {}).get("run_id") or "") or None
        ),
    )
    ctx.analysis, ctx.analysis_error = _analysis_results(pipe, part, hier, flat)
    html = render_html(ctx)
    name = REPORT if passed else REPORT.replace(".html", f"{FAILED_SUFFIX}.html")
    path = pipe.report_dir(part) / name
    write_atomic(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    if passed:
        (pipe.report_dir(part) / REPORT.replace(".html", f"{FAILED_SUFFIX}.html")).unlink(missing_ok=True)
    return path


def _scale_report_link(pipe: Pipeline, part: Partition) -> str | None:
    """The relative link to the legislature's common-scale page: when it exists, or when the
    legislature has two or more sessions under the data root (`legis-assets run` builds the
    common scale right after its sessions, so the link works once the run ends)."""
    scale_page = pipe.settings.home / "reports" / part.key.legislature / "common_scale" / REPORT
    if not scale_page.exists():
        try:
            sessions = [
                leg
                for leg, _ in ingest.discover_sessions(
                    pipe.settings.data_dir, allow_outside_root=pipe.settings.allow_outside_root
                )
            ]
        except LegisError:
            return None
        if sessions.count(part.key.legislature) < 2:
            return None
    return "../../common_scale/" + REPORT


def report(pipe: Pipeline, part: Partition) -> StepOutput:
    pub = pipe.load_published(part)
    built = pub.built_from()
    path = render_report(
        pipe, part, pub.hierarchical, pub.flat, passed=True, fitted=pub.fitted, reason=pub.reason, built_from=built
    )
    return StepOutput(
        {
            "path": PathValue(str(path)),
            "url": f"file://{path}",
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
            **built,
        }
    )


def _analysis_results(
    pipe: Pipeline, part: Partition, hier: az.InferenceData | None, flat: az.InferenceData
) -> tuple[Any, str | None]:
    """The report's analysis sections, or (None, the error) when they cannot be computed: the
    report says so in their place and the rest of it still renders."""
    from legis_assets import analysis_steps

    try:
        return analysis_steps.analysis_results(pipe, part, hier, flat), None
    except Exception as exc:  # noqa: BLE001 - an analysis section must never sink the report
        log.warning("%s: the report's analysis sections could not be computed", part, exc_info=True)
        return None, f"{type(exc).__name__}: {exc}"
