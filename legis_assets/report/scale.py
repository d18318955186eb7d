"""The common-scale report: one self-contained HTML page per scale (a legislature, or a named
group of legislatures), every session and both chambers on one scale (DESIGN.md 6b).

``render_scale_report(ScaleReportContext(...)) -> str`` returns the whole document. It lives at
``reports/<legislature>/common_scale/report.html``; the per-session reports live at
``reports/<legislature>/<session>/<chamber>/report.html``, so its links to them are relative
(``../<session>/<chamber>/report.html``, :func:`session_report_link`).

Sections, in order: headline (what was used, the gates, a red "Do not use these estimates"
banner naming the failed gates, the chamber-sessions left out), party trends, who moved, every
person's trajectory (searchable; choosing a person draws their trajectory), the bridge graph,
convergence, and the links to each chamber-session's report.

Safety, as in :mod:`legis_assets.report.render`:

* everything from the input is escaped: jinja2 autoescape in the template, names in figures
  through ``figures.plot_label``; the positions the trajectory script draws travel in a JSON data
  block (``<script type="application/json">``: parsed, never executed) with ``<``, ``>`` and ``&``
  written as ``\\u003c`` etc., and the script puts names into the page only as text nodes;
* no network: figures are PNG data URIs, CSS and JS inline, and a Content-Security-Policy allows
  only the page's own inline style and script (pinned by SHA-256) and ``data:`` images; links to
  the per-session reports must be relative paths (anything with a scheme is dropped).

No dagster import here.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import math

import polars as pl
from markupsafe import Markup

from legis_assets.core.bridge import node_id
from legis_assets.report import figures, render, scale_figures
from legis_assets.report.formatting import fmt_num, short
from legis_assets.report.scale_data import (
    CS_SCHEMA,
    EDGES_SCHEMA,
    GATE_ADVICE,
    HERE,
    MOVEMENT_SCHEMA,
    NAME_DISPLAY_MAX,
    NODES_SCHEMA,
    POSITIONS_SCHEMA,
    SECTIONS,
    TEMPLATE,
    TREND_SCHEMA,
    ScaleReportContext,
    _clean,
    _cs_label,
    _csp_hash,
    _f,
    _Figures,
    _frame,
    _hdi_text,
    _people,
    gap_summary,
    gate_rows,
    json_data_block,
    safe_link,
    sampler_info,
    sampler_rows,
    session_order,
    session_report_link,
    session_report_links,
    trend_rows,
)

log = logging.getLogger(__name__)

__all__ = [
    "SECTIONS",
    "ScaleReportContext",
    "safe_link",
    "session_order",
    "session_report_link",
    "sampler_info",
    "session_report_links",
    "render_scale_report",
]

# --------------------------------------------------------------------------------------------
# static parts


_environment = render._environment  # the per-session report's jinja2 environment (same filters)


@functools.lru_cache(maxsize=1)
def _static() -> tuple[str, str]:
    """The page's CSS (the session report's, then the scale's own) and its script (the shared
    tables.js, then the trajectory panel's scale.js)."""
    css = (HERE / "static" / "report.css").read_text(encoding="utf-8")
    own = (HERE / "static" / "scale.css").read_text(encoding="utf-8")
    script = (
        render.TABLES_JS.read_text(encoding="utf-8") + "\n" + (HERE / "static" / "scale.js").read_text(encoding="utf-8")
    )
    return css + own, script


# --------------------------------------------------------------------------------------------
# the document


