"""core/summaries.py on synthetic posteriors with known means (arviz.from_dict, no MCMC): the
ideal-point table (means, 90% HDIs, ranks), the flat estimates mapped onto the hierarchical
scale and the shrinkage, the flat-only table, and the party summary with its ICC."""

from __future__ import annotations

import arviz as az
import numpy as np
import polars as pl
import pytest

from legis_assets.core import summaries

CHAINS, DRAWS, SD = 4, 500, 0.1
#: hierarchical legislators (3 Democrats, 3 Republicans) with well-separated known means
HIER = {"d1": -1.5, "d2": -1.0, "d3": -0.5, "r1": 0.5, "r2": 1.0, "r3": 1.5}
PARTY = {
    "d1": "Democrat",
    "d2": "Democrat",
    "d3": "Democrat",
    "r1": "Republican",
    "r2": "Republican",
    "r3": "Republican",
    "ind": "Independent",
}


def _idata(means: dict[str, float], sd: float = SD, seed: int = 0, var: str = "xi_norm") -> az.InferenceData:
    rng = np.random.default_rng(seed)
    mu = np.array(list(means.values()))
    draws = rng.normal(0, 1, size=(CHAINS, DRAWS, len(mu)))
    draws = (draws - draws.mean(axis=(0, 1))) / draws.std(axis=(0, 1)) * sd + mu  # exact means and sds
    return az.from_dict(posterior={var: draws}, coords={"legislator": list(means)}, dims={var: ["legislator"]})


def _legislators(slugs) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "legislator_slug": list(slugs),
            "name": [s.upper() for s in slugs],
            "party": [PARTY[s] for s in slugs],
            "district": [f"D{i}" for i, _ in enumerate(slugs)],
            "extra": [0] * len(slugs),
        }
    )


def test_ideal_point_table_means_hdis_and_ranks():
    means = {"b": 0.3, "a": -0.7, "c": 1.2, "d": -2.0}  # not in rank order
    table = summaries.ideal_point_table(_idata(means))
    assert table.columns == [
        "legislator_slug",
        "xi_mean",
        "xi_sd",
        "xi_hdi_low",
        "xi_hdi_high",
        "rank",
        "rank_low",
        "rank_high",
    ]
    assert table["legislator_slug"].to_list() == list(means)
    np.testing.assert_allclose(table["xi_mean"], list(means.values()), atol=1e-9)
    np.testing.assert_allclose(table["xi_sd"], SD, rtol=1e-3)
    assert (table["xi_hdi_low"] < table["xi_mean"]).all() and (table["xi_mean"] < table["xi_hdi_high"]).all()
    width = (table["xi_hdi_high"] - table["xi_hdi_low"]).to_numpy()
    np.testing.assert_allclose(width, 2 * 1.645 * SD, rtol=0.08)  # a 90% interval of a normal
    # rank 1 = leftmost; well-separated legislators: the rank interval is the rank itself
    assert dict(zip(table["legislator_slug"], table["rank"])) == {"d": 1, "a": 2, "b": 3, "c": 4}
    assert (table["rank_low"] == table["rank"]).all() and (table["rank_high"] == table["rank"]).all()


def test_overlapping_legislators_get_a_rank_interval():
    table = summaries.ideal_point_table(_idata({"x": 0.0, "y": 0.05, "z": 3.0}, sd=0.5))
    row = {r["legislator_slug"]: r for r in table.iter_rows(named=True)}
    assert row["x"]["rank_low"] == 1 and row["x"]["rank_high"] == 2
    assert row["y"]["rank_low"] == 1 and row["y"]["rank_high"] == 2
    assert row["z"]["rank_low"] == row["z"]["rank_high"] == 3
    assert (table["rank_low"] <= table["rank"]).all() and (table["rank"] <= table["rank_high"]).all()


def test_posterior_means():
    means = summaries.posterior_means(_idata(HIER))
    assert means.columns == ["legislator_slug", "xi_mean"]
    np.testing.assert_allclose(means["xi_mean"], list(HIER.values()), atol=1e-9)


