"""The bridge graph: shared people per pair of chamber-sessions, components, thin bridges."""

from __future__ import annotations

import polars as pl
import pytest

from legis_assets.core import bridge, ingest, matrix, people
from legis_assets_tests.support import SHARED_DATA, legislators_frame, needs_shared, real_legislators

US = "us_congress"
H97, S97 = f"{US}.97th_1981-1982:house", f"{US}.97th_1981-1982:senate"
S107 = f"{US}.107th_2001-2002:senate"
H117, S117 = f"{US}.117th_2021-2022:house", f"{US}.117th_2021-2022:senate"
CA_A17, CA_S17, CA_S19 = "california.2017-2018:house", "california.2017-2018:senate", "california.2019-2020:senate"

#: ../shared/data/README.md, "Persons shared between chamber-sessions" (every pair of each legislature)
README_SHARED = {
    US: {
        (H97, S97): 0,
        (H97, S107): 15,
        (H97, H117): 4,
        (H97, S117): 3,
        (S97, S107): 22,
        (S97, H117): 0,
        (S97, S117): 2,
        (S107, H117): 0,
        (S107, S117): 16,
        (H117, S117): 0,
    },
    "california": {(CA_A17, CA_S17): 0, (CA_A17, CA_S19): 3, (CA_S17, CA_S19): 31},
}


def _table(*chamber_sessions: tuple[str, str, tuple[str, ...]]) -> pl.DataFrame:
    return people.build_people([(key, chamber, legislators_frame(*slugs)) for key, chamber, slugs in chamber_sessions])


# --- hand-made graphs ----------------------------------------------------------------------------


def test_pair_counts_components_and_a_disconnected_chamber_session():
    table = _table(
        ("t.2001-2002", "house", ("rep_a_a_1", "rep_b_b_2", "rep_c_c_3", "rep_d_d_4", "rep_e_e_5", "rep_f_f_6")),
        ("t.2003-2004", "house", ("rep_a_a_1", "rep_b_b_2", "rep_c_c_3", "rep_d_d_4", "rep_e_e_5", "rep_g_g_7")),
        ("t.2003-2004", "senate", ("sen_f_f_6", "sen_h_h_8")),  # one former House member: a thin bridge
        ("t.2005-2006", "senate", ("sen_x_x_90", "sen_y_y_91")),  # nobody seen before: disconnected
    )
    graph = bridge.bridge_graph(table)
    a, b, c, d = "t.2001-2002:house", "t.2003-2004:house", "t.2003-2004:senate", "t.2005-2006:senate"
    assert graph.shared(a, b) == graph.shared(b, a) == 5
    assert graph.shared(a, c) == 1 and graph.shared(b, c) == 0 and graph.shared(a, d) == 0
    assert graph.edges.height == 6  # every pair, zeros included
    assert graph.edges.filter(pl.col("thin")).select("a", "b").rows() == [(a, c)]
    assert not graph.connected
    assert graph.components == [[a, b, c], [d]]
    assert graph.disconnected == [d]
    nodes = {r["chamber_session"]: r for r in graph.nodes.iter_rows(named=True)}
    assert [nodes[x]["n_people"] for x in (a, b, c, d)] == [6, 6, 2, 2]
    assert [nodes[x]["component"] for x in (a, b, c, d)] == [0, 0, 0, 1]
    assert [nodes[x]["component_size"] for x in (a, b, c, d)] == [3, 3, 3, 1]
    assert [nodes[x]["in_main"] for x in (a, b, c, d)] == [True, True, True, False]
    assert [nodes[x]["thin_only"] for x in (a, b, c, d)] == [False, False, True, False]
    assert [nodes[x]["max_shared"] for x in (a, b, c, d)] == [5, 5, 1, 0]
    assert graph.nodes["chamber_session"].to_list() == [a, b, c, d]  # time order, house before senate
    assert graph.nodes["session_order"].to_list() == [0, 1, 1, 2]
    with pytest.raises(KeyError):
        graph.shared(a, "t.1999-2000:house")


def test_threshold_and_kept_legislators():
    table = _table(
        ("t.2001-2002", "senate", ("sen_a_a_1", "sen_b_b_2", "sen_c_c_3", "sen_d_d_4", "sen_e_e_5")),
        ("t.2003-2004", "senate", ("sen_a_a_1", "sen_b_b_2", "sen_c_c_3", "sen_d_d_4", "sen_e_e_5")),
    )
    a, b = "t.2001-2002:senate", "t.2003-2004:senate"
    assert not bridge.bridge_graph(table).thin_edges.height  # 5 shared: not thin at the default threshold 5
    assert bridge.bridge_graph(table, thin_threshold=6).thin_edges.height == 1
    # the vote filters dropped two of them in the second session: 3 kept people bridge the sessions
    kept = [
        (key, "senate", slug)
        for key in ("t.2001-2002", "t.2003-2004")
        for slug in ("sen_a_a_1", "sen_b_b_2", "sen_c_c_3", "sen_d_d_4", "sen_e_e_5")
        if not (key == "t.2003-2004" and slug in ("sen_d_d_4", "sen_e_e_5"))
    ]
    graph = bridge.bridge_graph(table, kept=kept)
    edge = graph.edges.row(0, named=True)
    assert (edge["shared"], edge["shared_all"], edge["thin"]) == (3, 5, True)
    assert graph.nodes["n_people"].to_list() == [5, 3]
    # the same as a frame; a chamber-session with nobody kept stays a node, disconnected
    frame = pl.DataFrame(kept, schema=["session_key", "chamber", "legislator_slug"], orient="row")
    assert bridge.bridge_graph(table, kept=frame).edges.equals(graph.edges)
    empty = bridge.bridge_graph(table, kept=frame.filter(pl.col("session_key") == "t.2001-2002"))
    assert empty.disconnected == [b] and empty.nodes["n_people"].to_list() == [5, 0]
    assert empty.shared(a, b) == 0 and empty.edges["shared_all"].to_list() == [5]
    with pytest.raises(ValueError):
        bridge.bridge_graph(table, thin_threshold=0)


