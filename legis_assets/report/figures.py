"""Figures for the report, drawn with matplotlib's object API (no pyplot state, Agg canvas) and
returned as base64 PNG data URIs, so the HTML needs no network and no files beside it.

Every function takes plain data (frames, InferenceData, a colour map) and returns a
:class:`Figure`; :func:`to_data_uri` renders and releases it. Text that comes from the input
(legislator names, party names, parameter labels) goes through :func:`plot_label` first, so a
name cannot switch on matplotlib's mathtext (``$...$``) or blow up the layout.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import arviz as az
import matplotlib
import numpy as np
import polars as pl
import xarray as xr
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

#: render resolution: images are shown at (at most) their natural width, 100 px per inch
DPI = 100
#: the full-chamber forest plot names every legislator up to this many rows; above it the
#: rows are too dense for legible labels, so a separate labelled plot shows the extremes
FOREST_LABEL_MAX = 150
#: legislators per side in the extremes plot of a large chamber
EXTREMES_PER_SIDE = 15
#: width of a full-width figure: the page's content column is 1040 px
FULL_WIDTH = 10.3
#: inches per labelled row (7 pt labels need ~10 pt of row height)
ROW_INCHES = 0.145

REPUBLICAN_RED = "#c62828"
DEMOCRAT_BLUE = "#1f5fbf"
INDEPENDENT_GREY = "#7a7a7a"
#: muted colours for any other party (distinct from red, blue and grey)
OTHER_PARTY_COLOURS = ("#7b5ea7", "#2e8b57", "#b8860b", "#5f9ea0", "#8b5a2b", "#c71585", "#556b2f")

STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


# --------------------------------------------------------------------------------------------
# helpers


#: runs of right-to-left letters (Hebrew, Arabic, Syriac, Thaana, ...), spaces between words included
_RTL_RUN = re.compile(r"[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]+(?:\s+[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]+)*")


def plot_label(text: object, max_len: int = 40) -> str:
    """A safe, short label for matplotlib: whitespace collapsed, control characters dropped,
    truncated with an ellipsis, and every ``$`` escaped so mathtext never parses input.

    Matplotlib lays text out left to right without the Unicode bidi algorithm, so runs of
    right-to-left letters are reversed into visual order (enough for Hebrew names; Arabic
    letters are not shaped by matplotlib either way). The HTML keeps the logical text and lets
    the browser do bidi (``dir="auto"``)."""
    s = " ".join(str(text if text is not None else "").split())
    s = "".join(ch for ch in s if ch.isprintable())
    if len(s) > max_len:
        s = s[: max_len - 1].rstrip() + "\u2026"
    s = _RTL_RUN.sub(lambda m: m.group(0)[::-1], s)
    return s.replace("$", r"\$")


def _party_kind(party: object) -> str:
    p = str(party or "").strip().lower()
    if p in ("r", "rep", "gop") or p.startswith("republican"):
        return "republican"
    if p in ("d", "dem") or p.startswith("democrat"):
        return "democrat"
    if p in ("", "i", "ind", "none", "null", "nonpartisan", "non-partisan", "unaffiliated") or p.startswith(
        "independent"
    ):
        return "independent"
    return "other"


def party_colours(parties: Iterable[object]) -> dict[str, str]:
    """Colour per party: Republican red, Democrat blue, Independent grey, any other party one
    of a few muted colours (assigned in sorted order, so the mapping is stable)."""
    colours: dict[str, str] = {}
    others = sorted({str(p) for p in parties if p is not None} - {""})
    k = 0
    for p in others:
        kind = _party_kind(p)
        if kind == "republican":
            colours[p] = REPUBLICAN_RED
        elif kind == "democrat":
            colours[p] = DEMOCRAT_BLUE
        elif kind == "independent":
            colours[p] = INDEPENDENT_GREY
        else:
            colours[p] = OTHER_PARTY_COLOURS[k % len(OTHER_PARTY_COLOURS)]
            k += 1
    colours.setdefault("", INDEPENDENT_GREY)
    return colours


def party_abbrev(party: object) -> str:
    p = str(party or "").strip()
    return p[:1].upper() if p else "I"


def styled(fn):
    """Run a figure function under the report's rcParams (axes read most of them when they are
    created, so the context must cover the whole function), quiet about arviz's use of
    deprecated matplotlib APIs."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE), warnings.catch_warnings():
            warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
            return fn(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig: Figure) -> str:
    """Render a figure to a base64 PNG data URI and release it."""
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE), warnings.catch_warnings():
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    fig.clear()
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _party_legend_handles(parties: Sequence[str], colours: dict[str, str]) -> list[Line2D]:
    return [
        Line2D(
            [],
            [],
            color=colours.get(p, INDEPENDENT_GREY),
            marker="o",
            linestyle="-",
            label=plot_label(p or "Independent", 30),
        )
        for p in parties
    ]


