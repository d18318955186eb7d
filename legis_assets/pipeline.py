"""The steps of the platform for one session x chamber partition, in plain Python.

Each step reads its inputs from the warehouse (or the trace files), calls one core function,
writes its result (atomically) and returns a `StepOutput`: metadata as plain values and the
outcomes of its checks. The Dagster assets (legis_assets/defs) and the CLI both call these, so
the UI and a scripted run compute exactly the same thing. No Dagster imports here.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import polars as pl

from legis_assets import steps
from legis_assets.core import diagnostics, ingest, models, pca, sampling, summaries
from legis_assets.core import matrix as matrix_mod
from legis_assets.core.idata import posterior_of
from legis_assets.core.schema import (
    CHAMBERS,
    HIERARCHICAL_PARTIES,
    DataProblem,
    LegisError,
    SessionKey,
    validate_chamber,
)
from legis_assets.settings import Settings
from legis_assets.storage import (
    ArtifactMismatch,
    TraceStore,
    Warehouse,
    artifact_dir,
    file_sha256,
    write_atomic,
)

log = logging.getLogger(__name__)


class Markdown(str):
    """A metadata value to show as Markdown."""


class TableMarkdown(Markdown):
    """A small table as Markdown that keeps its frame (`.frame`, the rows shown), so the Dagster
    layer can record it as a typed table with a column schema."""

    frame: pl.DataFrame


class PathValue(str):
    """A metadata value that is a file path."""


@dataclass(frozen=True)
class Partition:
    key: SessionKey
    chamber: str

    def __post_init__(self) -> None:
        validate_chamber(self.chamber)

    @classmethod
    def of(cls, session_key: str, chamber: str) -> Partition:
        return cls(SessionKey.parse(session_key), chamber)

    def __str__(self) -> str:
        return f"{self.key.key} / {self.chamber}"


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    severity: str  # "error" | "warn"
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepOutput:
    metadata: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckOutcome] = field(default_factory=list)


class GateFailure(Exception):
    """An ERROR-severity convergence gate failed: downstream steps must not use this posterior."""

    def __init__(self, partition: Partition, failed: list[diagnostics.Gate]):
        self.partition = partition
        self.failed = failed
        detail = "; ".join(
            f"{g.name}: {g.metric} = {g.value:.4g} (needs {g.comparison} {g.threshold:g})" for g in failed
        )
        super().__init__(f"{partition}: convergence gates failed: {detail}")


# --- table names ------------------------------------------------------------------------
T_VOTES, T_ROLLCALLS, T_LEGISLATORS = "votes", "rollcalls", "legislators"
T_MATRIX, T_MATRIX_LEG, T_MATRIX_RC, T_MANIFEST = (
    "vote_matrix",
    "matrix_legislators",
    "matrix_rollcalls",
    "filter_manifest",
)
T_PCA, T_PCA_VAR = "pca_init", "pca_explained_variance"
T_PROBLEMS = "ingest_problems"
T_DIAG, T_PARAMS = "convergence_diagnostics", "parameter_diagnostics"
T_IDEAL, T_PARTY = "ideal_points", "party_summary"

FLAT_TRACE = "flat_posterior.nc"
HIER_TRACE = "hierarchical_posterior.nc"
REPORT = "report.html"


@dataclass
class PublishedPosterior:
    """The published pair of one partition, checked to come from one run (`TraceStore.published`).

    `hierarchical` is None where the hierarchical model was not fitted (one party, no parties, a
    pooled party too small: `reason`); the flat posterior is then the published one."""

    flat: az.InferenceData
    hierarchical: az.InferenceData | None
    manifest: dict
    flat_path: Path
    hierarchical_path: Path | None

    @property
    def fitted(self) -> bool:
        return self.hierarchical is not None

    @property
    def reason(self) -> str:
        return str(self.manifest.get("reason") or "")

    @property
    def published_model(self) -> str:
        return "hierarchical" if self.fitted else "flat"

    @property
    def published(self) -> az.InferenceData:
        return self.hierarchical if self.hierarchical is not None else self.flat

    def built_from(self) -> dict[str, Any]:
        """What a downstream artifact was built from (its metadata)."""
        files = self.manifest.get("files", {})
        meta: dict[str, Any] = {
            "run_id": str(self.manifest.get("run_id", "")),
            "flat_sha256": files.get(FLAT_TRACE, ""),
            "hierarchical_sha256": files.get(HIER_TRACE, ""),
            "hierarchical_fitted": self.fitted,
            "published_model": self.published_model,
        }
        if not self.fitted:
            meta["reason"] = self.reason
        return meta


def _md_table(frame: pl.DataFrame, float_fmt: str = "{:.3f}", max_rows: int = 12) -> TableMarkdown:
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.head(max_rows).iter_rows():
        cells = [float_fmt.format(v) if isinstance(v, float) else ("" if v is None else str(v)) for v in row]
        cells = [c.replace("|", "\\|").replace("\n", " ") for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if frame.height > max_rows:
        lines.append(f"\n({frame.height - max_rows} more rows)")
    table = TableMarkdown("\n".join(lines))
    table.frame = frame.head(max_rows)
    return table


class Pipeline:
    """All steps for the partitions of one data directory and one LEGIS_HOME."""

    def __init__(self, settings: Settings, progress: Callable[[str], None] | None = None):
        self.settings = settings
        self.warehouse = Warehouse(settings.warehouse_path)
        self.say = progress or log.info

    # --- paths ---------------------------------------------------------------------------
    def session_dir(self, part: Partition) -> Path:
        return part.key.directory(self.settings.data_dir)

    def trace_path(self, part: Partition, name: str) -> Path:
        return artifact_dir("traces", part.key, part.chamber, self.settings.home) / name

    def report_dir(self, part: Partition) -> Path:
        return artifact_dir("reports", part.key, part.chamber, self.settings.home)

    def traces(self, part: Partition) -> TraceStore:
        return TraceStore(artifact_dir("traces", part.key, part.chamber, self.settings.home))

    # --- loading helpers -------------------------------------------------------------------
    def load_matrix(self, part: Partition) -> matrix_mod.VoteMatrix:
        long = self.warehouse.read_partition(T_MATRIX, part.key, part.chamber)
        if long.is_empty():
            raise DataProblem(f"{part}: no vote matrix in the warehouse; materialize vote_matrix first")
        legs = self.warehouse.read_partition(T_MATRIX_LEG, part.key, part.chamber).sort("leg_index")
        rcs = self.warehouse.read_partition(T_MATRIX_RC, part.key, part.chamber).sort("rc_index")
        manifest = self.warehouse.read_partition(T_MANIFEST, part.key, part.chamber)
        man = json.loads(manifest["manifest_json"][0]) if manifest.height else {}
        return matrix_mod.VoteMatrix.from_long_frame(long, legs.drop("leg_index"), rcs.drop("rc_index"), man)

    def load_pca(self, part: Partition) -> pl.DataFrame:
        scores = self.warehouse.read_partition(T_PCA, part.key, part.chamber)
        if scores.is_empty():
            raise DataProblem(f"{part}: no PCA scores in the warehouse; materialize pca_init first")
        return scores

    def load_trace(self, part: Partition, name: str) -> az.InferenceData:
        path = self.trace_path(part, name)
        if not path.exists():
            raise DataProblem(f"{part}: no posterior at {path}; materialize it first")
        return az.from_netcdf(path)

    def load_published(self, part: Partition) -> PublishedPosterior:
        """The published posterior pair, refused (ArtifactMismatch, naming both files) unless the
        files are the ones the run's manifest names and the hierarchical trace was checked against
        exactly this flat trace."""
        store = self.traces(part)
        try:
            manifest = store.published()
        except LegisError as err:
            raise type(err)(f"{part}: {err}") from None
        flat_path = store.path(FLAT_TRACE)
        flat = az.from_netcdf(flat_path)
        hier, hier_path = None, None
        if HIER_TRACE in manifest["files"]:
            hier_path = store.path(HIER_TRACE)
            hier = az.from_netcdf(hier_path)
            recorded = hier.posterior.attrs.get("flat_sha256")
            if recorded != manifest["files"][FLAT_TRACE]:
                raise ArtifactMismatch(
                    f"{part}: {flat_path} and {hier_path} do not belong together: the hierarchical trace was "
                    f"checked against a flat trace with sha256 {str(recorded)[:12]}, this flat trace has "
                    f"{manifest['files'][FLAT_TRACE][:12]}; re-materialize flat_posterior and hierarchical_posterior"
                )
        return PublishedPosterior(flat, hier, manifest, flat_path, hier_path)

    # --- steps -----------------------------------------------------------------------------
    def ingest(self, part: Partition) -> StepOutput:
        tables = ingest.chamber_tables(
            ingest.read_session(self.session_dir(part), allow_outside_root=self.settings.allow_outside_root),
            part.chamber,
        )
        if tables.rollcalls.is_empty():
            raise DataProblem(
                f"{part}: the session directory {self.session_dir(part)} has no {CHAMBERS[part.chamber]} "
                "roll calls (a directory may hold only one chamber)"
            )
        # validate what the later steps need before anything is written, so that data that cannot
        # be analysed (everything unanimous, nobody left after the filters) fails here and leaves
        # the last good partition untouched. One party or none is not refused: the flat model is
        # fitted and published alone (models.hierarchical_feasibility)
        check = matrix_mod.build_vote_matrix(tables.votes, tables.legislators, tables.rollcalls, self.settings.filters)
        feasible = models.hierarchical_feasibility(check)
        # then write each table in its own short transaction
        self.warehouse.replace_partition(T_LEGISLATORS, part.key, part.chamber, tables.legislators)
        self.warehouse.replace_partition(T_ROLLCALLS, part.key, part.chamber, tables.rollcalls)
        self.warehouse.replace_partition(T_VOTES, part.key, part.chamber, tables.votes)
        counts = tables.votes.group_by("vote").len().sort("vote")
        problems = [str(p) for p in tables.problems]
        self.warehouse.replace_partition(
            T_PROBLEMS, part.key, part.chamber, pl.DataFrame({"problem": problems}, schema={"problem": pl.String})
        )
        party_counts = tables.legislators.group_by("party").len().sort("party")
        metadata = {
            "vote_rows": tables.votes.height,
            "rollcalls": tables.rollcalls.height,
            "legislators": tables.legislators.height,
            "problems": len(problems),
            "vote_categories": _md_table(counts),
            "parties": _md_table(party_counts),
            "source_dir": PathValue(str(self.session_dir(part))),
            "hierarchical_model_possible": feasible.fitted,
        }
        if not feasible.fitted:
            metadata["hierarchical_not_fitted_reason"] = feasible.reason
        if problems:
            metadata["problem_list"] = Markdown("\n".join(f"- {p}" for p in problems[:30]))
        checks = [
            CheckOutcome(
                "no_input_problems",
                not problems,
                "warn",
                "the scraper files needed no repair (unknown legislators, duplicates, count mismatches)",
                {"problems": len(problems), "first_problems": "\n".join(problems[:10])},
            ),
        ]
        return StepOutput(metadata, checks)

    def vote_matrix(self, part: Partition) -> StepOutput:
        votes = self.warehouse.read_partition(T_VOTES, part.key, part.chamber)
        legislators = self.warehouse.read_partition(T_LEGISLATORS, part.key, part.chamber)
        rollcalls = self.warehouse.read_partition(T_ROLLCALLS, part.key, part.chamber)
        if votes.is_empty():
            raise DataProblem(f"{part}: no votes in the warehouse; materialize votes first")
        m = matrix_mod.build_vote_matrix(votes, legislators, rollcalls, self.settings.filters)
        self.warehouse.replace_partition(T_MATRIX, part.key, part.chamber, m.long_frame())
        self.warehouse.replace_partition(
            T_MATRIX_LEG,
            part.key,
            part.chamber,
            m.legislators.with_row_index("leg_index").with_columns(pl.col("leg_index").cast(pl.Int32)),
        )
        self.warehouse.replace_partition(
            T_MATRIX_RC,
            part.key,
            part.chamber,
            m.rollcalls.with_row_index("rc_index").with_columns(pl.col("rc_index").cast(pl.Int32)),
        )
        self.warehouse.replace_partition(
            T_MANIFEST, part.key, part.chamber, pl.DataFrame({"manifest_json": [json.dumps(m.manifest)]})
        )
        man = m.manifest
        parties = m.legislators.group_by("party").len().sort("len", descending=True)
        feasible = models.hierarchical_feasibility(m)
        metadata = {
            "legislators": m.n_legislators,
            "rollcalls": m.n_rollcalls,
            "observations": m.n_obs,
            "share_yea": float(man["share_yea"]),
            "fill_rate": m.n_obs / max(m.n_legislators * m.n_rollcalls, 1),
            "rollcalls_dropped_lopsided": man["rollcalls_lopsided"],
            "rollcalls_dropped_no_yea_nay": man["rollcalls_no_yea_nay"],
            "legislators_dropped_too_few_votes": man["legislators_too_few_votes"],
            "min_minority": man["min_minority"],
            "min_votes": man["min_votes"],
            "filters": _md_table(
                pl.DataFrame(
                    {
                        "step": [
                            "roll calls in the data",
                            "dropped: no Yea/Nay",
                            f"dropped: minority < {man['min_minority']:.1%}",
                            "dropped: no voter left",
                            "roll calls kept",
                            "legislators in the data",
                            f"dropped: < {man['min_votes']} votes",
                            "legislators kept",
                        ],
                        "count": [
                            man["rollcalls_raw"],
                            man["rollcalls_no_yea_nay"],
                            man["rollcalls_lopsided"],
                            man["rollcalls_emptied_by_legislator_filter"],
                            man["rollcalls_kept"],
                            man["legislators_raw"],
                            man["legislators_too_few_votes"],
                            man["legislators_kept"],
                        ],
                    }
                )
            ),
            "parties": _md_table(parties),
            "hierarchical_model_possible": feasible.fitted,
        }
        if not feasible.fitted:
            metadata["hierarchical_not_fitted_reason"] = feasible.reason
        two_parties = (
            f"both pooled parties ({', '.join(HIERARCHICAL_PARTIES)}) have at least {models.MIN_POOLED_PARTY} "
            "legislators after filtering"
            if feasible.fitted
            else f"the hierarchical model will not be fitted: {feasible.reason}; the flat model's estimates are published"
        )
        checks = [
            CheckOutcome(
                "two_parties",
                feasible.fitted,
                "warn",
                two_parties,
                {
                    "parties": ", ".join(parties["party"].to_list()),
                    "hierarchical_fitted": feasible.fitted,
                    "reason": feasible.reason,
                    **{f"n_{p}": n for p, n in feasible.party_sizes.items()},
                },
            ),
            CheckOutcome(
                "enough_rollcalls",
                m.n_rollcalls >= 20,
                "warn",
                "at least 20 contested roll calls survive the filters",
                {"rollcalls": m.n_rollcalls},
            ),
        ]
        return StepOutput(metadata, checks)

    def pca_init(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        init = pca.fit_pca_init(m)
        scores = init.scores
        self.warehouse.replace_partition(T_PCA, part.key, part.chamber, scores)
        self.warehouse.replace_partition(
            T_PCA_VAR,
            part.key,
            part.chamber,
            pl.DataFrame(
                {
                    "component": list(range(1, len(init.explained_variance_ratio) + 1)),
                    "explained_variance_ratio": init.explained_variance_ratio,
                }
            ),
        )
        means = (
            scores.group_by("party").agg(pl.col("pc1").mean().alias("pc1_mean"), pl.len().alias("n")).sort("pc1_mean")
        )
        sign_of = {r["party"]: np.sign(r["pc1_mean"]) for r in means.iter_rows(named=True)}
        separates = (sign_of.get("Democrat", -1) < 0 < sign_of.get("Republican", 1)) and len(
            set(sign_of) & set(HIERARCHICAL_PARTIES)
        ) == 2
        metadata = {
            "explained_variance_pc1": init.explained_variance_ratio[0],
            "explained_variance_pc2": init.explained_variance_ratio[1]
            if len(init.explained_variance_ratio) > 1
            else 0.0,
            "sign_rule": init.sign_rule,
            "sign_flipped": init.sign_flipped,
            "party_means": _md_table(means),
        }
        both = len(set(sign_of) & set(HIERARCHICAL_PARTIES)) == 2
        checks = [
            CheckOutcome(
                "pc1_separates_parties",
                bool(separates) or not both,
                "warn",
                "PC1 puts the Democrats' mean below 0 and the Republicans' above"
                if both
                else f"not applicable: the chamber does not have both {' and '.join(HIERARCHICAL_PARTIES)}; PC1's sign "
                f"rule: {init.sign_rule}",
                {**{m_["party"]: float(m_["pc1_mean"]) for m_ in means.iter_rows(named=True)}, "applicable": both},
            )
        ]
        return StepOutput(metadata, checks)

    def _init_vector(self, part: Partition, ids: list[str]) -> np.ndarray:
        scores = self.load_pca(part)
        lookup = dict(zip(scores["legislator_slug"].to_list(), scores["pc1"].to_list()))
        init = np.array([lookup[s] for s in ids], dtype=float)
        return (init - init.mean()) / (init.std() or 1.0)

    def _fit(self, part: Partition, spec: models.ModelSpec, data: models.IRTData) -> sampling.FitResult:
        settings = self.settings.sampler()
        init = self._init_vector(part, data.legislator_ids)
        self.say(
            f"{part}: sampling {spec.name} with profile {self.settings.profile!r} "
            f"({settings.chains} chains, {settings.tune} tune, {settings.draws} draws, seed {settings.seed})"
        )
        fit, _ = sampling.fit_until_gates(spec, data, init, settings, progress=lambda msg: self.say(f"{part}: {msg}"))
        return fit

    def _posterior_metadata(
        self, fit: sampling.FitResult, gates: list[diagnostics.Gate], path: Path, digest: str, data: models.IRTData
    ) -> dict[str, Any]:
        by_name = {g.name: g for g in gates}
        meta: dict[str, Any] = {
            "path": PathValue(str(path)),
            "sha256": digest,
            "model": fit.model,
            "model_description": models.get_model(fit.model).description,
            "profile": self.settings.profile,
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
            "gates": _md_table(
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

    def flat_posterior(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        store = self.traces(part)
        store.settle()  # finish an interrupted promotion before its candidate could be overwritten
        spec = models.get_model("flat")
        data = models.flat_data(m)
        fit = self._fit(part, spec, data)
        gates, _ = diagnostics.evaluate_gates(fit.idata, spec.gate_vars)
        run_id = uuid.uuid4().hex
        posterior_of(fit.idata).attrs["run_id"] = run_id
        # a candidate: published (with the hierarchical trace) only when the run's ERROR gates pass
        path, digest = store.write_candidate(FLAT_TRACE, lambda tmp: fit.idata.to_netcdf(str(tmp)))
        meta = self._posterior_metadata(fit, gates, path, digest, data)
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
            CheckOutcome(
                f"flat_{g.name}", g.passed, "warn", g.description, {"value": g.value, "threshold": g.threshold}
            )
            for g in gates
        ]
        return StepOutput(meta, checks)

    def hierarchical_posterior(self, part: Partition) -> StepOutput:
        """Fit the hierarchical model against this run's flat candidate, evaluate the ERROR gates on
        the model that will be published, and publish both traces together only if they pass.

        Where the hierarchical model cannot be fitted (models.hierarchical_feasibility: one party,
        none, a pooled party too small) nothing is sampled: the gates are the flat posterior's,
        blocking, and the flat model is published alone."""
        m = self.load_matrix(part)
        spec = models.get_model(self.settings.model)
        if not spec.hierarchical:
            raise ValueError(f"model {spec.name!r} is not a hierarchical model")
        store = self.traces(part)
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
        run_id = (
            str(flat.posterior.attrs.get("run_id") or "") if flat_source == "candidate" else ""
        ) or uuid.uuid4().hex
        feasible = models.hierarchical_feasibility(m)
        hier_fit: sampling.FitResult | None = None
        if feasible.fitted:
            data = models.hierarchical_data(m)
            hier_fit = self._fit(part, spec, data)
            posterior_of(hier_fit.idata).attrs.update(run_id=run_id, flat_sha256=flat_sha)
            flat_r = diagnostics.flat_agreement(
                summaries.posterior_means(hier_fit.idata), summaries.posterior_means(flat)
            )
            gates, _ = diagnostics.evaluate_gates(hier_fit.idata, spec.gate_vars, flat_r=flat_r)
        else:
            self.say(f"{part}: hierarchical model not fitted: {feasible.reason}; the flat model's gates decide")
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
            meta = self._posterior_metadata(hier_fit, gates, hier_path, hier_sha, data)
            meta["agreement_with_flat"] = flat_r
        else:
            meta = self._gates_metadata(gates)
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
            report_path = self._render_report(
                part,
                hier_fit.idata if hier_fit is not None else None,
                flat,
                passed=False,
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

    def _gates_metadata(self, gates: list[diagnostics.Gate]) -> dict[str, Any]:
        by_name = {g.name: g for g in gates}
        return {
            "max_rhat": by_name["rhat"].value,
            "min_ess_bulk": by_name["ess"].value,
            "divergences": int(by_name["divergences"].value),
            "min_ebfmi": by_name["ebfmi"].value,
            "gates": _md_table(
                diagnostics.gates_frame(gates).select("gate", "metric", "value", "threshold", "status"),
                float_fmt="{:.4g}",
            ),
        }

    def convergence_diagnostics(self, part: Partition) -> StepOutput:
        pub = self.load_published(part)
        gates_tab, params_tab = self._gate_tables(pub.hierarchical, pub.flat)
        self.warehouse.replace_partition(T_DIAG, part.key, part.chamber, gates_tab)
        self.warehouse.replace_partition(T_PARAMS, part.key, part.chamber, params_tab)
        groups = diagnostics.group_table(params_tab.filter(pl.col("model") == pub.published_model))
        blocking = gates_tab.filter(pl.col("model") == pub.published_model)
        return StepOutput(
            {
                "gates": _md_table(
                    gates_tab.select("model", "gate", "value", "threshold", "status"), float_fmt="{:.4g}"
                ),
                "groups": _md_table(groups, float_fmt="{:.4g}"),
                "rows": gates_tab.height,
                "failed_error_gates": int(blocking.filter(~pl.col("passed") & (pl.col("severity") == "error")).height),
                **pub.built_from(),
            }
        )

    def ideal_points(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        pub = self.load_published(part)
        if pub.hierarchical is not None:  # pub.fitted
            table = summaries.ideal_points(pub.hierarchical, pub.flat, m.legislators)
        else:
            table = summaries.flat_ideal_points(pub.flat, m.legislators)
        self.warehouse.replace_partition(T_IDEAL, part.key, part.chamber, table)
        show = table.select("overall_rank", "name", "party", "position", "xi_hdi_low", "xi_hdi_high")
        by_party = table.group_by("party").agg(pl.col("position").mean().alias("mean_position"), pl.len().alias("n"))
        return StepOutput(
            {
                "legislators": table.height,
                "hierarchical": int(table.filter(pl.col("model") == "hierarchical").height),
                "flat_only": int(table.filter(pl.col("model") == "flat").height),
                "most_liberal": _md_table(show.head(5)),
                "most_conservative": _md_table(show.tail(5).reverse()),
                "party_means": _md_table(by_party.sort("mean_position")),
                "max_abs_shrinkage": diagnostics.scalar_float(table["shrinkage"].abs().max() or 0.0),
                **pub.built_from(),
            }
        )

    def party_summary(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        pub = self.load_published(part)
        if pub.hierarchical is None:  # not pub.fitted
            table = summaries.empty_party_summary()
            self.warehouse.replace_partition(T_PARTY, part.key, part.chamber, table)
            return StepOutput(
                {
                    "rows": 0,
                    "note": Markdown(
                        f"No party parameters: the hierarchical model was not fitted ({pub.reason}). "
                        "The ideal points are the flat model's."
                    ),
                    **pub.built_from(),
                }
            )
        sizes = {p: int(n) for p, n in m.legislators.group_by("party").len().iter_rows()}
        table = summaries.party_summary(pub.hierarchical, sizes)
        self.warehouse.replace_partition(T_PARTY, part.key, part.chamber, table)
        icc = table.filter(pl.col("parameter") == "icc").row(0, named=True)
        return StepOutput(
            {
                "icc": icc["mean"],
                "icc_hdi_low": icc["hdi_low"],
                "icc_hdi_high": icc["hdi_high"],
                "table": _md_table(table, float_fmt="{:.3f}"),
                **pub.built_from(),
            }
        )

    def _gate_tables(self, hier: az.InferenceData | None, flat: az.InferenceData) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Gate rows and per-parameter diagnostics per model (flat only where no hierarchical model
        was fitted; its ERROR gates are then the blocking ones)."""
        roles: list[tuple[str, az.InferenceData, tuple[str, ...], float | None]] = [
            ("flat", flat, models.get_model("flat").gate_vars, None)
        ]
        if hier is not None:
            flat_r = diagnostics.flat_agreement(summaries.posterior_means(hier), summaries.posterior_means(flat))
            roles.insert(
                0,
                (
                    "hierarchical",
                    hier,
                    models.get_model(posterior_of(hier).attrs.get("model", "hierarchical")).gate_vars,
                    flat_r,
                ),
            )
        rows, params = [], []
        for model_role, idata, gate_vars, fr in roles:
            gates, table = diagnostics.evaluate_gates(idata, gate_vars, flat_r=fr)
            rows.append(diagnostics.gates_frame(gates).with_columns(pl.lit(model_role).alias("model")))
            params.append(table.with_columns(pl.lit(model_role).alias("model")))
        return (
            pl.concat(rows).select("model", pl.exclude("model")),
            pl.concat(params).select("model", pl.exclude("model")),
        )

    def _render_report(
        self,
        part: Partition,
        hier: az.InferenceData | None,
        flat: az.InferenceData,
        passed: bool,
        fitted: bool = True,
        reason: str = "",
        built_from: dict | None = None,
    ) -> Path:
        """The report of a run whose gates failed (report.failed.html), from its traces: no step
        stored its tables (report/inputs.py)."""
        from legis_assets.report import inputs

        if passed:
            raise ValueError("a published run's report is the report step's: it reads the stored tables")
        ctx = inputs.failed_context(self, part, hier, flat, fitted=fitted, reason=reason, built_from=built_from)
        return inputs.write_report(self, part, ctx)

    def report(self, part: Partition) -> StepOutput:
        from legis_assets.report import inputs  # reads the tables the upstream steps stored

        pub = self.load_published(part)
        built = pub.built_from()
        path = inputs.write_report(self, part, inputs.published_context(self, part, pub))
        return StepOutput(
            {
                "path": PathValue(str(path)),
                "url": f"file://{path}",
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path),
                **built,
            }
        )

    # --- analysis steps (legis_assets/analysis_steps.py) -----------------------------------------
    def rollcall_parameters(self, part: Partition) -> StepOutput:
        from legis_assets import analysis_steps

        return analysis_steps.rollcall_parameters_step(self, part)

    def model_fit(self, part: Partition) -> StepOutput:
        from legis_assets import analysis_steps

        return analysis_steps.model_fit_step(self, part)

    def reference_comparison(self, part: Partition) -> StepOutput:
        from legis_assets import analysis_steps

        return analysis_steps.reference_comparison_step(self, part)

    STEP_NAMES = steps.STEP_NAMES  # the run order, declared in legis_assets/steps.py

    def run(self, part: Partition, steps: tuple[str, ...] | None = None) -> dict[str, StepOutput]:
        """Run the steps in order for one partition (the CLI path); stops at a failed ERROR gate."""
        outputs: dict[str, StepOutput] = {}
        for name in steps or self.STEP_NAMES:
            self.say(f"{part}: {name} ...")
            out = getattr(self, name)(part)
            outputs[name] = out
            failed = [c for c in out.checks if c.severity == "error" and not c.passed]
            if failed:
                raise GateFailure(
                    part,
                    [
                        diagnostics.Gate(
                            c.name,
                            c.metadata.get("metric", c.name),
                            c.metadata.get("value", float("nan")),
                            c.metadata.get("threshold", float("nan")),
                            c.metadata.get("comparison", "<"),
                            c.severity,
                            c.description,
                        )
                        for c in failed
                    ],
                )
        return outputs
