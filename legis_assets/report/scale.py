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

import base64
import datetime as _dt
import functools
import hashlib
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import polars as pl
from markupsafe import Markup

from legis_assets.core.bridge import THIN_THRESHOLD, node_id
from legis_assets.core.people import session_sort_key
from legis_assets.report import figures, scale_figures
from legis_assets.report.render import fmt_num, fmt_seconds, short, sort_key

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATE = "scale.html.j2"
SECTIONS = (
    ("headline", "Headline"),
    ("party-trends", "Party trends"),
    ("movers", "Who moved"),
    ("trajectories", "Every person's trajectory"),
    ("bridges", "Bridge graph"),
    ("convergence", "Convergence"),
    ("sessions", "Chamber-session reports"),
)
NAME_DISPLAY_MAX = 60
LIST_MAX = 200

GATE_ADVICE = {
    "rhat": "The chains disagree: sample longer (more tuning and draws) and check the thin bridges below; a "
    "scale held together by a few people mixes slowly.",
    "ess": "Too few effective draws: increase the number of draws, or fix slow mixing first.",
    "divergences": "The sampler hit regions it could not explore: more tuning, or check chamber-sessions linked "
    "only by thin bridges and people with very few votes.",
    "ebfmi": "Low E-BFMI: momentum resampling explores the energy distribution poorly; longer tuning usually helps.",
    "agrees_with_linked": "The joint scale disagrees with the per-chamber-session scores linked through the "
    "bridges: check the people table (a wrong merge links the wrong people) and the orientation.",
}

#: sampler info keys shown in the convergence section, in this order (others follow as given)
SAMPLER_KEYS = (
    ("seconds", "total time", "seconds"),
    ("compile_seconds", "compile time", "seconds"),
    ("sample_seconds", "sampling time", "seconds"),
    ("chains", "chains", "num"),
    ("tune", "tuning draws per chain", "num"),
    ("draws", "kept draws per chain", "num"),
    ("steps_per_draw", "leapfrog steps per draw", "num1"),
    ("ess_per_second", "bulk ESS per second (worst position)", "num2"),
    ("grad_evals", "gradient evaluations", "num"),
    ("attempts", "sampling attempts (extended on failed gates)", "num"),
    ("backend", "backend", "text"),
    ("profile", "profile", "text"),
    ("seed", "seed", "num"),
)


