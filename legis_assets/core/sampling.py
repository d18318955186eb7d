"""Compile a model with nutpie (Numba backend) and sample it: init and jitter rules, sampler
profiles, timings, progress.

Init rule (reference experiment): the PCA-initialised variable (``xi_offset`` in the non-centred
hierarchical models, ``xi`` in the default centred one and in the flat model) starts at the
standardised PC1 and is never jittered; every other free variable is jittered, so
``sigma_within`` never starts at its support point 0.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Literal, Protocol, TypeVar, cast

import arviz as az
import numpy as np

from legis_assets.core.idata import posterior_of
from legis_assets.core.models import IRTData, ModelSpec, add_normalised, parameterisation_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplerSettings:
    chains: int = 4
    tune: int = 1500
    draws: int = 2000
    seed: int = 42
    #: threads nutpie may use (None: all cores, at most one per chain)
    cores: int | None = None
    low_rank_mass_matrix: bool = False
    #: "pymc": the PyMC model compiled by nutpie's Numba backend (the reference experiment's path);
    #: "kernel": the same model's log-density and gradient hand-written in Numba (fastirt.py);
    #: "auto": the kernel where the model has one, else pymc
    backend: str = "auto"
    #: when an ERROR gate fails, sample again this many times, each with twice the tuning, twice
    #: the draws and a new seed (recorded in the metadata), before the failure is reported
    extensions: int = 0
    #: kernel backend with a PCA start: sample the flat and the centred hierarchical model in the
    #: affine frame (fastirt: the chamber's location and scale as single coordinates, clearly
    #: signed roll calls as cutpoint and log-discrimination; the same posterior). "auto": the flat
    #: model always, the hierarchical one from fastirt.FRAME_MIN_LEGISLATORS legislators (measured:
    #: below, on California's 41-member Senate, it doubled the leapfrog steps); "on"; "off"
    frame: str = "auto"
    #: low-rank mass matrix only: nutpie's `mass_matrix_eigval_cutoff` (None: nutpie's own, 2.0 in
    #: nutpie 0.16.8, not the 100 its docstring says). Eigenvalues of the adapted correlation between
    #: 1/cutoff and cutoff are ignored; a low cutoff keeps ~100 vectors, which on the common scale
    #: cost more per leapfrog step than the gradient (California: 1.23 against 0.40 ms per step)
    eigval_cutoff: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


#: named sampling profiles. `reference` is the reference experiment's configuration, always
#: available; `quick` is for unit tests and smoke runs only (too short to pass the gates on a
#: real chamber); `starved` is deliberately too short and must fail the ESS gate.
ProfileName = Literal["reference", "default", "scale", "quick", "starved"]
PROFILES: dict[ProfileName, SamplerSettings] = {
    "reference": SamplerSettings(chains=4, tune=1500, draws=2000, backend="pymc"),
    # tuning is short because nutpie's low-rank adaptation is costly per tuning draw and settles
    # early on these posteriors (benchmarks/); 2000 draws keep the max R-hat over hundreds of
    # legislators clear of 1.01 by sampling noise alone; a failed gate doubles both, once
    "default": SamplerSettings(chains=4, tune=200, draws=2000, low_rank_mass_matrix=True, extensions=1),
    # the common scale's joint fit (the default of LEGIS_SCALE_PROFILE when LEGIS_PROFILE is
    # "default"): every chamber-session in the affine frame and a low-rank mass matrix that keeps
    # only strong correlations. Cheaper draws that carry more information (example, full runs: ESS
    # per kept draw 0.51 against the default's 0.41), so half the draws keep a wide margin over the
    # ESS gate (example 2,025, California 1,569, US 1,127); benchmarks/bench_common_scale.py frame
    "scale": SamplerSettings(
        chains=4, tune=200, draws=1000, low_rank_mass_matrix=True, extensions=1, frame="on", eigval_cutoff=20.0
    ),
    "quick": SamplerSettings(chains=2, tune=300, draws=300),
    "starved": SamplerSettings(chains=2, tune=20, draws=20),
}


def get_profile(name: str, **overrides) -> SamplerSettings:
    if name not in PROFILES:
        raise ValueError(f"unknown sampling profile {name!r}; choose one of {sorted(PROFILES)}")
    settings = PROFILES[cast(ProfileName, name)]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(settings, **overrides)


@dataclass
class FitResult:
    idata: az.InferenceData
    model: str
    settings: SamplerSettings
    compile_seconds: float
    sample_seconds: float
    #: leapfrog steps (= gradient evaluations) in tuning and in the kept draws, over all chains
    grad_evals_tune: int
    grad_evals_draws: int
    backend: str = "pymc"
    #: 1 + the number of times sampling was extended because an ERROR gate failed
    attempts: int = 1

    @property
    def grad_evals(self) -> int:
        return self.grad_evals_tune + self.grad_evals_draws

    def timing(self) -> dict:
        return {
            "backend": self.backend,
            "attempts": self.attempts,
            "compile_seconds": round(self.compile_seconds, 2),
            "sample_seconds": round(self.sample_seconds, 2),
            "grad_evals": int(self.grad_evals),
            "grad_evals_draws": int(self.grad_evals_draws),
            "seconds_per_grad": self.sample_seconds / max(self.grad_evals, 1),
        }


#: the trace attributes that say how a fit was sampled (coordinates and sign screen); shown in the
#: posterior metadata and the report
FRAME_ATTRS = ("sampling_coordinates", "sign_fixed_rollcalls", "sign_check_near_zero")
#: above this share of draws near beta = 0, a sign-restricted roll call is reported (fastirt.sign_check)
SIGN_CHECK_MAX_NEAR_ZERO = 0.001


def _finished(sampler) -> bool:
    """nutpie's `is_finished` raises TimeoutError while the chains hold its lock: not finished."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def _compile(spec: ModelSpec, data: IRTData, init: np.ndarray | None, backend: str, frame: str = "auto"):
    from legis_assets.core import fastirt

    if backend not in ("auto", "pymc", "kernel"):
        raise ValueError(f"unknown backend {backend!r}: choose auto, pymc or kernel")
    if backend == "kernel" or (backend == "auto" and spec.name in fastirt.KERNEL_MODELS):
        if frame not in ("auto", "on", "off"):
            raise ValueError(f"unknown frame setting {frame!r}: choose auto, on or off")
        km = fastirt.kernel_model(
            spec.name,
            data,
            frame_init=None if frame == "off" else init,
            frame_min_legislators=fastirt.FRAME_MIN_LEGISLATORS if frame == "auto" else 0,
        )
        return fastirt.compile_kernel(km, init), "kernel", km

    return compile_pymc(spec.build(data), spec.init_var, init), "pymc", None


