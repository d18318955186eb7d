"""Render one session x chamber report: a single self-contained HTML document.

* Everything from the input is escaped: the template runs with jinja2 autoescape on, names in
  figures go through :func:`figures.plot_label`, and no input reaches the inline script (the
  table's sort keys and search text live in escaped HTML attributes).
* The page makes no network request: figures are base64 PNG data URIs, CSS and JS are inline,
  no fonts or scripts are fetched. A Content-Security-Policy meta tag enforces it
  (``default-src 'none'``; images only from ``data:``; only the exact inline style and script
  the renderer wrote, pinned by their SHA-256 hashes), so even a bug that let markup through
  could neither run script nor load anything.
* A figure that cannot be drawn (missing sample stats, degenerate draws) is replaced by a note
  saying so, and the rest of the report still renders.
* Where the hierarchical model was not fitted (one party, no parties, a pooled party too small)
  the report says so and why at the top, shows the flat model's estimates and blocking gates, and
  leaves out the party-posterior and shrinkage sections.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from legis_assets import steps
from legis_assets.report import figures
from legis_assets.report.analysis import add_analysis_sections
from legis_assets.report.context import ReportContext
from legis_assets.report.formatting import fmt_num, short, sort_key
from legis_assets.report.sections import (
    Figures,
    convergence_section,
    data_section,
    party_section,
    shrinkage_section,
)
from legis_assets.report.tables import (
    data_size,
    downloads_section,
    gate_rows,
    ideal_point_rows,
    prepare_ideal_points,
    provenance_view,
    sampler_table,
)

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATE = "report.html.j2"
#: the sections, in page order (declared with the step each shows in legis_assets/steps.py)
SECTIONS = tuple((sec.id, sec.title) for sec in steps.REPORT_SECTIONS)
#: sections that need the hierarchical model (left out where it was not fitted)
HIERARCHICAL_SECTIONS = tuple(sec.id for sec in steps.REPORT_SECTIONS if sec.hierarchical_only)
#: posterior variables holding the ideal points, preferred first: the standardised ideal points
#: (core.models.add_normalised) when the posterior has them, else the raw xi
IDEAL_POINT_VARS = ("xi_norm", "xi")

GATE_ADVICE = {
    "rhat": "The chains disagree. Sample longer (more tuning and draws, e.g. the reference profile) and "
    "look at the trace and rank plots below for the parameters that mix worst.",
    "ess": "Too few effective draws. Increase the number of draws (the reference profile uses 4 chains "
    "x 2,000 draws) or fix slow mixing first.",
    "divergences": "The sampler hit regions it could not explore. Use more tuning, the identified default "
    "model, or check the data for legislators with very few votes.",
    "ebfmi": "Low E-BFMI: momentum resampling explores the energy distribution poorly; a reparameterisation "
    "or longer tuning usually helps.",
    "agrees_with_flat": "The party model and the flat model disagree. Check the party labels and the sign "
    "(orientation) of the scale.",
}


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_num
    env.filters["sortkey"] = sort_key
    return env


#: the script both report pages share: sortable tables and search boxes
TABLES_JS = HERE / "static" / "tables.js"


@functools.lru_cache(maxsize=1)
def _static() -> tuple[str, str]:
    """The page's CSS and its one script (the shared tables.js)."""
    return (HERE / "static" / "report.css").read_text(encoding="utf-8"), TABLES_JS.read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _party_css(colours: dict[str, str]) -> tuple[str, dict[str, str]]:
    """CSS classes per party (party names never reach the stylesheet, only an index)."""
    classes, css = {}, []
    for i, (party, colour) in enumerate(sorted(colours.items())):
        classes[party] = f"party-{i}"
        css.append(f".party-{i}::before{{background:{colour}}}")
    return "\n".join(css), classes


def safe_relative_link(url: str | None) -> str | None:
    """A link the page may carry: relative only (no scheme, no //host), else None."""
    if not url or ":" in url.split("/", 1)[0] or url.startswith("//"):
        return None
    return url


