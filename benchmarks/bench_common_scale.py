"""Common-scale benchmark: the US Congress common scale (real data, ../shared/data/us_congress:
97th House + Senate, 107th Senate, 117th House + Senate) and recovery on simulated legislatures.

    .venv/bin/python benchmarks/bench_common_scale.py us_congress [--profile default] [--draws N] [--tune N]
    .venv/bin/python benchmarks/bench_common_scale.py recovery --seeds 2021 2022 2023
    .venv/bin/python benchmarks/bench_common_scale.py gradient        # seconds per gradient, kernel vs PyMC
    .venv/bin/python benchmarks/bench_common_scale.py frame --legislatures example california [us_congress]
                     [--frames off on] [--draws N --extensions 0]  # the affine frame before / after
    .venv/bin/python benchmarks/bench_common_scale.py agenda [--k 1.0 1.6] [--prototype]  # identification

Prints the data sizes, compile and sampling seconds, leapfrog steps per draw, the gates, and the
min bulk ESS of xi_norm per second of sampling; recovery prints r with the truth, the coverage of
the 90% intervals, the party-gap trend and the big movers found.

Measured 2026-12-02 on the shared 2-core machine under load 6-12 (other jobs), kernel backend:
* recovery, 3 sessions x (40-seat House, 16-seat Senate), 4 x (200 + 1000), low rank: seeds
  2021 / 2022 / 2023: r 0.978 / 0.980 / 0.978, 90% coverage 0.887 / 0.910 / 0.864, all gates pass,
  22-27 steps per draw, 70-100 s; big movers detected 4/4, 3/4, 1/4.
* US Congress (1,186 slots, 3,700 roll calls, 830,560 votes): 6.3 ms per log-density + gradient
  under load (long layout 17 ms); 4 x (200 + 500): 2,162 s, 146 steps per draw (tuning ~270),
  max R-hat 1.049, min ESS 136: FAILS the gates (agrees_with_linked 0.938 passes).
  In the affine frame (frame auto: all five framed, 2,918 roll calls sign-fixed; 2026-12-02):
  `frame --legislatures us_congress --frames auto --chains 2 --tune 300 --draws 300 --extensions 0`
  31.0 steps per draw, 120 s (load ~1), R-hat 1.048 / ESS 142 (too short to pass); 2 x (300 + 1000)
  31.0 steps/draw, 398 s (load ~5), R-hat 1.014 / ESS 441; the platform's run
  (`make real-scale SCALE=us_congress`, 4 x (200 + 2000)) passes every gate: R-hat 1.003, ESS 1,748,
  506 s of sampling.
* frame, example (default profile, seed 42, load average 9-19 with four other helpers' jobs):
  model's coordinates 458 s to gates, 31.8 steps/draw, R-hat 1.007, ESS 2,633, 5.8 ESS/s;
  affine frame 495 s, 31.7 steps/draw, R-hat 1.003, ESS 5,977, 12.1 ESS/s (319 roll calls sign-fixed,
  sign check 0.0000).
* frame, California probes, 2 x (150 + 150), load 13-23: model's coordinates 63.0 steps/draw, ESS 28;
  all framed 226.4 steps/draw, ESS 43; auto (the Assembly framed) 69.4 steps/draw, ESS 44.
* the joint fit's profile `scale` (every chamber-session framed, 4 x (200 + 1000), nutpie's
  eigenvalue cutoff 20 instead of its default 2), quiet machine (load 1-2), 2026-12-02:
  `frame --legislatures example california us_congress --frames on --profile scale`:
  example 27 s to gates, 29.1 steps/draw, R-hat 1.0044, ESS 2,025, 75.6 ESS/s;
  California 206 s, 180.9 steps/draw, R-hat 1.0049, ESS 1,569, 7.63 ESS/s (the `default` profile,
  frame auto, same day: 764 s, 64.4 steps/draw, R-hat 1.0025, ESS 2,343, 3.07 ESS/s);
  US Congress 211 s, 31.0 steps/draw, R-hat 1.0072, ESS 1,127, 5.35 ESS/s. All pass every blocking gate
  at the first attempt (California's agrees_with_linked 0.89 WARN, as with `default`).
* agenda, seed 2021, 4 x (200 + 500): Senate gap change, truth -0.19: k 1.0 -0.19 [-0.29, -0.08];
  k 1.6 +0.10 [-0.15, +0.39] (the more discriminating agenda read as widening).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from legis_assets.core import ingest, simulate  # noqa: E402
from legis_assets.core.common_scale import (  # noqa: E402
    ChamberSession,
    build_common_data,
    build_common_scale,
    evaluate_common_gates,
    fit_common_scale,
    movement,
    party_trend,
    pca_start,
    positions,
)
from legis_assets.core.common_scale.kernel import CommonKernel  # noqa: E402
from legis_assets.core.matrix import build_vote_matrix  # noqa: E402
from legis_assets.core.people import build_people, chamber_inputs  # noqa: E402
from legis_assets.core.sampling import get_profile  # noqa: E402

US_SESSIONS = ("97th_1981-1982", "107th_2001-2002", "117th_2021-2022")


def shared_data() -> Path:
    return Path(os.environ.get("LEGIS_SHARED_DIR", REPO.parent / "shared")) / "data"


def us_congress():
    return legislature(shared_data(), "us_congress", US_SESSIONS)


def legislature(root: Path, name: str, session_dirs: tuple[str, ...] | None = None):
    """(chamber-sessions, people) of one legislature under a data root, every session directory
    (sorted) unless named; the matrices by the platform's default filters."""
    if session_dirs is None:
        session_dirs = tuple(sorted(p.name for p in (root / name).iterdir() if p.is_dir()))
    sessions = {f"{name}.{s}": ingest.read_session(root / name / s, data_root=root) for s in session_dirs}
    legislators, votes = chamber_inputs(sessions)
    people = build_people(legislators, votes=votes)
    css = []
    for key, tables in sessions.items():
        for chamber in ("house", "senate"):
            part = ingest.chamber_tables(tables, chamber)
            if part.votes.height:
                css.append(
                    ChamberSession(key, chamber, build_vote_matrix(part.votes, part.legislators, part.rollcalls))
                )
    return css, people


