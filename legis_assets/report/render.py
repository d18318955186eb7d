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
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import arviz as az
import jinja2
import numpy as np
import polars as pl
from markupsafe import Markup

from legis_assets import steps
from legis_assets.core.diagnostics import EBFMI_MIN, ESS_MIN, RHAT_MAX, scalar_float
from legis_assets.report import figures
from legis_assets.report.analysis import add_analysis_sections
from legis_assets.report.context import ReportContext
from legis_assets.report.downloads import download_link

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATE = "report.html.j2"
#: the sections, in page order (declared with the step each shows in legis_assets/steps.py)
SECTIONS = tuple((sec.id, sec.title) for sec in steps.REPORT_SECTIONS)
#: sections that need the hierarchical model (left out where it was not fitted)
HIERARCHICAL_SECTIONS = tuple(sec.id for sec in steps.REPORT_SECTIONS if sec.hierarchical_only)
#: worst-mixing parameters shown with trace and rank plots
N_WORST = 4
#: posterior variables holding the ideal points, preferred first: the standardised ideal points
#: (core.models.add_normalised) when the posterior has them, else the raw xi
IDEAL_POINT_VARS = ("xi_norm", "xi")
#: biggest movers listed in the shrinkage section
N_MOVERS = 10
#: characters of a name shown in a table cell (the full name is in the cell's title)
NAME_DISPLAY_MAX = 60
#: list items shown before "and N more"
LIST_MAX = 200

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

SAMPLER_KEYS = (
    ("model", "model"),
    ("profile", "profile"),
    ("chains", "chains"),
    ("tune", "tuning draws per chain"),
    ("draws", "kept draws per chain"),
    ("seed", "seed"),
    ("compile_seconds", "compile time"),
    ("sample_seconds", "sampling time"),
    ("grad_evals", "gradient evaluations"),
    ("divergences", "divergent transitions"),
    ("sampling_coordinates", "sampled in (same posterior)"),
    ("sign_fixed_rollcalls", "roll calls sampled as cutpoint + log-discrimination (sign not in doubt)"),
    ("sign_check_near_zero", "their largest share of draws near a zero discrimination (0 expected)"),
)


# --------------------------------------------------------------------------------------------
# formatting


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def fmt_num(v: Any, digits: int = 3) -> str:
    """Numbers for people: integers with thousands separators, floats to `digits` decimals
    (large ones without), missing as an en dash."""
    if v is None:
        return "\u2013"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not _is_num(v):
        return str(v)
    f = float(v)
    if math.isnan(f):
        return "n/a"
    if math.isinf(f):
        return "\u221e" if f > 0 else "\u2212\u221e"
    if float(f).is_integer():
        return f"{int(f):,}".replace("-", "\u2212")
    if abs(f) >= 100:
        return f"{f:,.0f}".replace("-", "\u2212")
    text = f"{f:.{digits}f}"
    if text.startswith("-") and float(text) == 0:  # -0.00
        text = text[1:]
    return text.replace("-", "\u2212")


def fmt_seconds(v: Any) -> str:
    if not _is_num(v) or not math.isfinite(float(v)):
        return fmt_num(v)
    s = float(v)
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {s % 60:.0f} s"


def fmt_pct(v: Any, digits: int = 1) -> str:
    if not _is_num(v) or not math.isfinite(float(v)):
        return fmt_num(v)
    return f"{float(v):.{digits}%}"


def fmt_setting(v: Any) -> str:
    """A sampler setting for people: booleans (also as the strings NetCDF attributes turn them
    into) as yes/no, an unset value ("None", "null", NaN: the sampler's own default) as "default",
    numbers as fmt_num."""
    if v is None:
        return "default"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "false"):
            return "yes" if low == "true" else "no"
        if low in ("none", "null", "nan", ""):
            return "default"
        return v
    if _is_num(v) and math.isnan(float(v)):
        return "default"
    return fmt_num(v, 3)


def sort_key(v: Any) -> str:
    """Value for a table cell's data-sort attribute (empty = missing, sorts last)."""
    if v is None:
        return ""
    if _is_num(v):
        f = float(v)
        return "" if math.isnan(f) else repr(f)
    return str(v)


