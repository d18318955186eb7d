import numpy as np
import polars as pl
import pytest

from legis_assets.core.matrix import FilterSettings, VoteMatrix, build_vote_matrix
from legis_assets.core.schema import DataProblem


def _votes(rows):
    return pl.DataFrame(
        rows, schema={"vote_id": pl.String, "legislator_slug": pl.String, "vote_value": pl.Int8}, orient="row"
    )


def _legs(slugs, party="Republican"):
    return pl.DataFrame({"legislator_slug": slugs, "party": [party] * len(slugs)})


def test_filters_run_once_in_order_with_manifest():
    # 30 legislators; rc1 split 15/15, rc2 unanimous, rc3 29-1 (minority 3.3% >= 2.5%), rc4 no Yea/Nay
    slugs = [f"rep_{i:02d}" for i in range(30)]
    rows = []
    for i, s in enumerate(slugs):
        rows.append(("rc1", s, 1 if i < 15 else 0))
        rows.append(("rc2", s, 1))
        rows.append(("rc3", s, 0 if i == 0 else 1))
        rows.append(("rc4", s, None))
    m = build_vote_matrix(_votes(rows), _legs(slugs), settings=FilterSettings(min_minority=0.025, min_votes=2))
    assert m.rollcalls["vote_id"].to_list() == ["rc1", "rc3"]
    assert m.manifest["rollcalls_lopsided"] == 1 and m.manifest["rollcalls_no_yea_nay"] == 1
    assert m.n_obs == 60 and m.n_legislators == 30
    # at 10% (the sensitivity setting) rc3 goes too
    m10 = build_vote_matrix(_votes(rows), _legs(slugs), settings=FilterSettings(min_minority=0.10, min_votes=1))
    assert m10.rollcalls["vote_id"].to_list() == ["rc1"]
    assert m10.manifest["min_minority"] == 0.10


def test_legislators_with_too_few_votes_are_dropped_after_rollcall_filter():
    slugs = [f"rep_{i:02d}" for i in range(10)]
    rows = [(f"rc{j}", s, (i + j) % 2) for j in range(25) for i, s in enumerate(slugs)]
    rows += [("rc0", "rep_late", 1)] + [(f"rc{j}", "rep_late", None) for j in range(1, 25)]
    m = build_vote_matrix(_votes(rows), _legs(slugs + ["rep_late"]), settings=FilterSettings(min_votes=20))
    assert "rep_late" not in m.legislators["legislator_slug"].to_list()
    assert m.manifest["legislators_dropped"] == ["rep_late"]
    assert m.manifest["legislators_too_few_votes"] == 1


def test_absences_are_missing_never_nay():
    slugs = [f"rep_{i:02d}" for i in range(4)]
    rows = [
        ("rc1", slugs[0], 1),
        ("rc1", slugs[1], 0),
        ("rc1", slugs[2], None),
        ("rc1", slugs[3], 1),
        ("rc2", slugs[0], 0),
        ("rc2", slugs[1], 1),
        ("rc2", slugs[2], 0),
        ("rc2", slugs[3], 1),
    ]
    m = build_vote_matrix(_votes(rows), _legs(slugs), settings=FilterSettings(min_minority=0.0, min_votes=1))
    dense = m.dense()
    row = m.legislators["legislator_slug"].to_list().index(slugs[2])
    assert np.isnan(dense[row, m.rollcalls["vote_id"].to_list().index("rc1")])
    assert dense[row, m.rollcalls["vote_id"].to_list().index("rc2")] == 0
    assert m.n_obs == 7


def test_long_frame_round_trip():
    slugs = [f"sen_{i:02d}" for i in range(6)]
    rows = [(f"rc{j}", s, (i * j) % 2) for j in range(1, 8) for i, s in enumerate(slugs)]
    m = build_vote_matrix(_votes(rows), _legs(slugs), settings=FilterSettings(min_minority=0.0, min_votes=1))
    back = VoteMatrix.from_long_frame(m.long_frame(), m.legislators, m.rollcalls, m.manifest)
    assert np.array_equal(back.dense(), m.dense(), equal_nan=True)


def test_unanimous_chamber_is_a_clear_error():
    slugs = [f"rep_{i:02d}" for i in range(30)]
    rows = [(f"rc{j}", s, 1) for j in range(30) for s in slugs]
    with pytest.raises(DataProblem, match="no contested roll calls"):
        build_vote_matrix(_votes(rows), _legs(slugs))


def test_no_legislator_left_is_a_clear_error():
    slugs = [f"rep_{i:02d}" for i in range(5)]
    rows = [("rc1", s, i % 2) for i, s in enumerate(slugs)]
    with pytest.raises(DataProblem, match="fewer than 2 legislators"):
        build_vote_matrix(_votes(rows), _legs(slugs), settings=FilterSettings(min_votes=20))


def test_missing_party_is_independent():
    slugs = ["rep_a", "rep_b", "rep_c"]
    rows = [(f"rc{j}", s, (i + j) % 2) for j in range(3) for i, s in enumerate(slugs)]
    legs = pl.DataFrame({"legislator_slug": ["rep_a", "rep_b"], "party": ["Democrat", "Republican"]})
    m = build_vote_matrix(_votes(rows), legs, settings=FilterSettings(min_minority=0.0, min_votes=1))
    assert dict(zip(m.legislators["legislator_slug"], m.legislators["party"]))["rep_c"] == "Independent"
