"""The report step of one session x chamber partition (`Pipeline.report` calls `report`): the
self-contained HTML page of the published posterior, rendered from the tables and traces the
upstream steps stored (report/inputs.py); also the page of a failed run (`render_failed_report`,
written beside the last passing one, from its traces: no step stored its tables). No Dagster
imports here."""

from __future__ import annotations

from pathlib import Path

import arviz as az

from legis_assets.pipeline import Partition, Pipeline
from legis_assets.step_output import PathValue, StepOutput
from legis_assets.storage import file_sha256


def render_failed_report(
    pipe: Pipeline,
    part: Partition,
    hier: az.InferenceData | None,
    flat: az.InferenceData,
    fitted: bool = True,
    reason: str = "",
    built_from: dict | None = None,
) -> Path:
    """report.failed.html of a run whose gates failed, from its traces."""
    from legis_assets.report import inputs

    ctx = inputs.failed_context(pipe, part, hier, flat, fitted=fitted, reason=reason, built_from=built_from)
    return inputs.write_report(pipe, part, ctx)


def report(pipe: Pipeline, part: Partition) -> StepOutput:
    from legis_assets.report import inputs  # reads the tables the upstream steps stored

    pub = pipe.load_published(part)
    built = pub.built_from()
    path = inputs.write_report(pipe, part, inputs.published_context(pipe, part, pub))
    return StepOutput(
        {
            "path": PathValue(str(path)),
            "url": f"file://{path}",
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
            **built,
        }
    )