# --------------------------------------------------------------------------------------------
# ideal points


def _forest_rows(ip: pl.DataFrame) -> pl.DataFrame:
    """rank order, label, point and interval (the model's own interval) per legislator."""
    return ip.sort("position").with_columns(
        lo=pl.when(pl.col("model") == "hierarchical").then(pl.col("xi_hdi_low")).otherwise(pl.col("xi_flat_hdi_low")),
        hi=pl.when(pl.col("model") == "hierarchical").then(pl.col("xi_hdi_high")).otherwise(pl.col("xi_flat_hdi_high")),
    )


def _draw_forest(ax, rows: pl.DataFrame, ys: np.ndarray, colours: dict[str, str], point_size: float, lw: float) -> None:
    party = rows["party_label"].to_list()
    pos = rows["position"].to_numpy()
    lo = rows["lo"].to_numpy()
    hi = rows["hi"].to_numpy()
    flat = (rows["model"] != "hierarchical").to_numpy()
    cols = np.array([colours.get(p, INDEPENDENT_GREY) for p in party])
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.hlines(ys[ok], lo[ok], hi[ok], colors=cols[ok], linewidth=lw, alpha=0.75)
    hier = ~flat
    ax.scatter(pos[hier], ys[hier], s=point_size, c=cols[hier], zorder=3, linewidths=0)
    if flat.any():
        ax.scatter(
            pos[flat], ys[flat], s=point_size * 1.4, facecolors="white", edgecolors=cols[flat], linewidths=1.0, zorder=3
        )
    ax.axvline(0.0, color="#bbbbbb", linewidth=0.8, zorder=0)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.set_axisbelow(True)


def _forest_legend(fig: Figure, parties: list[str], colours: dict[str, str], any_flat: bool) -> None:
    handles = _party_legend_handles(parties, colours)
    if any_flat:
        handles.append(
            Line2D(
                [],
                [],
                color="#555555",
                marker="o",
                markerfacecolor="white",
                linestyle="-",
                label="flat model only (no party model)",
            )
        )
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 5))


@styled
def forest_plot(ip: pl.DataFrame, colours: dict[str, str]) -> tuple[Figure, bool]:
    """Every legislator ranked (rank 1, the leftmost, at the top) with a 90% interval.

    Returns the figure and whether every row carries a name label (False for large chambers,
    where a separate :func:`extremes_plot` names the ends of the scale)."""
    rows = _forest_rows(ip)
    n = rows.height
    labelled = n <= FOREST_LABEL_MAX
    ys = np.arange(1, n + 1, dtype=float)
    parties = sorted(set(rows["party_label"].to_list()))
    any_flat = bool((rows["model"] != "hierarchical").any())
    if labelled:
        height = max(3.0, ROW_INCHES * n + 1.4)
        fig = new_figure(FULL_WIDTH, height)
        ax = fig.add_subplot()
        _draw_forest(ax, rows, ys, colours, point_size=16, lw=1.6)
        labels = [f"{plot_label(nm, 34)} ({party_abbrev(p)})" for nm, p in zip(rows["label"], rows["party_label"])]
        ax.set_yticks(ys, labels, fontsize=7.5)
        ax.tick_params(axis="y", length=0, pad=2)
        ax.set_ylim(n + 0.7, 0.3)
    else:
        height = min(max(6.0, 0.03 * n + 1.8), 15.0)
        fig = new_figure(FULL_WIDTH, height)
        ax = fig.add_subplot()
        _draw_forest(ax, rows, ys, colours, point_size=5, lw=0.7)
        ax.set_ylim(n + 1, 0)
        ax.set_ylabel("rank (1 = most liberal)")
    if height > 6:
        ax.tick_params(axis="x", labeltop=True, top=True)
    ax.set_xlabel("ideal point (hierarchical model scale; left party negative) with 90% interval")
    _forest_legend(fig, parties, colours, any_flat)
    return fig, labelled


