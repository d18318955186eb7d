"""Figures for the common-scale report (one page per scale; see :mod:`legis_assets.report.scale`).

Same conventions as :mod:`legis_assets.report.figures` (whose helpers this module imports):
matplotlib's object API on an Agg canvas, the report's rcParams, every piece of text from the
input (names, parties, session keys) through :func:`figures.plot_label`, and the figure handed
back to the caller, who turns it into a PNG data URI with :func:`figures.to_data_uri`.

Every function takes plain frames shaped as the common-scale core writes them
(``core.common_scale.summaries`` and ``core.bridge``) plus ``order``, the time order of the
sessions (session_key -> 0, 1, ...), and returns ``None`` where there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from legis_assets.report.figures import (
    FULL_WIDTH,
    INDEPENDENT_GREY,
    REPUBLICAN_RED,
    new_figure,
    party_abbrev,
    plot_label,
    styled,
)

#: small multiples in the "who moved" figure (the table lists everyone)
TOP_MOVERS = 12
#: x offset of a chamber inside a session column (a person's House slot comes before the Senate one)
CHAMBER_OFFSET = {"house": -0.12, "senate": 0.12}
CHAMBER_MARKER = {"house": "o", "senate": "s"}
CHAMBER_LINE = {"house": "-", "senate": "--"}
CHAMBER_COLOUR = {"house": "#2f4f6f", "senate": "#b5651d"}
#: more sessions than this: tick labels are rotated and thinned
TICKS_FLAT_MAX = 8


def session_label(session_key: str) -> str:
    """The session part of a session key (``kansas.91st_2025-2026`` -> ``91st_2025-2026``)."""
    s = str(session_key)
    return s.split(".", 1)[1] if "." in s else s


def _x(session_key: str, chamber: str, order: Mapping[str, int]) -> float:
    return float(order.get(session_key, 0)) + CHAMBER_OFFSET.get(str(chamber).lower(), 0.0)


def _session_ticks(ax, order: Mapping[str, int], used: Sequence[int] | None = None) -> None:
    items = sorted(order.items(), key=lambda kv: kv[1])
    if used is not None:
        keep = set(used)
        items = [kv for kv in items if kv[1] in keep]
    if not items:
        return
    step = max(1, int(np.ceil(len(items) / 16)))
    items = items[::step]
    ax.set_xticks([v for _, v in items], [plot_label(session_label(k), 22) for k, _ in items])
    if len(items) > TICKS_FLAT_MAX:
        for t in ax.get_xticklabels():
            t.set_rotation(40)
            t.set_ha("right")


def _band(
    ax,
    x: np.ndarray,
    mean: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    colour: str,
    style: str,
    label: str,
    marker: str = "o",
) -> None:
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.sum() >= 2:
        ax.fill_between(x[ok], lo[ok], hi[ok], color=colour, alpha=0.18, linewidth=0)
    elif ok.any():
        ax.vlines(x[ok], lo[ok], hi[ok], colors=colour, alpha=0.5, linewidth=3)
    ax.plot(x, mean, color=colour, linestyle=style, marker=marker, markersize=4, linewidth=1.6, label=label)


@styled
def party_trend_plot(party_trend: pl.DataFrame, colours: dict[str, str], order: Mapping[str, int]) -> Figure | None:
    """Top: each party's mean position per chamber across sessions, with its 90% HDI band (one
    panel per chamber). Bottom: the party gap (Republican minus Democratic mean) per chamber over
    time with its band: the polarisation trend."""
    if party_trend is None or party_trend.height == 0:
        return None
    pt = party_trend.with_columns(pl.col("chamber").cast(pl.String).str.to_lowercase())
    means = pt.filter(pl.col("quantity") == "party_mean")
    gaps = pt.filter(pl.col("quantity") == "party_gap")
    chambers = sorted(set(pt["chamber"].to_list()), key=lambda c: (c not in CHAMBER_OFFSET, c))
    has_gap = gaps.height > 0
    fig = new_figure(FULL_WIDTH, 6.6 if has_gap else 3.6)
    grid = fig.add_gridspec(2 if has_gap else 1, max(len(chambers), 1))
    used = sorted({order.get(k, 0) for k in pt["session_key"].to_list()})
    top_axes: list[Any] = []
    for j, chamber in enumerate(chambers):
        ax = fig.add_subplot(grid[0, j], sharey=top_axes[0] if top_axes else None)
        top_axes.append(ax)
        sub = means.filter(pl.col("chamber") == chamber)
        for party in sorted({p for p in sub["party"].to_list() if p is not None}):
            rows = (
                sub.filter(pl.col("party") == party)
                .with_columns(_x=pl.col("session_key").replace_strict(dict(order), default=0, return_dtype=pl.Float64))
                .sort("_x")
            )
            _band(
                ax,
                rows["_x"].to_numpy(),
                rows["mean"].to_numpy(),
                rows["hdi_low"].to_numpy(),
                rows["hdi_high"].to_numpy(),
                colours.get(party, INDEPENDENT_GREY),
                "-",
                plot_label(party, 24),
            )
        ax.axhline(0.0, color="#bbbbbb", linewidth=0.8, zorder=0)
        ax.set_title(f"{plot_label(chamber, 20).title()}: party means")
        ax.set_ylabel("position (common scale, SD units)" if j == 0 else "")
        _session_ticks(ax, order, used)
        ax.grid(axis="y", color="#eeeeee")
        ax.set_axisbelow(True)
        if sub.height:
            ax.legend(loc="best")
    if has_gap:
        ax = fig.add_subplot(grid[1, :])
        for chamber in chambers:
            rows = (
                gaps.filter(pl.col("chamber") == chamber)
                .with_columns(_x=pl.col("session_key").replace_strict(dict(order), default=0, return_dtype=pl.Float64))
                .sort("_x")
            )
            if rows.height == 0:
                continue
            _band(
                ax,
                rows["_x"].to_numpy(),
                rows["mean"].to_numpy(),
                rows["hdi_low"].to_numpy(),
                rows["hdi_high"].to_numpy(),
                CHAMBER_COLOUR.get(chamber, "#555555"),
                CHAMBER_LINE.get(chamber, "-"),
                plot_label(chamber, 20).title(),
                CHAMBER_MARKER.get(chamber, "o"),
            )
        ax.set_title("Party gap (Republican mean \u2212 Democratic mean) with 90% interval: the polarisation trend")
        ax.set_ylabel("gap (SD units)")
        _session_ticks(ax, order, used)
        ax.grid(axis="y", color="#eeeeee")
        ax.set_axisbelow(True)
        ax.legend(loc="best")
    return fig


def top_movers(movement: pl.DataFrame, k: int = TOP_MOVERS) -> list[str]:
    """Person ids of the people who moved most: largest |movement| among the moves whose 90% HDI
    excludes 0, biggest first (ties: person id)."""
    if movement is None or movement.height == 0:
        return []
    moved = movement.filter(pl.col("moved").fill_null(False))
    if moved.height == 0:
        return []
    best = (
        moved.group_by("person_id")
        .agg(pl.col("mean").abs().max().alias("_m"))
        .sort(["_m", "person_id"], descending=[True, False])
    )
    return best["person_id"].head(k).to_list()


@styled
def movers_plot(
    positions: pl.DataFrame,
    movement: pl.DataFrame,
    people: Sequence[str],
    colours: dict[str, str],
    order: Mapping[str, int],
    names: Mapping[str, str],
) -> Figure | None:
    """Small multiples: one panel per person in `people` (see :func:`top_movers`), their position in
    every chamber-session they sat in with its 90% HDI; the moves whose HDI excludes 0 are drawn
    thick. Same y axis for every panel."""
    if not people or positions is None or positions.height == 0:
        return None
    pos = positions.filter(pl.col("person_id").is_in(list(people))).with_columns(
        pl.col("chamber").cast(pl.String).str.to_lowercase()
    )
    if pos.height == 0:
        return None
    n = len(people)
    ncols = min(4, n)
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(FULL_WIDTH, 2.25 * nrows + 0.7)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, sharex=True, squeeze=False)).ravel()
    lo_all = np.nanmin(pos["hdi_low"].to_numpy()) if pos.height else -2.0
    hi_all = np.nanmax(pos["hdi_high"].to_numpy()) if pos.height else 2.0
    moved = movement.filter(pl.col("moved").fill_null(False)) if movement is not None else None
    used = sorted({order.get(k, 0) for k in pos["session_key"].to_list()})
    for ax, person in zip(axes, people):
        rows = pos.filter(pl.col("person_id") == person)
        xs = np.array([_x(s, c, order) for s, c in zip(rows["session_key"].to_list(), rows["chamber"].to_list())])
        idx = np.argsort(xs, kind="stable")
        rows = rows[idx.tolist()]
        xs = xs[idx]
        party = rows["party"].to_list()
        last_party = next((p for p in reversed(party) if p), "")
        colour = colours.get(last_party, INDEPENDENT_GREY)
        mean = rows["mean"].to_numpy()
        ax.plot(xs, mean, color=colour, linewidth=1.0, alpha=0.6)
        for x, m, lo, hi, ch, p in zip(
            xs, mean, rows["hdi_low"].to_numpy(), rows["hdi_high"].to_numpy(), rows["chamber"].to_list(), party
        ):
            c = colours.get(p or "", INDEPENDENT_GREY)
            ax.vlines(x, lo, hi, colors=c, linewidth=1.6, alpha=0.7)
            ax.plot([x], [m], marker=CHAMBER_MARKER.get(ch, "o"), color=c, markersize=5)
        if moved is not None and moved.height:
            slot_x = {(s, c): x for s, c, x in zip(rows["session_key"].to_list(), rows["chamber"].to_list(), xs)}
            slot_y = {(s, c): m for s, c, m in zip(rows["session_key"].to_list(), rows["chamber"].to_list(), mean)}
            for r in moved.filter(pl.col("person_id") == person).iter_rows(named=True):
                a = (r["from_session_key"], str(r["from_chamber"]).lower())
                b = (r["to_session_key"], str(r["to_chamber"]).lower())
                if a in slot_x and b in slot_x:
                    ax.plot(
                        [slot_x[a], slot_x[b]],
                        [slot_y[a], slot_y[b]],
                        color=colour,
                        linewidth=3.2,
                        alpha=0.9,
                        solid_capstyle="round",
                    )
        ax.axhline(0.0, color="#cccccc", linewidth=0.7, zorder=0)
        ax.set_title(f"{plot_label(names.get(person, person), 30)} ({party_abbrev(last_party)})", fontsize=8.5)
        ax.grid(axis="y", color="#f0f0f0")
        ax.set_axisbelow(True)
    for ax in axes[n:]:
        ax.set_visible(False)
    pad = 0.08 * max(hi_all - lo_all, 1.0)
    axes[0].set_ylim(lo_all - pad, hi_all + pad)
    span = [min(used) - 0.4, max(used) + 0.4] if used else [-0.5, 0.5]
    axes[0].set_xlim(*span)
    for ax in axes[:n]:
        _session_ticks(ax, order, used)
        for t in ax.get_xticklabels():
            t.set_fontsize(6.5)
            t.set_rotation(35)
            t.set_ha("right")
    handles = [
        Line2D([], [], color="#555555", marker=CHAMBER_MARKER[c], linestyle="", label=c.title())
        for c in ("house", "senate")
    ]
    handles.append(Line2D([], [], color="#555555", linewidth=3.2, label="move whose 90% interval excludes 0"))
    fig.legend(handles=handles, loc="outside upper center", ncol=3)
    fig.supylabel("position (common scale)", fontsize=8.5)
    return fig


@styled
def bridge_plot(nodes: pl.DataFrame, edges: pl.DataFrame, order: Mapping[str, int]) -> Figure | None:
    """The bridge graph laid out on a time line: one column per session, House below, Senate above;
    a line between two chamber-sessions that share people (wider = more people; dashed red = a thin
    bridge). Nodes outside the main component are red crosses."""
    if nodes is None or nodes.height == 0:
        return None
    nd = nodes.with_columns(pl.col("chamber").cast(pl.String).str.to_lowercase())
    chambers = sorted(set(nd["chamber"].to_list()), key=lambda c: (c not in CHAMBER_OFFSET, c))
    level = {c: i for i, c in enumerate(chambers)}
    where: dict[str, tuple[float, float]] = {}
    for r in nd.iter_rows(named=True):
        where[r["chamber_session"]] = (float(order.get(str(r["session_key"]), 0)), float(level[r["chamber"]]))
    n_sessions = len({x for x, _ in where.values()})
    fig = new_figure(FULL_WIDTH, 1.6 + 1.1 * len(chambers))
    ax = fig.add_subplot()
    live = edges.filter(pl.col("shared") > 0) if edges is not None and edges.height else None
    if live is not None and live.height:
        top = float(live["shared"].cast(pl.Float64).max() or 1.0)  # type: ignore[arg-type]
        for r in live.iter_rows(named=True):
            if r["a"] not in where or r["b"] not in where:
                continue
            (x0, y0), (x1, y1) = where[r["a"]], where[r["b"]]
            width = 0.6 + 4.0 * np.sqrt(r["shared"] / top)
            span = abs(x1 - x0)
            style: dict[str, Any]
            if r["thin"]:
                style = {"color": REPUBLICAN_RED, "linestyle": "--", "alpha": 0.9, "zorder": 2}
            else:
                style = {"color": "#34495e", "linestyle": "-", "alpha": 0.55 if span <= 1 else 0.15, "zorder": 1}
            if y0 == y1 and span > 1:  # same chamber, not adjacent: an arc above (Senate) / below (House)
                xs = np.linspace(x0, x1, 30)
                bulge = 0.12 * span**0.5 * (1 if y0 >= 0.5 else -1)
                ys = y0 + bulge * np.sin(np.pi * (xs - x0) / (x1 - x0))
                ax.plot(xs, ys, linewidth=width, **style)
            else:
                ax.plot([x0, x1], [y0, y1], linewidth=width, **style)
            if span <= 1 and n_sessions <= 14:
                ax.text(
                    (x0 + x1) / 2,
                    (y0 + y1) / 2,
                    str(int(r["shared"])),
                    fontsize=7,
                    ha="center",
                    va="center",
                    color="#222222",
                    backgroundcolor="white",
                    zorder=4,
                )
    for r in nd.iter_rows(named=True):
        x, y = where[r["chamber_session"]]
        main = bool(r.get("in_main", True))
        if main:
            ax.scatter(
                [x],
                [y],
                s=110,
                color=CHAMBER_COLOUR.get(r["chamber"], "#555555"),
                zorder=5,
                edgecolors="white",
                linewidths=1.2,
            )
        else:
            ax.scatter([x], [y], s=120, marker="X", color=REPUBLICAN_RED, zorder=5)
        if n_sessions <= 14:
            ax.text(
                x,
                y - 0.22 if y < 0.5 else y + 0.22,
                f"{int(r.get('n_people') or 0)}",
                fontsize=7,
                ha="center",
                va="center",
                color="#555555",
            )
    ax.set_yticks(list(level.values()), [plot_label(c, 20).title() for c in chambers])
    ax.set_ylim(-0.6, len(chambers) - 0.4)
    _session_ticks(ax, order)
    ax.set_xlabel("session (numbers: people per chamber-session; on a line: people shared)")
    handles = [Line2D([], [], color="#34495e", linewidth=2.5, label="shares people")]
    if live is not None and bool(live["thin"].fill_null(False).any()):
        handles.append(Line2D([], [], color=REPUBLICAN_RED, linestyle="--", linewidth=1.5, label="thin bridge"))
    if not bool(nd["in_main"].fill_null(True).all()):
        handles.append(Line2D([], [], color=REPUBLICAN_RED, marker="X", linestyle="", label="not connected (left out)"))
    fig.legend(handles=handles, loc="outside upper center", ncol=3, fontsize=7.5)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#cccccc")
    return fig


__all__ = ["TOP_MOVERS", "session_label", "party_trend_plot", "top_movers", "movers_plot", "bridge_plot"]
