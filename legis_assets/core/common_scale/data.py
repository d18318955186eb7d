"""The joint data of a common scale: slots, global roll calls, votes, per-person sequences.

A *slot* is one person in one chamber-session (a legislator kept by that chamber-session's
filters). Every slot has its own position parameter; a person's slots, ordered by session (a
House and a Senate slot of the same session are consecutive, House first), are linked by the
random walk of the model. Roll calls keep their own parameters, so their indices are made global
by concatenating the chamber-sessions' roll calls in input order.

A chamber-session is fitted only if it is connected, through people with kept slots in both, to
the largest group of connected chamber-sessions (the bridge component); the others are left out
and reported in `CommonScaleData.excluded` (their positions would be on a scale of their own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from legis_assets.core.bridge import BridgeGraph, bridge_graph, node_id
from legis_assets.core.matrix import VoteMatrix
from legis_assets.core.schema import DataProblem

#: order of two slots of one person in the same session
CHAMBER_ORDER = {"house": 0, "senate": 1}
SLUG_PREFIXES = ("rep_", "sen_")


@dataclass(frozen=True)
class ChamberSession:
    """One chamber-session's filtered vote matrix and where it sits in the legislature."""

    session_key: str
    chamber: str  # "house" / "senate" (the partition value; "House"/"Senate" accepted)
    matrix: VoteMatrix

    @property
    def chamber_key(self) -> str:
        return self.chamber.lower()

    @property
    def label(self) -> str:
        return f"{self.session_key}/{self.chamber_key}"


@dataclass
class CommonScaleData:
    """Everything the joint model needs (arrays) and everything the tables need (frames)."""

    #: one row per slot, in slot order: slot, slot_label, person_id, session_key, chamber,
    #: chamber_session (index), session_order, legislator_slug, name, party, n_votes
    slots: pl.DataFrame
    #: one row per fitted chamber-session: chamber_session (index), label, session_key, chamber,
    #: session_order, n_slots, n_rollcalls, n_obs, rollcall_start (first global roll-call index)
    chamber_sessions: pl.DataFrame
    #: observed votes: slot index, global roll-call index, y (1 Yea / 0 Nay)
    slot_idx: np.ndarray
    rc_idx: np.ndarray
    y: np.ndarray
    #: global roll-call labels ("<session_key>/<chamber>/<vote_id>") and their chamber-session
    rollcall_ids: list[str]
    rollcall_cs: np.ndarray
    #: each person's first slot (prior N(0, 1)) and every consecutive pair (random walk)
    first_slots: np.ndarray
    trans_from: np.ndarray
    trans_to: np.ndarray
    #: chamber-sessions left out, and why: session_key, chamber, reason
    excluded: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"session_key": pl.String, "chamber": pl.String, "reason": pl.String}
        )
    )
    #: the bridge graph over the kept slots of every chamber-session given (core.bridge)
    bridges: BridgeGraph | None = None

    @property
    def n_slots(self) -> int:
        return self.slots.height

    @property
    def n_rollcalls(self) -> int:
        return len(self.rollcall_ids)

    @property
    def n_obs(self) -> int:
        return int(self.y.size)

    @property
    def slot_cs(self) -> np.ndarray:
        return self.slots["chamber_session"].to_numpy()

    @property
    def slot_party(self) -> list[str]:
        return self.slots["party"].to_list()

    def slot_labels(self) -> list[str]:
        return self.slots["slot_label"].to_list()

    def transition_labels(self) -> list[str]:
        labels = self.slot_labels()
        return [f"{labels[a]} -> {labels[b]}" for a, b in zip(self.trans_from, self.trans_to)]

    def transitions(self) -> pl.DataFrame:
        """One row per consecutive pair of one person's slots."""
        s = self.slots
        return pl.DataFrame(
            {
                "transition": np.arange(self.trans_from.size),
                "person_id": s["person_id"].gather(self.trans_from),
                "from_slot": self.trans_from,
                "to_slot": self.trans_to,
                "from_session_key": s["session_key"].gather(self.trans_from),
                "from_chamber": s["chamber"].gather(self.trans_from),
                "to_session_key": s["session_key"].gather(self.trans_to),
                "to_chamber": s["chamber"].gather(self.trans_to),
            }
        )

    def sequences(self) -> dict[str, list[int]]:
        """person_id -> its slots in order."""
        out: dict[str, list[int]] = {}
        for slot, person in zip(self.slots["slot"].to_list(), self.slots["person_id"].to_list()):
            out.setdefault(person, []).append(slot)
        return out

    def coords(self) -> dict[str, list]:
        return {
            "slot": self.slot_labels(),
            "rollcall": self.rollcall_ids,
            "transition": self.transition_labels(),
            "chamber_session": self.chamber_sessions["label"].to_list(),
        }