def test_flat_estimates_on_the_same_scale_map_exactly_and_independents_keep_theirs():
    # the flat model's means are a location/scale change of the hierarchical ones: no shrinkage
    flat_means = {s: 0.4 + 2.5 * v for s, v in HIER.items()} | {"ind": 0.4 + 2.5 * 0.1}
    table = summaries.ideal_points(_idata(HIER), _idata(flat_means, seed=1), _legislators(list(PARTY)))
    assert table.height == len(PARTY)
    rows = {r["legislator_slug"]: r for r in table.iter_rows(named=True)}
    for slug, v in HIER.items():
        assert rows[slug]["model"] == "hierarchical"
        assert rows[slug]["xi_flat"] == pytest.approx(v, abs=1e-9) and rows[slug]["shrinkage"] == pytest.approx(
            0, abs=1e-9
        )
        assert rows[slug]["flat_mean"] == pytest.approx(flat_means[slug])
    ind = rows["ind"]
    assert ind["model"] == "flat" and ind["xi_mean"] is None and ind["shrinkage"] is None
    assert ind["xi_flat"] == pytest.approx(0.1, abs=1e-9) and ind["position"] == ind["xi_flat"]
    assert ind["xi_flat_hdi_low"] < ind["xi_flat"] < ind["xi_flat_hdi_high"]
    # sorted by position, ranked 1..n overall (the independent among the others)
    assert table["overall_rank"].to_list() == list(range(1, len(PARTY) + 1))
    assert table["legislator_slug"].to_list() == ["d1", "d2", "d3", "ind", "r1", "r2", "r3"]
    assert "extra" not in table.columns and {"name", "party", "district"} <= set(table.columns)


def test_shrinkage_is_the_pull_of_party_pooling():
    # in the flat model r3 sits further right than the hierarchical model puts it, d1 further left
    flat_means = dict(HIER) | {"r3": 2.5, "d1": -2.5}
    table = summaries.ideal_points(_idata(HIER), _idata(flat_means, seed=1), _legislators(list(HIER)))
    shrink = dict(zip(table["legislator_slug"], table["shrinkage"]))
    assert shrink["r3"] < 0 < shrink["d1"]  # pooled towards the centre: negative on the right, positive on the left
    # the same chamber without the two outliers: nothing to pull
    same = summaries.ideal_points(_idata(HIER), _idata(HIER, seed=1), _legislators(list(HIER)))
    np.testing.assert_allclose(same["shrinkage"], 0.0, atol=1e-9)
    np.testing.assert_allclose(table["shrinkage"], table["xi_mean"] - table["xi_flat"])


def test_flat_ideal_points_have_the_same_columns_and_no_shrinkage():
    slugs = list(PARTY)
    flat = _idata({s: v for s, v in zip(slugs, np.linspace(-1, 1, len(slugs)))})
    legislators = _legislators(slugs)
    table = summaries.flat_ideal_points(flat, legislators)
    full = summaries.ideal_points(_idata(HIER), flat, legislators)
    assert table.columns == full.columns
    assert set(table["model"]) == {"flat"} and table["shrinkage"].null_count() == table.height
    assert table["xi_flat"].to_list() == table["xi_mean"].to_list() == table["position"].to_list()
    assert table["flat_mean"].to_list() == table["xi_mean"].to_list()
    assert table["overall_rank"].to_list() == table["rank"].to_list() == list(range(1, len(slugs) + 1))


def _party_idata(mu, sigma, norm: bool = True, seed: int = 0) -> az.InferenceData:
    rng = np.random.default_rng(seed)
    shape = (CHAINS, DRAWS, 2)
    suffix = "_norm" if norm else ""
    return az.from_dict(
        posterior={
            f"mu_party{suffix}": np.asarray(mu) + rng.normal(0, 0.02, shape),
            f"sigma_within{suffix}": np.asarray(sigma) + rng.normal(0, 0.01, shape),
        },
        coords={"party": ["Democrat", "Republican"]},
        dims={f"mu_party{suffix}": ["party"], f"sigma_within{suffix}": ["party"]},
    )


