"""The bridge graph of a common scale: which chamber-sessions share people, and is it connected.

A joint model can put two chamber-sessions on one scale only through people who sat in both (or
through a chain of such links). Nodes are chamber-sessions (``<session key>:<chamber>``, e.g.
``us_congress.97th_1981-1982:house``); the edge between two nodes counts the people they share.

* Connectivity: two nodes are linked when they share at least one person; components come from
  :func:`scipy.sparse.csgraph.connected_components`. Component 0 is the largest (ties: the one
  holding the earliest node); ``in_main`` marks its nodes. A node outside it cannot be placed on
  the common scale and is reported (``BridgeGraph.disconnected``), never dropped.
* Thin bridges: an edge with ``0 < shared < thin_threshold`` (default :data:`THIN_THRESHOLD` = 5
  people) is flagged ``thin``: a few people carry the whole link, so the scale's comparison across
  it rests on them (and on their not having moved). A node whose strongest edge is thin is
  ``thin_only``.
* `kept`: when given (the legislators kept by the vote filters), only kept rows count, both in
  ``n_people`` and ``shared``; ``shared_all`` keeps the unfiltered count beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from legis_assets.core.people import session_sort_key

if TYPE_CHECKING:
    from legis_assets.core.matrix import VoteMatrix

__all__ = ["THIN_THRESHOLD", "BridgeGraph", "bridge_graph", "kept_from_matrices", "node_id"]

#: an edge sharing fewer people than this is a thin bridge
THIN_THRESHOLD = 5


def node_id(session_key: str, chamber: str) -> str:
    """The chamber-session node name: ``<session key>:<chamber>``."""
    return f"{session_key}:{chamber}"


@dataclass
class BridgeGraph:
    """The bridge graph of one scale.

    * ``edges``: one row per unordered pair of chamber-sessions (a before b in time order):
      a, b, shared (people in both, counting kept rows only when `kept` was given), shared_all
      (ignoring `kept`), thin (0 < shared < thin_threshold).
    * ``nodes``: one row per chamber-session in time order: chamber_session, session_key, chamber,
      session_order, n_people, max_shared (strongest edge), component, component_size, in_main,
      thin_only (connected, but only through thin edges).
    * ``components``: the node names of each component, component 0 (the main one) first.
    """

    edges: pl.DataFrame
    nodes: pl.DataFrame
    components: list[list[str]]
    thin_threshold: int = THIN_THRESHOLD

    @property
    def connected(self) -> bool:
        """True when every chamber-session is in one component."""
        return len(self.components) <= 1

    @property
    def disconnected(self) -> list[str]:
        """Chamber-sessions with no path to the main component (cannot join the common scale)."""
        return self.nodes.filter(~pl.col("in_main"))["chamber_session"].to_list()

    @property
    def thin_edges(self) -> pl.DataFrame:
        return self.edges.filter(pl.col("thin"))

    def shared(self, a: str, b: str) -> int:
        """People shared by two chamber-sessions (either order)."""
        row = self.edges.filter(((pl.col("a") == a) & (pl.col("b") == b)) | ((pl.col("a") == b) & (pl.col("b") == a)))
        if not row.height:
            raise KeyError(f"no chamber-session pair {a!r} / {b!r}")
        return int(row["shared"][0])


def bridge_graph(
    people: pl.DataFrame,
    kept: pl.DataFrame | Iterable[tuple[str, str, str]] | None = None,
    thin_threshold: int = THIN_THRESHOLD,
) -> BridgeGraph:
    """The bridge graph of the chamber-sessions in a person table (:func:`people.build_people`).

    `people` needs person_id, session_key, chamber, legislator_slug (session_order used when present).
    `kept`: optional rows kept by the vote filters, as a frame with session_key, chamber,
    legislator_slug or as (session_key, chamber, legislator_slug) tuples; a chamber-session with no
    kept row stays a node (n_people 0, disconnected).
    """
    if thin_threshold < 1:
        raise ValueError(f"thin_threshold must be at least 1, got {thin_threshold}")
    rows = people.select(
        "person_id",
        "session_key",
        "chamber",
        "legislator_slug",
        *(["session_order"] if "session_order" in people.columns else []),
    )
    rows = rows.with_columns(pl.concat_str("session_key", pl.lit(":"), "chamber").alias("node"))
    node_rows = rows.select("node", "session_key", "chamber").unique()
    order = sorted(node_rows.iter_rows(named=True), key=lambda r: (session_sort_key(r["session_key"]), r["chamber"]))
    names = [r["node"] for r in order]
    index = {name: i for i, name in enumerate(names)}
    n = len(names)

    if kept is not None:
        if not isinstance(kept, pl.DataFrame):
            kept = pl.DataFrame(list(kept), schema=["session_key", "chamber", "legislator_slug"], orient="row")
        kept_rows = rows.join(
            kept.select("session_key", "chamber", "legislator_slug").unique(),
            on=["session_key", "chamber", "legislator_slug"],
            how="semi",
        )
    else:
        kept_rows = rows

    shared = _pair_counts(kept_rows, index)
    shared_all = _pair_counts(rows, index) if kept is not None else shared
    iu, ju = np.triu_indices(n, k=1)
    edges = pl.DataFrame(
        {
            "a": [names[i] for i in iu],
            "b": [names[j] for j in ju],
            "shared": shared[iu, ju].astype(np.int64),
            "shared_all": shared_all[iu, ju].astype(np.int64),
        }
    ).with_columns(((pl.col("shared") > 0) & (pl.col("shared") < thin_threshold)).alias("thin"))

    n_people = kept_rows.group_by("node").agg(pl.col("person_id").n_unique().alias("n"))
    people_of = dict(zip(n_people["node"].to_list(), n_people["n"].to_list()))
    _, labels = connected_components(coo_matrix(shared > 0), directed=False)
    # renumber: largest component first, ties by earliest node
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    ranked = sorted(groups.values(), key=lambda members: (-len(members), members[0]))
    component = np.empty(n, dtype=np.int64)
    for c, members in enumerate(ranked):
        component[members] = c
    sizes = np.array([len(ranked[c]) for c in component], dtype=np.int64) if n else np.array([], np.int64)
    max_shared = shared.max(axis=1) if n else np.array([], np.int64)
    session_rank = {k: i for i, k in enumerate(sorted({r["session_key"] for r in order}, key=session_sort_key))}
    nodes = pl.DataFrame(
        {
            "chamber_session": names,
            "session_key": [r["session_key"] for r in order],
            "chamber": [r["chamber"] for r in order],
            "session_order": [session_rank[r["session_key"]] for r in order],
            "n_people": [int(people_of.get(name, 0)) for name in names],
            "max_shared": max_shared.astype(np.int64),
            "component": component,
            "component_size": sizes,
        },
        schema_overrides={"session_order": pl.Int64},
    ).with_columns(
        (pl.col("component") == 0).alias("in_main"),
        ((pl.col("max_shared") > 0) & (pl.col("max_shared") < thin_threshold)).alias("thin_only"),
    )
    return BridgeGraph(
        edges=edges,
        nodes=nodes,
        components=[[names[i] for i in members] for members in ranked],
        thin_threshold=thin_threshold,
    )


def kept_from_matrices(matrices: Mapping[tuple[str, str], VoteMatrix]) -> pl.DataFrame:
    """The `kept` argument of :func:`bridge_graph` from filtered vote matrices.

    `matrices`: ``{(session_key, chamber): matrix.build_vote_matrix(...)}``; returns session_key,
    chamber, legislator_slug of every legislator the filters kept.
    """
    frames = [
        m.legislators.select(
            pl.lit(key).alias("session_key"),
            pl.lit(chamber).alias("chamber"),
            pl.col("legislator_slug").cast(pl.String),
        )
        for (key, chamber), m in matrices.items()
    ]
    schema = {"session_key": pl.String, "chamber": pl.String, "legislator_slug": pl.String}
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)


def _pair_counts(rows: pl.DataFrame, index: dict[str, int]) -> np.ndarray:
    """n x n matrix of distinct people shared by each pair of nodes (diagonal: 0)."""
    n = len(index)
    pairs = rows.select("person_id", "node").unique()
    if not pairs.height:
        return np.zeros((n, n), dtype=np.int64)
    persons = {p: k for k, p in enumerate(pairs["person_id"].unique().sort().to_list())}
    incidence = coo_matrix(
        (
            np.ones(pairs.height),
            ([index[x] for x in pairs["node"].to_list()], [persons[p] for p in pairs["person_id"].to_list()]),
        ),
        shape=(n, len(persons)),
    ).tocsr()
    counts = (incidence @ incidence.T).toarray().astype(np.int64)
    np.fill_diagonal(counts, 0)
    return counts