def simulated(seed: int, house: int = 40, senate: int = 16):
    specs = {
        "house": simulate.ChamberSpec(seats=house, n_rollcalls=150),
        "senate": simulate.ChamberSpec(seats=senate, n_rollcalls=120, replacements=1),
    }
    return sim_inputs(simulate.simulate_legislature(seed=seed, n_sessions=3, specs=specs))


def sim_inputs(sim: simulate.SimulatedLegislature):
    """(chamber-sessions, people, truth with its session keys) of a simulated legislature."""
    from legis_assets_tests.support import matrix_from_sim

    css, legs = [], []
    for session, chambers in sim.sessions.items():
        for chamber, part in chambers.items():
            css.append(ChamberSession(f"sim.{session}", chamber, matrix_from_sim(part)))
            legs.append((f"sim.{session}", chamber, part.truth))
    truth = sim.truth.with_columns(session_key=pl.lit("sim.") + pl.col("session"))
    return css, build_people(legs), truth


def report_fit(fit, gates, data) -> None:
    ess = next(g for g in gates if g.name == "ess").value
    print(
        f"  compile {fit.compile_seconds:.1f} s, sample {fit.sample_seconds:.1f} s, "
        f"{fit.steps_per_draw:.1f} steps/draw, min ESS(xi_norm) {ess:.0f}, ESS/s {ess / fit.sample_seconds:.2f}"
    )
    for g in gates:
        print(f"  {g.name:20s} {g.value:10.4f} {g.comparison} {g.threshold:<6} {g.status}")


def run_us(args) -> None:
    t0 = time.perf_counter()
    css, people = us_congress()
    data = build_common_data(css, people)
    print(
        f"US Congress: {data.chamber_sessions.height} chamber-sessions, {data.n_slots} slots, "
        f"{data.slots['person_id'].n_unique()} people, {data.trans_from.size} steps, {data.n_rollcalls} roll calls, "
        f"{data.n_obs} votes (read + built in {time.perf_counter() - t0:.1f} s); left out: "
        f"{data.excluded.rows()}"
    )
    start = pca_start(data, css)
    settings = get_profile(
        args.profile, tune=args.tune, draws=args.draws, chains=args.chains, seed=args.seed, frame=args.frame
    )
    fit = fit_common_scale(data, start, settings, progress=print)
    gates, _ = evaluate_common_gates(fit.idata, data, start)
    report_fit(fit, gates, data)
    trend = party_trend(fit.idata, data).filter(pl.col("quantity") == "party_gap")
    print(trend.select("session_key", "chamber", "mean", "hdi_low", "hdi_high"))
    print(
        f"  tau (reported units) {float(fit.idata.posterior['tau_norm'].mean()):.3f}; "
        f"people detected moving: {int(movement(fit.idata, data)['moved'].sum())} of {data.trans_from.size} steps"
    )