def people_from_slugs(chamber_sessions: list[ChamberSession]) -> pl.DataFrame:
    """A people table by the slug rule alone (the slug without its rep_/sen_ prefix is the
    person), session order = order of first appearance in the input. For tests and for data
    without a people table; the platform passes `core.people.build_people`'s table."""
    order: dict[str, int] = {}
    rows = []
    for cs in chamber_sessions:
        order.setdefault(cs.session_key, len(order))
        leg = cs.matrix.legislators
        names = leg["name"].to_list() if "name" in leg.columns else [None] * leg.height
        for slug, name, party in zip(leg["legislator_slug"].to_list(), names, leg["party"].to_list()):
            person = slug[4:] if slug.startswith(SLUG_PREFIXES) else slug
            rows.append(
                {
                    "person_id": person,
                    "session_key": cs.session_key,
                    "chamber": cs.chamber_key,
                    "legislator_slug": slug,
                    "name": name,
                    "party": party,
                    "session_order": order[cs.session_key],
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "person_id": pl.String,
            "session_key": pl.String,
            "chamber": pl.String,
            "legislator_slug": pl.String,
            "name": pl.String,
            "party": pl.String,
            "session_order": pl.Int64,
        },
    )


def _session_order_column(people: pl.DataFrame) -> str:
    for name in ("session_order", "session_index", "order"):
        if name in people.columns:
            return name
    raise DataProblem(f"the people table has no session order column (session_order); columns: {people.columns}")


