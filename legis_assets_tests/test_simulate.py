import polars as pl
import pytest

from legis_assets.core import bridge, ingest, people, simulate
from legis_assets.core.schema import VOTE_CODES
from legis_assets_tests.support import matrix_from_sim


def _reads_back(session_dir, chambers: dict) -> dict:
    """A written session read through the validator without a problem: each chamber's votes and
    roll calls are the simulated ones. Returns the chambers' tables."""
    tables = ingest.read_session(session_dir)
    assert tables.problems == []
    parts = {}
    for chamber, sim in chambers.items():
        part = parts[chamber] = ingest.chamber_tables(tables, chamber)
        assert part.votes.height == sim.votes.height
        assert part.rollcalls.height == sim.rollcall_truth.height
        joined = part.votes.join(sim.votes, on=["vote_id", "legislator_slug"])
        assert joined.height == part.votes.height and (joined["vote"] == joined["vote_right"]).all()
    return parts


def test_kansas_session_names():
    assert simulate.kansas_session_name(2025) == "91st_2025-2026"
    assert simulate.kansas_session_name(2011) == "84th_2011-2012"
    assert simulate.kansas_session_name(2021) == "89th_2021-2022"


def test_simulation_is_reproducible_and_kansas_shaped():
    a = simulate.simulate_session(seed=3)
    b = simulate.simulate_session(seed=3)
    assert a["house"].votes.equals(b["house"].votes)
    house, senate = a["house"].truth, a["senate"].truth
    assert 125 <= house.height <= 130 and 40 <= senate.height <= 45
    shares = house.group_by("party").len().sort("len", descending=True)
    assert shares["party"][0] == "Republican" and shares["len"][0] / house.height > 0.65
    m = matrix_from_sim(a["house"])
    assert 250 <= m.n_rollcalls <= 340  # a few hundred contested roll calls survive the 2.5% filter
    assert m.manifest["rollcalls_lopsided"] > 50
    absent = a["house"].votes.filter(~pl.col("vote").is_in(["Yea", "Nay"])).height / a["house"].votes.height
    assert 0.05 < absent < 0.10


def test_written_session_reads_back_through_the_validator(tmp_path):
    sims = simulate.simulate_session(seed=5)
    session_dir = simulate.write_session(sims, tmp_path / "kansas" / "91st_2025-2026")
    _reads_back(session_dir, sims)
    truth = simulate.read_truth(session_dir)
    assert set(truth["legislator_slug"]) == set(pl.concat([s.truth for s in sims.values()])["legislator_slug"])


def test_bundled_example_legislature_is_what_the_simulator_writes(tmp_path):
    """data/ holds only generated data: regenerating the example (`make example-data`) reproduces
    every file of its three sessions byte for byte."""
    from legis_assets_tests.support import REPO

    example = REPO / "data" / "simulated"
    sim = simulate.simulate_legislature(
        seed=simulate.EXAMPLE_SEED, n_sessions=3, start_year=2021, specs=simulate.EXAMPLE
    )
    written = simulate.write_legislature(sim, tmp_path / "simulated", compact_votes=True)
    assert [d.name for d in written] == sorted(d.name for d in example.iterdir())
    for session_dir in written:
        shipped = sorted(p.name for p in (example / session_dir.name).iterdir())
        assert sorted(p.name for p in session_dir.iterdir()) == shipped
        for name in shipped:
            assert (session_dir / name).read_bytes() == (example / session_dir.name / name).read_bytes(), name


def test_true_ideal_points_follow_the_party_structure():
    sim = simulate.simulate_session(seed=9)["house"]
    means = sim.truth.group_by("party").agg(pl.col("xi_true").mean()).sort("xi_true")
    assert means["party"].to_list()[0] == "Democrat" and means["party"].to_list()[-1] == "Republican"
    votes = sim.votes.with_columns(v=pl.col("vote").replace_strict(VOTE_CODES, return_dtype=pl.Int8))
    assert 0.4 < votes["v"].drop_nulls().mean() < 0.9  # a Yea-leaning chamber, as in Kansas
    assert sim.rollcall_truth["beta_true"].is_finite().all()


# --- a legislature over several sessions (the common scale) ---------------------------------------