@dataclass
class ScaleReportContext:
    """Everything the common-scale page shows, already computed (the report fits nothing).

    Chamber-sessions are named everywhere as ``core.bridge.node_id``: ``<session_key>:<chamber>``,
    e.g. ``kansas.91st_2025-2026:house``.
    """

    #: the scale's name: the legislature (e.g. "kansas") or a named group of legislatures
    scale: str
    #: every ERROR gate of the common-scale posterior passed (False shows the red banner)
    passed: bool
    #: diagnostics.gates_frame(): gate, metric, value, threshold, status ("PASS"/"FAIL"/"WARN"),
    #: severity ("error"/"warn"); used when present: comparison, passed, description
    gates: pl.DataFrame
    #: common_scale.summaries.positions(): person_id, session_key, chamber, legislator_slug, name,
    #: party, mean, sd, hdi_low, hdi_high (one row per person x chamber-session)
    positions: pl.DataFrame
    #: summaries.party_trend(): session_key, chamber, session_order, quantity ("party_mean" /
    #: "party_gap"), party (null for the gap), n_slots, mean, sd, hdi_low, hdi_high
    party_trend: pl.DataFrame
    #: summaries.movement(): person_id, from_slot, to_slot, from_session_key, from_chamber,
    #: to_session_key, to_chamber, mean, sd, hdi_low, hdi_high, moved (90% HDI excludes 0)
    movement: pl.DataFrame
    #: BridgeGraph.edges: a, b (chamber-session ids), shared, shared_all, thin
    bridge_edges: pl.DataFrame
    #: BridgeGraph.nodes: chamber_session, session_key, chamber, session_order, n_people,
    #: max_shared, component, component_size, in_main, thin_only
    bridge_nodes: pl.DataFrame
    #: chamber-session ids left out of the scale (BridgeGraph.disconnected)
    disconnected: list[str]
    #: the chamber-sessions used: chamber_session, session_key, chamber, legislators, rollcalls
    chamber_sessions: pl.DataFrame
    #: sampler facts: seconds, steps_per_draw, ess_per_second, chains, draws (any may be missing;
    #: also shown when given: compile_seconds, sample_seconds, tune, grad_evals, attempts,
    #: backend, profile, seed; any other key is listed as given)
    sampler: dict = field(default_factory=dict)
    #: chamber-session id -> relative URL of its per-session report. None: the standard layout
    #: (:func:`session_report_link`) for every chamber-session; {}: no links. A URL with a scheme
    #: or starting with "//" is dropped (the page never links off the machine)
    links: dict[str, str] | None = None
    #: ISO time the report was generated (now, if empty)
    generated_at: str = ""
    #: why a chamber-session was left out (chamber-session id -> reason), shown beside its name
    excluded_reasons: dict[str, str] = field(default_factory=dict)
    #: BridgeGraph.thin_threshold (an edge sharing fewer people is a thin bridge)
    thin_threshold: int = THIN_THRESHOLD
    #: what the page was built from (e.g. run_id, trace sha256), shown in the footer
    built_from: dict = field(default_factory=dict)

    @classmethod
    def from_common(
        cls,
        scale: str,
        data: Any,
        gates: pl.DataFrame,
        positions: pl.DataFrame,
        party_trend: pl.DataFrame,
        movement: pl.DataFrame,
        *,
        sampler: dict | None = None,
        bridge_edges: pl.DataFrame | None = None,
        bridge_nodes: pl.DataFrame | None = None,
        links: dict[str, str] | None = None,
        generated_at: str = "",
        built_from: dict | None = None,
    ) -> ScaleReportContext:
        """The context from the common-scale core's outputs.

        `data`: the ``core.common_scale.CommonScaleData`` the fit used: the chamber-sessions used
        (legislators = its kept slots, rollcalls), the ones left out and why (``data.excluded``) and,
        unless given, the bridge graph (``data.bridges``). `gates`: ``diagnostics.gates_frame`` of
        the common-scale gates; `passed` is "every error gate passed". `sampler`: the facts of
        :func:`sampler_info` (e.g. ``sampler_info(fit.idata.posterior.attrs, gates)``), or None."""
        cs = data.chamber_sessions
        used = pl.DataFrame(
            {
                "chamber_session": [
                    node_id(k, c) for k, c in zip(cs["session_key"].to_list(), cs["chamber"].to_list())
                ],
                "session_key": cs["session_key"].to_list(),
                "chamber": cs["chamber"].to_list(),
                "legislators": cs["n_slots"].to_list(),
                "rollcalls": cs["n_rollcalls"].to_list(),
            },
            schema=CS_SCHEMA,
        )
        excluded = getattr(data, "excluded", None)
        reasons: dict[str, str] = {}
        if excluded is not None and excluded.height:
            reasons = {
                node_id(r["session_key"], r["chamber"]): r.get("reason") or "" for r in excluded.iter_rows(named=True)
            }
        graph = getattr(data, "bridges", None)
        if bridge_edges is None and graph is not None:
            bridge_edges = graph.edges
        if bridge_nodes is None and graph is not None:
            bridge_nodes = graph.nodes
        disconnected = list(reasons)
        if graph is not None:
            disconnected += [c for c in graph.disconnected if c not in reasons]
        passed = bool(gates.height) and bool(gates.filter(pl.col("severity") == "error")["status"].eq("PASS").all())
        return cls(
            scale=scale,
            passed=passed,
            gates=gates,
            positions=positions,
            party_trend=party_trend,
            movement=movement,
            bridge_edges=bridge_edges if bridge_edges is not None else pl.DataFrame(schema=EDGES_SCHEMA),
            bridge_nodes=bridge_nodes if bridge_nodes is not None else pl.DataFrame(schema=NODES_SCHEMA),
            disconnected=disconnected,
            chamber_sessions=used,
            sampler=dict(sampler or {}),
            links=links,
            generated_at=generated_at,
            excluded_reasons=reasons,
            thin_threshold=getattr(graph, "thin_threshold", THIN_THRESHOLD),
            built_from=dict(built_from or {}),
        )


