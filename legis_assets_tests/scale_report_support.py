"""A fake, MCMC-free common-scale report context (legis_assets.report.scale), shared by
test_scale_report.py and the browser test (integration/test_scale_report_browser.py): see
make_scale_context."""

from __future__ import annotations

import numpy as np
import polars as pl

from legis_assets.core.bridge import bridge_graph, node_id
from legis_assets.core.diagnostics import Gate, gates_frame
from legis_assets.report.scale import SECTIONS, ScaleReportContext
from legis_assets.report.scale_data import MOVEMENT_SCHEMA, TREND_SCHEMA

SECTION_IDS = [s for s, _ in SECTIONS]
LEGISLATURE = "testleg"
HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    "\"quotes\" & 'apostrophes'",
    "</script><script>alert(3)</script>",
    "A" * 2500 + " " + "B" * 2499,  # 5,000 characters
    "שלום עליכם",
    r"$\undefinedmacro{x}$ costs $5",
    "<img src=x onerror=alert(2)>",
    "\u2028line\u2029separators",
]
Z90 = 1.6448536269514722


def _interval(mean: float, sd: float) -> dict:
    """mean, sd and the 90% interval of a normal, as the summary tables hold them."""
    return {"mean": mean, "sd": sd, "hdi_low": mean - Z90 * sd, "hdi_high": mean + Z90 * sd}


def fake_session_key(t: int) -> str:
    return f"{LEGISLATURE}.{85 + t}th_{2011 + 2 * t}-{2012 + 2 * t}"


def fake_gates(passed: bool, warn: bool = False) -> pl.DataFrame:
    return gates_frame(
        [
            Gate(
                "rhat",
                "max R-hat (xi_norm, party_mean_norm, party_gap_norm, movement_norm, tau_norm)",
                1.004 if passed else 1.083,
                1.01,
                "<",
                "error",
                "chains agree",
            ),
            Gate("ess", "min bulk ESS (xi_norm)", 812.0 if passed else 95.0, 400.0, ">", "error", "enough draws"),
            Gate("divergences", "divergent transitions", 0.0 if passed else 3.0, 0, "<=", "error", "no divergences"),
            Gate("ebfmi", "min E-BFMI over chains", 0.21 if warn else 0.74, 0.3, ">", "warn", "energy"),
            Gate(
                "agrees_with_linked", "abs(r) joint vs linked", 0.97, 0.9, ">", "warn", "agrees with the linked scores"
            ),
        ]
    )


