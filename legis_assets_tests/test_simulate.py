import polars as pl

from legis_assets.core import ingest, simulate
from legis_assets.core.schema import VOTE_CODES
from legis_assets_tests.conftest import matrix_from_sim


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
    tables = ingest.read_session(session_dir)
    assert tables.problems == []
    for chamber, sim in sims.items():
        part = ingest.chamber_tables(tables, chamber)
        assert part.votes.height == sim.votes.height
        assert part.rollcalls.height == sim.rollcall_truth.height
        joined = part.votes.join(sim.votes, on=["vote_id", "legislator_slug"])
        assert (joined["vote"] == joined["vote_right"]).all()
    truth = simulate.read_truth(session_dir)
    assert set(truth["legislator_slug"]) == set(pl.concat([s.truth for s in sims.values()])["legislator_slug"])


def test_bundled_example_session_is_what_the_simulator_writes(tmp_path):
    """data/ holds only generated data: regenerating the example reproduces it byte for byte."""
    from legis_assets_tests.conftest import REPO

    example = REPO / "data" / "simulated" / "91st_2025-2026"
    out = tmp_path / "91st_2025-2026"
    simulate.write_session(simulate.simulate_session(seed=simulate.EXAMPLE_SEED, specs=simulate.EXAMPLE), out,
                           compact_votes=True)
    for path in sorted(example.iterdir()):
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


def test_true_ideal_points_follow_the_party_structure():
    sim = simulate.simulate_session(seed=9)["house"]
    means = sim.truth.group_by("party").agg(pl.col("xi_true").mean()).sort("xi_true")
    assert means["party"].to_list()[0] == "Democrat" and means["party"].to_list()[-1] == "Republican"
    votes = sim.votes.with_columns(v=pl.col("vote").replace_strict(VOTE_CODES, return_dtype=pl.Int8))
    assert 0.4 < votes["v"].drop_nulls().mean() < 0.9  # a Yea-leaning chamber, as in Kansas
    assert sim.rollcall_truth["beta_true"].is_finite().all()
