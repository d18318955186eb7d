"""Sampling benchmark: the reference configuration against the project default, side by side.

    .venv/bin/python benchmarks/bench_sampling.py                      # all cases, both configurations
    .venv/bin/python benchmarks/bench_sampling.py --cases house senate --configs default

Cases: a House-shaped simulated chamber (~130 x 297, ~36k observations, ~8% absences), a
Senate-shaped one (~42 x 194, ~7.7k) and the largest real chamber in ../shared/data (US House,
117th Congress, 447 x 840 after the filters). Configurations:

* reference: the reference experiment's model as written (``hierarchical_reference``), compiled by
  nutpie's Numba backend from PyMC, 4 chains, 1500 tune, 2000 draws, PCA init + jitter rule;
* default:   the project default (``hierarchical`` model sampled centred, in the affine frame from
  60 legislators, hand-written Numba gradient, low-rank mass matrix, 4 chains, 200 tune, 2000 draws, same init rule);
* default_direct (opt-in): the default in the model's own coordinates (no frame), to show what the
  frame buys; its |r| column is against the default.

The reference configuration is not run on cases above --reference-max-obs observations (on the US
House it would take over an hour here); for those the table shows its measured cost per gradient
(PyMC's log-density + gradient compiled by PyTensor's Numba backend, timed directly) instead.
The default's first-time compilation (a cold Numba cache, in a fresh process) is timed once.

For comparability every ESS/R-hat here is also computed on the same identified quantity for both
(ideal points standardised per draw, ``xi_norm``; MEASURED.md). Prints one table and writes it as
JSON to benchmarks/results/ with the machine's core count and package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from legis_assets.core import diagnostics, ingest, models, pca, sampling, simulate  # noqa: E402
from legis_assets.core.matrix import build_vote_matrix  # noqa: E402
from legis_assets.core.schema import VOTE_CODES  # noqa: E402

CONFIGS = {
    "reference": ("hierarchical_reference", "reference", {}),
    "default": ("hierarchical", "default", {}),
    # the default without the affine frame (the model's own coordinates): what the frame buys
    "default_direct": ("hierarchical", "default", {"frame": "off"}),
}
HOUSE_SHAPE = simulate.ChamberSpec(seats=125, n_rollcalls=415, replacements=5, absence_rate=0.075)
SENATE_SHAPE = simulate.ChamberSpec(seats=40, n_rollcalls=235, replacements=2, absence_rate=0.075)


def shared_data() -> Path:
    return Path(os.environ.get("LEGIS_SHARED_DIR", REPO.parent / "shared")) / "data"


def load_case(name: str):
    if name in ("house", "senate"):
        spec = HOUSE_SHAPE if name == "house" else SENATE_SHAPE
        sim = simulate.simulate_session(seed=2026, specs={name: spec})[name]
        votes = sim.votes.with_columns(vote_value=pl.col("vote").replace_strict(VOTE_CODES, return_dtype=pl.Int8))
        return f"simulated {name}", build_vote_matrix(votes, sim.truth.select("legislator_slug", "party"))
    if name == "us_congress_house":
        tables = ingest.chamber_tables(ingest.read_session(shared_data() / "us_congress" / "117th_2021-2022"), "house")
        return "US House 117th", build_vote_matrix(tables.votes, tables.legislators, tables.rollcalls)
    raise SystemExit(f"unknown case {name!r}")


def run_config(matrix, config: str) -> dict:
    model_name, profile, overrides = CONFIGS[config]
    spec = models.get_model(model_name)
    data = models.hierarchical_data(matrix)
    scores = dict(pca.fit_pca_init(matrix).scores.select("legislator_slug", "pc1").iter_rows())
    init = np.array([scores[s] for s in data.legislator_ids])
    init = (init - init.mean()) / init.std()
    fit = sampling.fit(
        spec, data, init, sampling.get_profile(profile, **overrides), progress=lambda m: print("   ", m, flush=True)
    )
    own, _ = diagnostics.evaluate_gates(fit.idata, spec.gate_vars)
    norm, _ = diagnostics.evaluate_gates(fit.idata, models.NORMALISED_GATES)
    own_by, norm_by = {g.name: g for g in own}, {g.name: g for g in norm}
    total = fit.compile_seconds + fit.sample_seconds
    passed = diagnostics.all_errors_pass(own)
    ess_norm = norm_by["ess"].value
    return {
        "config": config,
        "model": model_name,
        "backend": fit.backend,
        "settings": fit.settings.to_dict(),
        "legislators": data.n_legislators,
        "rollcalls": data.n_rollcalls,
        "observations": int(len(data.y)),
        "compile_s": fit.compile_seconds,
        "sample_s": fit.sample_seconds,
        "total_s": total,
        "grad_evals": fit.grad_evals,
        "s_per_grad": fit.sample_seconds / max(fit.grad_evals, 1),
        "steps_per_draw": fit.grad_evals_draws / (fit.settings.chains * fit.settings.draws),
        "gates_on": list(spec.gate_vars),
        "max_rhat_own": own_by["rhat"].value,
        "min_ess_own": own_by["ess"].value,
        "max_rhat_norm": norm_by["rhat"].value,
        "min_ess_norm": ess_norm,
        "ess_per_s": ess_norm / total,
        "divergences": int(own_by["divergences"].value),
        "coordinates": fit.idata.posterior.attrs.get("sampling_coordinates", "direct"),
        "sign_fixed_rollcalls": int(fit.idata.posterior.attrs.get("sign_fixed_rollcalls", 0)),
        "all_gates_pass": passed,
        "time_to_gates_s": total if passed else None,
        "xi_norm_mean": fit.idata.posterior["xi_norm"].mean(("chain", "draw")).values.tolist(),
    }


def reference_seconds_per_grad(matrix, repeats: int = 20) -> float:
    """The reference model's log-density + gradient, compiled as nutpie's Numba backend compiles it
    (PyTensor, mode NUMBA), timed per call on this chamber."""
    import pymc as pm

    data = models.hierarchical_data(matrix)
    model = models.get_model("hierarchical_reference").build(data)
    fn = model.compile_fn(
        [model.logp(), pm.pytensorf.gradient(model.logp(), model.value_vars)[0]], mode="NUMBA", point_fn=True
    )
    point = model.initial_point()
    fn(point)  # compile and warm up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(point)
    return (time.perf_counter() - t0) / repeats


def cold_compile_seconds() -> float:
    """Seconds to compile the default's C callbacks in a fresh process with an empty Numba cache."""
    import subprocess
    import tempfile

    code = (
        "import time; t = time.perf_counter(); from legis_assets.core import fastirt; fastirt.c_callbacks(); "
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"NUMBA_CACHE_DIR": cache},
        )
    return float(out.stdout.strip().splitlines()[-1])