@styled
def extremes_plot(ip: pl.DataFrame, colours: dict[str, str], k: int = EXTREMES_PER_SIDE) -> Figure:
    """The k leftmost and k rightmost legislators, named (for chambers too big to name all)."""
    rows = _forest_rows(ip)
    n = rows.height
    k = min(k, n // 2)
    sel = pl.concat(
        [rows.head(k).with_row_index("i"), rows.tail(k).with_row_index("i").with_columns(pl.col("i") + k + 1)]
    )
    ys = sel["i"].to_numpy().astype(float)
    fig = new_figure(FULL_WIDTH, ROW_INCHES * (2 * k + 1) + 1.6)
    ax = fig.add_subplot()
    _draw_forest(ax, sel, ys, colours, point_size=16, lw=1.6)
    ranks = sel["overall_rank"].to_list()
    labels = [
        f"{r}. {plot_label(nm, 34)} ({party_abbrev(p)})" for r, nm, p in zip(ranks, sel["label"], sel["party_label"])
    ]
    ax.set_yticks(ys, labels, fontsize=7.5)
    ax.tick_params(axis="y", length=0, pad=2)
    ax.axhline(k, color="#999999", linestyle=":", linewidth=0.8)
    ax.text(
        0.5,
        k,
        f"\u2026 {n - 2 * k} legislators in between \u2026",
        transform=ax.get_yaxis_transform(),
        ha="center",
        va="center",
        fontsize=7,
        color="#555555",
        backgroundcolor="white",
    )
    ax.set_ylim(2 * k + 0.7, -0.7)
    ax.set_xlabel("ideal point (hierarchical model scale) with 90% interval")
    _forest_legend(
        fig, sorted(set(sel["party_label"].to_list())), colours, bool((sel["model"] != "hierarchical").any())
    )
    return fig


# --------------------------------------------------------------------------------------------
# party posteriors


def _draws(idata: az.InferenceData, var: str) -> xr.DataArray | None:
    post = getattr(idata, "posterior", None)
    if post is None or var not in post:
        return None
    return post[var]


@styled
def party_density_plot(idata: az.InferenceData, colours: dict[str, str]) -> Figure | None:
    """Posterior densities of mu_party and sigma_within, one curve per party."""
    post = getattr(idata, "posterior", None)
    norm = post is not None and "mu_party_norm" in post and "sigma_within_norm" in post
    mu_var, sigma_var = ("mu_party_norm", "sigma_within_norm") if norm else ("mu_party", "sigma_within")
    panels = [
        (v, t)
        for v, t in ((mu_var, f"party mean ({mu_var})"), (sigma_var, f"spread within party ({sigma_var})"))
        if _draws(idata, v) is not None
    ]
    if not panels:
        return None
    fig = new_figure(FULL_WIDTH, 3.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    parties_seen: list[str] = []
    for ax, (var, title) in zip(axes, panels):
        da = _draws(idata, var)
        if da is None:  # impossible: `panels` holds only the variables with draws
            raise ValueError(f"no posterior draws of {var!r}")
        dims = [d for d in da.dims if d not in ("chain", "draw")]
        if dims:
            labels = [str(v) for v in da[dims[0]].values]
            series = [da.isel({dims[0]: i}).values.ravel() for i in range(len(labels))]
        else:
            labels, series = [var], [da.values.ravel()]
        for label, values in zip(labels, series):
            values = values[np.isfinite(values)]
            if values.size < 2:
                continue
            colour = colours.get(label, INDEPENDENT_GREY)
            if np.ptp(values) > 0:
                grid, pdf = az.kde(values)
                ax.plot(grid, pdf, color=colour, linewidth=1.6)
                ax.fill_between(grid, pdf, color=colour, alpha=0.15)
            else:
                ax.axvline(values[0], color=colour)
            if label not in parties_seen:
                parties_seen.append(label)
        ax.set_title(title)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("hierarchical model scale" + (" (standardised)" if norm else ""))
    fig.legend(
        handles=_party_legend_handles(parties_seen, colours), loc="outside upper center", ncol=min(len(parties_seen), 6)
    )
    return fig


@styled
def variance_plot(icc: float, between_text: str, within_text: str) -> Figure | None:
    """The ICC as a bar: `icc` is the posterior mean share of the variance between the parties,
    and the labels are the report's own texts for it (one number, one rounding, as in the prose)."""
    if not (math.isfinite(icc) and 0 <= icc <= 1):
        return None
    share = icc
    fig = new_figure(FULL_WIDTH, 1.3)
    ax = fig.add_subplot()
    ax.barh([0], [share], color="#4a4a8a", height=0.6)
    ax.barh([0], [1 - share], left=[share], color="#c9c9dd", height=0.6)
    ax.text(share / 2, 0, f"between parties {between_text}", ha="center", va="center", color="white", fontsize=9)
    if 1 - share > 0.12:
        ax.text(share + (1 - share) / 2, 0, f"within parties {within_text}", ha="center", va="center", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0%", "25%", "50%", "75%", "100%"])
    ax.spines["left"].set_visible(False)
    ax.set_title("share of the variance in ideal points between and within parties (ICC, posterior mean)")
    return fig


# --------------------------------------------------------------------------------------------
# shrinkage


@styled
def shrinkage_plot(ip: pl.DataFrame, colours: dict[str, str], movers: Sequence[str] = ()) -> Figure | None:
    both = ip.filter(pl.col("xi_mean").is_not_null() & pl.col("xi_flat").is_not_null())
    if both.height == 0:
        return None
    fig = new_figure(6.4, 6.0)
    ax = fig.add_subplot()
    x = both["xi_flat"].to_numpy()
    y = both["xi_mean"].to_numpy()
    cols = [colours.get(p, INDEPENDENT_GREY) for p in both["party_label"].to_list()]
    lo = float(np.nanmin([x.min(), y.min()]))
    hi = float(np.nanmax([x.max(), y.max()]))
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    ax.plot(
        [lo - pad, hi + pad],
        [lo - pad, hi + pad],
        color="#888888",
        linestyle="--",
        linewidth=1,
        label="no change (identity line)",
    )
    ax.scatter(x, y, c=cols, s=18 if both.height < 200 else 9, alpha=0.8, linewidths=0)
    mover_mask = both["legislator_slug"].is_in(list(movers)).to_numpy()
    if mover_mask.any():
        ax.scatter(
            x[mover_mask],
            y[mover_mask],
            s=60,
            facecolors="none",
            edgecolors="black",
            linewidths=0.9,
            label="biggest movers (listed below)",
        )
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("flat model estimate (mapped onto the hierarchical scale)")
    ax.set_ylabel("hierarchical model estimate")
    parties = sorted(set(both["party_label"].to_list()))
    handles = _party_legend_handles(parties, colours)
    for h in handles:
        h.set_linestyle("")
    ax.legend(handles=handles + ax.get_legend_handles_labels()[0], loc="upper left")
    return fig


# --------------------------------------------------------------------------------------------
# convergence


@styled
def diagnostics_distribution_plot(parameters: pl.DataFrame, rhat_max: float, ess_min: float) -> Figure | None:
    """R-hat and bulk ESS of every parameter, one strip per model x parameter group."""
    if parameters.height == 0:
        return None
    params = parameters.with_columns(key=pl.concat_str([pl.col("model"), pl.lit(": "), pl.col("group")]))
    keys = params["key"].unique(maintain_order=True).to_list()
    fig = new_figure(FULL_WIDTH, max(2.2, 0.45 * len(keys) + 1.3))
    ax_r, ax_e = fig.subplots(1, 2, sharey=True)
    rng = np.random.default_rng(0)
    for i, key in enumerate(keys):
        sub = params.filter(pl.col("key") == key)
        for ax, col in ((ax_r, "rhat"), (ax_e, "ess_bulk")):
            v = sub[col].cast(pl.Float64).to_numpy()
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            jitter = rng.uniform(-0.18, 0.18, size=v.size)
            ax.scatter(v, i + jitter, s=6, alpha=0.5, color="#34495e", linewidths=0)
            ax.plot([v.min(), v.max()], [i, i], color="#34495e", alpha=0.25, linewidth=4, solid_capstyle="round")
    ax_r.axvline(rhat_max, color=REPUBLICAN_RED, linestyle="--", linewidth=1)
    ax_r.text(
        rhat_max,
        1.0,
        f" gate < {rhat_max:g}",
        transform=ax_r.get_xaxis_transform(),
        color=REPUBLICAN_RED,
        fontsize=7,
        va="bottom",
    )
    ax_e.axvline(ess_min, color=REPUBLICAN_RED, linestyle="--", linewidth=1)
    ax_e.text(
        ess_min,
        1.0,
        f" gate > {ess_min:g} (ideal points)",
        transform=ax_e.get_xaxis_transform(),
        color=REPUBLICAN_RED,
        fontsize=7,
        va="bottom",
    )
    ax_r.set_yticks(range(len(keys)), [plot_label(k, 32) for k in keys])
    ax_r.set_ylim(len(keys) - 0.5, -0.5)
    ax_r.set_xlabel("R-hat (1.00 = chains agree)")
    ax_e.set_xlabel("bulk effective sample size")
    ess = params["ess_bulk"].cast(pl.Float64).to_numpy()
    ess = ess[np.isfinite(ess) & (ess > 0)]
    if ess.size and ess.max() / max(ess.min(), 1e-9) > 30:
        ax_e.set_xscale("log")
    for ax in (ax_r, ax_e):
        ax.grid(axis="x", color="#eeeeee")
        ax.set_axisbelow(True)
    return fig


def _parse_parameter(parameter: str) -> tuple[str, str | None]:
    if parameter.endswith("]") and "[" in parameter:
        var, _, rest = parameter.partition("[")
        return var, rest[:-1]
    return parameter, None


def _select_parameter(idata: az.InferenceData, parameter: str) -> xr.DataArray | None:
    var, label = _parse_parameter(parameter)
    da = _draws(idata, var)
    if da is None:
        return None
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    if label is None:
        return da if not dims else None
    if len(dims) != 1:
        return None
    values = [str(v) for v in da[dims[0]].values]
    if label not in values:
        return None
    return da.isel({dims[0]: values.index(label)}, drop=True).drop_vars(list(da.coords), errors="ignore")


@styled
def trace_rank_plot(idata: az.InferenceData, parameters: Sequence[str]) -> Figure | None:
    """For each parameter: per-chain density and trace (``az.plot_trace``) and rank bars
    (``az.plot_rank``). Well-mixed chains give overlapping densities, hairy caterpillar traces
    and flat rank histograms."""
    series: dict[str, xr.DataArray] = {}
    for p in parameters:
        da = _select_parameter(idata, p)
        if da is not None:
            name = plot_label(p, 48)
            while name in series:  # truncated labels could collide
                name += "'"
            series[name] = da
    if not series:
        return None
    ds = xr.Dataset(series)
    sub = az.InferenceData(posterior=ds)
    if hasattr(idata, "sample_stats") and "diverging" in idata.sample_stats:
        sub.add_groups(sample_stats=idata.sample_stats[["diverging"]])
    k = len(series)
    fig = new_figure(FULL_WIDTH, 2.1 * k + 0.3)
    axes = fig.subplots(k, 3, squeeze=False)
    az.plot_trace(sub, var_names=list(series), axes=axes[:, :2], compact=False, show=False)
    az.plot_rank(sub, var_names=list(series), kind="bars", ax=axes[:, 2], show=False)
    for row in axes:
        for ax in row:
            ax.title.set_fontsize(8)
    return fig


@styled
def energy_plot(idata: az.InferenceData) -> Figure | None:
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "energy" not in stats:
        return None
    fig = new_figure(6.4, 3.4)
    ax = fig.add_subplot()
    az.plot_energy(idata, ax=ax, show=False)
    ax.set_title("energy: marginal vs transition (overlapping = good)")
    return fig


# --------------------------------------------------------------------------------------------
# data


@styled
def scree_plot(explained_variance: Sequence[float]) -> Figure | None:
    ev = np.asarray([v for v in explained_variance if v is not None], dtype=float)[:10]
    if ev.size == 0:
        return None
    fig = new_figure(4.6, 3.0)
    ax = fig.add_subplot()
    x = np.arange(1, ev.size + 1)
    ax.bar(x, ev, color=["#34495e"] + ["#95a5a6"] * (ev.size - 1))
    for xi, v in zip(x, ev):
        ax.text(float(xi), v, f"{v:.0%}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x)
    ax.set_xlabel("principal component")
    ax.set_ylabel("share of variance explained")
    ax.set_title("PCA scree")
    return fig


@styled
def pc1_plot(pca_scores: pl.DataFrame, ip: pl.DataFrame | None, colours: dict[str, str]) -> tuple[Figure | None, float]:
    """PC1 (the starting values) against the final ideal point; returns the figure and Pearson r."""
    if ip is None or pca_scores.height == 0 or "pc1" not in pca_scores.columns:
        return None, float("nan")
    joined = (
        pca_scores.select("legislator_slug", "pc1")
        .join(ip.select("legislator_slug", "position", "party_label"), on="legislator_slug", how="inner")
        .drop_nulls(["pc1", "position"])
    )
    if joined.height < 2:
        return None, float("nan")
    x = joined["pc1"].to_numpy().astype(float)
    y = joined["position"].to_numpy().astype(float)
    r = float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else float("nan")
    fig = new_figure(4.6, 3.0)
    ax = fig.add_subplot()
    cols = [colours.get(p, INDEPENDENT_GREY) for p in joined["party_label"].to_list()]
    ax.scatter(x, y, c=cols, s=12 if joined.height < 200 else 6, alpha=0.8, linewidths=0)
    ax.set_xlabel("PC1 (standardised, starting value)")
    ax.set_ylabel("ideal point")
    ax.set_title(f"PC1 vs ideal point (r = {r:.2f})" if math.isfinite(r) else "PC1 vs ideal point")
    return fig, r
