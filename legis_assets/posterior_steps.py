"""The posterior steps of one session x chamber partition (`Pipeline.flat_posterior` and
`Pipeline.hierarchical_posterior` call these): sample with nutpie, evaluate the convergence gates,
and publish the flat and hierarchical traces together only when the ERROR gates pass
(storage.TraceStore); a failed attempt is kept beside the published pair, with a report that says
why. No Dagster imports here."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np

from legis_assets import report_step
from legis_assets.core import diagnostics, models, sampling, summaries
from legis_assets.core.idata import posterior_of
from legis_assets.core.schema import DataProblem, LegisError
from legis_assets.pipeline import FLAT_TRACE, HIER_TRACE, Partition, Pipeline
from legis_assets.step_output import CheckOutcome, Markdown, PathValue, StepOutput, md_table
from legis_assets.storage import file_sha256, write_atomic


def _init_vector(pipe: Pipeline, part: Partition, ids: list[str]) -> np.ndarray:
    scores = pipe.load_pca(part)
    lookup = dict(zip(scores["legislator_slug"].to_list(), scores["pc1"].to_list()))
    init = np.array([lookup[s] for s in ids], dtype=float)
    return (init - init.mean()) / (init.std() or 1.0)


def _fit(
    pipe: Pipeline, part: Partition, spec: models.ModelSpec, data: models.IRTData
) -> tuple[sampling.FitResult, list[diagnostics.Gate]]:
    """The fit (extended while an ERROR gate fails, as the profile allows) and its convergence
    gates, computed once by `sampling.fit_until_gates`."""
    settings = pipe.settings.sampler()
    init = _init_vector(pipe, part, data.legislator_ids)
    pipe.say(
        f"{part}: sampling {spec.name} with profile {pipe.settings.profile!r} "
        f"({settings.chains} chains, {settings.tune} tune, {settings.draws} draws, seed {settings.seed})"
    )
    return sampling.fit_until_gates(spec, data, init, settings, progress=lambda msg: pipe.say(f"{part}: {msg}"))


def _posterior_metadata(
    pipe: Pipeline,
    fit: sampling.FitResult,
    gates: list[diagnostics.Gate],
    path: Path,
    digest: str,
    data: models.IRTData,
) -> dict[str, Any]:
    by_name = {g.name: g for g in gates}
    meta: dict[str, Any] = {
        "path": PathValue(str(path)),
        "sha256": digest,
        "model": fit.model,
        "model_description": models.get_model(fit.model).description,
        "profile": pipe.settings.profile,
        "settings": json.dumps(fit.settings.to_dict()),
        "seed": fit.settings.seed,
        "sampling_attempts": fit.attempts,
        "extended": fit.attempts > 1,
        "legislators": data.n_legislators,
        "rollcalls": data.n_rollcalls,
        "observations": int(len(data.y)),
        **{k: v for k, v in fit.timing().items()},
        "max_rhat": by_name["rhat"].value,
        "min_ess_bulk": by_name["ess"].value,
        "divergences": int(by_name["divergences"].value),
        "min_ebfmi": by_name["ebfmi"].value,
        "ess_per_second": by_name["ess"].value / max(fit.sample_seconds, 1e-9),
        "gates": md_table(
            diagnostics.gates_frame(gates).select("gate", "metric", "value", "threshold", "status"),
            float_fmt="{:.4g}",
        ),
    }
    attrs = posterior_of(fit.idata).attrs
    for key in ("parameterisation", *sampling.FRAME_ATTRS):
        if key in attrs:
            value = attrs[key]
            meta[key] = (
                value if isinstance(value, str) else (int(value) if key == "sign_fixed_rollcalls" else float(value))
            )
    if data.excluded:
        meta["excluded_legislators"] = ", ".join(data.excluded)
        meta["excluded_reason"] = data.excluded_reason
    return meta


def flat_posterior(pipe: Pipeline, part: Partition) -> StepOutput:
    m = pipe.load_matrix(part)
    store = pipe.traces(part)
    store.settle()  # finish an interrupted promotion before its candidate could be overwritten
    spec = models.get_model("flat")
    data = models.flat_data(m)
    fit, gates = _fit(pipe, part, spec, data)
    run_id = uuid.uuid4().hex
    posterior_of(fit.idata).attrs["run_id"] = run_id
    # a candidate: published (with the hierarchical trace) only when the run's ERROR gates pass
    path, digest = store.write_candidate(FLAT_TRACE, lambda tmp: fit.idata.to_netcdf(str(tmp)))
    meta = _posterior_metadata(pipe, fit, gates, path, digest, data)
    meta["run_id"] = run_id
    meta["published"] = False
    meta["publication"] = (
        "candidate: hierarchical_posterior publishes it as flat_posterior.nc with the "
        "hierarchical trace when the run's ERROR gates pass, else sets it aside as "
        "flat_posterior.failed.nc"
    )
    # the flat model is the cross-check: its gates are reported here, not blocking (where the
    # hierarchical model cannot be fitted, hierarchical_posterior makes them blocking)
    checks = [
        CheckOutcome(f"flat_{g.name}", g.passed, "warn", g.description, {"value": g.value, "threshold": g.threshold})
        for g in gates
    ]
    return StepOutput(meta, checks)


def hierarchical_posterior(pipe: Pipeline, part: Partition) -> StepOutput:
    """Fit the hierarchical model against this run's flat candidate, evaluate the ERROR gates on
    the model that will be published, and publish both traces together only if they pass.

    Where the hierarchical model cannot be fitted (models.hierarchical_feasibility: one party,
    none, a pooled party too small) nothing is sampled: the gates are the flat posterior's,
    blocking, and the flat model is published alone."""
    m = pipe.load_matrix(part)
    spec = models.get_model(pipe.settings.model)
    if not spec.hierarchical:
        raise ValueError(f"model {spec.name!r} is not a hierarchical model")
    store = pipe.traces(part)
    store.settle()
    flat_path, flat_source = store.candidate(FLAT_TRACE), "candidate"
    if not flat_path.exists():
        # no new flat trace: the hierarchical model is re-fitted against the published one (which
        # stays published whatever the gates say), if there is a verified one
        if store.manifest() is None:
            raise DataProblem(
                f"{part}: no flat posterior candidate at {flat_path} and none published; "
                "materialize flat_posterior first"
            )
        try:
            store.published()
        except LegisError as err:
            raise type(err)(f"{part}: {err}") from None
        flat_path, flat_source = store.path(FLAT_TRACE), "published"
    flat_sha = file_sha256(flat_path)
    flat = az.from_netcdf(flat_path)
    # one run id per pair: the flat candidate's, or a new one when re-fitting against the published flat
    run_id = (str(flat.posterior.attrs.get("run_id") or "") if flat_source == "candidate" else "") or uuid.uuid4().hex
    feasible = models.hierarchical_feasibility(m)
    hier_fit: sampling.FitResult | None = None
    if feasible.fitted:
        data = models.hierarchical_data(m)
        hier_fit, gates = _fit(pipe, part, spec, data)
        posterior_of(hier_fit.idata).attrs.update(run_id=run_id, flat_sha256=flat_sha)
        flat_r = diagnostics.flat_agreement(summaries.posterior_means(hier_fit.idata), summaries.posterior_means(flat))
        gates = [*gates, diagnostics.flat_agreement_gate(flat_r)]
    else:
        pipe.say(f"{part}: hierarchical model not fitted: {feasible.reason}; the flat model's gates decide")
        flat_r = None
        gates, _ = diagnostics.evaluate_gates(flat, models.get_model("flat").gate_vars)
    passed = diagnostics.all_errors_pass(gates)
    record = {
        "run_id": run_id,
        "session_key": part.key.key,
        "chamber": part.chamber,
        "hierarchical_fitted": feasible.fitted,
        "reason": feasible.reason,
        "published_model": "hierarchical" if feasible.fitted else "flat",
        "model": spec.name if feasible.fitted else "flat",
    }
    flat_final: Path | None
    if passed:
        # both traces (or the flat one alone) become the published pair in one commit
        hier_sha = None
        if hier_fit is not None:
            _, hier_sha = store.write_candidate(HIER_TRACE, lambda tmp: hier_fit.idata.to_netcdf(str(tmp)))
        store.promote(record, flat_sha, hier_sha)
        hier_path = store.path(HIER_TRACE) if hier_fit is not None else None
        flat_final = store.path(FLAT_TRACE)
    else:
        # a failed attempt goes beside (never over) the last published pair, named as failed
        hier_sha, hier_path = None, None
        if hier_fit is not None:
            hier_path = store.failed(HIER_TRACE)
            hier_sha = write_atomic(hier_path, lambda tmp: hier_fit.idata.to_netcdf(str(tmp)))
        else:
            store.failed(HIER_TRACE).unlink(missing_ok=True)  # from an earlier attempt: not this run's
        flat_final = store.set_aside(FLAT_TRACE)
        if flat_source == "published":  # this failed hierarchical trace pairs with the published flat one
            store.failed(FLAT_TRACE).unlink(missing_ok=True)
    if hier_fit is not None:
        if hier_path is None or hier_sha is None:  # never: both are set whenever hier_fit is
            raise RuntimeError(f"{part}: the hierarchical trace was written without a path or digest")
        meta = _posterior_metadata(pipe, hier_fit, gates, hier_path, hier_sha, data)
        meta["agreement_with_flat"] = flat_r
    else:
        meta = gates_metadata(gates)
        meta["path"] = PathValue(str(flat_final or flat_path))
        meta["sha256"] = flat_sha
        meta["model"] = "flat"
        meta["legislators"] = m.n_legislators
        meta["rollcalls"] = m.n_rollcalls
    meta.update(
        {
            "hierarchical_fitted": feasible.fitted,
            "published_model": record["published_model"],
            "run_id": run_id,
            "flat_path": PathValue(str(flat_final or flat_path)),
            "flat_sha256": flat_sha,
            "flat_source": flat_source,
            "all_gates_passed": passed,
            "published": passed,
        }
    )
    if not feasible.fitted:
        meta["reason"] = feasible.reason
        meta["note"] = Markdown(
            f"**Hierarchical model not fitted**: {feasible.reason}. The gates are the flat "
            "model's (blocking), and its estimates are the published ones."
        )
    if not passed:
        # downstream assets are blocked; the analyst still gets a report that says why, kept
        # beside (never over) the last report that passed
        report_path = report_step.render_failed_report(
            pipe,
            part,
            hier_fit.idata if hier_fit is not None else None,
            flat,
            fitted=feasible.fitted,
            reason=feasible.reason,
            built_from={"run_id": run_id, "flat_sha256": flat_sha, "hierarchical_sha256": hier_sha or ""},
        )
        meta["failed_report"] = PathValue(str(report_path))
    gate_meta = (
        {} if feasible.fitted else {"evaluated_on": "flat", "hierarchical_fitted": False, "reason": feasible.reason}
    )
    prefix = "" if feasible.fitted else f"flat model (hierarchical model not fitted: {feasible.reason}): "
    checks = [
        CheckOutcome(
            g.name,
            g.passed,
            g.severity,
            prefix + g.description,
            {
                "value": g.value,
                "threshold": g.threshold,
                "comparison": g.comparison,
                "metric": g.metric,
                **gate_meta,
            },
        )
        for g in gates
    ]
    if not feasible.fitted:
        checks.append(
            CheckOutcome(
                "agrees_with_flat",
                True,
                "warn",
                f"not applicable: the hierarchical model was not fitted ({feasible.reason}); the flat model is published",
                {"applicable": False, **gate_meta},
            )
        )
    return StepOutput(meta, checks)


def gates_metadata(gates: list[diagnostics.Gate]) -> dict[str, Any]:
    by_name = {g.name: g for g in gates}
    return {
        "max_rhat": by_name["rhat"].value,
        "min_ess_bulk": by_name["ess"].value,
        "divergences": int(by_name["divergences"].value),
        "min_ebfmi": by_name["ebfmi"].value,
        "gates": md_table(
            diagnostics.gates_frame(gates).select("gate", "metric", "value", "threshold", "status"),
            float_fmt="{:.4g}",
        ),
    }