#: the legislatures of the frame comparison: (data root, legislature)
FRAME_CASES = {
    "example": (REPO / "data", "simulated"),
    "california": (None, "california"),
    "us_congress": (None, "us_congress"),
}


def run_frame(args) -> None:
    """Before / after the per-chamber-session affine frame (core/common_scale/frame.py), on the same
    data, profile and seed: fit_until_gates (the platform's path, extension included), so
    `to gates` is the sampling time until the blocking gates passed (or the last attempt)."""
    from legis_assets.core.common_scale import fit_until_gates
    from legis_assets.core.diagnostics import all_errors_pass

    for case in args.legislatures:
        root, name = FRAME_CASES[case]
        css, people = legislature(root or shared_data(), name, US_SESSIONS if name == "us_congress" else None)
        data = build_common_data(css, people)
        print(
            f"{case}: {data.chamber_sessions.height} chamber-sessions, {data.n_slots} slots, "
            f"{data.n_rollcalls} roll calls, {data.n_obs} votes; load average {os.getloadavg()[0]:.1f}"
        )
        start = pca_start(data, css)
        for frame in args.frames:
            settings = get_profile(
                args.profile,
                tune=args.tune,
                draws=args.draws,
                chains=args.chains,
                seed=args.seed,
                frame=frame,
                extensions=args.extensions,
            )
            load0 = os.getloadavg()[0]
            fit, gates = fit_until_gates(data, start, settings)
            ess = next(g for g in gates if g.name == "ess").value
            rhat = next(g for g in gates if g.name == "rhat").value
            post = fit.idata.posterior
            print(
                f"  frame {frame:3s}: {fit.attempts} attempt(s), compile {fit.compile_seconds:.1f} s, to gates "
                f"{fit.sample_seconds:.0f} s ({'pass' if all_errors_pass(gates) else 'FAIL'}), last attempt "
                f"{fit.steps_per_draw:.1f} steps/draw, R-hat {rhat:.4f}, min ESS(xi_norm) {ess:.0f}, "
                f"ESS/s {ess / fit.sample_seconds:.2f}; framed chamber-sessions {post.attrs.get('framed_chamber_sessions')}, "
                f"sign-fixed roll calls {post.attrs.get('sign_fixed_rollcalls')}, sign check "
                f"{post.attrs.get('sign_check', float('nan')):.4f}; load average {load0:.1f} -> {os.getloadavg()[0]:.1f}"
            )
            for g in gates:
                print(f"    {g.name:20s} {g.value:10.4f} {g.comparison} {g.threshold:<6} {g.status}")
            trend = party_trend(fit.idata, data).filter(pl.col("quantity") == "party_gap")
            print(
                "    party gap: "
                + "; ".join(
                    f"{r['session_key']}/{r['chamber']} {r['mean']:.2f} [{r['hdi_low']:.2f}, {r['hdi_high']:.2f}]"
                    for r in trend.iter_rows(named=True)
                ),
                flush=True,
            )


def agenda_legislature(seed: int, k: float):
    """Two sessions, a constant true party gap (+-0.9, no big movers); the second session's Senate
    votes are drawn on a k times more discriminating agenda (its ideal points times k in the vote
    model only: every roll call's beta times k, its cutpoint over k). The truth reported is the
    unscaled ideal points, so the Senate's true gap stays constant: a common scale that reports it
    widening by about k reads the agenda as polarisation."""
    import datetime as dt

    specs = {
        "house": simulate.ChamberSpec(seats=40, n_rollcalls=150),
        "senate": simulate.ChamberSpec(seats=30, n_rollcalls=300, replacements=0),
    }
    sim = simulate.simulate_legislature(seed=seed, n_sessions=2, specs=specs, party_gap=(0.9, 0.9), big_movers=0)
    last = list(sim.sessions)[-1]
    part = sim.sessions[last]["senate"]
    scaled = part.truth.with_columns(pl.col("xi_true") * k)
    rng = np.random.default_rng(seed + 1)
    member = np.ones((part.truth.height, specs["senate"].n_rollcalls), bool)
    drawn = simulate.draw_votes("senate", scaled, member, specs["senate"], rng, dt.datetime(2023, 1, 13))
    sim.sessions[last]["senate"] = simulate.SimulatedChamber("senate", part.truth, drawn.rollcall_truth, drawn.votes)
    return sim_inputs(sim)


