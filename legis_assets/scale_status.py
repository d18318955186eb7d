"""What the CLI says about a legislature's common scale: why it is skipped, and a summary of what
the warehouse and LEGIS_HOME hold for it (scale_pipeline.py builds it)."""

from __future__ import annotations

import polars as pl

from legis_assets.core.schema import LegisError
from legis_assets.pipeline import Settings
from legis_assets.scale_inputs import T_SCALE_DIAG
from legis_assets.scale_pipeline import ScalePipeline
from legis_assets.steps import SCALE_TABLES

# --- what the CLI prints -------------------------------------------------------------------------


def number(value: float) -> str:
    """A gate value for the terminal: 4 significant digits, whole numbers from 1,000 up with
    thousands separators (an ESS of 11,480, not 1.148e+04)."""
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def skip_reason(settings: Settings, legislature: str) -> str | None:
    """Why a legislature gets no common scale (None: it has 2+ built chamber-sessions)."""
    inputs = ScalePipeline(settings).current_inputs(legislature, load=False)
    built = inputs.built["chamber_session"].to_list()
    sessions = inputs.built["session_key"].unique().sort().to_list()
    if len(built) >= 2 and len(sessions) >= 2:
        return None
    if len(built) >= 2:
        return (
            f"{legislature}: one session ({sessions[0]}): its chambers share no one within a session, so its "
            "common scale would be that session's own per-chamber scales; no common scale built"
        )
    if len(built) == 1:
        return (
            f"{legislature}: one chamber-session ({built[0]}): its common scale is that session's own scale; "
            "no common scale built"
        )
    return f"{legislature}: no chamber-session with a vote matrix; no common scale built"


def scale_summary(settings: Settings, legislature: str) -> list[str]:
    """Lines describing a legislature's common scale as it is in the warehouse and LEGIS_HOME."""
    sp = ScalePipeline(settings)
    wh = sp.warehouse
    lines = [f"  {legislature} (common scale)"]
    used = sp.used_inputs(legislature)
    if used.height:
        lines.append("    chamber-sessions: " + ", ".join(used.filter(pl.col("in_scale"))["chamber_session"].to_list()))
        left_out = used.filter(~pl.col("in_scale"))["chamber_session"].to_list()
        if left_out:
            lines.append("    left out (no one links them to the others): " + ", ".join(left_out))
    gates = wh.read_scale(T_SCALE_DIAG, legislature)
    if gates.height:
        lines.append(
            "    gates: "
            + ", ".join(f"{r['gate']} {number(r['value'])} {r['status']}" for r in gates.iter_rows(named=True))
        )
    else:
        lines.append("    gates: (not computed)")
    counts = []
    for table in SCALE_TABLES:
        rows = wh.read_scale(table, legislature).height
        if rows:
            counts.append(f"{table} {rows}")
    lines.append("    tables (rows): " + (", ".join(counts) or "none"))
    for path in (sp.trace_path(legislature), sp.failed_trace_path(legislature), sp.report_path(legislature)):
        if path.exists():
            kind = "report" if path.suffix == ".html" else "trace"
            lines.append(f"    {kind}: {path}")
    try:
        current, diff, _ = sp.inputs_status(legislature)
        if used.height and not current:
            lines.append(
                "    STALE: " + "; ".join(f"{r['chamber_session']} {r['change']}" for r in diff.iter_rows(named=True))
            )
    except LegisError:
        pass
    return lines
