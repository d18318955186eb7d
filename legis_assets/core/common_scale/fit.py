"""Sample the common-scale model with nutpie and judge it with the project's gates.

Init rule (as sampling.py): the slot positions start at the per-chamber-session PCA scores
(model.pca_start; never jittered), every other free variable (tau on its log scale, alpha,
beta, or their frame coordinates) is jittered. Coordinates: `settings.frame` "auto"/"on" samples
the kernel in the per-chamber-session affine frame (frame.py; the same posterior), "off" in the
model's own (kernel.py); the posterior records which (`sampling_coordinates`), how many roll calls
were sign-fixed and the sign check. Gates: diagnostics.evaluate_gates on identify.GATE_VARS (R-hat < 1.01 over all
of them, bulk ESS of xi_norm > 400, 0 divergences: errors; E-BFMI > 0.3: warning) plus the
warning `agrees_with_linked` (crosscheck.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import arviz as az
import numpy as np

from legis_assets.core import diagnostics
from legis_assets.core.common_scale.crosscheck import linked_agreement, linked_gate
from legis_assets.core.common_scale.data import CommonScaleData
from legis_assets.core.common_scale.frame import sign_check
from legis_assets.core.common_scale.identify import GATE_VARS, add_common_normalised
from legis_assets.core.common_scale.model import build_common_scale
from legis_assets.core.idata import posterior_of
from legis_assets.core.sampling import SamplerSettings, compile_pymc, extend_until_gates, sample

log = logging.getLogger(__name__)

MODEL_NAME = "common_scale"


@dataclass
class CommonFit:
    idata: az.InferenceData
    settings: SamplerSettings
    backend: str
    compile_seconds: float
    sample_seconds: float
    grad_evals_tune: int
    grad_evals_draws: int
    attempts: int = 1

    @property
    def steps_per_draw(self) -> float:
        post = posterior_of(self.idata)
        return self.grad_evals_draws / max(post.sizes["chain"] * post.sizes["draw"], 1)

    def timing(self) -> dict:
        return {
            "backend": self.backend,
            "attempts": self.attempts,
            "compile_seconds": round(self.compile_seconds, 2),
            "sample_seconds": round(self.sample_seconds, 2),
            "grad_evals": self.grad_evals_tune + self.grad_evals_draws,
            "steps_per_draw": round(self.steps_per_draw, 2),
        }


def compile_model(data: CommonScaleData, start: np.ndarray, backend: str = "auto", frame: str = "auto"):
    """(nutpie compiled model, backend used, FrameSpec or None). backend: "pymc" (PyMC -> nutpie's
    Numba backend), "kernel" (the hand-written log-density and gradient, kernel.py), "auto" (the
    kernel). frame (kernel only): "on" samples every eligible chamber-session in the affine frame
    (frame.py: the same posterior), "auto" those of at least frame.MIN_FRAMED_SLOTS slots (measured:
    frame.MIN_FRAMED_SLOTS), "off" none (the model's own coordinates)."""
    if backend not in ("auto", "pymc", "kernel"):
        raise ValueError(f"unknown backend {backend!r}: choose auto, pymc or kernel")
    if frame not in ("auto", "on", "off"):
        raise ValueError(f"unknown frame setting {frame!r}: choose auto, on or off")
    if backend in ("auto", "kernel"):
        from legis_assets.core.common_scale import kernel

        if frame == "off":
            return kernel.compile_common_kernel(data, start), "kernel", None
        from legis_assets.core.common_scale.frame import MIN_FRAMED_SLOTS, compile_framed_kernel

        compiled, spec = compile_framed_kernel(data, start, min_slots=MIN_FRAMED_SLOTS if frame == "auto" else 0)
        return compiled, "kernel", spec
    return compile_pymc(build_common_scale(data), "xi", start), "pymc", None


def fit_common_scale(
    data: CommonScaleData,
    start: np.ndarray,
    settings: SamplerSettings,
    progress: Callable[[str], None] | None = None,
    progress_every: float = 30.0,
) -> CommonFit:
    """Compile and sample; the posterior gets the reported quantities (identify.py) and the
    sampling facts as attributes. Warm-up draws are dropped."""
    say = progress or (lambda msg: log.info(msg))
    start = np.asarray(start, dtype=float)
    if start.shape != (data.n_slots,):
        raise ValueError(f"start has shape {start.shape}, expected ({data.n_slots},)")
    t0 = time.perf_counter()
    compiled, backend, spec = compile_model(data, start, settings.backend, settings.frame)
    compile_seconds = time.perf_counter() - t0
    say(
        f"{MODEL_NAME}: compiled ({backend}) in {compile_seconds:.1f} s ({data.n_slots} slots in "
        f"{data.chamber_sessions.height} chamber-sessions, {data.n_rollcalls} roll calls, {data.n_obs} votes)"
    )
    run = sample(compiled, settings, MODEL_NAME, say, progress_every)
    idata, sample_seconds = run.idata, run.sample_seconds
    grad_tune, grad_draws = run.grad_evals_tune, run.grad_evals_draws
    add_common_normalised(idata, data)
    frame_facts = {"sampling_coordinates": "direct", "framed_chamber_sessions": 0, "sign_fixed_rollcalls": 0}
    if spec is not None:
        frame_facts = {
            "sampling_coordinates": "affine frame per chamber-session",
            "framed_chamber_sessions": spec.n_framed,
            "sign_fixed_rollcalls": spec.n_sign_fixed,
            "sign_check": sign_check(posterior_of(idata)["beta"].values, spec.sign),
        }
    posterior_of(idata).attrs.update(
        **frame_facts,
        model=MODEL_NAME,
        sampler="nutpie",
        backend=backend,
        compile_seconds=compile_seconds,
        sample_seconds=sample_seconds,
        grad_evals=grad_tune + grad_draws,
        chamber_sessions=", ".join(data.chamber_sessions["label"].to_list()),
        **{f"settings_{k}": str(v) for k, v in settings.to_dict().items()},
    )
    say(f"{MODEL_NAME}: sampled in {sample_seconds:.1f} s ({grad_tune + grad_draws} gradient evaluations)")
    return CommonFit(idata, settings, backend, compile_seconds, sample_seconds, grad_tune, grad_draws)


def gate_vars(idata: az.InferenceData) -> tuple[str, ...]:
    """GATE_VARS that the posterior has with at least one entry (a legislature without movers has
    no movement_norm)."""
    post = posterior_of(idata)
    return tuple(v for v in GATE_VARS if v in post and post[v].size > 0)


def evaluate_common_gates(idata: az.InferenceData, data: CommonScaleData, start: np.ndarray | None = None):
    """(gates, per-parameter table): the project's gates on the reported quantities, plus
    `agrees_with_linked` (the start's per-chamber-session scores linked by the bridges) when a start is
    given."""
    gates, params = diagnostics.evaluate_gates(idata, gate_vars(idata))
    if start is not None:
        mean = posterior_of(idata)["xi_norm"].mean(("chain", "draw")).values
        gates.append(linked_gate(linked_agreement(data, start, mean)))
    return gates, params


def fit_until_gates(
    data: CommonScaleData, start: np.ndarray, settings: SamplerSettings, progress: Callable[[str], None] | None = None
) -> tuple[CommonFit, list]:
    """`fit_common_scale`, then the gates; while an ERROR gate fails and `settings.extensions`
    allow, sample again with twice the tuning and draws and a new seed (sampling.extend_until_gates,
    the rule of the per-chamber models). The timings add up every attempt."""
    return extend_until_gates(
        lambda attempt: fit_common_scale(data, start, attempt, progress),
        lambda result: evaluate_common_gates(result.idata, data, start)[0],
        settings,
        MODEL_NAME,
        progress or (lambda msg: log.info(msg)),
    )