def short(text: Any, n: int = NAME_DISPLAY_MAX) -> str:
    s = " ".join(str(text if text is not None else "").split())
    return s if len(s) <= n else s[: n - 1] + "\u2026"


# --------------------------------------------------------------------------------------------
# tables


IP_COLUMNS: dict[str, PolarsDataType] = {
    "legislator_slug": pl.String,
    "name": pl.String,
    "full_name": pl.String,
    "party": pl.String,
    "district": pl.String,
    "n_votes": pl.Int64,
    "xi_mean": pl.Float64,
    "xi_sd": pl.Float64,
    "xi_hdi_low": pl.Float64,
    "xi_hdi_high": pl.Float64,
    "rank": pl.Int64,
    "rank_low": pl.Int64,
    "rank_high": pl.Int64,
    "flat_mean": pl.Float64,
    "xi_flat": pl.Float64,
    "xi_flat_hdi_low": pl.Float64,
    "xi_flat_hdi_high": pl.Float64,
    "model": pl.String,
    "shrinkage": pl.Float64,
    "position": pl.Float64,
    "overall_rank": pl.Int64,
}


def _ideal_points_from_posterior(ctx: ReportContext) -> pl.DataFrame | None:
    """A minimal ideal-point table straight from the published posterior (when the caller has
    no ideal_points table, e.g. for a run that failed before it was written)."""
    post = getattr(ctx.published, "posterior", None)
    var = next((v for v in IDEAL_POINT_VARS if v in post), None) if post is not None else None
    if var is None or post is None:
        return None
    xi = post[var]
    dim = [d for d in xi.dims if d not in ("chain", "draw")][0]
    draws = xi.values.reshape(-1, xi.shape[-1])
    hdi = np.asarray(az.hdi(draws[None, :, :], hdi_prob=0.9)).reshape(-1, 2)
    slugs = [str(v) for v in xi[dim].values]
    party = (
        dict(zip(ctx.pca_scores["legislator_slug"].to_list(), ctx.pca_scores["party"].to_list()))
        if {"legislator_slug", "party"} <= set(ctx.pca_scores.columns)
        else {}
    )
    mean = draws.mean(axis=0)
    return pl.DataFrame(
        {
            "legislator_slug": slugs,
            "name": slugs,
            "party": [party.get(s) for s in slugs],
            "xi_mean": mean,
            "xi_sd": draws.std(axis=0, ddof=1),
            "xi_hdi_low": hdi[:, 0],
            "xi_hdi_high": hdi[:, 1],
            "rank": (mean.argsort().argsort() + 1).astype(np.int64),
            "model": [ctx.published_model] * len(slugs),
            "position": mean,
        }
    )


def prepare_ideal_points(ctx: ReportContext) -> pl.DataFrame | None:
    ip = ctx.ideal_points if ctx.ideal_points is not None else _ideal_points_from_posterior(ctx)
    if ip is None or ip.height == 0:
        return None
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in IP_COLUMNS.items() if c not in ip.columns]
    if missing:
        ip = ip.with_columns(missing)
    ip = ip.with_columns(
        model=pl.col("model").fill_null(
            pl.when(pl.col("xi_mean").is_not_null()).then(pl.lit("hierarchical")).otherwise(pl.lit("flat"))
        ),
        position=pl.coalesce("position", "xi_mean", "xi_flat").cast(pl.Float64),
    ).filter(pl.col("position").is_not_null() & pl.col("position").is_finite())
    party = pl.col("party").cast(pl.String).str.strip_chars()
    name = pl.coalesce(
        pl.when(pl.col("full_name").cast(pl.String).str.strip_chars() != "").then(pl.col("full_name").cast(pl.String)),
        pl.when(pl.col("name").cast(pl.String).str.strip_chars() != "").then(pl.col("name").cast(pl.String)),
        pl.col("legislator_slug").cast(pl.String),
    )
    ip = ip.sort("position").with_columns(
        party_label=pl.when(party.is_null() | (party == "")).then(pl.lit("Independent")).otherwise(party),
        label=name,
        overall_rank=pl.coalesce("overall_rank", pl.col("position").rank("ordinal")).cast(pl.Int64),
    )
    return ip