def sampler_info(attrs: dict, gates: pl.DataFrame | None = None) -> dict:
    """The report's sampler facts from a common-scale posterior's attributes (``fit.py`` writes
    compile_seconds, sample_seconds, grad_evals, attempts, backend and settings_<name>): seconds,
    chains, tune, draws, steps_per_draw (gradient evaluations per draw, warm-up included), and
    ess_per_second (the ESS gate's value, the worst position's bulk ESS, per sampling second)."""
    a = dict(attrs or {})

    def num(key: str) -> float | None:
        try:
            return float(a[key])
        except (KeyError, TypeError, ValueError):
            return None

    out: dict[str, Any] = {}
    compile_s, sample_s = num("compile_seconds"), num("sample_seconds")
    if compile_s is not None or sample_s is not None:
        out["seconds"] = (compile_s or 0.0) + (sample_s or 0.0)
    for key in ("compile_seconds", "sample_seconds"):
        if num(key) is not None:
            out[key] = num(key)
    for key in ("chains", "tune", "draws", "seed"):
        v = num(f"settings_{key}")
        if v is not None:
            out[key] = int(v)
    grad = num("grad_evals")
    if grad is not None:
        out["grad_evals"] = int(grad)
        if out.get("chains") and (out.get("draws") or 0) + (out.get("tune") or 0) > 0:
            out["steps_per_draw"] = grad / (out["chains"] * ((out.get("draws") or 0) + (out.get("tune") or 0)))
    if gates is not None and gates.height and sample_s:
        ess = gates.filter(pl.col("gate") == "ess")
        if ess.height and _f(ess["value"][0]) is not None:
            out["ess_per_second"] = float(ess["value"][0]) / sample_s
    for key in ("attempts", "backend"):
        if key in a:
            out[key] = a[key] if key == "backend" else int(num(key) or 0)
    if "settings_profile" in a:
        out["profile"] = str(a["settings_profile"])
    return out


# --------------------------------------------------------------------------------------------
# links


_SCHEME = re.compile(r"^\s*[a-zA-Z][a-zA-Z0-9+.\-]*:")


def session_report_link(session_key: str, chamber: str) -> str:
    """Relative URL, from ``reports/<legislature>/common_scale/report.html``, of the report of one
    chamber-session (``reports/<legislature>/<session>/<chamber>/report.html``)."""
    return f"../{scale_figures.session_label(session_key)}/{str(chamber).lower()}/report.html"


def session_report_links(chamber_sessions: pl.DataFrame) -> dict[str, str]:
    """{chamber-session id: :func:`session_report_link`} for a frame with session_key, chamber."""
    return {
        node_id(r["session_key"], str(r["chamber"]).lower()): session_report_link(r["session_key"], r["chamber"])
        for r in chamber_sessions.select("session_key", "chamber").iter_rows(named=True)
    }


def safe_link(url: Any) -> str | None:
    """`url` when it is a relative path or fragment, else None (no scheme, no //host, no controls)."""
    if url is None:
        return None
    s = str(url)
    if not s or _SCHEME.match(s) or s.lstrip().startswith(("//", "\\\\", "/\\", "\\/")):
        return None
    if any(not ch.isprintable() or ch.isspace() and ch != " " for ch in s):
        return None
    return s