def test_people_shared_count_once_and_merged_people_bridge(tmp_path):
    # one person with two slugs in a chamber-session (a merged party switcher) counts once
    table = _table(
        ("t.2001-2002", "senate", ("sen_j_j_1", "sen_k_k_2")),
        ("t.2003-2004", "senate", ("sen_j_j_1", "sen_j_j_9", "sen_k_k_2")),
    )
    overrides = tmp_path / "o.csv"
    overrides.write_text("action,id,other_id\nmerge,sen_j_j_1,sen_j_j_9\n")
    votes = {
        ("t.2003-2004", "senate"): pl.DataFrame(
            {"vote_id": ["v1", "v2"], "legislator_slug": ["sen_j_j_1", "sen_j_j_9"]}
        )
    }
    merged = people.build_people(
        [
            ("t.2001-2002", "senate", legislators_frame("sen_j_j_1", "sen_k_k_2")),
            ("t.2003-2004", "senate", legislators_frame("sen_j_j_1", "sen_j_j_9", "sen_k_k_2")),
        ],
        overrides=overrides,
        votes=votes,
    )
    assert bridge.bridge_graph(table).nodes["n_people"].to_list() == [2, 3]
    graph = bridge.bridge_graph(merged)
    assert graph.nodes["n_people"].to_list() == [2, 2]
    assert graph.shared("t.2001-2002:senate", "t.2003-2004:senate") == 2


# --- the real data -------------------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("legislature", sorted(README_SHARED))
def test_real_bridge_counts_equal_the_readme_table(legislature):
    table = people.build_people([f for f in real_legislators() if f[0].startswith(f"{legislature}.")])
    graph = bridge.bridge_graph(table)
    counts = {(r["a"], r["b"]): r["shared"] for r in graph.edges.iter_rows(named=True)}
    assert counts == README_SHARED[legislature]
    assert graph.connected and graph.disconnected == []
    assert graph.nodes["in_main"].all()
    thin = {(r["a"], r["b"]) for r in graph.thin_edges.iter_rows(named=True)}
    assert thin == {pair for pair, n in README_SHARED[legislature].items() if 0 < n < bridge.THIN_THRESHOLD}
    if legislature == US:
        # the 117th House reaches the rest only through four members of the 97th House
        node = graph.nodes.filter(pl.col("chamber_session") == H117).row(0, named=True)
        assert node["thin_only"] and node["max_shared"] == 4 and node["n_people"] == 455
    # both legislatures together: two components, neither silently dropped
    both = bridge.bridge_graph(people.build_people(list(real_legislators())))
    assert len(both.components) == 2 and both.disconnected == [CA_A17, CA_S17, CA_S19]


@needs_shared
def test_real_bridge_counts_only_legislators_kept_by_the_vote_filters():
    """California: Ted Gaines and Ricardo Lara (Senate 2017-18, left in January 2019) cast one vote
    each in the 2019-20 Senate, so the 20-vote filter drops them there: 29 of the 31 shared remain."""
    matrices = {}
    for legislature, session in ingest.discover_sessions(SHARED_DATA):
        if legislature != "california":
            continue
        tables = ingest.read_session(SHARED_DATA / legislature / session)
        for chamber in ("house", "senate"):
            part = ingest.chamber_tables(tables, chamber)
            if part.votes.height:
                matrices[(f"{legislature}.{session}", chamber)] = matrix.build_vote_matrix(
                    part.votes, part.legislators, part.rollcalls
                )
    kept = bridge.kept_from_matrices(matrices)
    assert kept.height == 84 + 42 + 41 and kept.columns == ["session_key", "chamber", "legislator_slug"]
    table = people.build_people([f for f in real_legislators() if f[0].startswith("california.")])
    graph = bridge.bridge_graph(table, kept=kept)
    edges = {(r["a"], r["b"]): (r["shared"], r["shared_all"]) for r in graph.edges.iter_rows(named=True)}
    assert edges[(CA_S17, CA_S19)] == (29, 31)
    assert edges[(CA_A17, CA_S19)] == (3, 3)
    # README: 84, 42 and 41 legislators remain after the filters
    assert graph.nodes["n_people"].to_list() == [84, 42, 41]
    assert graph.connected
