"""The chamber report's sections that draw figures: party posteriors, shrinkage, convergence and
data. The numbers come from the tables the steps stored (ReportContext); the published posterior
is read only for what is per draw and not stored: the party densities, the trace, rank and
energy plots, and the per-chain E-BFMI, divergences and tree depth of the sampler table."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import arviz as az
import numpy as np
import polars as pl

from legis_assets.core.diagnostics import EBFMI_MIN, ESS_MIN, RHAT_MAX, scalar_float
from legis_assets.core.summaries import shrinkage_direction
from legis_assets.report import figures
from legis_assets.report.context import ReportContext
from legis_assets.report.formatting import fmt_num, fmt_pct, hdi_text, is_num, limited, short
from legis_assets.report.tables import dropped_legislators, filter_steps

log = logging.getLogger(__name__)

#: worst-mixing parameters shown with trace and rank plots
N_WORST = 4
#: biggest movers listed in the shrinkage section
N_MOVERS = 10


class Figures:
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


def party_section(ctx: ReportContext, colours: dict, figs: Figures) -> dict:
    """The stored party_summary table (the party means' densities are drawn from the posterior)."""
    if ctx.published_model != "hierarchical":
        return {"rows": [], "icc": None, "var": {}, "density": None, "variance": None}
    ps = ctx.party_summary
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
                        "hdi": hdi_text(r["hdi_low"], r["hdi_high"]),
                    }
                )
            elif r["parameter"] == "icc":
                # one number, one rounding for the prose and the bar: whole percent, the within
                # share the rest of 100 (so the two always add up)
                between = round(100 * r["mean"]) if is_num(r["mean"]) and math.isfinite(r["mean"]) else None
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
                    "hdi": hdi_text(r["hdi_low"], r["hdi_high"]),
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
        if icc is not None and is_num(icc["mean"])
        else None,
    }


def shrinkage_section(ip: pl.DataFrame | None, colours: dict, figs: Figures) -> dict:
    if ip is None:
        return {"available": False}
    both = ip.filter(
        pl.col("xi_mean").is_not_null() & pl.col("xi_flat").is_not_null() & pl.col("shrinkage").is_not_null()
    )
    if both.height == 0:
        return {"available": False}
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


def convergence_section(ctx: ReportContext, figs: Figures) -> dict:
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


def data_section(ctx: ReportContext, ip: pl.DataFrame | None, colours: dict, figs: Figures) -> dict:
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
        "dropped": limited(dropped_legislators(list(m.get("legislators_dropped") or []), ctx.legislators)),
        "problems": limited(list(ctx.problems or [])),
        "ev1": fmt_pct(ev[0], 0) if ev else None,
        "pc1_r": fmt_num(r, 2),
        "scree": figs.draw("scree", "Share of variance explained by each principal component", figures.scree_plot, ev),
        "pc1": fig_pc1,
    }
