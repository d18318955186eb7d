"""The steps of the platform for one session x chamber partition, in plain Python.

Each step reads its inputs from the warehouse (or the trace files), calls one core function,
writes its result (atomically) and returns a `StepOutput`: metadata as plain values and the
outcomes of its checks. The Dagster assets (legis_assets/defs) and the CLI both call these, so
the UI and a scripted run compute exactly the same thing. No Dagster imports here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import polars as pl

from legis_assets import steps
from legis_assets.core import diagnostics, ingest, models, pca, summaries
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
from legis_assets.step_output import CheckOutcome, Markdown, PathValue, StepOutput, TableMarkdown, md_table, run_steps
from legis_assets.storage import (
    ArtifactMismatch,
    TraceStore,
    Warehouse,
    artifact_dir,
)

log = logging.getLogger(__name__)

__all__ = [
    "CheckOutcome",
    "GateFailure",
    "Markdown",
    "Partition",
    "PathValue",
    "Pipeline",
    "PublishedPosterior",
    "Settings",
    "StepOutput",
    "TableMarkdown",
    "md_table",
]

#: the name the analysis steps and the Dagster layer import (step_output.md_table)
_md_table = md_table


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
            "vote_categories": md_table(counts),
            "parties": md_table(party_counts),
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
            "filters": md_table(
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
            "parties": md_table(parties),
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
            "party_means": md_table(means),
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

    # --- the posterior steps (legis_assets/posterior_steps.py) -------------------------------
    def flat_posterior(self, part: Partition) -> StepOutput:
        from legis_assets import posterior_steps

        return posterior_steps.flat_posterior(self, part)

    def hierarchical_posterior(self, part: Partition) -> StepOutput:
        from legis_assets import posterior_steps

        return posterior_steps.hierarchical_posterior(self, part)

    # --- the results -------------------------------------------------------------------------
    def convergence_diagnostics(self, part: Partition) -> StepOutput:
        pub = self.load_published(part)
        gates_tab, params_tab = self._gate_tables(pub.hierarchical, pub.flat)
        self.warehouse.replace_partition(T_DIAG, part.key, part.chamber, gates_tab)
        self.warehouse.replace_partition(T_PARAMS, part.key, part.chamber, params_tab)
        groups = diagnostics.group_table(params_tab.filter(pl.col("model") == pub.published_model))
        blocking = gates_tab.filter(pl.col("model") == pub.published_model)
        return StepOutput(
            {
                "gates": md_table(
                    gates_tab.select("model", "gate", "value", "threshold", "status"), float_fmt="{:.4g}"
                ),
                "groups": md_table(groups, float_fmt="{:.4g}"),
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
                "most_liberal": md_table(show.head(5)),
                "most_conservative": md_table(show.tail(5).reverse()),
                "party_means": md_table(by_party.sort("mean_position")),
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
                "table": md_table(table, float_fmt="{:.3f}"),
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

    def report(self, part: Partition) -> StepOutput:
        from legis_assets import report_step

        return report_step.report(self, part)

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
        return run_steps(self, part, steps or self.STEP_NAMES, str(part), lambda failed: _gate_failure(part, failed))


def _gate_failure(part: Partition, failed: list[CheckOutcome]) -> GateFailure:
    return GateFailure(
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