def learned_beta_scale_model(data):
    """A prototype of the identification the experiment points to (not the product's model): the
    common-scale model with each chamber-session's discrimination scale learned,
    beta_j ~ N(0, sigma_c), sigma_c ~ HalfNormal(1), so that the roll-call priors no longer hold a
    chamber-session's scale (only its bridges and newcomers do)."""
    import pymc as pm

    from legis_assets.core.common_scale.model import FIRST_SCALE, TAU_SCALE
    from legis_assets.core.fastirt import ALPHA_SCALE

    coords = {"slot": data.slot_labels(), "rollcall": data.rollcall_ids, "cs": data.chamber_sessions["label"].to_list()}
    with pm.Model(coords=coords) as model:
        tau = pm.HalfNormal("tau", sigma=TAU_SCALE)
        xi = pm.Flat("xi", dims="slot")
        pm.Potential("xi_first_prior", pm.logp(pm.Normal.dist(0.0, FIRST_SCALE), xi[data.first_slots]).sum())
        pm.Potential("xi_walk_prior", pm.logp(pm.Normal.dist(0.0, tau), xi[data.trans_to] - xi[data.trans_from]).sum())
        sigma = pm.HalfNormal("beta_scale", 1.0, dims="cs")
        alpha = pm.Normal("alpha", 0.0, ALPHA_SCALE, dims="rollcall")
        beta = pm.Normal("beta", 0.0, sigma[data.rollcall_cs], dims="rollcall")
        pm.Bernoulli("vote", logit_p=beta[data.rc_idx] * xi[data.slot_idx] - alpha[data.rc_idx], observed=data.y)
    return model


def fit_prototype(data, start, settings):
    """Sample `learned_beta_scale_model` (PyMC -> nutpie Numba) as fit.fit_common_scale's pymc path does."""
    from legis_assets.core.common_scale.fit import CommonFit
    from legis_assets.core.common_scale.identify import add_common_normalised
    from legis_assets.core.sampling import compile_pymc, sample

    t0 = time.perf_counter()
    compiled = compile_pymc(learned_beta_scale_model(data), "xi", start)
    compile_s = time.perf_counter() - t0
    run = sample(compiled, settings, "prototype", print, 30.0)
    add_common_normalised(run.idata, data)
    return CommonFit(
        run.idata, settings, "pymc", compile_s, run.sample_seconds, run.grad_evals_tune, run.grad_evals_draws
    )


