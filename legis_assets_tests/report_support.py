"""A fake, MCMC-free chamber report context (legis_assets.report), shared by test_report.py and
the browser test (integration/test_report_browser.py): posteriors drawn from known normals, the
gates and tables computed by the real core functions."""

from __future__ import annotations

import arviz as az
import numpy as np
import polars as pl

from legis_assets.core import diagnostics, summaries
from legis_assets.report import ReportContext
from legis_assets.report.render import SECTIONS

SECTION_IDS = [s for s, _ in SECTIONS]

HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    "\"quotes\" & 'apostrophes'",
    "Robert'); DROP TABLE votes;--",
    "A" * 2500 + " " + "B" * 2499,  # 5,000 characters
    "שלום עליכם",
    r"$\undefinedmacro{x}$ costs $5",  # would crash matplotlib's mathtext if it reached it raw
    "<img src=x onerror=alert(2)>",
]


# ---------------------------------------------------------------------------------------------
# a fake, MCMC-free report context


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float, mean: float) -> np.ndarray:
    out = np.empty(shape)
    out[:, 0] = rng.normal(0, 1, size=shape[0])
    for t in range(1, shape[1]):
        out[:, t] = phi * out[:, t - 1] + rng.normal(0, 1, size=shape[0])
    return out + mean


def _add_normalised(idata: az.InferenceData) -> None:
    """The identified quantities the pipeline adds to a posterior (core.models.add_normalised):
    xi standardised per draw across legislators, party parameters transformed to match."""
    post = idata.posterior
    centre = post["xi"].mean("legislator")
    scale = post["xi"].std("legislator")
    post["xi_norm"] = (post["xi"] - centre) / scale
    if "mu_party" in post:
        post["mu_party_norm"] = (post["mu_party"] - centre) / scale
        post["sigma_within_norm"] = post["sigma_within"] / scale


