"""The chamber report's tables as rows for the template: ideal points, gates, sampler settings,
data size and filters, the downloads and the provenance footer. Input: the tables the steps
stored (ReportContext); nothing here is computed from a posterior's draws."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from legis_assets.report.context import ReportContext
from legis_assets.report.downloads import download_link
from legis_assets.report.formatting import (
    NAME_DISPLAY_MAX,
    fmt_num,
    fmt_pct,
    fmt_seconds,
    fmt_setting,
    hdi_text,
    is_num,
    short,
)

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

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


def prepare_ideal_points(ctx: ReportContext) -> pl.DataFrame | None:
    """The stored ideal_points table ready to show: positions (the published model's, else the
    flat estimate), labels, overall ranks; None when there is none."""
    ip = ctx.ideal_points
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
                "interval_text": hdi_text(lo, hi),
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
                info.update({k: v for k, v in settings.items() if is_num(v) or isinstance(v, str)})
            info.update(
                {k: attrs[k] for k, _ in SAMPLER_KEYS if k in attrs and (is_num(attrs[k]) or isinstance(attrs[k], str))}
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
            if k not in dict(SAMPLER_KEYS) and (is_num(v) or isinstance(v, (str, bool, np.bool_)) or v is None)
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
            "filtered": fmt_num(obs_raw - obs_kept) if is_num(obs_raw) and is_num(obs_kept) else "\u2013",
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
