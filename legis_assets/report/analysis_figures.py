"""Figures of the report's analysis sections: roll calls with their cutting points on the
ideal-point axis, the posterior predictive check, and the reference-score scatter. Same conventions
as figures.py (object API, Agg canvas, input text through plot_label)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from legis_assets.report.figures import FULL_WIDTH, INDEPENDENT_GREY, new_figure, plot_label, styled

#: panels per row of the cutting-point figures
PANELS_PER_ROW = 3


@styled
def cutline_plot(
    rows: list[dict], votes: pl.DataFrame, positions: dict[str, tuple[float, str]], colours: dict[str, str]
) -> Figure | None:
    """One panel per roll call: every legislator who voted, at their posterior mean (x), in the Yea
    row or the Nay row, coloured by party; the cutting point (posterior median) as a vertical line
    with its 90 % interval shaded. `rows`: rollcall_parameters rows; `votes`: vote_id,
    legislator_slug, vote_value; `positions`: slug -> (position, party)."""
    if not rows:
        return None
    n = len(rows)
    ncol = min(PANELS_PER_ROW, n)
    nrow = math.ceil(n / ncol)
    fig = new_figure(FULL_WIDTH, 2.25 * nrow)
    xs = [p for p, _ in positions.values()]
    lo, hi = (min(xs), max(xs)) if xs else (-2.5, 2.5)
    pad = 0.1 * (hi - lo or 1.0)
    by_rc = {k[0]: g for k, g in votes.group_by(["vote_id"])}
    rng = np.random.default_rng(0)
    for k, row in enumerate(rows):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        g = by_rc.get(row["vote_id"])
        if g is not None:
            for slug, v in zip(g["legislator_slug"].to_list(), g["vote_value"].to_list(), strict=True):
                if slug not in positions:
                    continue
                x, party = positions[slug]
                y = (1.0 if v == 1 else 0.0) + rng.uniform(-0.18, 0.18)
                ax.plot(x, y, "o", ms=3.2, alpha=0.75, color=colours.get(party, INDEPENDENT_GREY), mec="none")
        c, cl, ch = row["cutpoint"], row["cutpoint_hdi_low"], row["cutpoint_hdi_high"]
        if c is not None and np.isfinite(c):
            ax.axvspan(max(cl, lo - pad), min(ch, hi + pad), color="#888888", alpha=0.18, lw=0)
            ax.axvline(c, color="#222222", lw=1.2)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(-0.5, 1.5)
        ax.set_yticks([0, 1], ["Nay", "Yea"])
        title = " ".join(str(v) for v in (row.get("bill_number"), row.get("vote_date")) if v) or row["vote_id"]
        ax.set_title(plot_label(title, 38), fontsize=8.5)
        ax.set_xlabel(
            plot_label(f"disc. {row['discrimination']:.2f}, cut {c:.2f}" if c is not None else "", 40), fontsize=7.5
        )
        ax.tick_params(labelsize=7)
    return fig


def _interval_scatter(ax, obs: np.ndarray, mean: np.ndarray, low: np.ndarray, high: np.ndarray, title: str) -> None:
    inside = (obs >= low) & (obs <= high)
    for mask, colour in ((inside, "#4a6b8a"), (~inside, "#c62828")):
        ax.vlines(obs[mask], low[mask], high[mask], color=colour, lw=0.7, alpha=0.5)
        ax.plot(obs[mask], mean[mask], "o", ms=2.5, color=colour, mec="none")
    ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("observed Yea share")
    ax.set_ylabel("replicated Yea share (mean, 90% interval)")
    ax.set_title(f"{title}: {inside.mean():.0%} inside the interval")


@styled
def ppc_plot(fit_rollcalls: pl.DataFrame, fit_legislators: pl.DataFrame) -> Figure | None:
    """Observed vs replicated Yea share, by roll call (left) and by legislator (right)."""
    if fit_rollcalls.is_empty():
        return None
    fig = new_figure(FULL_WIDTH, 4.2)
    for k, (frame, title) in enumerate(((fit_rollcalls, "by roll call"), (fit_legislators, "by legislator"))):
        ax = fig.add_subplot(1, 2, k + 1)
        _interval_scatter(
            ax,
            frame["yea_share"].to_numpy(),
            frame["rep_yea_share"].to_numpy(),
            frame["rep_low"].to_numpy(),
            frame["rep_high"].to_numpy(),
            title,
        )
    return fig


@styled
def reference_plot(table: pl.DataFrame, colours: dict[str, str], source: str = "") -> Figure | None:
    """Reference score (x) against the posterior mean (y), by party, with the least-squares line and
    the outliers named."""
    if table.is_empty():
        return None
    fig = new_figure(7.5, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    for party, g in table.group_by("party", maintain_order=True):
        name = party[0] if isinstance(party, tuple) else party
        ax.plot(
            g["score"].to_numpy(),
            g["position"].to_numpy(),
            "o",
            ms=4,
            alpha=0.8,
            mec="none",
            color=colours.get(str(name), INDEPENDENT_GREY),
            label=plot_label(name, 20),
        )
    order = table.sort("score")
    ax.plot(order["score"].to_numpy(), order["fitted"].to_numpy(), color="#444444", lw=1)
    for row in table.filter(pl.col("outlier")).iter_rows(named=True):
        ax.annotate(
            plot_label(row.get("name") or row["legislator_slug"], 24),
            (row["score"], row["position"]),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize=7.5,
        )
    ax.set_xlabel(plot_label(f"reference score ({source})" if source else "reference score", 90))
    ax.set_ylabel("posterior mean (this report's scale)")
    ax.legend(loc="best")
    return fig
