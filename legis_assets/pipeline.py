"""The steps of the platform for one session x chamber partition, in plain Python.

Each step reads its inputs from the warehouse (or the trace files), calls one core function,
writes its result (atomically) and returns a `StepOutput`: metadata as plain values and the
outcomes of its checks. The Dagster assets (legis_assets/defs) and the CLI both call these, so
the UI and a scripted run compute exactly the same thing. No Dagster imports here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import arviz as az
import numpy as np
import polars as pl

from legis_assets.core import diagnostics, ingest, matrix as matrix_mod, models, pca, sampling, summaries
from legis_assets.core.schema import CHAMBERS, DataProblem, HIERARCHICAL_PARTIES, SessionKey, validate_chamber
from legis_assets.storage import Warehouse, artifact_dir, file_sha256, legis_home, write_atomic

log = logging.getLogger(__name__)


class Markdown(str):
    """A metadata value to show as Markdown."""


class PathValue(str):
    """A metadata value that is a file path."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    home: Path
    profile: str = "default"
    model: str = "hierarchical"
    min_minority: float = 0.025
    min_votes: int = 20
    seed: int | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> "Settings":
        env = os.environ
        values = dict(
            data_dir=Path(env.get("LEGIS_DATA_DIR", "data")).resolve(),
            home=legis_home(),
            profile=env.get("LEGIS_PROFILE", "default"),
            model=env.get("LEGIS_MODEL", "hierarchical"),
            min_minority=float(env.get("LEGIS_MIN_MINORITY", 0.025)),
            min_votes=int(env.get("LEGIS_MIN_VOTES", 20)),
            seed=int(env["LEGIS_SEED"]) if env.get("LEGIS_SEED") else None,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def filters(self) -> matrix_mod.FilterSettings:
        return matrix_mod.FilterSettings(self.min_minority, self.min_votes)

    def sampler(self) -> sampling.SamplerSettings:
        return sampling.get_profile(self.profile, seed=self.seed)

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"


@dataclass(frozen=True)
class Partition:
    key: SessionKey
    chamber: str

    def __post_init__(self) -> None:
        validate_chamber(self.chamber)

    @classmethod
    def of(cls, session_key: str, chamber: str) -> "Partition":
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
        detail = "; ".join(f"{g.name}: {g.metric} = {g.value:.4g} (needs {g.comparison} {g.threshold:g})" for g in failed)
        super().__init__(f"{partition}: convergence gates failed: {detail}")


# --- table names ------------------------------------------------------------------------
T_VOTES, T_ROLLCALLS, T_LEGISLATORS = "votes", "rollcalls", "legislators"
T_MATRIX, T_MATRIX_LEG, T_MATRIX_RC, T_MANIFEST = "vote_matrix", "matrix_legislators", "matrix_rollcalls", "filter_manifest"
T_PCA, T_PCA_VAR = "pca_init", "pca_explained_variance"
T_PROBLEMS = "ingest_problems"
T_DIAG, T_PARAMS = "convergence_diagnostics", "parameter_diagnostics"
T_IDEAL, T_PARTY = "ideal_points", "party_summary"

FLAT_TRACE = "flat_posterior.nc"
HIER_TRACE = "hierarchical_posterior.nc"
FAILED_SUFFIX = ".failed"
REPORT = "report.html"


def _md_table(frame: pl.DataFrame, float_fmt: str = "{:.3f}", max_rows: int = 12) -> Markdown:
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.head(max_rows).iter_rows():
        cells = [float_fmt.format(v) if isinstance(v, float) else ("" if v is None else str(v)) for v in row]
        cells = [c.replace("|", "\\|").replace("\n", " ") for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if frame.height > max_rows:
        lines.append(f"\n({frame.height - max_rows} more rows)")
    return Markdown("\n".join(lines))


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

    # --- steps -----------------------------------------------------------------------------
    def ingest(self, part: Partition) -> StepOutput:
        tables = ingest.chamber_tables(ingest.read_session(self.session_dir(part)), part.chamber)
        if tables.rollcalls.is_empty():
            raise DataProblem(
                f"{part}: the session directory {self.session_dir(part)} has no {CHAMBERS[part.chamber]} "
                "roll calls (a directory may hold only one chamber)"
            )
        # validate what the later steps need before anything is written, so that data that cannot
        # be analysed (everything unanimous, one party only, nobody left after the filters) fails
        # here and leaves the last good partition untouched
        check = matrix_mod.build_vote_matrix(tables.votes, tables.legislators, tables.rollcalls, self.settings.filters)
        models.hierarchical_data(check)
        # then write each table in its own short transaction
        self.warehouse.replace_partition(T_LEGISLATORS, part.key, part.chamber, tables.legislators)
        self.warehouse.replace_partition(T_ROLLCALLS, part.key, part.chamber, tables.rollcalls)
        self.warehouse.replace_partition(T_VOTES, part.key, part.chamber, tables.votes)
        counts = tables.votes.group_by("vote").len().sort("vote")
        problems = [str(p) for p in tables.problems]
        self.warehouse.replace_partition(T_PROBLEMS, part.key, part.chamber,
                                         pl.DataFrame({"problem": problems}, schema={"problem": pl.String}))
        party_counts = tables.legislators.group_by("party").len().sort("party")
        metadata = {
            "vote_rows": tables.votes.height,
            "rollcalls": tables.rollcalls.height,
            "legislators": tables.legislators.height,
            "problems": len(problems),
            "vote_categories": _md_table(counts),
            "parties": _md_table(party_counts),
            "source_dir": PathValue(str(self.session_dir(part))),
        }
        if problems:
            metadata["problem_list"] = Markdown("\n".join(f"- {p}" for p in problems[:30]))
        checks = [
            CheckOutcome("no_input_problems", not problems, "warn",
                         "the scraper files needed no repair (unknown legislators, duplicates, count mismatches)",
                         {"problems": len(problems), "first_problems": "\n".join(problems[:10])}),
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
            T_MATRIX_LEG, part.key, part.chamber,
            m.legislators.with_row_index("leg_index").with_columns(pl.col("leg_index").cast(pl.Int32)))
        self.warehouse.replace_partition(
            T_MATRIX_RC, part.key, part.chamber,
            m.rollcalls.with_row_index("rc_index").with_columns(pl.col("rc_index").cast(pl.Int32)))
        self.warehouse.replace_partition(T_MANIFEST, part.key, part.chamber,
                                         pl.DataFrame({"manifest_json": [json.dumps(m.manifest)]}))
        man = m.manifest
        parties = m.legislators.group_by("party").len().sort("len", descending=True)
        n_two = sum(1 for p in HIERARCHICAL_PARTIES if p in parties["party"].to_list())
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
            "filters": _md_table(pl.DataFrame({
                "step": ["roll calls in the data", "dropped: no Yea/Nay", f"dropped: minority < {man['min_minority']:.1%}",
                         "dropped: no voter left", "roll calls kept", "legislators in the data",
                         f"dropped: < {man['min_votes']} votes", "legislators kept"],
                "count": [man["rollcalls_raw"], man["rollcalls_no_yea_nay"], man["rollcalls_lopsided"],
                          man["rollcalls_emptied_by_legislator_filter"], man["rollcalls_kept"],
                          man["legislators_raw"], man["legislators_too_few_votes"], man["legislators_kept"]],
            })),
            "parties": _md_table(parties),
        }
        checks = [
            CheckOutcome("two_parties", n_two == 2, "warn",
                         f"both pooled parties ({', '.join(HIERARCHICAL_PARTIES)}) have legislators after filtering",
                         {"parties": ", ".join(parties["party"].to_list())}),
            CheckOutcome("enough_rollcalls", m.n_rollcalls >= 20, "warn",
                         "at least 20 contested roll calls survive the filters", {"rollcalls": m.n_rollcalls}),
        ]
        return StepOutput(metadata, checks)

    def pca_init(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        init = pca.fit_pca_init(m)
        scores = init.scores
        self.warehouse.replace_partition(T_PCA, part.key, part.chamber, scores)
        self.warehouse.replace_partition(T_PCA_VAR, part.key, part.chamber, pl.DataFrame({
            "component": list(range(1, len(init.explained_variance_ratio) + 1)),
            "explained_variance_ratio": init.explained_variance_ratio}))
        means = scores.group_by("party").agg(pl.col("pc1").mean().alias("pc1_mean"), pl.len().alias("n")).sort("pc1_mean")
        sign_of = {r["party"]: np.sign(r["pc1_mean"]) for r in means.iter_rows(named=True)}
        separates = (sign_of.get("Democrat", -1) < 0 < sign_of.get("Republican", 1)) and len(
            set(sign_of) & set(HIERARCHICAL_PARTIES)) == 2
        metadata = {
            "explained_variance_pc1": init.explained_variance_ratio[0],
            "explained_variance_pc2": init.explained_variance_ratio[1] if len(init.explained_variance_ratio) > 1 else 0.0,
            "sign_rule": init.sign_rule,
            "sign_flipped": init.sign_flipped,
            "party_means": _md_table(means),
        }
        checks = [CheckOutcome("pc1_separates_parties", bool(separates), "warn",
                               "PC1 puts the Democrats' mean below 0 and the Republicans' above",
                               {m_["party"]: float(m_["pc1_mean"]) for m_ in means.iter_rows(named=True)})]
        return StepOutput(metadata, checks)

    def _init_vector(self, part: Partition, ids: list[str]) -> np.ndarray:
        scores = self.load_pca(part)
        lookup = dict(zip(scores["legislator_slug"].to_list(), scores["pc1"].to_list()))
        init = np.array([lookup[s] for s in ids], dtype=float)
        return (init - init.mean()) / (init.std() or 1.0)

    def _fit(self, part: Partition, spec: models.ModelSpec, data: models.IRTData) -> sampling.FitResult:
        settings = self.settings.sampler()
        init = self._init_vector(part, data.legislator_ids)
        self.say(f"{part}: sampling {spec.name} with profile {self.settings.profile!r} "
                 f"({settings.chains} chains, {settings.tune} tune, {settings.draws} draws, seed {settings.seed})")
        fit, _ = sampling.fit_until_gates(spec, data, init, settings, progress=lambda msg: self.say(f"{part}: {msg}"))
        return fit

    def _write_trace(self, part: Partition, name: str, idata: az.InferenceData) -> tuple[Path, str]:
        path = self.trace_path(part, name)
        digest = write_atomic(path, lambda tmp: idata.to_netcdf(str(tmp)))
        return path, digest

    def _posterior_metadata(self, fit: sampling.FitResult, gates: list[diagnostics.Gate], path: Path,
                            digest: str, data: models.IRTData) -> dict[str, Any]:
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
            "gates": _md_table(diagnostics.gates_frame(gates).select("gate", "metric", "value", "threshold", "status"),
                               float_fmt="{:.4g}"),
        }
        attrs = fit.idata.posterior.attrs
        for key in ("parameterisation", *sampling.FRAME_ATTRS):
            if key in attrs:
                value = attrs[key]
                meta[key] = value if isinstance(value, str) else (
                    int(value) if key == "sign_fixed_rollcalls" else float(value))
        if data.excluded:
            meta["excluded_legislators"] = ", ".join(data.excluded)
            meta["excluded_reason"] = data.excluded_reason
        return meta

    def flat_posterior(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        spec = models.get_model("flat")
        data = models.flat_data(m)
        fit = self._fit(part, spec, data)
        gates, _ = diagnostics.evaluate_gates(fit.idata, spec.gate_vars)
        path, digest = self._write_trace(part, FLAT_TRACE, fit.idata)
        meta = self._posterior_metadata(fit, gates, path, digest, data)
        # the flat model is the cross-check: its gates are reported, not blocking
        checks = [CheckOutcome(f"flat_{g.name}", g.passed, "warn", g.description,
                               {"value": g.value, "threshold": g.threshold}) for g in gates]
        return StepOutput(meta, checks)

    def hierarchical_posterior(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        spec = models.get_model(self.settings.model)
        if not spec.hierarchical:
            raise ValueError(f"model {spec.name!r} is not a hierarchical model")
        data = models.hierarchical_data(m)
        fit = self._fit(part, spec, data)
        flat = self.load_trace(part, FLAT_TRACE)
        flat_r = diagnostics.flat_agreement(summaries.posterior_means(fit.idata), summaries.posterior_means(flat))
        gates, _ = diagnostics.evaluate_gates(fit.idata, spec.gate_vars, flat_r=flat_r)
        passed = diagnostics.all_errors_pass(gates)
        # a posterior that fails a gate never replaces the last one that passed: it goes beside it
        name = HIER_TRACE if passed else HIER_TRACE.replace(".nc", f"{FAILED_SUFFIX}.nc")
        path, digest = self._write_trace(part, name, fit.idata)
        if passed:
            self.trace_path(part, HIER_TRACE.replace(".nc", f"{FAILED_SUFFIX}.nc")).unlink(missing_ok=True)
        meta = self._posterior_metadata(fit, gates, path, digest, data)
        meta["agreement_with_flat"] = flat_r
        meta["all_gates_passed"] = passed
        if not passed:
            # downstream assets are blocked; the analyst still gets a report that says why, kept
            # beside (never over) the last report that passed
            report_path = self._render_report(part, fit.idata, flat, passed=False)
            meta["failed_report"] = PathValue(str(report_path))
        checks = [CheckOutcome(g.name, g.passed, g.severity, g.description,
                               {"value": g.value, "threshold": g.threshold, "comparison": g.comparison,
                                "metric": g.metric}) for g in gates]
        return StepOutput(meta, checks)

    def convergence_diagnostics(self, part: Partition) -> StepOutput:
        gates_tab, params_tab = self._gate_tables(self.load_trace(part, HIER_TRACE), self.load_trace(part, FLAT_TRACE))
        self.warehouse.replace_partition(T_DIAG, part.key, part.chamber, gates_tab)
        self.warehouse.replace_partition(T_PARAMS, part.key, part.chamber, params_tab)
        groups = diagnostics.group_table(params_tab.filter(pl.col("model") == "hierarchical"))
        return StepOutput({
            "gates": _md_table(gates_tab.select("model", "gate", "value", "threshold", "status"), float_fmt="{:.4g}"),
            "groups": _md_table(groups, float_fmt="{:.4g}"),
            "rows": gates_tab.height,
            "failed_error_gates": int(gates_tab.filter(~pl.col("passed") & (pl.col("severity") == "error")).height),
        })

    def ideal_points(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        hier = self.load_trace(part, HIER_TRACE)
        flat = self.load_trace(part, FLAT_TRACE)
        table = summaries.ideal_points(hier, flat, m.legislators)
        self.warehouse.replace_partition(T_IDEAL, part.key, part.chamber, table)
        show = table.select("overall_rank", "name", "party", "position", "xi_hdi_low", "xi_hdi_high")
        by_party = table.group_by("party").agg(pl.col("position").mean().alias("mean_position"), pl.len().alias("n"))
        return StepOutput({
            "legislators": table.height,
            "hierarchical": int(table.filter(pl.col("model") == "hierarchical").height),
            "flat_only": int(table.filter(pl.col("model") == "flat").height),
            "most_liberal": _md_table(show.head(5)),
            "most_conservative": _md_table(show.tail(5).reverse()),
            "party_means": _md_table(by_party.sort("mean_position")),
            "max_abs_shrinkage": float(table["shrinkage"].abs().max() or 0.0),
        })

    def party_summary(self, part: Partition) -> StepOutput:
        m = self.load_matrix(part)
        hier = self.load_trace(part, HIER_TRACE)
        sizes = {p: int(n) for p, n in m.legislators.group_by("party").len().iter_rows()}
        table = summaries.party_summary(hier, sizes)
        self.warehouse.replace_partition(T_PARTY, part.key, part.chamber, table)
        icc = table.filter(pl.col("parameter") == "icc").row(0, named=True)
        return StepOutput({
            "icc": icc["mean"],
            "icc_hdi_low": icc["hdi_low"],
            "icc_hdi_high": icc["hdi_high"],
            "table": _md_table(table, float_fmt="{:.3f}"),
        })

    def _gate_tables(self, hier: az.InferenceData, flat: az.InferenceData) -> tuple[pl.DataFrame, pl.DataFrame]:
        flat_r = diagnostics.flat_agreement(summaries.posterior_means(hier), summaries.posterior_means(flat))
        rows, params = [], []
        for model_role, idata, gate_vars, fr in (
            ("hierarchical", hier, models.get_model(hier.posterior.attrs.get("model", "hierarchical")).gate_vars, flat_r),
            ("flat", flat, models.get_model("flat").gate_vars, None),
        ):
            gates, table = diagnostics.evaluate_gates(idata, gate_vars, flat_r=fr)
            rows.append(diagnostics.gates_frame(gates).with_columns(pl.lit(model_role).alias("model")))
            params.append(table.with_columns(pl.lit(model_role).alias("model")))
        return (pl.concat(rows).select("model", pl.exclude("model")),
                pl.concat(params).select("model", pl.exclude("model")))

    @staticmethod
    def _sampler_info(idata: az.InferenceData, profile: str) -> dict:
        attrs = dict(idata.posterior.attrs)
        info = {k.removeprefix("settings_"): v for k, v in attrs.items() if k.startswith("settings_")}
        # what actually ran (e.g. the backend "auto" resolved to) wins over the requested settings
        info.update({k: v for k, v in attrs.items()
                     if k in ("model", "backend", "compile_seconds", "sample_seconds", "grad_evals",
                              *sampling.FRAME_ATTRS)})
        info.setdefault("profile", profile)
        return info

    def _render_report(self, part: Partition, hier: az.InferenceData, flat: az.InferenceData, passed: bool) -> Path:
        from datetime import datetime, timezone

        from legis_assets.report import ReportContext, render_report

        m = self.load_matrix(part)
        gates, params = self._gate_tables(hier, flat)
        sizes = {p: int(n) for p, n in m.legislators.group_by("party").len().iter_rows()}
        variance = self.warehouse.read_partition(T_PCA_VAR, part.key, part.chamber).sort("component")
        problems = self.warehouse.read_partition(T_PROBLEMS, part.key, part.chamber)
        ctx = ReportContext(
            session_key=part.key.key,
            chamber=part.chamber,
            passed=passed,
            gates=gates,
            parameters=params,
            hierarchical=hier,
            flat=flat,
            ideal_points=summaries.ideal_points(hier, flat, m.legislators),
            party_summary=summaries.party_summary(hier, sizes),
            manifest=m.manifest,
            pca_scores=self.load_pca(part),
            explained_variance=variance["explained_variance_ratio"].to_list() if variance.height else [],
            sampler={"hierarchical": self._sampler_info(hier, self.settings.profile),
                     "flat": self._sampler_info(flat, self.settings.profile)},
            problems=problems["problem"].to_list() if problems.height else [],
            generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        html = render_report(ctx)
        name = REPORT if passed else REPORT.replace(".html", f"{FAILED_SUFFIX}.html")
        path = self.report_dir(part) / name
        write_atomic(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
        if passed:
            (self.report_dir(part) / REPORT.replace(".html", f"{FAILED_SUFFIX}.html")).unlink(missing_ok=True)
        return path

    def report(self, part: Partition) -> StepOutput:
        hier = self.load_trace(part, HIER_TRACE)
        flat = self.load_trace(part, FLAT_TRACE)
        path = self._render_report(part, hier, flat, passed=True)
        return StepOutput({
            "path": PathValue(str(path)),
            "url": f"file://{path}",
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
        })

    STEP_NAMES = ("ingest", "vote_matrix", "pca_init", "flat_posterior", "hierarchical_posterior",
                  "convergence_diagnostics", "ideal_points", "party_summary", "report")

    def run(self, part: Partition, steps: tuple[str, ...] | None = None) -> dict[str, StepOutput]:
        """Run the steps in order for one partition (the CLI path); stops at a failed ERROR gate."""
        outputs: dict[str, StepOutput] = {}
        for name in steps or self.STEP_NAMES:
            self.say(f"{part}: {name} ...")
            out = getattr(self, name)(part)
            outputs[name] = out
            failed = [c for c in out.checks if c.severity == "error" and not c.passed]
            if failed:
                raise GateFailure(part, [
                    diagnostics.Gate(c.name, c.metadata.get("metric", c.name), c.metadata.get("value", float("nan")),
                                     c.metadata.get("threshold", float("nan")), c.metadata.get("comparison", "<"),
                                     c.severity, c.description) for c in failed])
        return outputs