def compile_pymc(model, init_var: str, init: np.ndarray | None):
    """nutpie's Numba compile of a PyMC model (per chamber or common scale) with the init rule:
    `init_var` starts at `init` and is never jittered, every other free variable is jittered;
    `init=None` (no PCA start): every free variable jittered around its default."""
    import nutpie  # imported lazily: numba start-up is slow

    if init is None:
        initial_points, jitter = None, set(model.free_RVs)
    else:
        init_rv = model[init_var]
        initial_points = {init_var: np.asarray(init, dtype=float)}
        jitter = {rv for rv in model.free_RVs if rv is not init_rv}
    return nutpie.compile_pymc_model(model, backend="numba", initial_points=initial_points, jitter_rvs=jitter)


@dataclass
class Sampled:
    """A finished nutpie run: the trace without its warm-up draws, the sampling time and the
    leapfrog steps (= gradient evaluations) in tuning and in the kept draws, over all chains."""

    idata: az.InferenceData
    sample_seconds: float
    grad_evals_tune: int
    grad_evals_draws: int


def sample(
    compiled, settings: SamplerSettings, name: str, say: Callable[[str], None], progress_every: float
) -> Sampled:
    """Sample a compiled nutpie model (per-chamber or common scale) with `settings` (threads:
    `settings.cores`, else one per chain up to the machine's cores), saying every `progress_every`
    seconds how far the chains are; the warm-up draws are dropped (not needed downstream)."""
    import nutpie  # imported lazily: numba start-up is slow

    cores = settings.cores or min(settings.chains, os.cpu_count() or 1)
    t0 = time.perf_counter()
    sampler = nutpie.sample(
        compiled,
        chains=settings.chains,
        tune=settings.tune,
        draws=settings.draws,
        seed=settings.seed,
        cores=cores,
        low_rank_modified_mass_matrix=settings.low_rank_mass_matrix,
        **(
            {"mass_matrix_eigval_cutoff": settings.eigval_cutoff}
            if settings.low_rank_mass_matrix and settings.eigval_cutoff is not None
            else {}
        ),
        progress_bar=False,
        blocking=False,
    )
    last = time.perf_counter()
    while not _finished(sampler):
        time.sleep(0.2)
        now = time.perf_counter()
        if now - last >= progress_every:
            last = now
            try:
                with warnings.catch_warnings():  # a partial trace may have no kept draw yet
                    warnings.simplefilter("ignore")
                    partial = sampler.inspect()
                done = {
                    g: int(np.nansum(partial[g]["n_steps"].values > 0))
                    for g in ("warmup_sample_stats", "sample_stats")
                    if g in partial.groups()
                }
                grads = sum(int(np.nansum(partial[g]["n_steps"].values)) for g in done)
                say(
                    f"{name}: {done.get('warmup_sample_stats', 0)} tuning and {done.get('sample_stats', 0)} "
                    f"kept draws over all chains, {grads} gradient evaluations ({now - t0:.0f} s)"
                )
            except Exception:  # progress is best-effort; never fail a fit because of it
                say(f"{name}: sampling ({now - t0:.0f} s)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sampler.wait()
    sample_seconds = time.perf_counter() - t0
    grad_tune = int(idata.warmup_sample_stats["n_steps"].sum()) if "warmup_sample_stats" in idata.groups() else 0
    grad_draws = int(idata.sample_stats["n_steps"].sum())
    for group in ("warmup_posterior", "warmup_sample_stats"):
        if group in idata.groups():
            del idata[group]
    return Sampled(idata, sample_seconds, grad_tune, grad_draws)


def fit(
    spec: ModelSpec,
    data: IRTData,
    init: np.ndarray | None,
    settings: SamplerSettings,
    progress: Callable[[str], None] | None = None,
    progress_every: float = 15.0,
) -> FitResult:
    """Compile `spec` for `data`, start it at `init` (PC1 for the init variable) and sample.

    `init=None` starts without PCA: the init variable is jittered like every other (only to
    show why the PCA start is needed; see test_recovery)."""
    if init is not None and init.shape != (data.n_legislators,):
        raise ValueError(f"init has shape {init.shape}, expected ({data.n_legislators},)")
    say = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    sampled = parameterisation_for(spec, data)
    compiled, backend, km = _compile(sampled, data, init, settings.backend, settings.frame)
    compile_seconds = time.perf_counter() - t0
    say(
        f"{spec.name}: compiled ({backend} backend{', sampled as ' + sampled.name if sampled is not spec else ''}) "
        f"in {compile_seconds:.1f} s "
        f"({data.n_legislators} legislators x {data.n_rollcalls} roll calls, {len(data.y)} votes)"
    )

    run = sample(compiled, settings, spec.name, say, progress_every)
    idata, sample_seconds = run.idata, run.sample_seconds
    grad_tune, grad_draws = run.grad_evals_tune, run.grad_evals_draws
    add_normalised(idata)
    # not "coordinates": CF conventions reserve that attribute name, and xarray drops it on reading NetCDF
    frame = {"sampling_coordinates": "direct", "sign_fixed_rollcalls": 0}
    if km is not None and km.framed:
        from legis_assets.core import fastirt

        n_fixed = int(np.count_nonzero(km.sign))
        near_zero = fastirt.sign_check(posterior_of(idata)["beta"].values, km.sign)
        frame = {
            "sampling_coordinates": "affine frame",
            "sign_fixed_rollcalls": n_fixed,
            "sign_check_near_zero": near_zero,
        }
        if near_zero > SIGN_CHECK_MAX_NEAR_ZERO:
            say(
                f"{spec.name}: WARNING a sign-restricted roll call has {near_zero:.2%} of its draws of the "
                f"discrimination within a tenth of its median from zero: the restriction may cut off posterior mass"
            )
    posterior_of(idata).attrs.update(
        **frame,
        model=spec.name,
        parameterisation=("non-centred" if sampled.init_var == "xi_offset" else "centred")
        if spec.hierarchical
        else "none",
        sampler="nutpie",
        backend=backend,
        compile_seconds=compile_seconds,
        sample_seconds=sample_seconds,
        grad_evals=grad_tune + grad_draws,
        **{f"settings_{k}": str(v) for k, v in settings.to_dict().items()},
    )
    say(f"{spec.name}: sampled in {sample_seconds:.1f} s ({grad_tune + grad_draws} gradient evaluations)")
    return FitResult(idata, spec.name, settings, compile_seconds, sample_seconds, grad_tune, grad_draws, backend)


def fit_until_gates(
    spec: ModelSpec,
    data: IRTData,
    init: np.ndarray | None,
    settings: SamplerSettings,
    progress: Callable[[str], None] | None = None,
) -> tuple[FitResult, list]:
    """`fit`, then the convergence gates; while an ERROR gate fails and `settings.extensions`
    allow, sample again with twice the tuning and draws and a new seed (DESIGN.md 5b: the platform
    may extend sampling before it alerts). Returns the last fit (its `attempts` says how many were made, and
    its timings add up every attempt) and its gates. Thresholds are never changed."""
    from legis_assets.core import diagnostics

    return extend_until_gates(
        lambda attempt: fit(spec, data, init, attempt, progress=progress),
        lambda result: diagnostics.evaluate_gates(result.idata, spec.gate_vars)[0],
        settings,
        spec.name,
        progress or (lambda msg: log.info(msg)),
    )


class Attempt(Protocol):
    """A fit's result as `extend_until_gates` adds up its attempts (FitResult, common_scale.CommonFit)."""

    idata: az.InferenceData
    compile_seconds: float
    sample_seconds: float
    grad_evals_tune: int
    grad_evals_draws: int
    attempts: int


A = TypeVar("A", bound=Attempt)


def extend_until_gates(
    fit_with: Callable[[SamplerSettings], A],
    gates_of: Callable[[A], list],
    settings: SamplerSettings,
    name: str,
    say: Callable[[str], None],
) -> tuple[A, list]:
    """The extension rule of every model: `fit_with(settings)`, then `gates_of` its result; while an
    ERROR gate fails and `settings.extensions` allow, fit again with twice the tuning and draws and
    a new seed. Returns the last result, its `attempts` and timings (also in the posterior's
    attributes) adding up every attempt, and its gates."""
    from legis_assets.core import diagnostics

    result = fit_with(settings)
    gates = gates_of(result)
    spent = (result.compile_seconds, result.sample_seconds, result.grad_evals_tune, result.grad_evals_draws)
    attempt = 1
    while not diagnostics.all_errors_pass(gates) and attempt <= settings.extensions:
        failed = ", ".join(f"{g.name} {g.value:.4g}" for g in gates if g.severity == "error" and not g.passed)
        longer = replace(
            settings, tune=settings.tune * 2**attempt, draws=settings.draws * 2**attempt, seed=settings.seed + attempt
        )
        say(
            f"{name}: gates failed ({failed}); sampling again with {longer.tune} tuning draws, "
            f"{longer.draws} draws, seed {longer.seed}"
        )
        result = fit_with(longer)
        gates = gates_of(result)
        attempt += 1
        spent = (
            spent[0] + result.compile_seconds,
            spent[1] + result.sample_seconds,
            spent[2] + result.grad_evals_tune,
            spent[3] + result.grad_evals_draws,
        )
    result.compile_seconds, result.sample_seconds, result.grad_evals_tune, result.grad_evals_draws = spent
    result.attempts = attempt
    posterior_of(result.idata).attrs.update(
        attempts=attempt, compile_seconds=spent[0], sample_seconds=spent[1], grad_evals=spent[2] + spent[3]
    )
    return result, gates