def _hdi_text(lo: Any, hi: Any) -> str:
    if lo is None or hi is None:
        return "\u2013"
    return f"{fmt_num(lo, 2)} to {fmt_num(hi, 2)}"


def ideal_point_rows(ip: pl.DataFrame) -> list[dict]:
    rows = []
    for r in ip.iter_rows(named=True):
        hier = r["model"] == "hierarchical"
        lo, hi = (r["xi_hdi_low"], r["xi_hdi_high"]) if hier else (r["xi_flat_hdi_low"], r["xi_flat_hdi_high"])
        # rank intervals where the published posterior ranked the legislator (the hierarchical
        # model's members; everyone where the flat model is the published one)
        ranked = r["rank_low"] is not None and r["rank_high"] is not None
        rank_ci = f"{r['rank_low']}\u2013{r['rank_high']}" if ranked else "\u2013"
        rows.append(
            {
                "rank": r["overall_rank"],
                "name": short(r["label"]),
                "name_full": r["label"],
                "name_truncated": len(str(r["label"])) > NAME_DISPLAY_MAX,
                "slug": r["legislator_slug"],
                "party": r["party_label"],
                "district": r["district"] if r["district"] is not None else "",
                "n_votes": r["n_votes"],
                "n_votes_text": fmt_num(r["n_votes"]),
                "position": r["position"],
                "position_text": fmt_num(r["position"], 2),
                "lo": lo,
                "interval_text": _hdi_text(lo, hi),
                "rank_ci": rank_ci,
                "rank_low": r["rank_low"] if ranked else None,
                "model": r["model"],
                "flat": r["xi_flat"],
                "flat_text": fmt_num(r["xi_flat"], 2),
                "shrinkage": r["shrinkage"],
                "shrinkage_text": fmt_num(r["shrinkage"], 2),
                "search": " ".join(
                    str(x) for x in (r["label"], r["legislator_slug"], r["party_label"], r["district"] or "")
                ),
            }
        )
    return rows


def gate_rows(gates: pl.DataFrame, published_model: str = "hierarchical") -> list[dict]:
    """Gate table rows; the ERROR gates of the published model block publication."""
    rows = []
    for g in gates.iter_rows(named=True):
        model = g.get("model") or "hierarchical"
        severity = g.get("severity") or "error"
        rows.append(
            {
                "model": model,
                "gate": g.get("gate", ""),
                "metric": g.get("metric", ""),
                "value": fmt_num(g.get("value"), 3),
                "threshold": f"{g.get('comparison') or ''} {fmt_num(g.get('threshold'), 3)}".strip(),
                "status": g.get("status")
                or ("PASS" if g.get("passed") else ("FAIL" if severity == "error" else "WARN")),
                "severity": severity,
                "blocking": model == published_model and severity == "error",
                "description": g.get("description") or "",
            }
        )
    return rows


def _sampler_columns(ctx: ReportContext) -> list[tuple[str, dict]]:
    """Per model: settings and times, from ctx.sampler, else the InferenceData attrs/shape."""
    models = list(dict.fromkeys(["hierarchical", "flat", *ctx.sampler.keys()]))
    out = []
    for m in models:
        idata = ctx.hierarchical if m == "hierarchical" else ctx.flat if m == "flat" else None
        info: dict[str, Any] = {}
        if idata is not None:
            attrs = dict(getattr(idata, "attrs", {}) or {})
            post = getattr(idata, "posterior", None)
            if post is not None:
                attrs.update({k: v for k, v in post.attrs.items() if k not in attrs})
                info["chains"] = int(post.sizes.get("chain", 0)) or None
                info["draws"] = int(post.sizes.get("draw", 0)) or None
            settings = attrs.get("settings")
            if isinstance(settings, str):
                try:
                    settings = json.loads(settings)
                except ValueError:
                    settings = None
            if isinstance(settings, dict):
                info.update({k: v for k, v in settings.items() if _is_num(v) or isinstance(v, str)})
            info.update(
                {
                    k: attrs[k]
                    for k, _ in SAMPLER_KEYS
                    if k in attrs and (_is_num(attrs[k]) or isinstance(attrs[k], str))
                }
            )
            stats = getattr(idata, "sample_stats", None)
            if stats is not None and "diverging" in stats:
                info["divergences"] = int(stats["diverging"].values.sum())
        info.update({k: v for k, v in (ctx.sampler.get(m) or {}).items() if v is not None})
        if idata is None and not ctx.sampler.get(m):
            continue
        out.append((m, info))
    return out


