"""Self-contained HTML report per session x chamber (DESIGN.md section 6).

``render_report(ReportContext(...))`` returns the whole document as a string: figures are
embedded as PNG data URIs, CSS and JS are inline, every input name is escaped, and the page
makes no network request. No dagster import in this package. ``inputs`` builds a chamber
report's context from what the steps stored (the warehouse tables and the published traces).
"""

from legis_assets.report.context import ReportContext
from legis_assets.report.render import render_report
from legis_assets.report.scale import ScaleReportContext, render_scale_report

__all__ = ["ReportContext", "render_report", "ScaleReportContext", "render_scale_report"]