def build_common_data(chamber_sessions: list[ChamberSession], people: pl.DataFrame | None = None) -> CommonScaleData:
    """Join the chamber-sessions on the people table into one data set (see the module doc).

    `people` needs person_id, session_key, chamber, legislator_slug and a session order column
    (session_order); name and party are taken from it where present, else from the matrix.
    A slug in a matrix without a people row is a person of its own (reported nowhere else: the
    people table is expected to be complete)."""
    if not chamber_sessions:
        raise DataProblem("no chamber-session to put on a common scale")
    labels = [cs.label for cs in chamber_sessions]
    if len(set(labels)) != len(labels):
        raise DataProblem(f"a chamber-session is given twice: {labels}")
    if people is None:
        people = people_from_slugs(chamber_sessions)
    order_col = _session_order_column(people)
    people = people.with_columns(pl.col("chamber").str.to_lowercase())
    lookup = {(r["session_key"], r["chamber"], r["legislator_slug"]): r for r in people.iter_rows(named=True)}
    session_order = {r["session_key"]: r[order_col] for r in people.iter_rows(named=True)}

    # candidate slots per chamber-session
    per_cs = []
    for c, cs in enumerate(chamber_sessions):
        if cs.session_key not in session_order:
            raise DataProblem(f"session {cs.session_key!r} is not in the people table")
        leg = cs.matrix.legislators
        names = leg["name"].to_list() if "name" in leg.columns else [None] * leg.height
        n_votes = np.bincount(cs.matrix.leg_idx, minlength=leg.height)
        rows = []
        for i, (slug, name, party) in enumerate(zip(leg["legislator_slug"].to_list(), names, leg["party"].to_list())):
            p = lookup.get((cs.session_key, cs.chamber_key, slug))
            rows.append(
                {
                    "person_id": p["person_id"] if p else f"{cs.label}/{slug}",
                    "session_key": cs.session_key,
                    "chamber": cs.chamber_key,
                    "cs_input": c,
                    "session_order": int(session_order[cs.session_key]),
                    "legislator_slug": slug,
                    "name": (p.get("name") if p else None) or name,
                    "party": (p.get("party") if p else None) or party,
                    "n_votes": int(n_votes[i]),
                    "row": i,
                }
            )
        per_cs.append(rows)

    # bridge components over the kept slots (core.bridge: the main component is the largest)
    graph = bridge_graph(
        pl.DataFrame(
            [
                {
                    "person_id": r["person_id"],
                    "session_key": r["session_key"],
                    "chamber": r["chamber"],
                    "legislator_slug": r["legislator_slug"],
                    "session_order": r["session_order"],
                }
                for rows in per_cs
                for r in rows
            ],
            schema={
                "person_id": pl.String,
                "session_key": pl.String,
                "chamber": pl.String,
                "legislator_slug": pl.String,
                "session_order": pl.Int64,
            },
        )
    )
    main = set(graph.components[0]) if graph.components else set()
    keep = [c for c, cs in enumerate(chamber_sessions) if node_id(cs.session_key, cs.chamber_key) in main]
    excluded = [
        {
            "session_key": chamber_sessions[c].session_key,
            "chamber": chamber_sessions[c].chamber_key,
            "reason": "no person links it to the largest bridge component "
            f"({', '.join(chamber_sessions[k].label for k in keep)})",
        }
        for c in range(len(chamber_sessions))
        if c not in keep
    ]

    # fitted chamber-sessions in (session order, chamber) order
    keep.sort(
        key=lambda c: (
            int(session_order[chamber_sessions[c].session_key]),
            CHAMBER_ORDER.get(chamber_sessions[c].chamber_key, 9),
            c,
        )
    )
    slot_rows, cs_rows = [], []
    slot_parts, rc_parts, y_parts, rollcall_ids, rollcall_cs = [], [], [], [], []
    n_slot = n_rc = 0
    for new_c, c in enumerate(keep):
        cs = chamber_sessions[c]
        m = cs.matrix
        rows = per_cs[c]
        for r in rows:
            slot_rows.append({**r, "chamber_session": new_c})
        slot_parts.append(m.leg_idx.astype(np.int64) + n_slot)
        rc_parts.append(m.rc_idx.astype(np.int64) + n_rc)
        y_parts.append(m.y.astype(np.int64))
        rollcall_ids += [f"{cs.label}/{v}" for v in m.rollcalls["vote_id"].to_list()]
        rollcall_cs.append(np.full(m.n_rollcalls, new_c, dtype=np.int64))
        cs_rows.append(
            {
                "chamber_session": new_c,
                "label": cs.label,
                "session_key": cs.session_key,
                "chamber": cs.chamber_key,
                "session_order": int(session_order[cs.session_key]),
                "n_slots": len(rows),
                "n_rollcalls": m.n_rollcalls,
                "n_obs": m.n_obs,
                "rollcall_start": n_rc,
            }
        )
        n_slot += len(rows)
        n_rc += m.n_rollcalls

    slots = (
        pl.DataFrame(slot_rows)
        .drop("cs_input", "row")
        .with_row_index("slot")
        .with_columns(
            pl.col("slot").cast(pl.Int64),
            slot_label=pl.concat_str(
                [pl.col("person_id"), pl.lit("@"), pl.col("session_key"), pl.lit("/"), pl.col("chamber")]
            ),
        )
    )
    dup = slots.group_by("person_id", "session_key", "chamber").len().filter(pl.col("len") > 1)
    if dup.height:
        raise DataProblem(f"a person has two slugs in one chamber-session: {dup.head(5).to_dicts()}")
    slots = slots.select(
        "slot",
        "slot_label",
        "person_id",
        "session_key",
        "chamber",
        "chamber_session",
        "session_order",
        "legislator_slug",
        "name",
        "party",
        "n_votes",
    )

    # per-person sequences: by session order, House before Senate within a session
    seq = slots.with_columns(
        chamber_rank=pl.col("chamber").replace_strict(CHAMBER_ORDER, default=9, return_dtype=pl.Int64)
    ).sort("person_id", "session_order", "chamber_rank")
    person = seq["person_id"].to_list()
    slot_seq = seq["slot"].to_numpy()
    first, t_from, t_to = [], [], []
    for k in range(len(person)):
        if k == 0 or person[k] != person[k - 1]:
            first.append(slot_seq[k])
        else:
            t_from.append(slot_seq[k - 1])
            t_to.append(slot_seq[k])

    slot_idx = np.concatenate(slot_parts)
    rc_idx = np.concatenate(rc_parts)
    order = np.lexsort((rc_idx, slot_idx))
    return CommonScaleData(
        slots=slots,
        chamber_sessions=pl.DataFrame(cs_rows),
        slot_idx=slot_idx[order],
        rc_idx=rc_idx[order],
        y=np.concatenate(y_parts)[order],
        rollcall_ids=rollcall_ids,
        rollcall_cs=np.concatenate(rollcall_cs),
        first_slots=np.sort(np.asarray(first, dtype=np.int64)),
        trans_from=np.asarray(t_from, dtype=np.int64),
        trans_to=np.asarray(t_to, dtype=np.int64),
        excluded=pl.DataFrame(excluded, schema={"session_key": pl.String, "chamber": pl.String, "reason": pl.String}),
        bridges=graph,
    )