def sampler_table(ctx: ReportContext) -> dict:
    cols = _sampler_columns(ctx)
    keys = [k for k, _ in SAMPLER_KEYS if any(k in info for _, info in cols)]
    extra = sorted(
        {
            k
            for _, info in cols
            for k, v in info.items()
            if k not in dict(SAMPLER_KEYS) and (_is_num(v) or isinstance(v, (str, bool, np.bool_)) or v is None)
        }
        - {"settings"}
    )
    rows = []
    for k in keys + extra:
        label = dict(SAMPLER_KEYS).get(k, k.replace("_", " "))
        cells = []
        for _, info in cols:
            v = info.get(k)
            cells.append(fmt_seconds(v) if k.endswith("seconds") else fmt_setting(v) if k in info else "\u2013")
        rows.append({"label": label, "cells": cells})
    return {"models": [m for m, _ in cols], "rows": rows}


def data_size(manifest: dict, ip: pl.DataFrame | None) -> list[dict]:
    g = manifest.get
    leg_kept = g("legislators_kept", ip.height if ip is not None else None)
    rc_filtered = sum(
        int(g(k) or 0) for k in ("rollcalls_no_yea_nay", "rollcalls_lopsided", "rollcalls_emptied_by_legislator_filter")
    )
    obs_raw: Any = g("observations_raw")
    obs_kept: Any = g("observations_kept")
    return [
        {
            "what": "legislators",
            "kept": fmt_num(leg_kept),
            "raw": fmt_num(g("legislators_raw")),
            "filtered": fmt_num(g("legislators_too_few_votes")),
            "why": f"fewer than {fmt_num(g('min_votes'))} Yea/Nay votes" if g("min_votes") is not None else "",
        },
        {
            "what": "roll calls",
            "kept": fmt_num(g("rollcalls_kept")),
            "raw": fmt_num(g("rollcalls_raw")),
            "filtered": fmt_num(rc_filtered) if g("rollcalls_raw") is not None else "\u2013",
            "why": "no Yea/Nay votes, lopsided (minority side smaller than "
            f"{fmt_pct(g('min_minority'))}), or left empty"
            if g("min_minority") is not None
            else "",
        },
        {
            "what": "observations (votes)",
            "kept": fmt_num(obs_kept),
            "raw": fmt_num(obs_raw),
            "filtered": fmt_num(obs_raw - obs_kept) if _is_num(obs_raw) and _is_num(obs_kept) else "\u2013",
            "why": "absences and other non-Yea/Nay codes, and votes on dropped roll calls or by dropped legislators",
        },
    ]