def render_report(ctx: ReportContext) -> str:
    """The whole report for one session x chamber, as one HTML document."""
    ip = prepare_ideal_points(ctx)
    parties: set[str] = set()
    if ip is not None:
        parties |= set(ip["party_label"].to_list())
    post = getattr(ctx.published, "posterior", None)
    for var in ("mu_party", "mu_party_norm"):
        if post is not None and var in post:
            dims = [d for d in post[var].dims if d not in ("chain", "draw")]
            if dims:
                parties |= {str(v) for v in post[var][dims[0]].values}
    colours = figures.party_colours(parties)
    figs = Figures()

    gates = gate_rows(ctx.gates, ctx.published_model) if ctx.gates is not None else []
    blocking_failed = [g for g in gates if g["blocking"] and g["status"] == "FAIL"]
    failed = not ctx.passed or bool(blocking_failed)
    banner_gates = blocking_failed or [g for g in gates if g["status"] == "FAIL"]
    notes = [g for g in gates if g["status"] == "WARN" or (g["status"] == "FAIL" and not g["blocking"])]
    advice = list(dict.fromkeys(GATE_ADVICE[g["gate"]] for g in banner_gates if g["gate"] in GATE_ADVICE))

    forest = extremes = None
    labelled = True
    if ip is not None:
        try:
            fig, labelled = figures.forest_plot(ip, colours)
            forest = {
                "uri": figures.to_data_uri(fig),
                "alt": "Forest plot: every legislator's ideal point with "
                "its 90% interval, ranked from most liberal (top) to most conservative (bottom)",
            }
        except Exception as exc:  # noqa: BLE001
            log.warning("report figure forest failed", exc_info=True)
            figs.errors.append("forest")
            forest = {"error": f"{type(exc).__name__}: {short(exc, 300)}", "alt": "forest plot"}
        if not labelled:
            extremes = figs.draw(
                "extremes",
                "The most liberal and most conservative legislators with their 90% intervals",
                figures.extremes_plot,
                ip,
                colours,
            )

    party = party_section(ctx, colours, figs)
    session_title = f"{ctx.session_key} \u00b7 {ctx.chamber.title()}"
    css, js = _static()
    party_css, party_classes = _party_css(colours)
    style = css + "\n" + party_css + "\n"
    script = js
    view: dict[str, Any] = {
        "title": f"Ideal points: {session_title}",
        "standardised": post is not None and IDEAL_POINT_VARS[0] in post,
        "session_key": ctx.session_key,
        "chamber": ctx.chamber,
        "chamber_title": ctx.chamber.title(),
        "generated_at": ctx.generated_at or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "sections": SECTIONS
        if ctx.published_model == "hierarchical"
        else tuple(sec for sec in SECTIONS if sec[0] not in HIERARCHICAL_SECTIONS),
        "hierarchical_fitted": ctx.published_model == "hierarchical",
        "not_fitted_reason": ctx.hierarchical_reason or "no hierarchical posterior was given",
        "built_from": {
            k: str((ctx.built_from or {}).get(k) or "") for k in ("run_id", "flat_sha256", "hierarchical_sha256")
        }
        if ctx.built_from
        else {},
        "scale_report_link": safe_relative_link(ctx.scale_report_link),
        "failed": failed,
        "banner_gates": banner_gates,
        "advice": advice,
        "notes": notes,
        "passed_flag": ctx.passed,
        "gates": gates,
        "sampler": sampler_table(ctx),
        "size": data_size(ctx.manifest or {}, ip),
        "n_legislators": ip.height if ip is not None else 0,
        "n_flat_only": int((ip["model"] != "hierarchical").sum()) if ip is not None else 0,
        "ip_rows": ideal_point_rows(ip) if ip is not None else [],
        "forest": forest,
        "extremes": extremes,
        "forest_labelled": labelled,
        "extremes_k": figures.EXTREMES_PER_SIDE,
        "parties": [{"name": p, "cls": party_classes.get(p, "")} for p in sorted(parties)],
        "party_cls": party_classes,
        "party": party,
        "shrink": shrinkage_section(ip, colours, figs)
        if ctx.published_model == "hierarchical"
        else {"available": False},
        "conv": convergence_section(ctx, figs),
        "data": data_section(ctx, ip, colours, figs),
        "style": Markup(style),
        "script": Markup(script),
        "csp": Markup(
            f"default-src 'none'; img-src data:; style-src {_csp_hash(style)}; "
            f"script-src {_csp_hash(script)}; base-uri 'none'; form-action 'none'"
        ),
    }
    view["downloads"] = downloads_section(ctx, ip)
    view["provenance"] = provenance_view(ctx.provenance or {}, ctx.built_from or {})
    add_analysis_sections(view, ctx, ip, colours, figs)
    view["section_no"] = {sid: i for i, (sid, _) in enumerate(view["sections"], start=1)}
    view["figure_errors"] = figs.errors
    return _environment().get_template(TEMPLATE).render(**view)