def party_gaps(fit, data, truth: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the true positions standardised as z, the posterior party gaps per chamber-session with the
    true gap of z), sorted by chamber and session."""
    z = truth.with_columns(z=(pl.col("xi_true") - pl.col("xi_true").mean()) / pl.col("xi_true").std(ddof=0))
    true_gap = (
        z.group_by("session_key", "chamber", "party")
        .agg(pl.col("z").mean())
        .pivot("party", index=["session_key", "chamber"], values="z")
        .select("session_key", "chamber", true_gap=pl.col("Republican") - pl.col("Democrat"))
    )
    gaps = (
        party_trend(fit.idata, data)
        .filter(pl.col("quantity") == "party_gap")
        .join(true_gap, on=["session_key", "chamber"])
        .sort("chamber", "session_order")
    )
    return z, gaps


def run_agenda(args) -> None:
    """The identification experiment (README, common scale): true gap constant, one chamber-session's
    agenda k times more discriminating; the recovered Senate gap change with its 90% HDI."""
    for k in args.k:
        for seed in args.seeds:
            css, people, truth = agenda_legislature(seed, k)
            data = build_common_data(css, people)
            start = pca_start(data, css)
            settings = get_profile(args.profile, tune=args.tune, draws=args.draws, chains=args.chains, seed=args.seed)
            fit = fit_prototype(data, start, settings) if args.prototype else fit_common_scale(data, start, settings)
            gates, _ = evaluate_common_gates(fit.idata, data, start)
            _, gaps = party_gaps(fit, data, truth)
            post = fit.idata.posterior["party_gap_norm"]
            labels = [lab for lab in post["chamber_session"].values if lab.endswith("/senate")]
            d = (post.sel(chamber_session=labels[-1]) - post.sel(chamber_session=labels[0])).values.ravel()
            lo, hi = np.quantile(d, [0.05, 0.95])
            sen = gaps.filter(pl.col("chamber") == "senate").sort("session_order")
            print(
                f"k {k} seed {seed}: gates {'pass' if all(g.passed for g in gates if g.severity == 'error') else 'FAIL'}"
                f" (agrees_with_linked {gates[-1].value:.3f}); Senate gap {sen['mean'][0]:.2f} -> {sen['mean'][-1]:.2f}"
                f" (truth {sen['true_gap'][0]:.2f} -> {sen['true_gap'][-1]:.2f}); change {d.mean():+.2f}"
                f" [{lo:+.2f}, {hi:+.2f}], truth {sen['true_gap'][-1] - sen['true_gap'][0]:+.2f}; "
                f"{fit.steps_per_draw:.1f} steps/draw",
                flush=True,
            )


def run_recovery(args) -> None:
    for seed in args.seeds:
        css, people, truth = simulated(seed)
        data = build_common_data(css, people)
        start = pca_start(data, css)
        settings = get_profile(args.profile, tune=args.tune, draws=args.draws, chains=args.chains, seed=args.seed)
        fit = fit_common_scale(data, start, settings)
        gates, _ = evaluate_common_gates(fit.idata, data, start)
        z, gaps = party_gaps(fit, data, truth)
        pos = positions(fit.idata, data).join(
            z.select("person_id", "session_key", "chamber", "z"), on=["person_id", "session_key", "chamber"]
        )
        r = np.corrcoef(pos["mean"], pos["z"])[0, 1]
        cov = ((pos["hdi_low"] <= pos["z"]) & (pos["z"] <= pos["hdi_high"])).mean()
        big = truth.filter(pl.col("big_move")).select("person_id", pl.col("session_key").alias("to_session_key"))
        found = movement(fit.idata, data).join(big, on=["person_id", "to_session_key"])
        print(
            f"seed {seed}: {data.n_slots} slots, {data.n_obs} votes; r {r:.3f}, 90% coverage {cov:.3f}; "
            f"big movers detected {int(found['moved'].sum())}/{big.height}"
        )
        report_fit(fit, gates, data)
        print(
            "  party gap (estimate [90% HDI] vs truth): "
            + "; ".join(
                f"{row['chamber']} {row['session_order']}: {row['mean']:.2f} [{row['hdi_low']:.2f}, {row['hdi_high']:.2f}]"
                f" vs {row['true_gap']:.2f}"
                for row in gaps.iter_rows(named=True)
            )
        )


def run_gradient(args) -> None:
    css, people = us_congress()
    data = build_common_data(css, people)
    km = CommonKernel(data)
    theta = km.initial_point(pca_start(data, css), np.random.default_rng(0))
    km.logp_grad(theta)
    n = 50
    t0 = time.perf_counter()
    for _ in range(n):
        km.logp_grad(theta)
    print(f"kernel: {(time.perf_counter() - t0) / n * 1e3:.2f} ms per log-density + gradient ({data.n_obs} votes)")
    if args.pymc:
        model = build_common_scale(data)
        dlogp = model.compile_dlogp()
        K, J = data.n_slots, data.n_rollcalls
        point = {
            "tau_log__": theta[0],
            "xi": theta[1 : 1 + K],
            "alpha": theta[1 + K : 1 + K + J],
            "beta": theta[1 + K + J :],
        }
        dlogp(point)
        t0 = time.perf_counter()
        for _ in range(5):
            dlogp(point)
        print(f"PyTensor (C backend): {(time.perf_counter() - t0) / 5 * 1e3:.2f} ms per gradient")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=("us_congress", "recovery", "gradient", "frame", "agenda"))
    parser.add_argument("--prototype", action="store_true", help="agenda: the learned-beta-scale prototype")
    parser.add_argument("--k", type=float, nargs="+", default=[1.0, 1.6], help="agenda: discrimination factors")
    parser.add_argument("--legislatures", nargs="+", choices=tuple(FRAME_CASES), default=["example", "california"])
    parser.add_argument("--frames", nargs="+", choices=("off", "on", "auto"), default=["off", "on"])
    parser.add_argument("--frame", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--tune", type=int)
    parser.add_argument("--draws", type=int)
    parser.add_argument("--chains", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--extensions", type=int, help="frame: extensions on a failed gate (profile's default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021, 2022, 2023])
    parser.add_argument("--pymc", action="store_true", help="gradient: also time PyTensor's gradient")
    args = parser.parse_args()
    {
        "us_congress": run_us,
        "recovery": run_recovery,
        "gradient": run_gradient,
        "frame": run_frame,
        "agenda": run_agenda,
    }[args.case](args)


if __name__ == "__main__":
    main()