def filter_steps(manifest: dict) -> list[dict]:
    g = manifest.get
    steps = []

    def add(what: str, step: str, removed: Any, remaining: Any, why: str) -> None:
        steps.append(
            {
                "what": what,
                "step": step,
                "removed": fmt_num(removed) if removed is not None else "",
                "remaining": fmt_num(remaining) if remaining is not None else "\u2013",
                "why": why,
            }
        )

    rc = g("rollcalls_raw")
    add("roll calls", "in the files", None, rc, "")
    for key, step, why in (
        ("rollcalls_no_yea_nay", "no Yea/Nay votes", "nothing to scale (e.g. voice votes, all absent)"),
        (
            "rollcalls_lopsided",
            "lopsided",
            f"the losing side had fewer than {fmt_pct(g('min_minority'))} of the votes "
            "(near-unanimous votes carry no ideological information)",
        ),
        ("rollcalls_emptied_by_legislator_filter", "emptied", "no votes left after dropping legislators"),
    ):
        n = g(key)
        if n is not None and rc is not None:
            rc -= int(n)
        add("roll calls", step, n, rc, why)
    add("roll calls", "kept", None, g("rollcalls_kept"), "")
    add("legislators", "in the files", None, g("legislators_raw"), "")
    add(
        "legislators",
        "too few votes",
        g("legislators_too_few_votes"),
        g("legislators_kept"),
        f"fewer than {fmt_num(g('min_votes'))} Yea/Nay votes on kept roll calls",
    )
    add("observations", "in the files", None, g("observations_raw"), "one row per legislator x roll call")
    add(
        "observations",
        "Yea or Nay",
        None,
        g("observations_yea_nay"),
        "absent, present and other codes are missing data",
    )
    add("observations", "kept", None, g("observations_kept"), "")
    return steps


def dropped_legislators(slugs: list[str], legislators: pl.DataFrame | None) -> list[str]:
    """Dropped legislators as people read them: "Name (Party, district) [slug]" where the
    legislators table knows them, else the slug alone."""
    known: dict[str, dict] = {}
    if legislators is not None and "legislator_slug" in legislators.columns:
        known = {str(r["legislator_slug"]): r for r in legislators.iter_rows(named=True)}
    out = []
    for slug in slugs:
        r = known.get(str(slug))
        if r is None:
            out.append(str(slug))
            continue
        name = next((str(r[c]).strip() for c in ("full_name", "name") if r.get(c) and str(r[c]).strip()), "")
        where = ", ".join(str(r[c]).strip() for c in ("party", "district") if r.get(c) and str(r[c]).strip())
        text = name or str(slug)
        if where:
            text += f" ({where})"
        out.append(f"{text} [{slug}]" if name else text)
    return out


def _limited(items: list, n: int = LIST_MAX) -> dict:
    items = [str(i) for i in items]
    return {"items": items[:n], "more": max(len(items) - n, 0)}


# --------------------------------------------------------------------------------------------
# sections