def render_scale_report(ctx: ScaleReportContext) -> str:
    """The whole common-scale page for one scale, as one HTML document (see the module doc)."""
    order = session_order(ctx)
    session_keys = sorted(order, key=order.__getitem__)
    pos = _frame(ctx.positions, POSITIONS_SCHEMA).with_columns(pl.col("chamber").cast(pl.String).str.to_lowercase())
    pos = pos.filter(pl.col("person_id").is_not_null())
    trend = _frame(ctx.party_trend, TREND_SCHEMA).with_columns(pl.col("chamber").cast(pl.String).str.to_lowercase())
    move = _frame(ctx.movement, MOVEMENT_SCHEMA).with_columns(
        pl.col("from_chamber").cast(pl.String).str.to_lowercase(),
        pl.col("to_chamber").cast(pl.String).str.to_lowercase(),
        pl.col("moved").fill_null(False),
    )
    edges = _frame(ctx.bridge_edges, EDGES_SCHEMA)
    nodes = _frame(ctx.bridge_nodes, NODES_SCHEMA)
    used = _frame(ctx.chamber_sessions, CS_SCHEMA)
    if used.height and (used["session_key"].null_count() or used["chamber"].null_count()):
        used = used.with_columns(
            session_key=pl.coalesce("session_key", pl.col("chamber_session").str.replace(r":[^:]*$", "")),
            chamber=pl.coalesce("chamber", pl.col("chamber_session").str.extract(r":([^:]*)$", 1)),
        )
    if used.height and used["chamber_session"].null_count():
        used = used.with_columns(
            chamber_session=pl.coalesce(
                "chamber_session", pl.concat_str("session_key", pl.lit(":"), pl.col("chamber").str.to_lowercase())
            )
        )
    disconnected = [str(c) for c in (ctx.disconnected or [])]

    person_ids, info = _people(pos, order)
    index = {p: i for i, p in enumerate(person_ids)}
    parties = (
        {i["party"] for i in info.values()}
        | {p for p in pos["party"].to_list() if p}
        | {p for p in trend["party"].to_list() if p}
    )
    colours = figures.party_colours(parties)
    figs = _Figures()

    # --- headline
    gates = gate_rows(ctx.gates)
    failed_gates = [g for g in gates if g["status"] == "FAIL"]
    failed = not ctx.passed or bool([g for g in failed_gates if g["blocking"]])
    notes = [g for g in gates if g["status"] == "WARN"]
    advice = list(dict.fromkeys(GATE_ADVICE[g["gate"]] for g in failed_gates if g["gate"] in GATE_ADVICE))

    if ctx.links is None:
        raw_links = session_report_links(
            pl.concat(
                [
                    used.select("session_key", "chamber"),
                    pl.DataFrame(
                        {
                            "session_key": [c.rpartition(":")[0] for c in disconnected],
                            "chamber": [c.rpartition(":")[2] for c in disconnected],
                        },
                        schema={"session_key": pl.String, "chamber": pl.String},
                    ),
                ]
            ).filter(pl.col("session_key").is_not_null())
        )
    else:
        raw_links = {str(k): v for k, v in ctx.links.items()}
    links = {k: u for k, u in ((k, safe_link(v)) for k, v in raw_links.items()) if u}
    dropped_links = sorted(set(raw_links) - set(links))
    if dropped_links:
        log.warning("scale report: dropped %d link(s) that were not relative paths", len(dropped_links))

    cs_rows = []
    for r in (
        used.with_columns(
            _o=pl.col("session_key").replace_strict(order, default=0, return_dtype=pl.Int64),
            _c=(pl.col("chamber").str.to_lowercase() == "senate").cast(pl.Int64),
        )
        .sort("_o", "_c")
        .iter_rows(named=True)
    ):
        cs = r["chamber_session"]
        cs_rows.append(
            {
                "id": cs,
                "label": _cs_label(cs),
                "session_key": r["session_key"] or "",
                "chamber": str(r["chamber"] or "").title(),
                "legislators": fmt_num(r["legislators"]),
                "rollcalls": fmt_num(r["rollcalls"]),
                "link": links.get(cs),
                "used": True,
                "reason": "",
            }
        )
    left_out = [
        {
            "id": c,
            "label": _cs_label(c),
            "link": links.get(c),
            "reason": ctx.excluded_reasons.get(c, "no person links it to the main bridge component"),
        }
        for c in disconnected
    ]

    n_people = len(person_ids)
    multi = int(pos.group_by("person_id").len().filter(pl.col("len") > 1).height) if pos.height else 0
    kpis = [
        {"v": fmt_num(len(cs_rows)), "k": "chamber-sessions on the scale"},
        {"v": fmt_num(len({r["session_key"] for r in cs_rows})), "k": "sessions"},
        {"v": fmt_num(n_people), "k": "people"},
        {"v": fmt_num(pos.height), "k": "person \u00d7 chamber-session positions"},
        {"v": fmt_num(multi), "k": "people in more than one chamber-session (the bridges)"},
        {"v": fmt_num(len(disconnected)), "k": "chamber-sessions left out"},
    ]

    # --- party trends
    trend_fig = figs.draw(
        "party_trend",
        "Party means with 90% intervals per chamber across sessions, and the party gap per chamber over time",
        scale_figures.party_trend_plot,
        trend,
        colours,
        order,
    )

    # --- movers
    names = {p: info[p]["name"] for p in person_ids}
    top = scale_figures.top_movers(move)
    movers_fig = (
        figs.draw(
            "movers",
            "Trajectories of the people who moved most, with 90% intervals",
            scale_figures.movers_plot,
            pos,
            move,
            top,
            colours,
            order,
            names,
        )
        if top
        else None
    )
    cs_short = {c: _cs_label(c) for c in set(nodes["chamber_session"].drop_nulls().to_list())}
    move_rows = []
    for r in move.sort(pl.col("mean").abs(), descending=True, nulls_last=True).iter_rows(named=True):
        p = r["person_id"]
        nm = names.get(p, p or "?")
        a = node_id(r["from_session_key"] or "", r["from_chamber"] or "")
        b = node_id(r["to_session_key"] or "", r["to_chamber"] or "")
        move_rows.append(
            {
                "person": index.get(p),
                "name": short(nm, NAME_DISPLAY_MAX),
                "name_full": nm,
                "party": info.get(p, {}).get("party", ""),
                "from": cs_short.get(a, _cs_label(a)),
                "to": cs_short.get(b, _cs_label(b)),
                "order": order.get(r["to_session_key"] or "", 0),
                "chamber_move": (r["from_chamber"] or "") != (r["to_chamber"] or ""),
                "mean": r["mean"],
                "mean_text": fmt_num(r["mean"], 2),
                "abs": abs(r["mean"]) if _f(r["mean"]) is not None else None,
                "abs_text": fmt_num(abs(r["mean"]), 2) if _f(r["mean"]) is not None else "\u2013",
                "lo": r["hdi_low"],
                "hdi": _hdi_text(r["hdi_low"], r["hdi_high"]),
                "moved": bool(r["moved"]),
                "search": " ".join(str(x or "") for x in (nm, p, r["from_session_key"], r["to_session_key"])),
            }
        )
    n_moved = sum(1 for m in move_rows if m["moved"])

    # --- positions and the trajectory data
    offset = {"house": -0.12, "senate": 0.12}
    # the trajectory's x axis: the sessions that have positions (a left-out session has none)
    on_scale = [k for k in session_keys if k in set(pos["session_key"].drop_nulls().to_list())]
    traj_order = {k: i for i, k in enumerate(on_scale)}
    pos_sorted = pos.with_columns(
        _o=pl.col("session_key").replace_strict(traj_order, default=0, return_dtype=pl.Int64),
        _c=(pl.col("chamber") == "senate").cast(pl.Int64),
        _i=pl.col("person_id").replace_strict(index, default=None, return_dtype=pl.Int64),
    ).sort("_i", "_o", "_c")
    moved_frame = move.filter(pl.col("moved")).group_by("person_id").len()
    moved_count = dict(zip(moved_frame["person_id"].to_list(), moved_frame["len"].to_list()))
    people_json: list[dict] = [
        {
            "n": info[p]["name"],
            "p": info[p]["party"],
            "c": colours.get(info[p]["party"], figures.INDEPENDENT_GREY),
            "m": int(moved_count.get(p, 0)),
            "s": [],
        }
        for p in person_ids
    ]
    pos_rows = []
    for r in pos_sorted.iter_rows(named=True):
        i = r["_i"]
        slot_party = r["party"] or ""
        people_json[i]["s"].append(
            [
                int(r["_o"]),
                r["chamber"] or "",
                _clean(r["mean"]),
                _clean(r["hdi_low"]),
                _clean(r["hdi_high"]),
                colours.get(slot_party, figures.INDEPENDENT_GREY),
            ]
        )
        nm = info[r["person_id"]]["name"]
        slot_name = str(r["name"]) if r["name"] not in (None, "") else nm
        cs = node_id(r["session_key"] or "", r["chamber"] or "")
        pos_rows.append(
            {
                "person": i,
                "name": short(slot_name, NAME_DISPLAY_MAX),
                "name_full": slot_name,
                "party": slot_party,
                "session": scale_figures.session_label(r["session_key"] or ""),
                "order": r["_o"],
                "chamber": str(r["chamber"] or "").title(),
                "cs": cs,
                "mean": r["mean"],
                "mean_text": fmt_num(r["mean"], 2),
                "lo": r["hdi_low"],
                "hdi": _hdi_text(r["hdi_low"], r["hdi_high"]),
                "sd": r["sd"],
                "sd_text": fmt_num(r["sd"], 2),
                "search": " ".join(
                    str(x or "")
                    for x in (
                        nm,
                        slot_name,
                        r["legislator_slug"],
                        r["person_id"],
                        slot_party,
                        r["session_key"],
                        r["chamber"],
                    )
                ),
            }
        )
    finite = [
        v for v in (pos["hdi_low"].to_list() + pos["hdi_high"].to_list() + pos["mean"].to_list()) if _f(v) is not None
    ]
    lo = math.floor(min(finite) * 2) / 2 if finite else -2.0
    hi = math.ceil(max(finite) * 2) / 2 if finite else 2.0
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    party_means: dict[str, dict[str, list]] = {}
    for r in trend.filter(pl.col("quantity") == "party_mean").iter_rows(named=True):
        if r["party"] is None or _f(r["mean"]) is None:
            continue
        if r["session_key"] not in traj_order:
            continue
        party_means.setdefault(r["party"], {}).setdefault(r["chamber"] or "", []).append(
            [traj_order[r["session_key"]], _clean(r["mean"])]
        )
    for per in party_means.values():
        for pts in per.values():
            pts.sort()
    chambers_seen = set(pos["chamber"].drop_nulls().to_list()) | set(trend["chamber"].drop_nulls().to_list())
    data_block = json_data_block(
        {
            "sessions": [scale_figures.session_label(k) for k in on_scale],
            "lo": lo,
            "hi": hi,
            "offset": {c: offset.get(c, 0.0) for c in chambers_seen | set(offset)},
            "party_means": party_means,
            "people": people_json,
        }
    )

    # --- bridges
    live = edges.filter(pl.col("shared") > 0).with_columns(pl.col("thin").fill_null(False))
    edge_rows = [
        {
            "a": _cs_label(r["a"]),
            "b": _cs_label(r["b"]),
            "a_id": r["a"],
            "b_id": r["b"],
            "shared": r["shared"],
            "shared_text": fmt_num(r["shared"]),
            "shared_all": fmt_num(r["shared_all"]) if r["shared_all"] is not None else "\u2013",
            "thin": bool(r["thin"]),
            "search": f"{r['a']} {r['b']}",
        }
        for r in live.iter_rows(named=True)
    ]
    components = []
    if nodes.height:
        for comp in sorted(set(nodes["component"].drop_nulls().to_list())):
            members = nodes.filter(pl.col("component") == comp)
            components.append(
                {
                    "id": comp,
                    "main": bool(members["in_main"].fill_null(False).any()),
                    "members": [_cs_label(c) for c in members["chamber_session"].to_list()],
                }
            )
    node_rows = [
        {
            "label": _cs_label(r["chamber_session"]),
            "id": r["chamber_session"],
            "n_people": fmt_num(r["n_people"]),
            "max_shared": fmt_num(r["max_shared"]),
            "component": r["component"],
            "in_main": bool(r["in_main"]) if r["in_main"] is not None else r["chamber_session"] not in disconnected,
            "thin_only": bool(r["thin_only"]),
        }
        for r in nodes.sort("session_order", "chamber", nulls_last=True).iter_rows(named=True)
    ]
    bridge_fig = figs.draw(
        "bridges",
        "The bridge graph: chamber-sessions on a time line, linked where they share people",
        scale_figures.bridge_plot,
        nodes,
        edges,
        order,
    )
    n_thin = sum(1 for e in edge_rows if e["thin"])

    css, script = _static()
    generated = ctx.generated_at or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    view = {
        "title": f"Common scale: {ctx.scale}",
        "scale": ctx.scale,
        "generated_at": generated,
        "sections": SECTIONS,
        "section_no": {sid: i for i, (sid, _) in enumerate(SECTIONS, start=1)},
        "failed": failed,
        "passed_flag": ctx.passed,
        "failed_gates": failed_gates,
        "notes": notes,
        "advice": advice,
        "gates": gates,
        "kpis": kpis,
        "cs_rows": cs_rows,
        "left_out": left_out,
        "first_session": scale_figures.session_label(session_keys[0]) if session_keys else "",
        "last_session": scale_figures.session_label(session_keys[-1]) if session_keys else "",
        "trend_fig": trend_fig,
        "trend_rows": trend_rows(trend, order),
        "gap_summary": gap_summary(trend, order),
        "movers_fig": movers_fig,
        "top": [{"name": names.get(p, p), "person": index.get(p)} for p in top],
        "move_rows": move_rows,
        "n_moved": n_moved,
        "n_moves": len(move_rows),
        "pos_rows": pos_rows,
        "n_people": n_people,
        "data_block": data_block,
        "bridge_fig": bridge_fig,
        "edge_rows": edge_rows,
        "n_pairs": edges.height,
        "n_thin": n_thin,
        "components": components,
        "node_rows": node_rows,
        "thin_threshold": ctx.thin_threshold,
        "sampler": sampler_rows(ctx.sampler),
        "dropped_links": dropped_links,
        "built_from": {str(k): str(v) for k, v in (ctx.built_from or {}).items()},
        "figure_errors": figs.errors,
        "style": Markup(css),
        "script": Markup(script),
        "csp": Markup(
            f"default-src 'none'; img-src data:; style-src {_csp_hash(css)}; "
            f"script-src {_csp_hash(script)}; base-uri 'none'; form-action 'none'"
        ),
    }
    return _environment().get_template(TEMPLATE).render(**view)


__all__ = [
    "ScaleReportContext",
    "render_scale_report",
    "session_report_link",
    "session_report_links",
    "safe_link",
    "SECTIONS",
]
