import numpy as np
import polars as pl
import pytest

from legis_assets.core import ingest, pca, simulate
from legis_assets.core.matrix import build_vote_matrix
from legis_assets_tests.support import REAL_CHAMBERS, matrix_from_sim, real_data_dir


@pytest.mark.parametrize("seed", [1, 2])
def test_pc1_recovers_simulated_ideal_points_with_republicans_positive(seed):
    for sim in simulate.simulate_session(seed=seed).values():
        init = pca.fit_pca_init(matrix_from_sim(sim))
        scores = init.scores
        assert abs(scores["pc1"].mean()) < 1e-9 and abs(scores["pc1"].std(ddof=0) - 1) < 1e-9
        joined = scores.join(sim.truth, on="legislator_slug")
        assert np.corrcoef(joined["pc1"], joined["xi_true"])[0, 1] > 0.95
        means = dict(scores.group_by("party").agg(pl.col("pc1").mean()).iter_rows())
        assert means["Republican"] > 0 > means["Democrat"]
        assert init.explained_variance_ratio[0] > init.explained_variance_ratio[1]


def test_sign_is_fixed_whatever_the_vote_coding():
    sim = simulate.simulate_session(seed=4)["senate"]
    m = matrix_from_sim(sim)
    flipped = type(m)(m.legislators, m.rollcalls, m.leg_idx, m.rc_idx, (1 - m.y).astype(np.int8), m.manifest)
    a, b = pca.fit_pca_init(m), pca.fit_pca_init(flipped)
    assert np.allclose(a.pc1, b.pc1, atol=1e-8)
    assert a.sign_flipped != b.sign_flipped


@pytest.mark.parametrize("legislature,session,chamber", REAL_CHAMBERS)
def test_pc1_separates_the_parties_in_every_real_chamber(legislature, session, chamber):
    tables = ingest.chamber_tables(ingest.read_session(real_data_dir() / legislature / session), chamber)
    m = build_vote_matrix(tables.votes, tables.legislators, tables.rollcalls)
    means = dict(pca.fit_pca_init(m).scores.group_by("party").agg(pl.col("pc1").mean()).iter_rows())
    assert means["Democrat"] < 0 < means["Republican"], means