def make_report_context(
    n: int = 40,
    names: list[str] | None = None,
    parties: list[str] | None = None,
    *,
    passed: bool = True,
    chamber: str = "house",
    session_key: str = "simulated.91st_2025-2026",
    n_rollcalls: int = 30,
    chains: int = 4,
    draws: int = 500,
    seed: int = 0,
) -> ReportContext:
    """A ReportContext for `n` legislators with posteriors drawn from known normals.

    Parties default to ~60% Republican / ~40% Democrat with the last legislator an Independent
    (kept out of the party model: model="flat", null hierarchical columns). `names` replace the
    first len(names) generated names. A failing context (`passed=False`) has chains that disagree
    on a few legislators, divergent transitions, and FAIL rows for rhat and divergences.
    """
    rng = np.random.default_rng(seed)
    slugs = [f"rep_member{i:03d}_x_1" for i in range(n)]
    full_names = [f"Member {i:03d} Example" for i in range(n)]
    for i, nm in enumerate(names or []):
        full_names[i] = nm
    if parties is None:
        parties = ["Republican" if i % 5 < 3 else "Democrat" for i in range(n)]
        parties[-1] = "Independent"
    parties = list(parties)
    party_means = {"Republican": 1.0, "Democrat": -1.0}
    truth = np.array([rng.normal(party_means.get(p, 0.0), 0.5) for p in parties])

    hier_idx = [i for i, p in enumerate(parties) if p != "Independent"]
    hier_slugs = [slugs[i] for i in hier_idx]
    model_parties = sorted({parties[i] for i in hier_idx}, key=lambda p: party_means.get(p, 0.0))
    shape = (chains, draws)

    xi = truth[hier_idx][None, None, :] + rng.normal(0, 0.15, size=(*shape, len(hier_idx)))
    if not passed:  # chains disagree on the first few legislators: R-hat far above 1.01
        xi[1, :, :3] += 1.5
    mu = np.array([party_means.get(p, 0.0) for p in model_parties])
    mu_party = mu[None, None, :] + rng.normal(0, 0.05, size=(*shape, len(model_parties)))
    sigma_within = np.abs(0.5 + rng.normal(0, 0.04, size=(*shape, len(model_parties))))
    diverging = np.zeros(shape, dtype=bool)
    if not passed:
        diverging[0, ::25] = True
    hier = az.from_dict(
        posterior={
            "xi": xi,
            "xi_offset": rng.normal(0, 1, size=(*shape, len(hier_idx))),
            "mu_party": mu_party,
            "sigma_within": sigma_within,
            "alpha": rng.normal(0, 1, size=(*shape, n_rollcalls)),
            "beta": rng.normal(1, 0.2, size=(*shape, n_rollcalls)),
        },
        sample_stats={
            "diverging": diverging,
            "energy": _ar1(rng, shape, phi=0.9, mean=100.0),  # E-BFMI ~ 2(1 - phi) = 0.2: a WARN
            "n_steps": rng.integers(7, 31, size=shape).astype(float),
        },
        coords={"legislator": hier_slugs, "party": model_parties, "rollcall": [f"rc{j}" for j in range(n_rollcalls)]},
        dims={
            "xi": ["legislator"],
            "xi_offset": ["legislator"],
            "mu_party": ["party"],
            "sigma_within": ["party"],
            "alpha": ["rollcall"],
            "beta": ["rollcall"],
        },
        attrs={"model": "hierarchical_identified", "compile_seconds": 4.2, "sample_seconds": 31.5},
    )
    flat = az.from_dict(
        posterior={
            "xi": 0.8 * truth[None, None, :] + rng.normal(0, 0.2, size=(*shape, n)),
            "alpha": rng.normal(0, 1, size=(*shape, n_rollcalls)),
            "beta": rng.normal(1, 0.2, size=(*shape, n_rollcalls)),
        },
        sample_stats={
            "diverging": np.zeros(shape, dtype=bool),
            "energy": rng.normal(50, 3, size=shape),
            "n_steps": rng.integers(7, 15, size=shape).astype(float),
        },
        coords={"legislator": slugs, "rollcall": [f"rc{j}" for j in range(n_rollcalls)]},
        dims={"xi": ["legislator"], "alpha": ["rollcall"], "beta": ["rollcall"]},
    )

    _add_normalised(hier)
    _add_normalised(flat)
    legislators = pl.DataFrame(
        {
            "legislator_slug": slugs,
            "name": [nm.split(" ")[0] if nm.strip() else nm for nm in full_names],
            "full_name": full_names,
            "party": parties,
            "district": [f"District {i + 1}" for i in range(n)],
            "n_votes": rng.integers(10, n_rollcalls + 1, size=n).astype(np.int64),
        }
    )
    ideal_points = summaries.ideal_points(hier, flat, legislators)
    sizes = {p: sum(1 for i in hier_idx if parties[i] == p) for p in model_parties}
    party_summary = summaries.party_summary(hier, sizes)

    # the gates and per-parameter diagnostics, computed by the real core functions
    gate_vars = ("xi_norm", "mu_party_norm", "sigma_within_norm")
    flat_r = diagnostics.flat_agreement(
        summaries.posterior_means(hier, "xi_norm"), summaries.posterior_means(flat, "xi_norm")
    )
    hier_gates, hier_params = diagnostics.evaluate_gates(hier, gate_vars, flat_r=flat_r)
    flat_gates, flat_params = diagnostics.evaluate_gates(flat, ("xi_norm",))
    gates = pl.concat(
        [
            diagnostics.gates_frame(hier_gates).with_columns(model=pl.lit("hierarchical")),
            diagnostics.gates_frame(flat_gates).with_columns(model=pl.lit("flat")),
        ]
    ).select("model", pl.exclude("model"))
    parameters = pl.concat(
        [
            hier_params.with_columns(model=pl.lit("hierarchical")),
            flat_params.with_columns(model=pl.lit("flat")),
        ]
    ).select("model", "group", "parameter", "rhat", "ess_bulk", "ess_tail")
    assert diagnostics.all_errors_pass(hier_gates) == passed, gates  # the fake data is what it claims

    manifest = {
        "min_minority": 0.025,
        "min_votes": 20,
        "rollcalls_raw": n_rollcalls + 12,
        "rollcalls_no_yea_nay": 3,
        "rollcalls_lopsided": 8,
        "rollcalls_emptied_by_legislator_filter": 1,
        "rollcalls_kept": n_rollcalls,
        "legislators_raw": n + 2,
        "legislators_too_few_votes": 2,
        "legislators_dropped": ["rep_late_arrival_1", names[0] if names else "rep_short_term_1"],
        "legislators_kept": n,
        "observations_raw": (n + 2) * (n_rollcalls + 12),
        "observations_yea_nay": int((n + 2) * (n_rollcalls + 12) * 0.93),
        "observations_kept": n * n_rollcalls - 17,
        "share_yea": 0.62,
    }
    pca_scores = pl.DataFrame(
        {
            "legislator_slug": slugs,
            "party": parties,
            "pc1": (truth - truth.mean()) / truth.std() + rng.normal(0, 0.2, n),
            "pc2": rng.normal(0, 1, n),
        }
    )
    return ReportContext(
        session_key=session_key,
        chamber=chamber,
        passed=diagnostics.all_errors_pass(hier_gates),
        gates=gates,
        parameters=parameters,
        hierarchical=hier,
        flat=flat,
        ideal_points=ideal_points,
        party_summary=party_summary,
        manifest=manifest,
        pca_scores=pca_scores,
        explained_variance=[0.46, 0.07, 0.05, 0.04, 0.03],
        sampler={
            "hierarchical": {
                "model": "hierarchical_identified",
                "profile": "default",
                "chains": chains,
                "tune": 200,
                "draws": draws,
                "seed": 42,
                "compile_seconds": 4.2,
                "sample_seconds": 31.5,
                "grad_evals": 123456,
            },
            "flat": {
                "model": "flat",
                "profile": "default",
                "chains": chains,
                "tune": 200,
                "draws": draws,
                "seed": 42,
                "compile_seconds": 2.1,
                "sample_seconds": 12.0,
            },
        },
        problems=[
            "votes.csv row 12: unknown vote code 'Paired' (kept as missing)",
            (names[0] if names else "x") + " appears twice in roll call rc3",
        ],
        generated_at="2025-06-01T12:00:00+00:00",
    )


def hostile_context(n: int = 40, **kwargs) -> ReportContext:
    return make_report_context(n, names=HOSTILE_NAMES, **kwargs)
