"""The analysis steps: roll-call parameters (core/rollcalls.py), model fit (core/fit.py) and the
reference-score comparison (core/reference_scores.py).

* hand-made tiny examples: PCC, APRE and GMP against a direct count; the cutpoint against the
  model's own likelihood (PyMC) and the normalisation;
* one simulated House with known truth run through every pipeline step (default profile): the
  cutpoints and discriminations recover the truth on the reported scale and their 90 % HDIs cover
  it at a sensible rate, the posterior APRE is the truth's, the posterior predictive check covers,
  the reference file (truth + noise) correlates, bad reference files are refused with file, line
  and problem and change nothing, the report shows the sections, the Dagster assets run.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import dagster as dg
import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from legis_assets.core import fit as fit_mod
from legis_assets.core import models, simulate
from legis_assets.core import reference_scores as ref_mod
from legis_assets.core import rollcalls as rc_mod
from legis_assets.pipeline import Partition, Pipeline, Settings
from legis_assets.storage import Warehouse

SESSION = "simulated.2025-2026"


# --- hand-made examples ------------------------------------------------------------------------


def _tiny() -> tuple[rc_mod.PosteriorDraws, rc_mod.AlignedVotes]:
    """3 legislators at -1, 0, 1; roll call A: beta 1 (draw 2: 3), alpha 0 (cut 0); roll call B:
    beta -2, alpha 1 (cut -0.5). Votes: A = Nay, Nay, Yea; B = Yea, Nay, Nay."""
    xi = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])
    alpha = np.array([[0.0, 1.0], [0.0, 1.0]])
    beta = np.array([[1.0, -2.0], [3.0, -2.0]])
    draws = rc_mod.PosteriorDraws(xi, alpha, beta, ["l0", "l1", "l2"], ["A", "B"], 2)
    votes = rc_mod.AlignedVotes(
        leg=np.array([0, 1, 2, 0, 1, 2]), rc=np.array([0, 0, 0, 1, 1, 1]), y=np.array([0, 0, 1, 1, 0, 0], dtype=np.int8)
    )
    return draws, votes


def test_pcc_apre_gmp_against_a_direct_count():
    draws, votes = _tiny()
    fit = fit_mod.model_fit(draws, votes)
    # A: eta = beta*xi = (-1, 0, 1) x beta: predicts Nay, Yea (eta = 0), Yea: l1's Nay is misclassified.
    # B: eta = -2 xi - 1 = (1, -1, -3): Yea, Nay, Nay: all right. 5 of 6 correct in both draws.
    np.testing.assert_allclose(fit.per_draw["pcc"], [5 / 6, 5 / 6])
    # majority-side baseline: A 1 Yea / 2 Nay, B 1 / 2: 2 errors; the model makes 1: APRE 0.5
    np.testing.assert_allclose(fit.per_draw["apre"], [0.5, 0.5])
    # GMP by hand: mean log P(observed vote) per draw
    for s in range(2):
        eta = draws.beta[s][votes.rc] * draws.xi[s][votes.leg] - draws.alpha[s][votes.rc]
        p_yea = 1 / (1 + np.exp(-eta))
        p_obs = np.where(votes.y == 1, p_yea, 1 - p_yea)
        assert fit.per_draw["gmp"][s] == pytest.approx(np.exp(np.log(p_obs).mean()), rel=1e-6)  # float32 cells
    legs = {r["legislator_slug"]: r for r in fit.legislators.iter_rows(named=True)}
    assert [legs[s]["pcc"] for s in ("l0", "l1", "l2")] == pytest.approx([1.0, 0.5, 1.0])
    # l0 voted with B's minority (Yea), l2 with A's (Yea), l1 never with a minority: no APRE
    assert [legs[s]["minority_votes"] for s in ("l0", "l1", "l2")] == [1, 0, 1]
    assert legs["l0"]["apre"] == pytest.approx(1.0) and legs["l2"]["apre"] == pytest.approx(1.0)
    assert legs["l1"]["apre"] is None
    assert fit.legislators.sort("gmp")["legislator_slug"][0] == "l1"  # fits worst
    rcs = {r["vote_id"]: r for r in fit.rollcalls.iter_rows(named=True)}
    assert rcs["A"]["pcc"] == pytest.approx(2 / 3) and rcs["B"]["pcc"] == pytest.approx(1.0)
    assert rcs["A"]["yea_share"] == pytest.approx(1 / 3)
    chamber = {r["metric"]: r for r in fit.chamber.iter_rows(named=True)}
    assert chamber["pcc"]["at_posterior_mean"] == pytest.approx(5 / 6)
    assert chamber["apre"]["at_posterior_mean"] == pytest.approx(0.5)


def test_apre_formula():
    # pscl / NOMINATE: sum over roll calls of (minority - errors) / sum of minority
    assert fit_mod.apre(np.array(30.0), np.array(12.0)) == pytest.approx(0.6)
    assert np.isnan(fit_mod.apre(np.array(0.0), np.array(0.0)))
    draws, votes = _tiny()
    minority, minority_vote = fit_mod.baseline_errors(votes, 2)
    assert minority.tolist() == [1, 1] and minority_vote.tolist() == [False, False, True, True, False, False]


def test_cutpoint_is_where_the_model_gives_a_half():
    """Checked against the model code: the PyMC likelihood (core/models.py) at xi = alpha / beta."""
    alpha, beta = 0.7, -1.3
    data = models.IRTData(
        leg_idx=np.array([0]), rc_idx=np.array([0]), y=np.array([1]), legislator_ids=["a"], rollcall_ids=["r"]
    )
    model = models.build_flat(data)
    vote_logp = model.compile_logp(vars=[model["vote"]])
    cut = float(rc_mod.cutpoint_draws(np.array(alpha), np.array(beta)))
    point = {"xi": np.array([cut]), "alpha": np.array([alpha]), "beta": np.array([beta])}
    assert vote_logp(point) == pytest.approx(np.log(0.5), abs=1e-12)
    point["xi"] = np.array([cut + 0.5])  # beta < 0: right of the cut, Nay is more likely
    assert vote_logp(point) < np.log(0.5)


def test_cutpoint_follows_the_normalisation():
    """On the reported scale (add_normalised) the cutpoint is the raw one standardised per draw."""
    rng = np.random.default_rng(3)
    xi = rng.normal(0.4, 2.0, size=(2, 50, 7))
    alpha, beta = rng.normal(size=(2, 50, 4)), rng.normal(size=(2, 50, 4))
    idata = az.from_dict(
        posterior={"xi": xi, "alpha": alpha, "beta": beta},
        coords={"legislator": list("abcdefg"), "rollcall": list("wxyz")},
        dims={"xi": ["legislator"], "alpha": ["rollcall"], "beta": ["rollcall"]},
    )
    models.add_normalised(idata)
    draws = rc_mod.posterior_draws(idata)
    flat = xi.reshape(100, 7)
    centre, scale = flat.mean(axis=1, keepdims=True), flat.std(axis=1, keepdims=True)
    raw_cut = alpha.reshape(100, 4) / beta.reshape(100, 4)
    np.testing.assert_allclose(draws.cutpoints(), (raw_cut - centre) / scale, rtol=1e-9)
    # without the *_norm variables the module normalises the same way
    bare = az.from_dict(
        posterior={"xi": xi, "alpha": alpha, "beta": beta},
        coords={"legislator": list("abcdefg"), "rollcall": list("wxyz")},
        dims={"xi": ["legislator"], "alpha": ["rollcall"], "beta": ["rollcall"]},
    )
    np.testing.assert_allclose(rc_mod.posterior_draws(bare).cutpoints(), draws.cutpoints(), rtol=1e-9)


def test_thinning_is_even_and_bounded():
    assert rc_mod.thin_index(500, 1000).tolist() == list(range(500))
    idx = rc_mod.thin_index(8000, 1000)
    assert idx.size == 1000 and idx[0] == 0 and idx[-1] == 7999 and np.all(np.diff(idx) >= 7)


def test_party_split_kinds():
    # 4 Democrats, 4 Republicans; rc0 party line, rc1 splits the Republicans, rc2 bipartisan
    parties = ["Democrat"] * 4 + ["Republican"] * 4
    votes = {0: [1, 1, 1, 1, 0, 0, 0, 0], 1: [1, 1, 1, 1, 1, 1, 0, 0], 2: [1] * 8}
    leg, rc, y = [], [], []
    for j, vs in votes.items():
        for i, v in enumerate(vs):
            leg.append(i), rc.append(j), y.append(v)
    split = rc_mod.party_split(["r0", "r1", "r2"], parties, np.array(leg), np.array(rc), np.array(y))
    rows = {r["vote_id"]: r for r in split.iter_rows(named=True)}
    assert rows["r0"]["party_line"] and rows["r0"]["party_unity"] and rows["r0"]["split_parties"] == ""
    assert (rows["r0"]["democrat_yea"], rows["r0"]["republican_nay"]) == (4, 4)
    assert rows["r0"]["party_split"] == "Democrat 4–0 · Republican 0–4"
    assert not rows["r1"]["party_unity"] and rows["r1"]["split_parties"] == ""  # 4 voters < SPLIT_MIN_VOTERS
    assert not rows["r2"]["party_unity"] and (rows["r2"]["yea"], rows["r2"]["nay"]) == (8, 0)


# --- a simulated House through the pipeline ------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis_data")
    spec = {"house": simulate.ChamberSpec(seats=60, n_rollcalls=150, replacements=0)}
    sims = simulate.simulate_session(seed=7, specs=spec)
    session_dir = root / "simulated" / "2025-2026"
    simulate.write_session(sims, session_dir)
    truth = sims["house"].truth
    noisy = truth["xi_true"].to_numpy() + np.random.default_rng(1).normal(0, 0.3, truth.height)
    ref = pl.DataFrame({"legislator_slug": truth["legislator_slug"], "score": noisy, "source": "truth + noise"})
    ref.write_csv(session_dir / ref_mod.REFERENCE_FILE)
    home = tmp_path_factory.mktemp("analysis_home")
    pipe = Pipeline(Settings(data_dir=root, home=home, profile="default", seed=1), progress=lambda m: None)
    part = Partition.of(SESSION, "house")
    out = pipe.run(part)
    return pipe, part, out, sims["house"], session_dir


def _table(pipe: Pipeline, part: Partition, name: str) -> pl.DataFrame:
    return Warehouse(pipe.settings.warehouse_path).read_partition(name, part.key, part.chamber)


def test_rollcall_parameters_recover_the_truth(built):
    pipe, part, out, sim, _ = built
    table = _table(pipe, part, "rollcall_parameters")
    assert out["rollcall_parameters"].metadata["rollcalls"] == table.height > 0
    ip = _table(pipe, part, "ideal_points").filter(pl.col("model") == "hierarchical")
    xi_true = sim.truth.filter(pl.col("legislator_slug").is_in(ip["legislator_slug"].to_list()))["xi_true"].to_numpy()
    centre, scale = xi_true.mean(), xi_true.std()  # the reported scale: standardised over the model's legislators
    rc = sim.rollcall_truth.with_columns(
        cut_true=((pl.col("alpha_true") / pl.col("beta_true")) - centre) / scale,
        disc_true=pl.col("beta_true") * scale,
    )
    both = table.join(rc, on="vote_id")
    assert both.height == table.height
    disc_cover = (
        (both["discrimination_hdi_low"] <= both["disc_true"]) & (both["disc_true"] <= both["discrimination_hdi_high"])
    ).mean()
    assert np.corrcoef(both["discrimination"], both["disc_true"])[0, 1] > 0.9
    # cutpoints are informative where the roll call discriminates and cuts inside the chamber
    sharp = both.filter((pl.col("disc_true").abs() > 0.8) & (pl.col("cut_true").abs() < 1.5))
    assert sharp.height >= 30
    # rank agreement: a few weakly determined cutpoints have wide (covering) intervals and far medians
    assert spearmanr(sharp["cutpoint"], sharp["cut_true"]).statistic > 0.85
    assert (sharp["cutpoint"] - sharp["cut_true"]).abs().median() < 0.3
    cut_cover = (
        (sharp["cutpoint_hdi_low"] <= sharp["cut_true"]) & (sharp["cut_true"] <= sharp["cutpoint_hdi_high"])
    ).mean()
    print(
        f"90% HDI coverage: discrimination {disc_cover:.2f} (n={both.height}), cutpoint {cut_cover:.2f} (n={sharp.height})"
    )
    assert disc_cover >= 0.75 and cut_cover >= 0.8
    # metadata columns come from the roll-call file
    assert table["bill_number"].null_count() == 0 and table["motion"].null_count() == 0
    counts = table.select((pl.col("democrat_yea") + pl.col("republican_yea") + pl.col("other_yea")) == pl.col("yea"))
    assert counts.to_series().all()


def test_fit_matches_the_truth_and_a_direct_count(built):
    pipe, part, out, sim, _ = built
    chamber = {r["metric"]: r for r in _table(pipe, part, "model_fit").iter_rows(named=True)}
    m = pipe.load_matrix(part)
    slugs = m.legislators["legislator_slug"].to_list()
    ids = m.rollcalls["vote_id"].to_list()
    ip = _table(pipe, part, "ideal_points").filter(pl.col("model") == "hierarchical")
    inside = np.isin(np.array(slugs)[m.leg_idx], ip["legislator_slug"].to_list())
    y = m.y[inside].astype(int)
    # APRE of the true parameters, counted directly
    xi_t = dict(zip(sim.truth["legislator_slug"], sim.truth["xi_true"], strict=True))
    rct = {r["vote_id"]: r for r in sim.rollcall_truth.iter_rows(named=True)}
    li, ri = m.leg_idx[inside], m.rc_idx[inside]
    eta = np.array(
        [rct[ids[j]]["beta_true"] * xi_t[slugs[i]] - rct[ids[j]]["alpha_true"] for i, j in zip(li, ri, strict=True)]
    )
    errors = int(((eta >= 0) != (y == 1)).sum())
    yea = np.bincount(ri, weights=y, minlength=len(ids))
    nay = np.bincount(ri, weights=1 - y, minlength=len(ids))
    apre_true = (np.minimum(yea, nay).sum() - errors) / np.minimum(yea, nay).sum()
    print(
        f"APRE: posterior {chamber['apre']['mean']:.3f} [{chamber['apre']['hdi_low']:.3f}, {chamber['apre']['hdi_high']:.3f}], truth {apre_true:.3f}"
    )
    assert abs(chamber["apre"]["mean"] - apre_true) < 0.05
    assert chamber["pcc"]["n_votes"] == y.size
    # PCC at the posterior means, counted directly from the trace
    post = pipe.load_published(part).published.posterior.stack(sample=("chain", "draw"))
    keep = rc_mod.thin_index(post.sizes["sample"])  # the draws the step uses (evenly spaced)
    xm, am, bm = (
        post[v].isel(sample=keep).mean("sample").to_series().to_dict() for v in ("xi_norm", "alpha_norm", "beta_norm")
    )
    eta_m = np.array([bm[ids[j]] * xm[slugs[i]] - am[ids[j]] for i, j in zip(li, ri, strict=True)])
    assert chamber["pcc"]["at_posterior_mean"] == pytest.approx(((eta_m >= 0) == (y == 1)).mean(), abs=1e-9)
    assert chamber["pcc"]["hdi_low"] <= chamber["pcc"]["mean"] <= chamber["pcc"]["hdi_high"]
    # metadata and the check
    meta = out["model_fit"].metadata
    assert meta["apre"] == pytest.approx(chamber["apre"]["mean"]) and "worst_fitting_legislators" in meta
    check = out["model_fit"].checks[0]
    assert check.name == "apre_not_low" and check.passed == (chamber["apre"]["mean"] >= fit_mod.APRE_WARN)
    # the posterior predictive check covers
    assert meta["ppc_rollcalls_inside"] >= 0.8 and meta["ppc_legislators_inside"] >= 0.8
    legs = _table(pipe, part, "model_fit_legislators")
    assert legs.height == ip.height and legs["gmp"].min() > 0.5


def test_reference_scores_truth_plus_noise(built):
    pipe, part, out, _, _ = built
    meta = out["reference_comparison"].metadata
    check = out["reference_comparison"].checks[0]
    print(f"|r| with truth + noise: hierarchical {meta['abs_r_published']:.3f}, flat {meta['abs_r_flat']:.3f}")
    assert meta["abs_r_published"] > 0.9 and meta["abs_r_flat"] > 0.9 and meta["source"] == "truth + noise"
    assert check.name == "agrees_with_reference" and check.passed
    summary = _table(pipe, part, "reference_summary")
    assert summary.height == 1 and summary["abs_r_published"][0] == pytest.approx(meta["abs_r_published"])
    assert _table(pipe, part, "reference_comparison").height == meta["n"]


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_bad_reference_files_are_refused_and_change_nothing(built, tmp_path):
    pipe, part, _, sim, session_dir = built
    ref_path = session_dir / ref_mod.REFERENCE_FILE
    good = ref_path.read_text(encoding="utf-8")
    before = _table(pipe, part, "reference_comparison"), _table(pipe, part, "reference_summary")
    a, b = sim.truth["legislator_slug"][0], sim.truth["legislator_slug"][1]
    cases = {
        "legislator_slug,source\n": "line 1: missing column 'score'",
        "name,score\nx,1\n": "line 1: missing column 'legislator_slug' or 'person_id'",
        f"legislator_slug,score\n{a},1.5\n{b},left\n": "line 3: score 'left' is not a number",
        f"legislator_slug,score\n{a},1\nrep_nobody_x_1,2\n": "line 3: unknown legislator_slug 'rep_nobody_x_1'",
        f"legislator_slug,score\n{a},1\n{b},2\n{a},3\n": f"line 4: {a} is listed twice (first on line 2)",
        "person_id,score\nslug:nobody_x_1,1\n": "line 2: unknown person_id 'slug:nobody_x_1'",
    }
    try:
        for text, message in cases.items():
            _write(ref_path, text)
            with pytest.raises(ref_mod.ReferenceFileError) as err:
                pipe.reference_comparison(part)
            assert str(ref_path) in str(err.value) and message in str(err.value), str(err.value)
            after = _table(pipe, part, "reference_comparison"), _table(pipe, part, "reference_summary")
            assert after[0].equals(before[0]) and after[1].equals(before[1])
        # a person id (slug:<stem>) resolves like the slug
        stem = a.removeprefix("rep_")
        frame = ref_mod.read_reference_scores(
            _write(ref_path, f"person_id,score\nslug:{stem},0.5\n") or ref_path, pipe.load_matrix(part).legislators
        )
        assert frame.row(0) == (a, 0.5, "")
    finally:
        _write(ref_path, good)


def test_a_reference_that_disagrees_warns(built, tmp_path):
    pipe, part, _, sim, session_dir = built
    ref_path = session_dir / ref_mod.REFERENCE_FILE
    good = ref_path.read_text(encoding="utf-8")
    noise = np.random.default_rng(5).normal(size=sim.truth.height)
    try:
        pl.DataFrame({"legislator_slug": sim.truth["legislator_slug"], "score": noise}).write_csv(ref_path)
        out = pipe.reference_comparison(part)
        assert out.metadata["abs_r_published"] < ref_mod.REFERENCE_R_WARN
        assert not out.checks[0].passed and out.checks[0].severity == "warn"
        ref_path.unlink()
        out = pipe.reference_comparison(part)  # no file: not applicable, tables emptied
        assert out.checks[0].passed and out.checks[0].metadata == {"applicable": False}
        assert _table(pipe, part, "reference_summary").is_empty()
    finally:
        _write(ref_path, good)
        pipe.reference_comparison(part)


def test_the_report_shows_the_analysis_sections(built):
    _, _, out, _, _ = built
    html = Path(out["report"].metadata["path"]).read_text(encoding="utf-8")
    for anchor in ('id="rollcalls"', 'id="rc-table"', 'id="fit-table"', 'id="worst-fit"', 'id="reference-r"'):
        assert anchor in html, anchor
    assert html.count('href="#rollcalls"') == 1 and "Posterior predictive check" in html
    assert "could not be drawn" not in html


def test_the_dagster_assets_record_metadata_and_checks(built):
    from legis_assets.defs.assets import model_fit, reference_comparison, rollcall_parameters
    from legis_assets.defs.partitions import partition_key
    from legis_assets.defs.resources import LegisResource

    pipe, part, _, _, _ = built
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("session", [SESSION])
        result = dg.materialize(
            [rollcall_parameters, model_fit, reference_comparison],
            partition_key=partition_key(SESSION, "house"),
            instance=instance,
            resources={
                "legis": LegisResource(
                    data_dir=str(pipe.settings.data_dir), home=str(pipe.settings.home), profile="default"
                )
            },
        )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"apre_not_low": checks["apre_not_low"], "agrees_with_reference": True}
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert set(meta) == {"rollcall_parameters", "model_fit", "reference_comparison"}
    assert 0 < meta["model_fit"]["pcc"].value < 1 and meta["rollcall_parameters"]["rollcalls"].value > 0


def test_the_report_shows_a_refused_reference_file_and_no_sections_without_analysis():
    import dataclasses

    from legis_assets.report import render_report
    from legis_assets_tests.analysis_support import with_analysis
    from legis_assets_tests.report_support import make_report_context

    ctx = with_analysis(make_report_context(30))
    assert ctx.analysis is not None
    refused = dataclasses.replace(
        ctx.analysis,
        reference=None,
        reference_summary=None,
        reference_error="/data/s/reference_scores.csv: line 3: score '<b>x</b>' is not a number",
    )
    html = render_report(dataclasses.replace(ctx, analysis=refused))
    assert 'id="reference-error"' in html and "line 3: score &#39;&lt;b&gt;x&lt;/b&gt;&#39; is not a number" in html
    assert 'id="reference-r"' not in html and 'id="rc-table"' in html
    plain = render_report(dataclasses.replace(ctx, analysis=None))
    assert 'id="rollcalls"' not in plain and 'href="#rollcalls"' not in plain
    broken = render_report(dataclasses.replace(ctx, analysis=None, analysis_error="ValueError: <no votes>"))
    assert 'id="analysis-error"' in broken and "ValueError: &lt;no votes&gt;" in broken
    assert broken.count('href="#rollcalls"') == 1