def _legislature(seed: int = 7) -> simulate.SimulatedLegislature:
    return simulate.simulate_legislature(seed=seed)


def test_legislature_is_reproducible_and_small():
    a = _legislature()  # "small" is asserted by size below, not by elapsed time (shared CI machines are slow)
    b = _legislature()
    assert a.truth.equals(b.truth)
    assert not a.truth.equals(simulate.simulate_legislature(seed=8).truth)
    assert a.session_names == ["89th_2021-2022", "90th_2023-2024", "91st_2025-2026"]
    for t, (session, chambers) in enumerate(a.sessions.items()):
        assert set(chambers) == {"house", "senate"}
        assert 60 <= chambers["house"].truth.height <= 125 and 30 <= chambers["senate"].truth.height <= 40
        assert 150 <= chambers["house"].rollcall_truth.height <= 250
        assert chambers["house"].votes["vote_id"].to_list()[0].endswith("_1000")
        assert not set(chambers["house"].votes["vote_id"]) & set(chambers["senate"].votes["vote_id"])
        part = a.truth.filter(pl.col("session") == session)
        assert part["session_index"].unique().to_list() == [t]
        for chamber, sim in chambers.items():
            # the chamber's truth and the legislature's truth agree
            rows = part.filter(pl.col("chamber") == chamber).sort("legislator_slug")
            assert rows.select("legislator_slug", "party", "xi_true", "person_id").equals(
                sim.truth.sort("legislator_slug").select("legislator_slug", "party", "xi_true", "person_id")
            )
    # one row per person and session; a person sits in one chamber per session
    assert not a.truth.select("person_id", "session").is_duplicated().any()


def test_legislature_truth_drifts_moves_and_widens():
    sim = _legislature()
    truth = sim.truth.join(sim.party_means, on=["session", "session_index", "party"]).sort("person_id", "session_index")
    truth = truth.with_columns((pl.col("mean") - pl.col("mean").shift(1).over("person_id")).alias("shift"))
    returning = truth.filter(pl.col("step").is_not_null())
    # most people persist: at least half of each later session's seats are held by returning members
    for t in (1, 2):
        now = sim.truth.filter(pl.col("session_index") == t)
        assert now.filter(pl.col("step").is_not_null()).height > 0.6 * now.height
        # and each session brings new people (not only mid-session replacements)
        new = now.filter(pl.col("step").is_null() & ~pl.col("replacement"))
        assert new.height >= 10
    # the random walk: beyond the party-mean shift, ordinary steps have sd close to drift_sd (0.15)
    walk = returning.filter(~pl.col("big_move")).select(pl.col("step") - pl.col("shift")).to_series()
    assert walk.len() > 150
    assert 0.11 < walk.std() < 0.19 and abs(walk.mean()) < 0.05
    # a few big movers, whose step is about big_move (1.0) on top of the shift
    movers = returning.filter(pl.col("big_move"))
    assert movers.height == 4 and len(sim.big_movers) == 4
    assert ((movers["step"] - movers["shift"]).abs() > 0.5).all()
    # House -> Senate movers: in the House one session, in the Senate the next, same person and stem
    assert len(sim.chamber_movers) == 6
    for person in sim.chamber_movers:
        rows = sim.truth.filter(pl.col("person_id") == person).sort("session_index")
        moved_at = rows.filter(pl.col("chamber_move"))["session_index"].to_list()
        assert len(moved_at) == 1
        t = moved_at[0]
        chambers = dict(zip(rows["session_index"], rows["chamber"]))
        assert chambers[t - 1] == "house" and chambers[t] == "senate"
        slugs = dict(zip(rows["session_index"], rows["legislator_slug"]))
        assert slugs[t - 1].startswith("rep_") and slugs[t] == "sen_" + slugs[t - 1][len("rep_") :]
    assert not set(sim.chamber_movers) & set(sim.big_movers)
    # the party gap widens: generating means +-0.9 -> +-1.3, and the drawn positions follow
    means = sim.party_means.filter(pl.col("party") == "Republican")["mean"].to_list()
    assert means == pytest.approx([0.9, 1.1, 1.3])
    gap = (
        sim.truth.filter(pl.col("party").is_in(["Democrat", "Republican"]))
        .group_by("session_index", "party")
        .agg(pl.col("xi_true").mean())
        .pivot("party", index="session_index", values="xi_true")
        .sort("session_index")
        .select(pl.col("Republican") - pl.col("Democrat"))
        .to_series()
        .to_list()
    )
    assert gap[0] < gap[1] < gap[2] and gap[2] - gap[0] > 0.5


