"""The report's analysis sections (template partial _analysis.html.j2): roll calls (which votes
define the scale), model fit with the posterior predictive check, and the comparison with a
reference score. Input: `ReportContext.analysis` (AnalysisResults: the tables the analysis steps
stored, read by report/inputs.py); render.py calls :func:`add_analysis_sections` once."""

from __future__ import annotations

from typing import Any

import polars as pl

from legis_assets.core.fit import APRE_WARN
from legis_assets.core.reference_scores import REFERENCE_FILE, REFERENCE_R_WARN
from legis_assets.report import analysis_figures as af
from legis_assets.report.context import AnalysisResults, ReportContext
from legis_assets.report.formatting import fmt_num, fmt_pct

SECTIONS = (("rollcalls", "Roll calls"), ("fit", "Model fit"), ("reference", "Reference scores"))
#: the analysis sections go before this section of the page
BEFORE = "convergence"
#: roll calls drawn per group (most discriminating, party line, splitting a party)
N_PANELS = 6
#: legislators listed as fitting worst
N_WORST = 10
#: characters of a motion / title shown in a table cell (the whole text is in the cell's title)
TEXT_MAX = 70


def _short(text: Any, n: int = TEXT_MAX) -> str:
    s = " ".join(str(text if text is not None else "").split())
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def _interval(lo: Any, hi: Any, fmt, digits: int = 2) -> str:
    return f"{fmt(lo, digits)} to {fmt(hi, digits)}"


def _kind(row: dict) -> str:
    kinds = []
    if row.get("party_line"):
        kinds.append("party line")
    elif row.get("party_unity"):
        kinds.append("party unity")
    if row.get("split_parties"):
        kinds.append("splits " + row["split_parties"])
    return ", ".join(kinds)


def rollcall_rows(table: pl.DataFrame, fmt) -> list[dict]:
    rows = []
    for r in table.iter_rows(named=True):
        rows.append(
            {
                "rank": r["discrimination_rank"],
                "vote_id": r["vote_id"],
                "date": r.get("vote_date") or (r.get("vote_datetime") or "")[:10],
                "date_sort": r.get("vote_datetime") or r.get("vote_date") or "",
                "bill": r.get("bill_number") or "",
                "title": r.get("bill_title") or "",
                "title_short": _short(r.get("bill_title")),
                "motion": r.get("motion") or "",
                "motion_short": _short(r.get("motion"), 50),
                "result": r.get("result") or "",
                "disc": r["discrimination"],
                "disc_text": fmt(r["discrimination"], 2),
                "disc_ci": _interval(r["discrimination_hdi_low"], r["discrimination_hdi_high"], fmt),
                "cut": r["cutpoint"],
                "cut_text": fmt(r["cutpoint"], 2),
                "cut_ci": _interval(r["cutpoint_hdi_low"], r["cutpoint_hdi_high"], fmt),
                "yea": r["yea"],
                "nay": r["nay"],
                "split": r["party_split"],
                "kind": _kind(r),
                "yea_side": r["yea_side"],
            }
        )
    return rows


def _groups(table: pl.DataFrame) -> list[tuple[str, str, pl.DataFrame]]:
    """The three groups of drawn roll calls, by size of discrimination; a roll call drawn in an
    earlier group is not drawn again (on a polarised chamber the most discriminating are party-line)."""
    by_disc = table.sort("abs_discrimination", descending=True)
    top = by_disc.head(N_PANELS)
    rest = by_disc.filter(~pl.col("vote_id").is_in(top["vote_id"].to_list()))
    party_line = rest.filter(pl.col("party_line")).head(N_PANELS)
    rest = rest.filter(~pl.col("vote_id").is_in(party_line["vote_id"].to_list()))
    return [
        (
            "most-discriminating",
            "The most discriminating roll calls",
            top,
        ),
        (
            "party-line",
            "Party-line votes (each party at least 90% together, on opposite sides; not repeated from above)",
            party_line,
        ),
        (
            "party-splitting",
            "Votes that split a party (at least 25% of its members on its minority side)",
            rest.filter(pl.col("split_parties") != "").head(N_PANELS),
        ),
    ]


def _positions(an: AnalysisResults, ip: pl.DataFrame | None) -> dict[str, tuple[float, str]]:
    parties: dict[str, str] = {}
    if ip is not None and "party" in ip.columns:
        parties = dict(zip(ip["legislator_slug"].to_list(), ip["party"].fill_null("").to_list(), strict=True))
    return {
        s: (float(x), parties.get(s, ""))
        for s, x in zip(an.xi_mean["legislator_slug"], an.xi_mean["xi_mean"], strict=True)
    }


def _names(ip: pl.DataFrame | None) -> dict[str, str]:
    if ip is None or "name" not in ip.columns:
        return {}
    return dict(zip(ip["legislator_slug"].to_list(), ip["name"].fill_null("").to_list(), strict=True))