# --------------------------------------------------------------------------------------------
# helpers


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _f(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _hdi_text(lo: Any, hi: Any) -> str:
    if _f(lo) is None or _f(hi) is None:
        return "\u2013"
    return f"{fmt_num(lo, 2)} to {fmt_num(hi, 2)}"


def _limited(items: list, n: int = LIST_MAX) -> dict:
    items = [str(i) for i in items]
    return {"items": items[:n], "more": max(len(items) - n, 0)}


def json_data_block(data: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: NaN/inf as null, and ``<``, ``>``,
    ``&`` (and the JS line separators) escaped, so no input can close the block or open markup."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return Markup(text)


def _clean(v: Any, digits: int = 3) -> float | None:
    f = _f(v)
    return None if f is None else round(f, digits)


class _Figures:
    """Draws figures; a failure becomes a visible note, never a crashed page."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def draw(self, name: str, alt: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict | None:
        try:
            fig = fn(*args, **kwargs)
            if fig is None:
                return None
            return {"uri": figures.to_data_uri(fig), "alt": alt}
        except Exception as exc:  # noqa: BLE001 - a figure must never sink the report
            log.warning("scale report figure %s failed", name, exc_info=True)
            self.errors.append(name)
            return {"error": f"{type(exc).__name__}: {short(exc, 300)}", "alt": alt}


def _frame(df: pl.DataFrame | None, schema: dict[str, Any]) -> pl.DataFrame:
    """`df` with every column of `schema` (missing ones null), or an empty frame of that schema."""
    if df is None:
        return pl.DataFrame(schema=schema)
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in df.columns]
    return df.with_columns(missing) if missing else df


POSITIONS_SCHEMA: dict[str, Any] = {
    "person_id": pl.String,
    "session_key": pl.String,
    "chamber": pl.String,
    "legislator_slug": pl.String,
    "name": pl.String,
    "party": pl.String,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "hdi_low": pl.Float64,
    "hdi_high": pl.Float64,
}
TREND_SCHEMA: dict[str, Any] = {
    "session_key": pl.String,
    "chamber": pl.String,
    "session_order": pl.Int64,
    "quantity": pl.String,
    "party": pl.String,
    "n_slots": pl.Int64,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "hdi_low": pl.Float64,
    "hdi_high": pl.Float64,
}
MOVEMENT_SCHEMA: dict[str, Any] = {
    "person_id": pl.String,
    "from_slot": pl.Int64,
    "to_slot": pl.Int64,
    "from_session_key": pl.String,
    "from_chamber": pl.String,
    "to_session_key": pl.String,
    "to_chamber": pl.String,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "hdi_low": pl.Float64,
    "hdi_high": pl.Float64,
    "moved": pl.Boolean,
}
EDGES_SCHEMA: dict[str, Any] = {
    "a": pl.String,
    "b": pl.String,
    "shared": pl.Int64,
    "shared_all": pl.Int64,
    "thin": pl.Boolean,
}
NODES_SCHEMA: dict[str, Any] = {
    "chamber_session": pl.String,
    "session_key": pl.String,
    "chamber": pl.String,
    "session_order": pl.Int64,
    "n_people": pl.Int64,
    "max_shared": pl.Int64,
    "component": pl.Int64,
    "component_size": pl.Int64,
    "in_main": pl.Boolean,
    "thin_only": pl.Boolean,
}
CS_SCHEMA: dict[str, Any] = {
    "chamber_session": pl.String,
    "session_key": pl.String,
    "chamber": pl.String,
    "legislators": pl.Int64,
    "rollcalls": pl.Int64,
}


def session_order(ctx: ScaleReportContext) -> dict[str, int]:
    """session_key -> 0, 1, ... in time order: the session_order the core recorded (bridge nodes,
    party trend) where known, else :func:`core.people.session_sort_key`."""
    known: dict[str, int] = {}
    for df in (ctx.bridge_nodes, ctx.party_trend):
        if df is not None and {"session_key", "session_order"} <= set(df.columns):
            for k, o in df.select("session_key", "session_order").unique().iter_rows():
                if k is not None and o is not None:
                    known.setdefault(str(k), int(o))
    keys: set[str] = set(known)
    for df, cols in (
        (ctx.positions, ("session_key",)),
        (ctx.chamber_sessions, ("session_key",)),
        (ctx.movement, ("from_session_key", "to_session_key")),
    ):
        if df is not None:
            for c in cols:
                if c in df.columns:
                    keys |= {str(k) for k in df[c].drop_nulls().unique().to_list()}
    for cs in ctx.disconnected or []:
        keys.add(str(cs).rsplit(":", 1)[0])
    ordered = sorted(keys, key=lambda k: (known.get(k, math.inf), session_sort_key(k)))
    return {k: i for i, k in enumerate(ordered)}


def _cs_label(cs: str) -> str:
    """``kansas.91st_2025-2026:house`` -> ``91st_2025-2026 · House``."""
    session, _, chamber = str(cs).rpartition(":")
    if not session:
        return str(cs)
    return f"{scale_figures.session_label(session)} \u00b7 {chamber.title()}"


# --------------------------------------------------------------------------------------------
# sections


def gate_rows(gates: pl.DataFrame | None) -> list[dict]:
    rows: list[dict] = []
    if gates is None:
        return rows
    for g in gates.iter_rows(named=True):
        severity = g.get("severity") or "error"
        status = g.get("status")
        if status not in ("PASS", "FAIL", "WARN"):
            ok = g.get("passed")
            status = "PASS" if ok else ("FAIL" if severity == "error" else "WARN")
        rows.append(
            {
                "gate": g.get("gate") or "",
                "metric": g.get("metric") or "",
                "value": fmt_num(g.get("value"), 3),
                "threshold": f"{g.get('comparison') or ''} {fmt_num(g.get('threshold'), 3)}".strip(),
                "status": status,
                "severity": severity,
                "blocking": severity == "error",
                "description": g.get("description") or "",
            }
        )
    return rows


def sampler_rows(sampler: dict | None) -> list[dict]:
    sampler = dict(sampler or {})
    rows = []
    for key, label, kind in SAMPLER_KEYS:
        if key not in sampler:
            continue
        v = sampler.pop(key)
        if kind == "seconds":
            text = fmt_seconds(v)
        elif kind == "num1":
            text = fmt_num(v, 1)
        elif kind == "num2":
            text = fmt_num(v, 2)
        elif kind == "num":
            text = fmt_num(v)
        else:
            text = str(v)
        rows.append({"label": label, "value": text})
    for key, v in sampler.items():
        rows.append({"label": str(key), "value": fmt_num(v, 3) if not isinstance(v, str) else v})
    return rows


def _people(pos: pl.DataFrame, order: dict[str, int]) -> tuple[list[str], dict[str, dict]]:
    """Person ids in name order and, per person, display name and latest party."""
    latest = pos.with_columns(
        _o=pl.col("session_key").replace_strict(order, default=0, return_dtype=pl.Int64),
        _c=(pl.col("chamber").str.to_lowercase() == "senate").cast(pl.Int64),
    ).sort("person_id", "_o", "_c")
    info: dict[str, dict] = {}
    for r in latest.iter_rows(named=True):
        name = next(
            (
                str(v)
                for v in (r["name"], r["legislator_slug"], r["person_id"])
                if v not in (None, "") and str(v).strip()
            ),
            "?",
        )
        info[r["person_id"]] = {"name": name, "party": r["party"] or ""}  # the last slot wins
    ids = sorted(info, key=lambda p: (info[p]["name"].casefold(), p))
    return ids, info


def trend_rows(trend: pl.DataFrame, order: dict[str, int]) -> list[dict]:
    rows = []
    t = trend.with_columns(_o=pl.col("session_key").replace_strict(order, default=0, return_dtype=pl.Int64)).sort(
        "chamber",
        "_o",
        pl.col("quantity").replace_strict({"party_mean": 0, "party_gap": 1}, default=2, return_dtype=pl.Int64),
        "party",
        nulls_last=True,
    )
    for r in t.iter_rows(named=True):
        gap = r["quantity"] == "party_gap"
        rows.append(
            {
                "chamber": str(r["chamber"] or "").title(),
                "session": scale_figures.session_label(r["session_key"] or ""),
                "order": r["_o"],
                "what": "party gap (R \u2212 D)" if gap else "party mean",
                "party": "" if gap else (r["party"] or ""),
                "gap": gap,
                "n": fmt_num(r["n_slots"]),
                "mean": r["mean"],
                "mean_text": fmt_num(r["mean"], 2),
                "lo": r["hdi_low"],
                "hdi": _hdi_text(r["hdi_low"], r["hdi_high"]),
                "search": " ".join(str(x or "") for x in (r["session_key"], r["chamber"], r["party"], r["quantity"])),
            }
        )
    return rows


def gap_summary(trend: pl.DataFrame, order: dict[str, int]) -> list[dict]:
    """Per chamber: the party gap in its first and last session, and whether it widened (the
    intervals do not overlap), narrowed, or cannot be told apart."""
    out = []
    gaps = trend.filter(pl.col("quantity") == "party_gap").with_columns(
        _o=pl.col("session_key").replace_strict(order, default=0, return_dtype=pl.Int64)
    )
    for chamber in sorted({c for c in gaps["chamber"].to_list() if c}):
        g = gaps.filter(pl.col("chamber") == chamber).sort("_o")
        if g.height < 2:
            continue
        first, last = g.row(0, named=True), g.row(-1, named=True)
        if (
            _f(first["hdi_high"]) is not None
            and _f(last["hdi_low"]) is not None
            and last["hdi_low"] > first["hdi_high"]
        ):
            verdict = "widened"
        elif (
            _f(first["hdi_low"]) is not None
            and _f(last["hdi_high"]) is not None
            and last["hdi_high"] < first["hdi_low"]
        ):
            verdict = "narrowed"
        else:
            verdict = "no clear change (the 90% intervals overlap)"
        out.append(
            {
                "chamber": str(chamber).title(),
                "first": scale_figures.session_label(first["session_key"]),
                "last": scale_figures.session_label(last["session_key"]),
                "first_gap": fmt_num(first["mean"], 2),
                "last_gap": fmt_num(last["mean"], 2),
                "verdict": verdict,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# static parts


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


@functools.lru_cache(maxsize=1)
def _base_css() -> str:
    return (HERE / "static" / "report.css").read_text(encoding="utf-8")


SCALE_CSS = """
.traj-panel { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 10px 0 14px;
  background: #fcfcfd; }
.traj-panel h3 { margin: 0 0 4px; overflow-wrap: anywhere; }
.traj-panel svg { display: block; width: 100%; max-width: 1000px; height: auto; }
svg .axis { stroke: #9aa5b1; stroke-width: 1; }
svg .grid { stroke: #eef1f4; stroke-width: 1; }
svg .zero { stroke: #c5ccd3; stroke-width: 1; stroke-dasharray: 3 3; }
svg .tick { fill: #5b6570; font-size: 11px; }
svg .path { fill: none; stroke-width: 2; stroke-opacity: .7; }
svg .bar { stroke-width: 2.5; stroke-opacity: .55; }
svg .partyline { fill: none; stroke-width: 1.2; stroke-dasharray: 6 4; stroke-opacity: .55; }
svg .partyline-senate { stroke-dasharray: 1.5 3; stroke-width: 1.6; }
button.person { all: unset; cursor: pointer; color: var(--accent); border-bottom: 1px dotted #9aa5b1;
  overflow-wrap: anywhere; }
button.person:hover, button.person:focus-visible { color: var(--ink); border-bottom-style: solid; }
button.person:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
tr.chosen td { background: #fff8d6; }
tr.thin td { background: #fff1ef; }
.pill { display: inline-block; font-size: 11.5px; padding: 0 6px; border-radius: 3px; background: #e8e8e8; }
.pill.bad { background: #fdecea; color: var(--fail); }
.pill.good { background: #eaf6ee; color: var(--pass); }
#positions-table td, #positions-table th, #movement-table td, #movement-table th { padding: 4px 7px; font-size: 13px; }
"""

SCALE_JS = r"""
(function () {
  "use strict";
  // --- sortable tables: <button class="sort"> in header cells; cells may carry data-sort
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return null; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (raw === "") { return null; }
    if (numeric) { var n = parseFloat(raw); return isNaN(n) ? null : n; }
    return raw.toLocaleLowerCase();
  }
  function sortBy(table, th, index) {
    var numeric = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var headers = table.tHead.rows[0].cells;
    for (var h = 0; h < headers.length; h++) { headers[h].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, key: cellValue(row, index, numeric), i: i };
    });
    keyed.sort(function (a, b) {
      if (a.key === null && b.key === null) { return a.i - b.i; }
      if (a.key === null) { return 1; }
      if (b.key === null) { return -1; }
      if (a.key < b.key) { return -sign; }
      if (a.key > b.key) { return sign; }
      return a.i - b.i;
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (k) { fragment.appendChild(k.row); });
    body.appendChild(fragment);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = th.querySelector("button.sort");
      if (button) { button.addEventListener("click", function () { sortBy(table, th, index); }); }
    });
  });

  // --- the data block (JSON, parsed, never executed) and the trajectory panel
  var data = null;
  var block = document.getElementById("scale-data");
  if (block) {
    try { data = JSON.parse(block.textContent); } catch (e) { data = null; }
  }
  var SVGNS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    var node = document.createElementNS(SVGNS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function fmt(v) { return (v === null || v === undefined) ? "n/a" : v.toFixed(2).replace("-", "\u2212"); }
  function drawTrajectory(index) {
    var panel = document.getElementById("trajectory");
    if (!data || !panel || !data.people[index]) { return; }
    var person = data.people[index];
    var heading = document.getElementById("trajectory-name");
    heading.textContent = person.n;
    var note = document.getElementById("trajectory-note");
    var moved = person.m || 0;
    note.textContent = person.s.length + " chamber-session" + (person.s.length === 1 ? "" : "s") +
      "; latest party: " + (person.p || "none") +
      (moved ? "; " + moved + " move" + (moved === 1 ? "" : "s") + " whose 90% interval excludes 0" : "");
    panel.setAttribute("data-person", String(index));
    var old = document.getElementById("trajectory-svg");
    if (old) { old.parentNode.removeChild(old); }
    var W = 900, H = 310, L = 52, R = 16, T = 30, B = 62;
    var svg = el("svg", { id: "trajectory-svg", viewBox: "0 0 " + W + " " + H, role: "img" });
    var title = el("title", {}, svg);
    title.textContent = "Trajectory of " + person.n;
    var nS = Math.max(data.sessions.length, 1);
    var lo = data.lo, hi = data.hi;
    function x(v) { return L + (nS === 1 ? 0.5 : (v + 0.5) / nS) * (W - L - R); }
    function y(v) { return T + (hi - v) / (hi - lo) * (H - T - B); }
    for (var g = Math.ceil(lo); g <= Math.floor(hi); g++) {
      el("line", { x1: L, x2: W - R, y1: y(g), y2: y(g), "class": g === 0 ? "zero" : "grid" }, svg);
      var t = el("text", { x: L - 6, y: y(g) + 4, "text-anchor": "end", "class": "tick" }, svg);
      t.textContent = String(g).replace("-", "\u2212");
    }
    el("line", { x1: L, x2: L, y1: T, y2: H - B, "class": "axis" }, svg);
    el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, "class": "axis" }, svg);
    var step = Math.max(1, Math.ceil(nS / 14));
    data.sessions.forEach(function (label, i) {
      if (i % step !== 0) { return; }
      var tx = el("text", { x: x(i), y: H - B + 14, "text-anchor": "end", "class": "tick",
                            transform: "rotate(-30 " + x(i) + " " + (H - B + 14) + ")" }, svg);
      tx.textContent = label;
    });
    var ylab = el("text", { x: 12, y: T + (H - T - B) / 2, "text-anchor": "middle", "class": "tick",
                            transform: "rotate(-90 12 " + (T + (H - T - B) / 2) + ")" }, svg);
    ylab.textContent = "position";
    // the person's (latest) party's mean per chamber, for reference
    var pm = (data.party_means[person.p] || {});
    Object.keys(pm).forEach(function (ch) {
      var pts = pm[ch].map(function (q) { return x(q[0] + data.offset[ch]) + "," + y(q[1]); }).join(" ");
      el("polyline", { points: pts, "class": "partyline partyline-" + ch, stroke: person.c }, svg);
    });
    var path = person.s.map(function (q) { return x(q[0] + data.offset[q[1]]) + "," + y(q[2]); }).join(" ");
    el("polyline", { points: path, "class": "path", stroke: person.c }, svg);
    person.s.forEach(function (q) {
      var cx = x(q[0] + data.offset[q[1]]), colour = q[5] || person.c;
      if (q[3] !== null && q[4] !== null) {
        el("line", { x1: cx, x2: cx, y1: y(q[3]), y2: y(q[4]), "class": "bar", stroke: colour }, svg);
      }
      var mark = q[1] === "senate"
        ? el("rect", { x: cx - 5, y: y(q[2]) - 5, width: 10, height: 10, fill: colour, "class": "pt" }, svg)
        : el("circle", { cx: cx, cy: y(q[2]), r: 5.5, fill: colour, "class": "pt" }, svg);
      var tip = el("title", {}, mark);
      tip.textContent = data.sessions[q[0]] + " \u00b7 " + q[1] + ": " + fmt(q[2]) + " (90% interval " +
        fmt(q[3]) + " to " + fmt(q[4]) + ")";
    });
    var legend = el("text", { x: W - R, y: 14, "text-anchor": "end", "class": "tick" }, svg);
    legend.textContent = "\u25cf House \u00b7 \u25a0 Senate \u00b7 bars: 90% interval \u00b7 dashed: " +
      "party's House mean \u00b7 dotted: party's Senate mean";
    panel.appendChild(svg);
    Array.prototype.forEach.call(document.querySelectorAll("#positions-table tbody tr"), function (row) {
      row.classList.toggle("chosen", row.getAttribute("data-person") === String(index));
    });
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("button.person") : null;
    if (!button) { return; }
    var index = parseInt(button.getAttribute("data-person"), 10);
    if (isNaN(index)) { return; }
    drawTrajectory(index);
    if (button.hasAttribute("data-scroll")) {
      var panel = document.getElementById("trajectory");
      if (panel) { panel.scrollIntoView(); }
    }
  });

  // --- search boxes: <input data-filter-table data-filter-status data-filter-noun>
  Array.prototype.forEach.call(document.querySelectorAll("input[data-filter-table]"), function (input) {
    var table = document.getElementById(input.getAttribute("data-filter-table"));
    if (!table) { return; }
    var status = document.getElementById(input.getAttribute("data-filter-status"));
    var noun = input.getAttribute("data-filter-noun") || "rows";
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var texts = rows.map(function (row) {
      return ((row.getAttribute("data-search") || "") + " " + row.textContent).toLocaleLowerCase();
    });
    function apply() {
      var query = input.value.trim().toLocaleLowerCase();
      var shown = 0, people = {};
      rows.forEach(function (row, i) {
        var hit = query === "" || texts[i].indexOf(query) !== -1;
        row.hidden = !hit;
        if (hit) { shown += 1; people[row.getAttribute("data-person")] = true; }
      });
      if (status) {
        status.textContent = query === "" ? "All " + rows.length + " " + noun
          : "Showing " + shown + " of " + rows.length + " " + noun;
      }
      // one person left: show their trajectory
      var ids = Object.keys(people);
      if (query !== "" && ids.length === 1 && !isNaN(parseInt(ids[0], 10)) && input.hasAttribute("data-trajectory")) {
        drawTrajectory(parseInt(ids[0], 10));
      }
    }
    input.addEventListener("input", apply);
    input.addEventListener("search", apply);
    apply();
  });
})();
"""


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

    css = _base_css() + SCALE_CSS
    script = SCALE_JS
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