def test_legislature_options_change_the_truth():
    still = simulate.simulate_legislature(
        seed=3, n_sessions=2, drift_sd=0.0, big_movers=0, house_to_senate=0, party_gap=(1.0, 1.0)
    )
    returning = still.truth.filter(pl.col("step").is_not_null())
    assert returning.height > 50 and returning["step"].abs().max() < 1e-12
    assert still.chamber_movers == [] and still.big_movers == []
    one = simulate.simulate_legislature(seed=3, n_sessions=1)
    assert one.session_names == ["89th_2021-2022"] and one.truth["step"].null_count() == one.truth.height
    with pytest.raises(ValueError):
        simulate.simulate_legislature(n_sessions=0)


def test_written_legislature_reads_back_and_the_identity_rule_links_the_movers(tmp_path):
    sim = _legislature()
    root = tmp_path / "data"
    dirs = simulate.write_legislature(sim, root / "simulated")
    assert [d.name for d in dirs] == sim.session_names
    assert ingest.discover_sessions(root) == [("simulated", s) for s in sorted(sim.session_names)]
    frames = []
    for session_dir, (session, chambers) in zip(dirs, sim.sessions.items()):
        for chamber, part in _reads_back(session_dir, chambers).items():
            frames.append((f"simulated.{session}", chamber, part.legislators))
        # the per-session truth file: common-scale positions, readable by read_truth
        truth = simulate.read_truth(session_dir)
        assert list(truth.columns) == list(simulate.LEGISLATURE_TRUTH_COLUMNS)
        expected = sim.truth.filter(pl.col("session") == session)
        assert set(truth["legislator_slug"]) == set(expected["legislator_slug"])
    back = simulate.read_legislature_truth(root / "simulated")
    expected = sim.truth.sort("session_index", "chamber", "legislator_slug")
    assert back.columns == expected.columns
    assert back.drop("xi_true", "step").equals(expected.drop("xi_true", "step"))
    assert (back["xi_true"] - expected["xi_true"]).abs().max() < 1e-6
    assert ((back["step"] - expected["step"]).abs().max() or 0.0) < 1e-5

    # people.py, reading the written files, finds exactly the simulated people
    table = people.build_people(frames)
    found = set(table.select("person_id", "session", "chamber", "legislator_slug").iter_rows())
    assert found == set(sim.truth.select("person_id", "session", "chamber", "legislator_slug").iter_rows())
    for person in sim.chamber_movers:
        rows = table.filter(pl.col("person_id") == person)
        assert set(rows["chamber"]) == {"house", "senate"}
    # and the sessions form one connected scale, the Senate linked to the House by the movers
    graph = bridge.bridge_graph(table)
    assert graph.connected
    assert graph.shared("simulated.89th_2021-2022:house", "simulated.90th_2023-2024:senate") == 3
    assert graph.shared("simulated.89th_2021-2022:house", "simulated.90th_2023-2024:house") > 50
    assert graph.shared("simulated.89th_2021-2022:house", "simulated.89th_2021-2022:senate") == 0


def test_every_simulated_chamber_session_carries_its_positions_in_the_votes():
    """Each chamber-session alone scales its members: filtered-matrix PC1 tracks the truth."""
    import numpy as np

    from legis_assets.core import pca

    sim = _legislature()
    for session, chambers in sim.sessions.items():
        for chamber, part in chambers.items():
            m = matrix_from_sim(part)
            assert m.n_legislators == part.truth.height and m.n_rollcalls > 80, (session, chamber)
            scores = pca.fit_pca_init(m).scores.join(part.truth, on="legislator_slug")
            assert np.corrcoef(scores["pc1"], scores["xi_true"])[0, 1] > 0.9, (session, chamber)