def fit_view(an: AnalysisResults, ip: pl.DataFrame | None, fmt, fmt_pct) -> dict:
    by = {r["metric"]: r for r in an.fit_chamber.iter_rows(named=True)}
    labels = {
        "pcc": "correctly classified (PCC)",
        "apre": "APRE (reduction in error vs the majority side)",
        "gmp": "geometric mean probability (GMP)",
    }
    metrics = [
        {
            "metric": labels[m],
            "key": m,
            "mean": fmt(by[m]["mean"], 3),
            "ci": _interval(by[m]["hdi_low"], by[m]["hdi_high"], fmt, 3).replace(" to ", "\u2013"),
            "at_mean": fmt(by[m]["at_posterior_mean"], 3),
        }
        for m in ("pcc", "apre", "gmp")
        if m in by
    ]
    names = _names(ip)
    worst = []
    for r in an.fit_legislators.sort("gmp").head(N_WORST).iter_rows(named=True):
        worst.append(
            {
                "name": names.get(r["legislator_slug"]) or r["legislator_slug"],
                "slug": r["legislator_slug"],
                "party": _positions_party(ip, r["legislator_slug"]),
                "n_votes": r["n_votes"],
                "gmp": fmt(r["gmp"], 3),
                "gmp_ci": _interval(r["gmp_hdi_low"], r["gmp_hdi_high"], fmt, 3).replace(" to ", "\u2013"),
                "pcc": fmt_pct(r["pcc"]),
                "apre": fmt(r["apre"], 2),
                "yea": fmt_pct(r["yea_share"]),
                "rep": f"{fmt_pct(r['rep_low'])}\u2013{fmt_pct(r['rep_high'])}",
            }
        )
    apre = by.get("apre", {}).get("mean")
    return {
        "metrics": metrics,
        "worst": worst,
        "apre": apre,
        "apre_low": apre is not None and apre < APRE_WARN,
        "apre_warn": APRE_WARN,
        "n_votes": int(by["pcc"]["n_votes"]) if "pcc" in by else 0,
        "ppc_rc": fmt_pct(an.fit_rollcalls["inside"].mean()),
        "ppc_leg": fmt_pct(an.fit_legislators["inside"].mean()),
    }


def _positions_party(ip: pl.DataFrame | None, slug: str) -> str:
    if ip is None or "party" not in ip.columns:
        return ""
    hit = ip.filter(pl.col("legislator_slug") == slug)
    return str(hit["party"][0] or "") if hit.height else ""


def reference_view(an: AnalysisResults, fmt) -> dict:
    view: dict[str, Any] = {
        "file": REFERENCE_FILE,
        "error": an.reference_error,
        "note": an.reference_note,
        "threshold": REFERENCE_R_WARN,
        "available": an.reference is not None and an.reference_summary is not None,
    }
    if view["available"] and an.reference is not None and an.reference_summary is not None:
        s = an.reference_summary
        view |= {
            "n": s["n"],
            "r": fmt(s["abs_r_published"], 3),
            "r_flat": fmt(s["abs_r_flat"], 3),
            "low": not (s["abs_r_published"] >= REFERENCE_R_WARN),
            "source": s.get("source") or "",
            "outliers": [
                {
                    "name": r.get("name") or r["legislator_slug"],
                    "party": r.get("party") or "",
                    "score": fmt(r["score"], 3),
                    "position": fmt(r["position"], 2),
                    "z": fmt(r["residual_z"], 1),
                }
                for r in an.reference.filter(pl.col("outlier")).iter_rows(named=True)
            ],
        }
    return view


def add_analysis_sections(view: dict, ctx: ReportContext, ip: pl.DataFrame | None, colours: dict, figs) -> None:
    """Add the analysis sections to the report's view (in place): their entries in the table of
    contents (before the convergence section), their data (`analysis`) and figures. Without
    `ctx.analysis` the sections are left out."""
    an = ctx.analysis
    view["analysis"], view["analysis_error"] = None, ctx.analysis_error
    sections = list(view["sections"])
    at = next((i for i, (sid, _) in enumerate(sections) if sid == BEFORE), len(sections))
    if an is None:
        if ctx.analysis_error:  # one section in their place, saying why
            view["sections"] = tuple(
                sections[:at] + [("rollcalls", "Roll calls, fit, reference scores")] + sections[at:]
            )
        return
    view["sections"] = tuple(sections[:at] + list(SECTIONS) + sections[at:])
    positions = _positions(an, ip)
    groups = []
    for gid, heading, frame in _groups(an.rollcalls):
        rows = frame.to_dicts()
        groups.append(
            {
                "id": gid,
                "heading": heading,
                "n": len(rows),
                "figure": figs.draw(
                    f"cutlines-{gid}",
                    f"{heading}: each legislator's vote at their position, with the cutting point",
                    af.cutline_plot,
                    rows,
                    an.votes,
                    positions,
                    colours,
                )
                if rows
                else None,
            }
        )
    rc = an.rollcalls
    view["analysis"] = {
        "n_draws": an.n_draws,
        "n_total_draws": an.n_total_draws,
        "rollcalls": {
            "rows": rollcall_rows(rc, fmt_num),
            "groups": groups,
            "n": rc.height,
            "n_party_line": int(rc["party_line"].sum()),
            "n_party_unity": int(rc["party_unity"].sum()),
            "n_split": int((rc["split_parties"] != "").sum()),
        },
        "fit": fit_view(an, ip, fmt_num, fmt_pct)
        | {"ppc": figs.draw("ppc", "Posterior predictive check", af.ppc_plot, an.fit_rollcalls, an.fit_legislators)},
        "reference": reference_view(an, fmt_num),
    }
    ref = view["analysis"]["reference"]
    if ref["available"] and an.reference is not None:
        ref["figure"] = figs.draw(
            "reference",
            "Reference score against the posterior mean, by party, with the outliers named",
            af.reference_plot,
            an.reference,
            colours,
            ref["source"],
        )