class _Figures:
    """Draws figures, turning a failure into a visible note instead of a crashed report."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def draw(self, name: str, alt: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict | None:
        try:
            fig = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a figure must never sink the report
            log.warning("report figure %s failed", name, exc_info=True)
            self.errors.append(name)
            return {"error": f"{type(exc).__name__}: {short(exc, 300)}", "alt": alt}
        if fig is None:
            return None
        return {"uri": figures.to_data_uri(fig), "alt": alt}


def party_section(ctx: ReportContext, ip: pl.DataFrame | None, colours: dict, figs: _Figures) -> dict:
    if ctx.published_model != "hierarchical":
        return {"rows": [], "icc": None, "var": {}, "density": None, "variance": None}
    ps = ctx.party_summary
    if ps is None and ip is not None and ctx.hierarchical is not None:
        try:
            from legis_assets.core.summaries import party_summary

            sizes = {
                p: n for p, n in ip.filter(pl.col("model") == "hierarchical").group_by("party_label").len().iter_rows()
            }
            ps = party_summary(ctx.hierarchical, sizes)
        except Exception:  # noqa: BLE001 - no party parameters in this posterior
            ps = None
    rows, icc, var = [], None, {}
    if ps is not None:
        for r in ps.iter_rows(named=True):
            if r["parameter"] in ("mu_party", "sigma_within"):
                rows.append(
                    {
                        "parameter": r["parameter"],
                        "party": r["party"] or "",
                        "n": fmt_num(r["n_legislators"]),
                        "mean": fmt_num(r["mean"], 2),
                        "sd": fmt_num(r["sd"], 2),
                        "hdi": _hdi_text(r["hdi_low"], r["hdi_high"]),
                    }
                )
            elif r["parameter"] == "icc":
                # one number, one rounding for the prose and the bar: whole percent, the within
                # share the rest of 100 (so the two always add up)
                between = round(100 * r["mean"]) if _is_num(r["mean"]) and math.isfinite(r["mean"]) else None
                icc = {
                    "mean": r["mean"],
                    "pct": f"{between}%" if between is not None else fmt_num(r["mean"]),
                    "within_pct": f"{100 - between}%" if between is not None else fmt_num(None),
                    "lo": fmt_pct(r["hdi_low"], 0),
                    "hi": fmt_pct(r["hdi_high"], 0),
                }
            elif r["parameter"] in ("var_between", "var_within"):
                var[r["parameter"]] = {
                    "mean": r["mean"],
                    "text": fmt_num(r["mean"], 3),
                    "hdi": _hdi_text(r["hdi_low"], r["hdi_high"]),
                }
    return {
        "rows": rows,
        "icc": icc,
        "var": var,
        "density": figs.draw(
            "party_density",
            "Posterior densities of each party's mean position and within-party spread",
            figures.party_density_plot,
            ctx.hierarchical,
            colours,
        ),
        "variance": figs.draw(
            "variance",
            "Share of the variance in ideal points between and within parties",
            figures.variance_plot,
            icc["mean"],
            icc["pct"],
            icc["within_pct"],
        )
        if icc is not None and _is_num(icc["mean"])
        else None,
    }


def shrinkage_section(ip: pl.DataFrame | None, colours: dict, figs: _Figures) -> dict:
    if ip is None:
        return {"available": False}
    both = ip.filter(
        pl.col("xi_mean").is_not_null() & pl.col("xi_flat").is_not_null() & pl.col("shrinkage").is_not_null()
    )
    if both.height == 0:
        return {"available": False}
    from legis_assets.core.summaries import shrinkage_direction

    # toward / away from the party: each model against its own party centre, on the one scale
    # the table shows (the flat estimates mapped onto the hierarchical scale)
    direction = {
        r["legislator_slug"]: r
        for r in shrinkage_direction(both.with_columns(party=pl.col("party_label"))).iter_rows(named=True)
    }
    counts = {
        k: sum(1 for d in direction.values() if d["direction"] == k) for k in ("toward", "away from", "unchanged")
    }
    movers = both.sort(pl.col("shrinkage").abs(), descending=True).head(N_MOVERS)
    mover_rows = []
    for r in movers.iter_rows(named=True):
        d = direction.get(r["legislator_slug"])
        mover_rows.append(
            {
                "name": short(r["label"]),
                "name_full": r["label"],
                "party": r["party_label"],
                "n_votes": fmt_num(r["n_votes"]),
                "flat": fmt_num(r["xi_flat"], 2),
                "hier": fmt_num(r["xi_mean"], 2),
                "shift": fmt_num(r["shrinkage"], 2),
                "flat_distance": fmt_num(d["flat_distance"], 2) if d else "\u2013",
                "hier_distance": fmt_num(d["hier_distance"], 2) if d else "\u2013",
                "toward": d["direction"] if d else "",
            }
        )
    x, y = both["xi_flat"].to_numpy(), both["xi_mean"].to_numpy()
    corr = float(np.corrcoef(x, y)[0, 1]) if both.height > 2 and x.std() > 0 and y.std() > 0 else float("nan")
    return {
        "available": True,
        "movers": mover_rows,
        "counts": counts,
        "r": fmt_num(corr, 3),
        "n": both.height,
        "median_abs": fmt_num(scalar_float(both["shrinkage"].abs().median()), 2),
        "figure": figs.draw(
            "shrinkage",
            "Scatter plot of flat-model against hierarchical-model ideal points",
            figures.shrinkage_plot,
            ip,
            colours,
            movers["legislator_slug"].to_list(),
        ),
    }


def _bfmi_rows(idata: az.InferenceData) -> list[dict]:
    stats = getattr(idata, "sample_stats", None)
    if stats is None:
        return []
    n_chains = int(stats.sizes.get("chain", 0))
    bfmi = None
    if "energy" in stats:
        try:
            bfmi = np.asarray(az.bfmi(idata), dtype=float)
        except Exception:  # noqa: BLE001
            bfmi = None
    rows = []
    for c in range(n_chains):
        row: dict[str, Any] = {"chain": c}
        row["bfmi"] = fmt_num(float(bfmi[c]), 2) if bfmi is not None and c < bfmi.size else "\u2013"
        row["bfmi_low"] = bool(bfmi is not None and c < bfmi.size and bfmi[c] <= EBFMI_MIN)
        row["divergences"] = (
            fmt_num(int(stats["diverging"].isel(chain=c).values.sum())) if "diverging" in stats else "\u2013"
        )
        row["steps"] = (
            # one decimal for every chain, so 15 and 15.0 and 15.04 do not look like three kinds of number
            f"{float(stats['n_steps'].isel(chain=c).values.mean()):.1f}" if "n_steps" in stats else "\u2013"
        )
        rows.append(row)
    return rows


def convergence_section(ctx: ReportContext, figs: _Figures) -> dict:
    params = ctx.parameters
    needed = {"model", "group", "parameter", "rhat", "ess_bulk", "ess_tail"}
    if params is None or not needed <= set(params.columns):
        params = pl.DataFrame(
            schema={
                "model": pl.String,
                "group": pl.String,
                "parameter": pl.String,
                "rhat": pl.Float64,
                "ess_bulk": pl.Float64,
                "ess_tail": pl.Float64,
            }
        )
    params = params.with_columns(pl.col("rhat", "ess_bulk", "ess_tail").cast(pl.Float64))
    groups = params.group_by("model", "group", maintain_order=True).agg(
        n=pl.len(),
        max_rhat=pl.col("rhat").fill_nan(float("inf")).max(),
        min_ess_bulk=pl.col("ess_bulk").fill_nan(0.0).min(),
        min_ess_tail=pl.col("ess_tail").fill_nan(0.0).min(),
    )
    group_rows = [
        {
            "model": g["model"],
            "group": g["group"],
            "n": fmt_num(g["n"]),
            "max_rhat": fmt_num(g["max_rhat"], 3),
            "rhat_bad": not (g["max_rhat"] < RHAT_MAX),
            "min_ess_bulk": fmt_num(g["min_ess_bulk"], 0),
            # the ESS gate is on the ideal points (xi / xi_norm); other groups are shown, not flagged
            "ess_bad": str(g["group"]).startswith("xi") and not (g["min_ess_bulk"] > ESS_MIN),
            "min_ess_tail": fmt_num(g["min_ess_tail"], 0),
        }
        for g in groups.iter_rows(named=True)
    ]
    published = ctx.published
    hier = params.filter(pl.col("model") == ctx.published_model)
    worst = (
        hier.with_columns(_r=pl.col("rhat").fill_nan(float("inf")).fill_null(float("inf")))
        .sort("_r", descending=True)
        .head(N_WORST)
    )
    worst_rows = [
        {
            "parameter": short(w["parameter"], 80),
            "group": w["group"],
            "rhat": fmt_num(w["rhat"], 3),
            "ess_bulk": fmt_num(w["ess_bulk"], 0),
            "ess_tail": fmt_num(w["ess_tail"], 0),
        }
        for w in worst.iter_rows(named=True)
    ]
    return {
        "groups": group_rows,
        "worst": worst_rows,
        "rhat_max": RHAT_MAX,
        "ess_min": fmt_num(ESS_MIN),
        "ebfmi_min": EBFMI_MIN,
        "distribution": figs.draw(
            "diagnostics",
            "R-hat and bulk effective sample size of every parameter, by group",
            figures.diagnostics_distribution_plot,
            params,
            RHAT_MAX,
            ESS_MIN,
        ),
        "trace": figs.draw(
            "trace_rank",
            "Per-chain densities, traces and rank histograms of the worst-mixing parameters",
            figures.trace_rank_plot,
            published,
            worst["parameter"].to_list(),
        )
        if worst.height
        else None,
        "energy": figs.draw(
            "energy", "Energy plot: marginal energy and energy transition distributions", figures.energy_plot, published
        ),
        "bfmi": _bfmi_rows(published) if published is not None else [],
        "model": ctx.published_model,
    }


def data_section(ctx: ReportContext, ip: pl.DataFrame | None, colours: dict, figs: _Figures) -> dict:
    m = ctx.manifest or {}
    fig_pc1, r = None, float("nan")
    try:
        pc1, r = figures.pc1_plot(ctx.pca_scores, ip, colours)
        fig_pc1 = figs.draw("pc1", "PC1 against the final ideal point, one dot per legislator", lambda: pc1)
    except Exception as exc:  # noqa: BLE001
        figs.errors.append("pc1")
        fig_pc1 = {"error": f"{type(exc).__name__}: {short(exc, 300)}", "alt": "PC1 against ideal point"}
    ev = [float(v) for v in (ctx.explained_variance or [])]
    return {
        "steps": filter_steps(m),
        "share_yea": fmt_pct(m.get("share_yea")) if m.get("share_yea") is not None else None,
        "min_minority": fmt_pct(m.get("min_minority")),
        "min_votes": fmt_num(m.get("min_votes")),
        "dropped": _limited(dropped_legislators(list(m.get("legislators_dropped") or []), ctx.legislators)),
        "problems": _limited(list(ctx.problems or [])),
        "ev1": fmt_pct(ev[0], 0) if ev else None,
        "pc1_r": fmt_num(r, 2),
        "scree": figs.draw("scree", "Share of variance explained by each principal component", figures.scree_plot, ev),
        "pc1": fig_pc1,
    }


def downloads_section(ctx: ReportContext, ip: pl.DataFrame | None) -> list[dict]:
    """The tables a reader can download from the page (CSV, embedded): one `download_link` each."""
    stem = f"{ctx.session_key}_{ctx.chamber}"
    out = []
    table = ctx.ideal_points if ctx.ideal_points is not None else ip
    if table is not None and table.height:
        table = table.drop([c for c in ("label", "party_label") if c in table.columns])
        out.append(
            download_link(
                table,
                f"{stem}_ideal_points.csv",
                "Ideal points",
                "one row per legislator: position, sd, 90% interval, rank and its interval, flat estimate, shrinkage",
            )
        )
    if ctx.party_summary is not None and ctx.party_summary.height:
        out.append(
            download_link(
                ctx.party_summary,
                f"{stem}_party_summary.csv",
                "Party parameters",
                "party means and spreads, variance decomposition and ICC, with 90% intervals",
            )
        )
    if ctx.gates is not None and ctx.gates.height:
        out.append(download_link(ctx.gates, f"{stem}_gates.csv", "Convergence gates", "one row per gate and model"))
    if ctx.parameters is not None and ctx.parameters.height:
        out.append(
            download_link(
                ctx.parameters,
                f"{stem}_parameter_diagnostics.csv",
                "Per-parameter diagnostics",
                "R-hat, bulk and tail ESS of every parameter",
            )
        )
    return out


def provenance_view(prov: dict, built_from: dict) -> dict:
    """The footer's provenance: what made this page, from what data, with which settings."""
    settings = prov.get("settings") or {}
    commit = prov.get("git_commit")
    return {
        "package_version": prov.get("package_version") or "unknown",
        "git_commit": commit or "not a git checkout",
        "git_short": (commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")) if commit else None,
        "run_id": prov.get("run_id") or (built_from or {}).get("run_id") or "unknown",
        "data_sha256": prov.get("data_sha256") or "unknown",
        "data_files": ", ".join(prov.get("data_files") or []),
        "settings": ", ".join(f"{k} = {fmt_setting(v)}" for k, v in sorted(settings.items())),
    }


# --------------------------------------------------------------------------------------------
# the document


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
def _static() -> tuple[str, str]:
    return (
        (HERE / "static" / "report.css").read_text(encoding="utf-8"),
        (HERE / "static" / "report.js").read_text(encoding="utf-8"),
    )


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
    figs = _Figures()

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

    party = party_section(ctx, ip, colours, figs)
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