def test_party_summary_rows_and_icc():
    sizes = {"Democrat": 10, "Republican": 30, "Independent": 1}
    table = summaries.party_summary(_party_idata([-1.0, 1.0], [0.5, 0.5]), sizes)
    assert table.columns == list(summaries.PARTY_SUMMARY_SCHEMA)
    assert table.select("parameter", "party").rows() == [
        ("mu_party", "Democrat"),
        ("mu_party", "Republican"),
        ("sigma_within", "Democrat"),
        ("sigma_within", "Republican"),
        ("var_between", None),
        ("var_within", None),
        ("icc", None),
    ]
    row = {(r["parameter"], r["party"]): r for r in table.iter_rows(named=True)}
    assert row[("mu_party", "Democrat")]["mean"] == pytest.approx(-1.0, abs=0.01)
    assert row[("mu_party", "Republican")]["n_legislators"] == 30
    assert row[("icc", None)]["n_legislators"] == 41
    # size-weighted (1/4, 3/4; the independent is not a pooled party): grand mean 0.5,
    # var_between = 1/4 * 1.5^2 + 3/4 * 0.5^2 = 0.75, var_within = 0.25, icc = 0.75
    assert row[("var_between", None)]["mean"] == pytest.approx(0.75, abs=0.02)
    assert row[("var_within", None)]["mean"] == pytest.approx(0.25, abs=0.01)
    icc = row[("icc", None)]
    assert icc["mean"] == pytest.approx(0.75, abs=0.01)
    assert 0 <= icc["hdi_low"] < icc["mean"] < icc["hdi_high"] <= 1
    for r in table.iter_rows(named=True):
        assert r["hdi_low"] <= r["mean"] <= r["hdi_high"] and r["sd"] > 0


def test_icc_follows_the_split_between_and_within():
    sizes = {"Democrat": 5, "Republican": 5}
    apart = summaries.party_summary(_party_idata([-2.0, 2.0], [0.2, 0.2]), sizes)
    mixed = summaries.party_summary(_party_idata([-0.1, 0.1], [1.0, 1.0]), sizes)
    icc = lambda t: t.filter(pl.col("parameter") == "icc")["mean"].item()  # noqa: E731
    assert 0.95 < icc(apart) <= 1 and 0 <= icc(mixed) < 0.05


def test_party_summary_uses_the_raw_parameters_without_standardised_ones():
    table = summaries.party_summary(_party_idata([-3.0, 3.0], [1.0, 1.0], norm=False), {"Democrat": 1, "Republican": 1})
    mu = table.filter(pl.col("parameter") == "mu_party")["mean"].to_list()
    assert mu == pytest.approx([-3.0, 3.0], abs=0.01)
    # with both kinds present the standardised ones are reported
    both = _party_idata([-3.0, 3.0], [1.0, 1.0], norm=False)
    both.posterior["mu_party_norm"] = both.posterior["mu_party"] / 3
    both.posterior["sigma_within_norm"] = both.posterior["sigma_within"] / 3
    mu = summaries.party_summary(both, {"Democrat": 1, "Republican": 1}).filter(pl.col("parameter") == "mu_party")
    assert mu["mean"].to_list() == pytest.approx([-1.0, 1.0], abs=0.01)


def test_empty_party_summary_has_the_party_summary_schema():
    empty = summaries.empty_party_summary()
    full = summaries.party_summary(_party_idata([-1.0, 1.0], [0.5, 0.5]), {"Democrat": 2, "Republican": 2})
    assert empty.height == 0 and empty.schema == full.schema


PUSHED = (0, 6)


