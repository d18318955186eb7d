"""The steps of the common scale of one legislature, in plain Python (DESIGN.md 6b).

Beside pipeline.py (one session x chamber), these steps put every chamber-session of one
legislature on one scale. Like there, each step reads its inputs from the warehouse (or the trace
file), calls one core function, writes its result atomically and returns a `StepOutput`
(metadata as plain values, check outcomes). The Dagster assets (defs/common_scale.py) and the CLI
both call these. No Dagster imports here.

Inputs: the `vote_matrix` tables the per-session steps wrote, for every session directory of the
legislature present under the data root now (a session removed from the data root is left out;
its own results stay in the warehouse) and every chamber with roll calls in it. Each used
chamber-session is recorded with a content digest of its vote matrix (`input_rows`); the digest of
all of them (`inputs_digest`) is what the staleness check and the rebuild sensor compare.

Steps, in order (declared once in steps.SCALE_STEPS; `ScalePipeline.STEP_NAMES`):

* people                 person table (identity rule + `<data root>/<legislature>/people_overrides.csv`
                         when present) and bridge graph -> tables people, bridge_edges, bridge_nodes;
                         WARN check `connected`
* common_scale_posterior the joint fit (core.common_scale.fit_until_gates) -> trace
                         $LEGIS_HOME/traces/<legislature>/common_scale/common_scale_posterior.nc
                         (a failed fit: common_scale_posterior.failed.nc beside it) and table scale_inputs;
                         checks rhat, ess, divergences (ERROR), ebfmi, agrees_with_linked (WARN)
* scale_positions, scale_party_trend, scale_movement, scale_diagnostics   warehouse tables
* common_scale_report    HTML page $LEGIS_HOME/reports/<legislature>/common_scale/report.html

Warehouse tables of a scale are keyed by the column `scale` (= the legislature).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import arviz as az
import polars as pl

from legis_assets import steps
from legis_assets.core import diagnostics, ingest, sampling
from legis_assets.core.bridge import bridge_graph, kept_from_matrices, node_id
from legis_assets.core.common_scale import (
    ChamberSession,
    CommonScaleData,
    build_common_data,
    evaluate_common_gates,
    fit_until_gates,
    movement,
    party_trend,
    pca_start,
    positions,
)
from legis_assets.core.idata import posterior_of
from legis_assets.core.matrix import VoteMatrix
from legis_assets.core.people import build_people, session_sort_key
from legis_assets.core.schema import DataProblem, SessionKey
from legis_assets.pipeline import (
    T_LEGISLATORS,
    T_MATRIX,
    T_MATRIX_LEG,
    T_MATRIX_RC,
    T_VOTES,
    Partition,
    Pipeline,
    Settings,
)
from legis_assets.scale_inputs import (
    INPUT_COLUMNS,
    OVERRIDES_FILE,
    SCALE_DIR,
    SCALE_FAILED_TRACE,
    SCALE_REPORT,
    SCALE_TRACE,
    T_BRIDGE_EDGES,
    T_BRIDGE_NODES,
    T_MOVEMENT,
    T_PARTY_TREND,
    T_PEOPLE,
    T_POSITIONS,
    T_SCALE_DIAG,
    T_SCALE_INPUTS,
    T_SCALE_PARAMS,
    NotEnoughChamberSessions,
    ScaleGateFailure,
    ScaleInputs,
    compare_inputs,
    inputs_digest,
    matrix_digest,
    validate_legislature,
)
from legis_assets.step_output import CheckOutcome, Markdown, PathValue, StepOutput, md_table, run_steps
from legis_assets.storage import Warehouse, file_sha256, write_atomic

log = logging.getLogger(__name__)


class ScalePipeline:
    """The common-scale steps for the legislatures of one data directory and one LEGIS_HOME.

    `built_at(partition) -> str | None` optionally says when a chamber-session's vote matrix was built
    (the Dagster layer reads it from the instance); without it the column says so."""

    STEP_NAMES = steps.SCALE_STEP_NAMES  # the run order, declared in legis_assets/steps.py

    def __init__(
        self,
        settings: Settings,
        progress: Callable[[str], None] | None = None,
        built_at: Callable[[Partition], str | None] | None = None,
    ):
        self.settings = settings
        self.session_pipeline = Pipeline(settings, progress=progress)
        self.warehouse: Warehouse = self.session_pipeline.warehouse
        self.say = progress or log.info
        self.built_at = built_at
        #: the sampling profile of the joint fit: LEGIS_SCALE_PROFILE, else the platform's profile
        self.profile = settings.joint_profile

    # --- paths -------------------------------------------------------------------------------
    def trace_dir(self, legislature: str) -> Path:
        return self.settings.home / "traces" / validate_legislature(legislature) / SCALE_DIR

    def trace_path(self, legislature: str) -> Path:
        return self.trace_dir(legislature) / SCALE_TRACE

    def failed_trace_path(self, legislature: str) -> Path:
        return self.trace_dir(legislature) / SCALE_FAILED_TRACE

    def report_path(self, legislature: str) -> Path:
        return self.settings.home / "reports" / validate_legislature(legislature) / SCALE_DIR / SCALE_REPORT

    def overrides_path(self, legislature: str) -> Path:
        return Path(self.settings.data_dir) / validate_legislature(legislature) / OVERRIDES_FILE

    # --- inputs ------------------------------------------------------------------------------
    def legislatures(self) -> list[str]:
        return sorted(
            {
                leg
                for leg, _ in ingest.discover_sessions(
                    self.settings.data_dir, allow_outside_root=self.settings.allow_outside_root
                )
            }
        )

    def partitions(self, legislature: str) -> list[Partition]:
        """Every chamber with roll calls in every session directory of the legislature present now."""
        from legis_assets.automation import chambers_with_data

        validate_legislature(legislature)
        keys = sorted(
            (
                SessionKey(leg, ses)
                for leg, ses in ingest.discover_sessions(
                    self.settings.data_dir, allow_outside_root=self.settings.allow_outside_root
                )
                if leg == legislature
            ),
            key=lambda k: session_sort_key(k.key),
        )
        return [Partition(k, c) for k in keys for c in chambers_with_data(k.directory(self.settings.data_dir))]

    def current_inputs(self, legislature: str, load: bool = True) -> ScaleInputs:
        """The chamber-sessions found now, with each one's vote-matrix digest (null: not built)."""
        rows: list[tuple] = []
        matrices: dict[tuple[str, str], VoteMatrix] = {}
        for part in self.partitions(legislature):
            long = self.warehouse.read_partition(T_MATRIX, part.key, part.chamber)
            if long.is_empty():
                rows.append((node_id(part.key.key, part.chamber), part.key.key, part.chamber, None, None, None, None))
                continue
            legs = self.warehouse.read_partition(T_MATRIX_LEG, part.key, part.chamber)
            rcs = self.warehouse.read_partition(T_MATRIX_RC, part.key, part.chamber)
            built = self.built_at(part) if self.built_at else None
            rows.append(
                (
                    node_id(part.key.key, part.chamber),
                    part.key.key,
                    part.chamber,
                    legs.height,
                    rcs.height,
                    matrix_digest(long, legs, rcs),
                    built or "(not recorded)",
                )
            )
            if load:
                matrices[(part.key.key, part.chamber)] = self.session_pipeline.load_matrix(part)
        return ScaleInputs(legislature, pl.DataFrame(rows, schema=INPUT_COLUMNS, orient="row"), matrices)

    def used_inputs(self, legislature: str) -> pl.DataFrame:
        """The chamber-sessions the published common scale considered (table scale_inputs; `in_scale`
        false: left out, not connected by shared people)."""
        return self.warehouse.read_scale(T_SCALE_INPUTS, validate_legislature(legislature))

    def inputs_status(self, legislature: str) -> tuple[bool, pl.DataFrame, pl.DataFrame]:
        """(current, differences, used): is the published scale built from the inputs found now?"""
        used = self.used_inputs(legislature)
        current = self.current_inputs(legislature, load=False).rows
        diff = compare_inputs(
            used.select(list(INPUT_COLUMNS)) if used.height else pl.DataFrame(schema=INPUT_COLUMNS), current
        )
        return used.height > 0 and diff.height == 0, diff, used

    def _inputs_for_fit(self, legislature: str) -> ScaleInputs:
        inputs = self.current_inputs(legislature)
        if inputs.built.height < 2 or inputs.built["session_key"].n_unique() < 2:
            found = ", ".join(inputs.built["chamber_session"].to_list()) or "none"
            raise NotEnoughChamberSessions(
                f"{legislature}: {inputs.built.height} chamber-session(s) with a vote matrix ({found}); a common scale "
                "needs two or more, from two or more sessions (a single session's common scale is that session's "
                "own scale)"
            )
        return inputs

    @staticmethod
    def _inputs_table(rows: pl.DataFrame) -> Markdown:
        show = rows.with_columns(pl.col("matrix_digest").str.slice(0, 12))
        return md_table(
            show.select("chamber_session", "legislators", "rollcalls", "matrix_digest", "built"), max_rows=200
        )

    # --- steps -------------------------------------------------------------------------------
    def people(self, legislature: str) -> StepOutput:
        inputs = self._inputs_for_fit(legislature)
        legislators, votes = [], {}
        for row in inputs.built.iter_rows(named=True):
            key = SessionKey.parse(row["session_key"])
            legislators.append(
                (key.key, row["chamber"], self.warehouse.read_partition(T_LEGISLATORS, key, row["chamber"]))
            )
            votes[(key.key, row["chamber"])] = self.warehouse.read_partition(T_VOTES, key, row["chamber"]).select(
                "vote_id", "legislator_slug"
            )
        overrides = self.overrides_path(legislature)
        people = build_people(legislators, overrides if overrides.is_file() else None, votes)
        graph = bridge_graph(people, kept_from_matrices(inputs.matrices))
        self.warehouse.replace_scale(T_PEOPLE, legislature, people)
        self.warehouse.replace_scale(T_BRIDGE_EDGES, legislature, graph.edges)
        self.warehouse.replace_scale(T_BRIDGE_NODES, legislature, graph.nodes)
        per_person = people.group_by("person_id").agg(pl.struct("session_key", "chamber").n_unique().alias("n"))
        left_out = graph.disconnected
        linked = graph.edges.filter(pl.col("shared") > 0).sort("a", "b")
        metadata: dict[str, Any] = {
            "people": int(per_person.height),
            "people_in_several_chamber_sessions": int(per_person.filter(pl.col("n") > 1).height),
            "rows": people.height,
            "chamber_sessions": inputs.built.height,
            "components": len(graph.components),
            "connected": graph.connected,
            "inputs": self._inputs_table(inputs.rows),
            "inputs_digest": inputs.digest,
            "bridges": md_table(linked.select("a", "b", "shared", "shared_all", "thin"), max_rows=60),
            "thin_bridges": int(graph.thin_edges.height),
            "overrides_file": PathValue(str(overrides)) if overrides.is_file() else "none",
        }
        if graph.thin_edges.height:
            metadata["thin_bridge_list"] = md_table(graph.thin_edges.select("a", "b", "shared"), max_rows=60)
        not_built = inputs.rows.filter(pl.col("matrix_digest").is_null())["chamber_session"].to_list()
        if not_built:
            metadata["not_built"] = ", ".join(not_built)
        description = (
            "every chamber-session is linked to the others by people who served in both"
            if not left_out
            else f"left out of the common scale (no person links them to the main group): {', '.join(left_out)}"
        )
        checks = [
            CheckOutcome(
                "connected",
                not left_out,
                "warn",
                description,
                {
                    "left_out": ", ".join(left_out),
                    "components": len(graph.components),
                    "thin_bridges": int(graph.thin_edges.height),
                },
            )
        ]
        return StepOutput(metadata, checks)

    def _people_table(self, legislature: str, inputs: ScaleInputs) -> pl.DataFrame:
        people = self.warehouse.read_scale(T_PEOPLE, legislature)
        have = set(zip(people["session_key"].to_list(), people["chamber"].to_list())) if people.height else set()
        missing = [f"{k}:{c}" for k, c in inputs.matrices if (k, c) not in have]
        if missing:
            raise DataProblem(
                f"{legislature}: the people table does not cover {', '.join(missing)}; materialize people first"
            )
        return people

    def common_scale_posterior(self, legislature: str) -> StepOutput:
        inputs = self._inputs_for_fit(legislature)
        people = self._people_table(legislature, inputs)
        css = inputs.chamber_sessions()
        data = build_common_data(css, people)
        if data.chamber_sessions.height < 2:
            raise NotEnoughChamberSessions(
                f"{legislature}: only {data.chamber_sessions.height} chamber-session is connected by shared people "
                f"({', '.join(data.excluded['session_key'] + ':' + data.excluded['chamber'])} left out); "
                "nothing to put on a common scale"
            )
        start = pca_start(data, css)
        sampler = sampling.get_profile(self.profile, seed=self.settings.seed)
        self.say(
            f"{legislature}: common scale over {data.chamber_sessions.height} chamber-sessions, "
            f"{data.n_slots} slots, {data.n_rollcalls} roll calls, {data.n_obs} votes ..."
        )
        fit, gates = fit_until_gates(data, start, sampler, progress=self.say)
        digest = inputs.digest
        used_labels = data.chamber_sessions["label"].to_list()
        used_nodes = [node_id(*label.split("/")) for label in used_labels]
        # every chamber-session considered (those left out as disconnected too: not "new" later)
        considered = inputs.built.with_columns(in_scale=pl.col("chamber_session").is_in(used_nodes))
        used_rows = considered.filter(pl.col("in_scale"))
        posterior_of(fit.idata).attrs.update(
            legislature=legislature, inputs_digest=digest, used_digest=inputs_digest(considered), profile=self.profile
        )
        passed = diagnostics.all_errors_pass(gates)
        if passed:
            path = self.trace_path(legislature)
            sha = write_atomic(path, lambda tmp: fit.idata.to_netcdf(str(tmp)))
            self.failed_trace_path(legislature).unlink(missing_ok=True)
            self.warehouse.replace_scale(T_SCALE_INPUTS, legislature, considered)
        else:
            path = self.failed_trace_path(legislature)
            sha = write_atomic(path, lambda tmp: fit.idata.to_netcdf(str(tmp)))
        by_name = {g.name: g for g in gates}
        ess = by_name["ess"].value
        seconds = fit.sample_seconds
        metadata: dict[str, Any] = {
            "path": PathValue(str(path)),
            "sha256": sha,
            "published": passed,
            "all_gates_passed": passed,
            "gates": md_table(
                diagnostics.gates_frame(gates).select("gate", "metric", "value", "threshold", "status"),
                float_fmt="{:.4g}",
            ),
            "max_rhat": by_name["rhat"].value,
            "min_ess_bulk": ess,
            "divergences": int(by_name["divergences"].value),
            "sampling_seconds": float(seconds),
            "compile_seconds": float(fit.compile_seconds),
            "steps_per_draw": float(fit.steps_per_draw),
            "ess_per_second": float(ess / seconds) if seconds > 0 else float("nan"),
            "attempts": int(fit.attempts),
            "backend": fit.backend,
            "profile": self.profile,
            "chamber_sessions_used": self._inputs_table(used_rows),
            "n_chamber_sessions": len(used_nodes),
            "slots": data.n_slots,
            "people": int(data.slots["person_id"].n_unique()),
            "rollcalls": data.n_rollcalls,
            "observations": data.n_obs,
            "inputs_digest": digest,
        }
        if data.excluded.height:
            metadata["left_out"] = md_table(
                data.excluded.select(
                    pl.concat_str("session_key", pl.lit(":"), "chamber").alias("chamber_session"), "reason"
                ),
                max_rows=50,
            )
        not_built = inputs.rows.filter(pl.col("matrix_digest").is_null())["chamber_session"].to_list()
        if not_built:
            metadata["not_built"] = ", ".join(not_built)
        checks = [
            CheckOutcome(
                g.name,
                g.passed,
                g.severity,
                g.description,
                {"value": g.value, "threshold": g.threshold, "comparison": g.comparison, "metric": g.metric},
            )
            for g in gates
        ]
        return StepOutput(metadata, checks)

    # --- the published scale -------------------------------------------------------------------
    def load_published(self, legislature: str) -> tuple[az.InferenceData, CommonScaleData, list[ChamberSession]]:
        """The published trace and the data it was fitted to (rebuilt from the warehouse), refused
        when a used vote matrix changed since (the tables would mix two fits)."""
        path = self.trace_path(legislature)
        if not path.exists():
            raise DataProblem(
                f"{legislature}: no common-scale posterior at {path}; materialize common_scale_posterior first"
            )
        idata = az.from_netcdf(path)
        used = self.used_inputs(legislature)
        if used.is_empty():
            raise DataProblem(
                f"{legislature}: no record of the chamber-sessions the common scale used; "
                "materialize common_scale_posterior first"
            )
        if str(idata.posterior.attrs.get("used_digest")) != inputs_digest(used):
            raise DataProblem(
                f"{legislature}: the trace {path} and the table scale_inputs do not come from one fit; "
                "re-materialize common_scale_posterior"
            )
        css = []
        for row in used.iter_rows(named=True):
            part = Partition.of(row["session_key"], row["chamber"])
            long = self.warehouse.read_partition(T_MATRIX, part.key, part.chamber)
            legs = self.warehouse.read_partition(T_MATRIX_LEG, part.key, part.chamber)
            rcs = self.warehouse.read_partition(T_MATRIX_RC, part.key, part.chamber)
            if long.is_empty() or matrix_digest(long, legs, rcs) != row["matrix_digest"]:
                raise DataProblem(
                    f"{legislature}: the vote matrix of {row['chamber_session']} changed since the common "
                    "scale was sampled; re-materialize people and common_scale_posterior"
                )
            css.append(ChamberSession(part.key.key, part.chamber, self.session_pipeline.load_matrix(part)))
        people = self.warehouse.read_scale(T_PEOPLE, legislature)
        data = build_common_data(css, people)
        if data.chamber_sessions["label"].to_list() != str(idata.posterior.attrs.get("chamber_sessions", "")).split(
            ", "
        ):
            raise DataProblem(
                f"{legislature}: the people table changed since the common scale was sampled; "
                "re-materialize common_scale_posterior"
            )
        return idata, data, css

    def _built_from(self, legislature: str) -> dict[str, Any]:
        path = self.trace_path(legislature)
        return {"trace": PathValue(str(path)), "trace_sha256": file_sha256(path)}

    def scale_positions(self, legislature: str) -> StepOutput:
        idata, data, _ = self.load_published(legislature)
        table = positions(idata, data)
        self.warehouse.replace_scale(T_POSITIONS, legislature, table)
        ordered = table.sort("mean")
        return StepOutput(
            {
                "rows": table.height,
                "people": int(table["person_id"].n_unique()),
                "leftmost": md_table(
                    ordered.head(5).select("name", "party", "session_key", "chamber", "mean", "hdi_low", "hdi_high")
                ),
                "rightmost": md_table(
                    ordered.tail(5)
                    .reverse()
                    .select("name", "party", "session_key", "chamber", "mean", "hdi_low", "hdi_high")
                ),
                **self._built_from(legislature),
            }
        )

    def scale_party_trend(self, legislature: str) -> StepOutput:
        idata, data, _ = self.load_published(legislature)
        table = party_trend(idata, data)
        self.warehouse.replace_scale(T_PARTY_TREND, legislature, table)
        gap = table.filter(pl.col("quantity") == "party_gap")
        return StepOutput(
            {
                "rows": table.height,
                "party_gap": md_table(gap.select("session_key", "chamber", "mean", "hdi_low", "hdi_high"), max_rows=50),
                **self._built_from(legislature),
            }
        )

    def scale_movement(self, legislature: str) -> StepOutput:
        idata, data, _ = self.load_published(legislature)
        table = movement(idata, data)
        self.warehouse.replace_scale(T_MOVEMENT, legislature, table)
        movers = (
            table.filter(pl.col("moved")).with_columns(pl.col("mean").abs().alias("size")).sort("size", descending=True)
        )
        return StepOutput(
            {
                "rows": table.height,
                "moved": movers.height,
                "largest_moves": md_table(
                    movers.select(
                        "person_id",
                        "from_session_key",
                        "from_chamber",
                        "to_session_key",
                        "to_chamber",
                        "mean",
                        "hdi_low",
                        "hdi_high",
                    ).head(10)
                ),
                **self._built_from(legislature),
            }
        )

    def _gate_tables(
        self, idata: az.InferenceData, data: CommonScaleData, css: list[ChamberSession]
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        gates, params = evaluate_common_gates(idata, data, pca_start(data, css))
        return diagnostics.gates_frame(gates), params

    def scale_diagnostics(self, legislature: str) -> StepOutput:
        idata, data, css = self.load_published(legislature)
        gates, params = self._gate_tables(idata, data, css)
        self.warehouse.replace_scale(T_SCALE_DIAG, legislature, gates)
        self.warehouse.replace_scale(T_SCALE_PARAMS, legislature, params)
        return StepOutput(
            {
                "rows": gates.height,
                "gates": md_table(gates.select("gate", "value", "threshold", "status"), float_fmt="{:.4g}"),
                "failed_error_gates": int(gates.filter(~pl.col("passed") & (pl.col("severity") == "error")).height),
                **self._built_from(legislature),
            }
        )

    def common_scale_report(self, legislature: str) -> StepOutput:
        from legis_assets.report import scale as scale_report  # the renderer (report/scale.py)

        idata, data, css = self.load_published(legislature)
        gates, params = self._gate_tables(idata, data, css)
        used = self.used_inputs(legislature)
        nodes = self.warehouse.read_scale(T_BRIDGE_NODES, legislature)
        attrs = dict(posterior_of(idata).attrs)
        sampler = {k.removeprefix("settings_"): v for k, v in attrs.items() if k.startswith("settings_")}
        sampler.update(
            {
                k: attrs[k]
                for k in ("backend", "compile_seconds", "sample_seconds", "grad_evals", "attempts", "profile")
                if k in attrs
            }
        )
        post = posterior_of(idata)
        draws = post.sizes["chain"] * post.sizes["draw"]
        if "sample_seconds" in attrs and "grad_evals" in attrs:
            sampler["seconds"] = float(attrs["sample_seconds"])
            sampler["steps_per_draw"] = float(attrs["grad_evals"]) / max(draws, 1)
            ess = gates.filter(pl.col("gate") == "ess")["value"]
            if ess.len() and float(attrs["sample_seconds"]) > 0:
                sampler["ess_per_second"] = float(ess[0]) / float(attrs["sample_seconds"])
        ctx = scale_report.ScaleReportContext(
            scale=legislature,
            passed=bool(gates.filter(pl.col("severity") == "error")["passed"].all()),
            gates=gates,
            positions=positions(idata, data),
            party_trend=party_trend(idata, data),
            movement=movement(idata, data),
            bridge_edges=self.warehouse.read_scale(T_BRIDGE_EDGES, legislature),
            bridge_nodes=nodes,
            disconnected=nodes.filter(~pl.col("in_main"))["chamber_session"].to_list() if nodes.height else [],
            chamber_sessions=used.filter(pl.col("in_scale")).select(
                "chamber_session", "session_key", "chamber", "legislators", "rollcalls"
            ),
            sampler=sampler,
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            excluded_reasons={
                node_id(r["session_key"], r["chamber"]): r["reason"] for r in data.excluded.iter_rows(named=True)
            },
            built_from={
                "trace": str(self.trace_path(legislature)),
                "trace_sha256": file_sha256(self.trace_path(legislature)),
                "inputs_digest": str(attrs.get("inputs_digest", "")),
            },
        )
        html = scale_report.render_scale_report(ctx)
        path = self.report_path(legislature)
        sha = write_atomic(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
        return StepOutput(
            {
                "path": PathValue(str(path)),
                "url": f"file://{path}",
                "bytes": path.stat().st_size,
                "sha256": sha,
                **self._built_from(legislature),
            }
        )

    def run(self, legislature: str, steps: tuple[str, ...] | None = None) -> dict[str, StepOutput]:
        """Every step in order for one legislature (the CLI path); stops at a failed ERROR gate."""
        return run_steps(
            self,
            legislature,
            steps or self.STEP_NAMES,
            f"{legislature} (common scale)",
            lambda failed: ScaleGateFailure(legislature, failed),
        )
