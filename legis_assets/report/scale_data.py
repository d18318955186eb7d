"""The common-scale report's data: its context (what the page shows, read from the warehouse and
the trace) and the rows and links the page is built from (report/scale.py renders them).

No dagster import here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from markupsafe import Markup

from legis_assets.core.bridge import THIN_THRESHOLD, node_id
from legis_assets.core.people import session_sort_key
from legis_assets.report import figures, scale_figures
from legis_assets.report.formatting import fmt_num, fmt_seconds, short

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