def make_scale_context(
    n_people: int = 60,
    n_sessions: int = 4,
    names: list[str] | None = None,
    *,
    passed: bool = True,
    warn: bool = False,
    with_orphan: bool = True,
    seed: int = 0,
    links: dict[str, str] | None = None,
) -> ScaleReportContext:
    """A ScaleReportContext for `n_people` people over `n_sessions` sessions (see the module doc).

    Names: `names` for the first people (one of them is also a big mover), "Member 0007" style for
    the rest. `with_orphan`: an extra House chamber-session whose members sit nowhere else (left
    out of the scale: disconnected)."""
    rng = np.random.default_rng(seed)
    names = list(names or [])
    sessions = [fake_session_key(t) for t in range(n_sessions)]
    rows = []  # people table: person x session x chamber
    truth = []
    for i in range(n_people):
        pid = f"slug:p{i:04d}"
        party = "Republican" if i % 2 == 0 else "Democrat"
        if i % 17 == 5:
            party = "Independent"
        name = names[i] if i < len(names) else f"Member {i:04d}"
        start = int(rng.integers(0, max(n_sessions - 1, 1)))
        length = int(rng.integers(1, n_sessions - start + 1))
        if i < 6:  # long-serving: always at least two sessions (the movers come from here)
            start, length = 0, n_sessions
        chamber = "senate" if i % 4 == 3 else "house"
        x = rng.normal(0.9 if party == "Republican" else -0.9 if party == "Democrat" else 0.0, 0.4)
        for t in range(start, start + length):
            if t > start:
                x += rng.normal(0.0, 0.08)
                if i in (0, 2) and t == start + 1:
                    x += 1.1 if i == 0 else -1.0  # the big movers
                if i % 9 == 1 and chamber == "house" and t == start + 1:
                    chamber = "senate"  # House -> Senate
            prefix = "rep_" if chamber == "house" else "sen_"
            rows.append(
                {
                    "person_id": pid,
                    "session_key": sessions[t],
                    "chamber": chamber,
                    "legislator_slug": f"{prefix}p{i:04d}_1",
                    "name": name,
                    "party": party,
                    "session_order": t,
                }
            )
            truth.append(x)
    people = pl.DataFrame(rows)
    all_people = people
    if with_orphan:
        orphan = pl.DataFrame(
            [
                {
                    "person_id": f"slug:orphan{k}",
                    "session_key": f"{LEGISLATURE}.2009s",
                    "chamber": "house",
                    "legislator_slug": f"rep_orphan{k}_1",
                    "name": f"Orphan {k}",
                    "party": "Democrat",
                    "session_order": -1,
                }
                for k in range(5)
            ]
        )
        all_people = pl.concat([orphan, people])
    graph = bridge_graph(all_people)

    sd = rng.uniform(0.08, 0.3, people.height)
    mean = np.asarray(truth) + rng.normal(0, 0.05, people.height)
    positions = people.select("person_id", "session_key", "chamber", "legislator_slug", "name", "party").with_columns(
        mean=pl.Series(mean), sd=pl.Series(sd), hdi_low=pl.Series(mean - Z90 * sd), hdi_high=pl.Series(mean + Z90 * sd)
    )

    # movement: consecutive slots of one person (House before Senate within a session)
    slots = (
        positions.with_row_index("slot")
        .with_columns(
            order=pl.col("session_key").replace_strict({k: t for t, k in enumerate(sessions)}, return_dtype=pl.Int64),
            rank=(pl.col("chamber") == "senate").cast(pl.Int64),
        )
        .sort("person_id", "order", "rank")
    )
    mv = []
    srows = slots.to_dicts()
    for a, b in zip(srows, srows[1:]):
        if a["person_id"] != b["person_id"]:
            continue
        d = b["mean"] - a["mean"]
        s = float(np.hypot(a["sd"], b["sd"]) * 0.6)
        mv.append(
            {
                "person_id": a["person_id"],
                "from_slot": a["slot"],
                "to_slot": b["slot"],
                "from_session_key": a["session_key"],
                "from_chamber": a["chamber"],
                "to_session_key": b["session_key"],
                "to_chamber": b["chamber"],
                **_interval(d, s),
            }
        )
    movement = pl.DataFrame(mv, schema={c: t for c, t in MOVEMENT_SCHEMA.items() if c != "moved"}).with_columns(
        moved=(pl.col("hdi_low") > 0) | (pl.col("hdi_high") < 0)
    )

    # party trend: mean of the party's slots per chamber-session, and the gap R - D
    trend = []
    for t, key in enumerate(sessions):
        for chamber in ("house", "senate"):
            sub = positions.filter((pl.col("session_key") == key) & (pl.col("chamber") == chamber))
            found = {}
            for party in ("Democrat", "Republican"):
                members = sub.filter(pl.col("party") == party)
                if members.height == 0:
                    continue
                m = float(members["mean"].mean())
                s = float(members["sd"].mean()) / max(np.sqrt(members.height), 1) + 0.02
                found[party] = (m, s, members.height)
                trend.append(
                    {
                        "session_key": key,
                        "chamber": chamber,
                        "session_order": t,
                        "quantity": "party_mean",
                        "party": party,
                        "n_slots": members.height,
                        **_interval(m, s),
                    }
                )
            if len(found) == 2:
                (dm, ds, dn), (rm, rs, rn) = found["Democrat"], found["Republican"]
                g, s = rm - dm, float(np.hypot(ds, rs))
                trend.append(
                    {
                        "session_key": key,
                        "chamber": chamber,
                        "session_order": t,
                        "quantity": "party_gap",
                        "party": None,
                        "n_slots": dn + rn,
                        **_interval(g, s),
                    }
                )
    party_trend = pl.DataFrame(trend, schema=TREND_SCHEMA).sort("session_order", "chamber", "quantity", "party")

    used = (
        people.group_by("session_key", "chamber")
        .agg(legislators=pl.len())
        .with_columns(
            chamber_session=pl.concat_str("session_key", pl.lit(":"), "chamber"),
            rollcalls=pl.lit(120, dtype=pl.Int64),
            legislators=pl.col("legislators").cast(pl.Int64),
        )
        .select("chamber_session", "session_key", "chamber", "legislators", "rollcalls")
        .sort("chamber_session")
    )
    return ScaleReportContext(
        scale=LEGISLATURE,
        passed=passed,
        gates=fake_gates(passed, warn),
        positions=positions,
        party_trend=party_trend,
        movement=movement,
        bridge_edges=graph.edges,
        bridge_nodes=graph.nodes,
        disconnected=graph.disconnected,
        chamber_sessions=used,
        sampler={
            "seconds": 754.2,
            "steps_per_draw": 31.5,
            "ess_per_second": 1.9,
            "chains": 4,
            "draws": 1000,
            "tune": 1000,
            "backend": "kernel",
        },
        links=links,
        generated_at="2026-12-02T08:00:00+00:00",
        excluded_reasons={
            node_id(f"{LEGISLATURE}.2009s", "house"): "no person links it to the largest bridge component"
        }
        if with_orphan
        else {},
    )


def hostile_scale_context(n_people: int = 60, **kwargs) -> ScaleReportContext:
    return make_scale_context(n_people, names=HOSTILE_NAMES, **kwargs)