def _pooled_chamber(seed: int = 3) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """A simulated chamber with known pooling: two parties of 12; the hierarchical estimate of most
    members is pulled halfway to the party centre, two members are pushed out (away from it), and
    the Democrats' centre moves left between the models (a whole-party shift, not a member's move).
    Deviations are symmetric (i and i + 6 mirror each other) so the party centres are exact."""
    rng = np.random.default_rng(seed)
    flat, hier, party = {}, {}, {}
    for p, centre, hier_centre in (("Democrat", -1.0, -1.4), ("Republican", 1.0, 1.0)):
        half = rng.normal(0, 0.5, 6)
        dev = np.concatenate([half, -half])
        for i, d in enumerate(dev):
            slug = f"{p[0].lower()}{i}"
            party[slug] = p
            flat[slug] = centre + d
            factor = 1.8 if i in PUSHED else 0.5  # pushed away from the centre, or pulled halfway
            hier[slug] = hier_centre + factor * d
    return flat, hier, party


def test_shrinkage_direction_matches_a_direct_computation_on_one_scale():
    flat, hier, party = _pooled_chamber()
    # the flat posterior comes reflected and on another scale: it must be oriented and mapped first
    flat_raw = {s: -(2.0 * v + 0.7) for s, v in flat.items()}
    legs = pl.DataFrame({"legislator_slug": list(party), "name": list(party), "party": list(party.values())})
    table = summaries.ideal_points(_idata(hier), _idata(flat_raw, seed=1), legs)
    assert np.corrcoef(table["xi_flat"], table["xi_mean"])[0, 1] > 0.9  # oriented like the hierarchical scale
    rows = {r["legislator_slug"]: r for r in table.iter_rows(named=True)}
    assert all(rows[s]["xi_flat_hdi_low"] < rows[s]["xi_flat"] < rows[s]["xi_flat_hdi_high"] for s in party)
    got = {r["legislator_slug"]: r for r in summaries.shrinkage_direction(table).iter_rows(named=True)}

    # direct computation: the mapped flat estimates and the hierarchical ones, each against its
    # own party's mean on that one scale
    h = np.array([hier[s] for s in party])
    f = np.array([flat[s] for s in party])
    f_mapped = (f - f.mean()) / f.std() * h.std() + h.mean()
    for p in ("Democrat", "Republican"):
        members = [i for i, s in enumerate(party) if party[s] == p]
        fc, hc = f_mapped[members].mean(), h[members].mean()
        for i in members:
            slug = list(party)[i]
            fd, hd = abs(f_mapped[i] - fc), abs(h[i] - hc)
            assert got[slug]["flat_distance"] == pytest.approx(fd, abs=1e-6)
            assert got[slug]["hier_distance"] == pytest.approx(hd, abs=1e-6)
            expected = (
                "unchanged" if abs(hd - fd) < summaries.DIRECTION_TOLERANCE else "toward" if hd < fd else "away from"
            )
            assert got[slug]["direction"] == expected
    # and the known truth of the simulation: the two pushed members of each party moved away, the
    # pulled ones toward (the Democrats' shift of the whole party does not count as a move)
    for slug in party:
        pushed = int(slug[1:]) in PUSHED
        assert got[slug]["direction"] == ("away from" if pushed else "toward"), slug


def test_shrinkage_direction_is_not_fooled_by_a_party_shift():
    # a legislator at the party's centre in both models, the party moved left by 0.5 as a whole:
    # measured against one fixed centre (the hierarchical party mean) the flat estimate would look
    # 0.5 away from it and the hierarchical one on it
    flat = {"d1": -1.5, "d2": -1.0, "d3": -0.5, "r1": 0.5, "r2": 1.0, "r3": 1.5}
    hier = {"d1": -1.8, "d2": -1.5, "d3": -1.2, "r1": 0.5, "r2": 1.0, "r3": 1.5}
    table = pl.DataFrame(
        {
            "legislator_slug": list(flat),
            "party": [PARTY[s] for s in flat],
            "xi_flat": list(flat.values()),
            "xi_mean": list(hier.values()),
        }
    )
    got = dict(summaries.shrinkage_direction(table).select("legislator_slug", "direction").iter_rows())
    assert got["d2"] == "unchanged" and got["r2"] == "unchanged"
    assert got["d1"] == "toward" and got["d3"] == "toward"  # 0.5 -> 0.3 from the centre