def versions() -> dict:
    import arviz
    import numba
    import nutpie
    import pymc
    import pytensor

    return {m.__name__: m.__version__ for m in (nutpie, pymc, pytensor, numba, arviz, np)}


def fmt(v, spec="{:.3g}"):
    if v is None:
        return "never"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return spec.format(v)
    return str(v)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["senate", "house", "us_congress_house"])
    parser.add_argument("--configs", nargs="+", default=["reference", "default"], choices=sorted(CONFIGS))
    parser.add_argument(
        "--reference-max-obs",
        type=int,
        default=100_000,
        help="above this many observations the reference configuration is timed per gradient only",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)

    rows = []
    cold = None
    if "default" in args.configs:
        cold = cold_compile_seconds()
        print(f"default: first-time compilation (empty Numba cache, fresh process) {cold:.1f} s", flush=True)
    for case in args.cases:
        label, matrix = load_case(case)
        print(f"== {label}: {matrix.n_legislators} x {matrix.n_rollcalls}, {matrix.n_obs} observations", flush=True)
        by_config = {}
        for config in args.configs:
            print(f"-- {config}", flush=True)
            if config == "reference" and matrix.n_obs > args.reference_max_obs:
                spg = reference_seconds_per_grad(matrix)
                print(
                    f"   not sampled ({matrix.n_obs} observations > {args.reference_max_obs}); "
                    f"{spg * 1e3:.1f} ms per gradient",
                    flush=True,
                )
                rows.append(
                    {
                        "case": label,
                        "config": config,
                        "model": CONFIGS[config][0],
                        "sampled": False,
                        "observations": int(matrix.n_obs),
                        "s_per_grad": spg,
                    }
                )
                continue
            res = run_config(matrix, config)
            if config == "default":
                res["cold_compile_s"] = cold
            res["case"] = label
            by_config[config] = res
            rows.append(res)
        if {"reference", "default"} <= set(by_config):
            ref, new = by_config["reference"], by_config["default"]
            r = float(abs(np.corrcoef(ref["xi_norm_mean"], new["xi_norm_mean"])[0, 1]))
            for res in (ref, new):
                res["abs_r_vs_other"] = r
            new["ess_per_s_ratio"] = new["ess_per_s"] / ref["ess_per_s"]
            new["time_to_gates_ratio"] = (
                ref["time_to_gates_s"] / new["time_to_gates_s"]
                if ref["time_to_gates_s"] and new["time_to_gates_s"]
                else None
            )
        if {"default", "default_direct"} <= set(by_config):
            new, old = by_config["default"], by_config["default_direct"]
            old["abs_r_vs_other"] = float(abs(np.corrcoef(old["xi_norm_mean"], new["xi_norm_mean"])[0, 1]))
            old["frame_speedup"] = old["total_s"] / new["total_s"]

    cols = [
        ("case", "case"),
        ("config", "config"),
        ("observations", "obs"),
        ("compile_s", "compile s"),
        ("sample_s", "sample s"),
        ("total_s", "total s"),
        ("grad_evals", "grad evals"),
        ("s_per_grad", "s/grad"),
        ("steps_per_draw", "steps/draw"),
        ("min_ess_norm", "min ESS(xi_norm)"),
        ("ess_per_s", "ESS/s"),
        ("max_rhat_own", "max R-hat (gates)"),
        ("min_ess_own", "min ESS (gates)"),
        ("divergences", "div"),
        ("all_gates_pass", "gates pass"),
        ("abs_r_vs_other", "|r| vs default (default: vs reference)"),
        ("ess_per_s_ratio", "ESS/s ratio"),
        ("time_to_gates_ratio", "time-to-gates ratio"),
        ("cold_compile_s", "first-time compile s"),
        ("frame_speedup", "frame speed-up (direct / default)"),
    ]
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = []
        for k, _ in cols:
            if row.get("sampled") is False and k not in ("case", "config", "observations", "s_per_grad"):
                cells.append("not sampled" if k == "sample_s" else "-")
            elif row.get(k) is None and (
                k not in ("time_to_gates_ratio", "ess_per_s_ratio", "time_to_gates_s")
                or row["config"] != "default"
                or "abs_r_vs_other" not in row
            ):
                cells.append("-")
            else:
                cells.append(fmt(row.get(k), "{:.4f}" if "rhat" in k else "{:.3g}"))
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print()
    print(table)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {
        "time": stamp,
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": versions(),
        "rows": [{k: v for k, v in r.items() if k != "xi_norm_mean"} for r in rows],
        "table_markdown": table,
    }
    path = out / f"bench_sampling_{stamp}.json"
    path.write_text(json.dumps(record, indent=2))
    (out / "latest.md").write_text(f"Measured {stamp} on {os.cpu_count()} cores, {platform.platform()}\n\n{table}\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    t0 = time.time()
    status = main()
    print(f"benchmark took {time.time() - t0:.0f} s")
    sys.exit(status)
