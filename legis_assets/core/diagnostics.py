"""Convergence gates computed from an InferenceData with ArviZ (DESIGN.md section 4).

| gate             | passes when                                                   | severity |
|------------------|---------------------------------------------------------------|----------|
| rhat             | max rank-normalised split R-hat over the gate variables < 1.01 | error    |
| ess              | min bulk ESS over xi > 400 (tail ESS reported)                 | error    |
| divergences      | 0 divergent transitions                                        | error    |
| ebfmi            | min E-BFMI over chains > 0.3                                   | warn     |
| agrees_with_flat | abs(r) of posterior-mean xi, hierarchical vs flat > 0.90      | warn     |

Thresholds are constants here and nowhere else; they are never loosened to make a run pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

import arviz as az
import numpy as np
import polars as pl

from legis_assets.core.idata import posterior_of, sample_stats_of

RHAT_MAX = 1.01
ESS_MIN = 400.0
DIVERGENCES_MAX = 0
EBFMI_MIN = 0.3
FLAT_AGREEMENT_MIN = 0.90


def scalar_float(value: object) -> float:
    """float() of a numeric polars aggregate (`Series.max()` ...), which polars types as any Python
    literal or None."""
    return float(cast(float, value))


#: a check's severity: "error" checks are blocking (downstream steps do not run), "warn" ones not
Severity = Literal["error", "warn"]
#: the per-chamber convergence gates (evaluate_gates), in the order they are reported
GateName = Literal["rhat", "ess", "divergences", "ebfmi", "agrees_with_flat"]
GATE_NAMES: tuple[GateName, ...] = get_args(GateName)
Comparison = Literal["<", ">", "<="]


@dataclass(frozen=True)
class Gate:
    name: str  # a GateName for the per-chamber gates; the common scale has its own
    metric: str
    value: float
    threshold: float
    comparison: Comparison
    severity: Severity
    description: str

    @property
    def passed(self) -> bool:
        if not np.isfinite(self.value):
            return False
        if self.comparison == "<":
            return self.value < self.threshold
        if self.comparison == ">":
            return self.value > self.threshold
        if self.comparison == "<=":
            return self.value <= self.threshold
        raise ValueError(self.comparison)

    @property
    def status(self) -> str:
        if self.passed:
            return "PASS"
        return "FAIL" if self.severity == "error" else "WARN"

    def as_row(self) -> dict:
        return {
            "gate": self.name,
            "metric": self.metric,
            "value": float(self.value),
            "threshold": float(self.threshold),
            "comparison": self.comparison,
            "severity": self.severity,
            "passed": self.passed,
            "status": self.status,
            "description": self.description,
        }


def parameter_table(idata: az.InferenceData, var_names: tuple[str, ...]) -> pl.DataFrame:
    """One row per scalar parameter: R-hat, bulk and tail ESS (for the report and the warehouse)."""
    posterior = posterior_of(idata)[[v for v in var_names if v in posterior_of(idata)]]
    rhat = az.rhat(posterior)
    ess_bulk = az.ess(posterior, method="bulk")
    ess_tail = az.ess(posterior, method="tail")
    rows = []
    for var in posterior.data_vars:
        r = rhat[var].values.ravel()
        eb = ess_bulk[var].values.ravel()
        et = ess_tail[var].values.ravel()
        dims = [d for d in posterior[var].dims if d not in ("chain", "draw")]
        labels = [str(v) for v in posterior[var][dims[0]].values] if dims else [var]
        for label, ri, ebi, eti in zip(labels, r, eb, et):
            rows.append(
                {
                    "group": var,
                    "parameter": f"{var}[{label}]" if dims else var,
                    "rhat": float(ri),
                    "ess_bulk": float(ebi),
                    "ess_tail": float(eti),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "group": pl.String,
            "parameter": pl.String,
            "rhat": pl.Float64,
            "ess_bulk": pl.Float64,
            "ess_tail": pl.Float64,
        },
    )


def group_table(params: pl.DataFrame) -> pl.DataFrame:
    """Worst R-hat and ESS per parameter group."""
    return params.group_by("group", maintain_order=True).agg(
        n=pl.len(),
        max_rhat=pl.col("rhat").max(),
        min_ess_bulk=pl.col("ess_bulk").min(),
        min_ess_tail=pl.col("ess_tail").min(),
    )


def min_ebfmi(idata: az.InferenceData) -> float:
    if "energy" not in sample_stats_of(idata):
        return float("nan")
    return float(np.min(az.bfmi(idata)))


def flat_agreement(hier_mean: pl.DataFrame, flat_mean: pl.DataFrame) -> float:
    """abs(r) between posterior-mean ideal points (frames with legislator_slug, xi_mean)."""
    joined = hier_mean.join(flat_mean, on="legislator_slug", suffix="_flat")
    if joined.height < 3:
        return float("nan")
    return float(abs(np.corrcoef(joined["xi_mean"], joined["xi_mean_flat"])[0, 1]))


def evaluate_gates(
    idata: az.InferenceData,
    gate_vars: tuple[str, ...],
    flat_r: float | None = None,
) -> tuple[list[Gate], pl.DataFrame]:
    """The gates for one posterior, and the per-parameter diagnostics table they come from.

    `gate_vars[0]` is the ideal-point variable (its bulk ESS is the ESS gate)."""
    params = parameter_table(idata, gate_vars)
    xi = params.filter(pl.col("group") == gate_vars[0])
    n_div = int(sample_stats_of(idata)["diverging"].sum()) if "diverging" in sample_stats_of(idata) else 0
    gates = [
        Gate(
            "rhat",
            "max R-hat (" + ", ".join(gate_vars) + ")",
            scalar_float(params["rhat"].max()),
            RHAT_MAX,
            "<",
            "error",
            "chains agree (rank-normalised split R-hat, Vehtari et al. 2021)",
        ),
        Gate(
            "ess",
            f"min bulk ESS ({gate_vars[0]})",
            scalar_float(xi["ess_bulk"].min()),
            ESS_MIN,
            ">",
            "error",
            f"enough independent draws for every ideal point (min tail ESS {scalar_float(xi['ess_tail'].min()):.0f})",
        ),
        Gate(
            "divergences",
            "divergent transitions",
            float(n_div),
            DIVERGENCES_MAX,
            "<=",
            "error",
            "no region of the posterior the sampler could not explore",
        ),
        Gate(
            "ebfmi",
            "min E-BFMI over chains",
            min_ebfmi(idata),
            EBFMI_MIN,
            ">",
            "warn",
            "momentum resampling explores the energy distribution (Betancourt 2016)",
        ),
    ]
    if flat_r is not None:
        gates.append(flat_agreement_gate(flat_r))
    return gates, params


def flat_agreement_gate(flat_r: float) -> Gate:
    """The warning gate `agrees_with_flat` for |r| between the hierarchical and the flat model's
    posterior-mean ideal points (`flat_agreement`)."""
    return Gate(
        "agrees_with_flat",
        "abs(r) hierarchical vs flat xi",
        float(flat_r),
        FLAT_AGREEMENT_MIN,
        ">",
        "warn",
        "the party-pooled estimates agree with the independent flat model",
    )


def gates_frame(gates: list[Gate]) -> pl.DataFrame:
    return pl.DataFrame([g.as_row() for g in gates])


def all_errors_pass(gates: list[Gate]) -> bool:
    return all(g.passed for g in gates if g.severity == "error")
