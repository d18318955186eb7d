"""The common scale as Dagster assets (defs/common_scale.py, scale_pipeline.py).

One small simulated legislature `testleg` (two sessions x both chambers, linked by the people who
stay, plus a Senate-only session whose people are all new: a disconnected chamber-session) goes
through the sensor, the per-session assets the common scale reads (votes, vote_matrix), and then
the whole common-scale graph of its `legislature` partition. The joint fit runs once (module
fixture, profile `default` for the joint fit: the `quick` profile is too short to pass its gates
even on this small scale; the per-session steps use `quick`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from legis_assets import scale_inputs as tables
from legis_assets.core.simulate import ChamberSpec, simulate_legislature, write_legislature
from legis_assets.defs.assets import vote_matrix, votes
from legis_assets.defs.common_scale import (
    SCALE_ASSETS,
    SCALE_JOB_NAME,
    busy_legislatures,
    common_scale_posterior,
    evaluate_common_scale,
    inputs_current,
    last_inputs_digest,
)
from legis_assets.defs.partitions import partition_key, session_chamber
from legis_assets.defs.resources import LegisResource
from legis_assets.defs.sensors import evaluate_data_root
from legis_assets.pipeline import Partition, Pipeline, Settings
from legis_assets.scale_pipeline import NotEnoughChamberSessions, ScalePipeline
from legis_assets.scale_status import skip_reason
from legis_assets.steps import SCALE_STEP_NAMES
from legis_assets.storage import Warehouse

pytestmark = pytest.mark.filterwarnings("ignore::dagster.PreviewWarning", "ignore::dagster.BetaWarning")

LEG = "testleg"
SPECS = {
    "house": ChamberSpec(seats=40, n_rollcalls=120),
    "senate": ChamberSpec(seats=20, n_rollcalls=100, replacements=1),
}
LONELY = "92nd_2027-2028"  # Senate only, nobody from the earlier sessions
SLUG = re.compile(r"\b((?:rep|sen)_[a-z]+_[a-z]+_)(\d+)\b")


def write_lonely_session(legislature_dir: Path) -> None:
    """A Senate-only session whose legislators share no one with the others (new slug ids)."""
    sim = simulate_legislature(seed=11, n_sessions=1, start_year=2027, specs={"senate": SPECS["senate"]})
    (session_dir,) = write_legislature(sim, legislature_dir / "_tmp")
    target = legislature_dir / LONELY
    target.mkdir()
    for f in session_dir.glob("*.csv"):
        name = f.name.replace(session_dir.name, LONELY)
        if "truth" in name:
            continue
        target.joinpath(name).write_text(SLUG.sub(lambda m: f"{m[1]}9{m[2]}", f.read_text()))
    shutil.rmtree(legislature_dir / "_tmp")


def legis(root: Path) -> LegisResource:
    return LegisResource(data_dir=str(root / "data"), home=str(root / "home"), profile="quick")


def sensor_tick(instance, resource, fn, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"legis": resource}) as ctx:
        return fn(ctx, resource)


def apply(instance, result) -> None:
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))


def build_sessions(instance, resource, keys) -> None:
    """The per-session graph the common scale reads (votes -> vote_matrix) for each partition."""
    for session_key, chamber in keys:
        result = dg.materialize(
            [votes, vote_matrix],
            partition_key=partition_key(session_key, chamber),
            instance=instance,
            resources={"legis": resource},
        )
        assert result.success


def scale_materialize(instance, resource, selection=None):
    # a run of checks alone is launched with the partition tag (as the UI does): Dagster's
    # execute_in_process refuses a partition_key when no asset is selected
    where = {"partition_key": LEG} if selection is None else {"tags": {"dagster/partition": LEG}}
    return dg.materialize(
        [*SCALE_ASSETS, inputs_current],
        instance=instance,
        resources={"legis": resource},
        selection=selection,
        raise_on_error=False,
        **where,
    )


def check_result(result, name: str):
    (ev,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return ev


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The legislature through the sensor, the per-session assets and the common-scale graph."""
    root = tmp_path_factory.mktemp("scale")
    mp = pytest.MonkeyPatch()
    mp.setenv("LEGIS_SCALE_PROFILE", "default")
    mp.setenv("LEGIS_SENSOR_STABLE_SECONDS", "0")
    sim = simulate_legislature(seed=3, n_sessions=2, specs=SPECS)
    write_legislature(sim, root / "data" / LEG, compact_votes=True)
    write_lonely_session(root / "data" / LEG)
    resource = legis(root)
    with dg.instance_for_test() as instance:
        tick = sensor_tick(instance, resource, evaluate_data_root)
        adds = {r.partitions_def_name: list(r.partition_keys) for r in tick.dynamic_partitions_requests}
        apply(instance, tick)
        dims = [
            session_chamber.get_partition_key_from_str(str(r.partition_key)).keys_by_dimension
            for r in tick.run_requests
        ]
        keys = [(d["session"], d["chamber"]) for d in dims]
        # the scale sensor waits while a session's vote matrix is not built
        build_sessions(instance, resource, keys[:-1])
        waiting = sensor_tick(instance, resource, evaluate_common_scale)
        build_sessions(instance, resource, keys[-1:])
        before = sensor_tick(instance, resource, evaluate_common_scale)
        result = scale_materialize(instance, resource)
        after = sensor_tick(instance, resource, evaluate_common_scale)
        yield {
            "root": root,
            "instance": instance,
            "resource": resource,
            "adds": adds,
            "keys": keys,
            "waiting": waiting,
            "before": before,
            "result": result,
            "after": after,
            "sim": sim,
        }
    mp.undo()


def materialization(result, asset: str) -> dict:
    (mat,) = [m for m in result.asset_materializations_for_node(asset)]
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


@pytest.mark.slow  # one joint fit (~1 min on 2 cores)
def test_sensor_registers_the_legislature_and_requests_one_rebuild(built):
    assert built["adds"]["legislature"] == [LEG]
    assert sorted(built["adds"]["session"]) == [f"{LEG}.89th_2021-2022", f"{LEG}.90th_2023-2024", f"{LEG}.{LONELY}"]
    last = "{}:{}".format(*built["keys"][-1])
    assert built["waiting"].run_requests == []
    assert f"waiting for the vote matrices of {last}" in built["waiting"].skip_reason.skip_message
    (req,) = built["before"].run_requests
    assert req.partition_key == LEG and req.run_key.startswith(f"{LEG}:")
    # same inputs after the scale was built: nothing more, whatever the number of ticks
    assert built["after"].run_requests == []
    assert sensor_tick(built["instance"], built["resource"], evaluate_common_scale).run_requests == []
    assert last_inputs_digest(built["instance"], LEG)[:16] == req.run_key.split(":")[1]


@pytest.mark.slow
def test_whole_graph_tables_and_metadata(built):
    result = built["result"]
    assert result.success, [e.event_specific_data for e in result.all_events if e.is_step_failure]
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert materialized == set(SCALE_STEP_NAMES)
    gates = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert gates["rhat"] and gates["ess"] and gates["divergences"] and gates["inputs_current"]

    meta = materialization(result, "common_scale_posterior")
    used = meta["chamber_sessions_used"]
    for session in ("89th_2021-2022", "90th_2023-2024"):
        for chamber in ("house", "senate"):
            assert f"{LEG}.{session}:{chamber}" in used
    assert LONELY not in used and meta["n_chamber_sessions"] == 4
    assert f"{LEG}.{LONELY}:senate" in meta["left_out"]
    # the built time of each vote matrix comes from the instance
    assert "(not recorded)" not in used and re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", used)
    assert meta["sampling_seconds"] > 0 and meta["steps_per_draw"] > 0 and meta["ess_per_second"] > 0

    wh = Warehouse(Path(built["resource"].home) / "warehouse.duckdb")
    positions = wh.read_scale(tables.T_POSITIONS, LEG)
    assert positions.columns == [
        "person_id",
        "session_key",
        "chamber",
        "legislator_slug",
        "name",
        "party",
        "mean",
        "sd",
        "hdi_low",
        "hdi_high",
    ]
    assert positions.height == meta["slots"] and positions["session_key"].n_unique() == 2
    assert (positions["hdi_low"] <= positions["mean"]).all() and (positions["mean"] <= positions["hdi_high"]).all()
    # Republicans right, on average, in every chamber-session
    by_party = positions.group_by("session_key", "chamber", "party").agg(pl.col("mean").mean())
    for (sk, ch), group in by_party.group_by("session_key", "chamber"):
        means = dict(zip(group["party"], group["mean"]))
        assert means["Republican"] > means["Democrat"], (sk, ch)
    trend = wh.read_scale(tables.T_PARTY_TREND, LEG)
    gap = trend.filter(pl.col("quantity") == "party_gap")
    assert gap.height == 4 and (gap["hdi_low"] > 0).all()
    moves = wh.read_scale(tables.T_MOVEMENT, LEG)
    assert moves.height > 0 and {
        "person_id",
        "from_session_key",
        "to_session_key",
        "mean",
        "hdi_low",
        "hdi_high",
        "moved",
    } <= set(moves.columns)
    # the House -> Senate movers are bridges, and their move is a row
    movers = set(built["sim"].chamber_movers)
    hs = moves.filter((pl.col("from_chamber") == "house") & (pl.col("to_chamber") == "senate"))
    assert movers and movers <= set(hs["person_id"].to_list())
    diag = wh.read_scale(tables.T_SCALE_DIAG, LEG)
    assert set(diag["gate"]) == {"rhat", "ess", "divergences", "ebfmi", "agrees_with_linked"}
    inputs = wh.read_scale(tables.T_SCALE_INPUTS, LEG)
    assert inputs.height == 5 and inputs["matrix_digest"].str.len_chars().min() == 64
    assert inputs.filter(~pl.col("in_scale"))["chamber_session"].to_list() == [f"{LEG}.{LONELY}:senate"]
    people = wh.read_scale(tables.T_PEOPLE, LEG)
    assert {"person_id", "session_key", "chamber", "legislator_slug"} <= set(people.columns)
    assert wh.read_scale(tables.T_BRIDGE_EDGES, LEG).height == 10  # 5 chamber-sessions, every pair
    assert wh.read_scale(tables.T_BRIDGE_NODES, LEG).filter(~pl.col("in_main"))["chamber_session"].to_list() == [
        f"{LEG}.{LONELY}:senate"
    ]


@pytest.mark.slow
def test_disconnected_chamber_session_is_left_out_and_named(built):
    ev = check_result(built["result"], "connected")
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert f"{LEG}.{LONELY}:senate" in ev.description
    meta = materialization(built["result"], "people")
    assert meta["components"] == 2 and meta["connected"] is False


@pytest.mark.slow
def test_report_page(built):
    meta = materialization(built["result"], "common_scale_report")
    page = Path(meta["path"])
    assert page == Path(built["resource"].home) / "reports" / LEG / "common_scale" / "report.html"
    html = page.read_text(encoding="utf-8")
    assert "89th_2021-2022" in html and "<script src=" not in html


@pytest.mark.slow
def test_inputs_current_flips_when_a_vote_matrix_changes_and_the_sensor_asks_again(built):
    instance, resource, root = built["instance"], built["resource"], built["root"]
    session = "90th_2023-2024"
    votes_csv = root / "data" / LEG / session / f"{session}_votes.csv"
    original = votes_csv.read_text()
    try:
        lines = original.splitlines(keepends=True)
        flipped = [lines[0]] + [
            ln.replace(",Yea\n", ",Nay\n") if i % 7 == 0 and ",House," in ln else ln for i, ln in enumerate(lines[1:])
        ]
        votes_csv.write_text("".join(flipped))
        build_sessions(instance, resource, [(f"{LEG}.{session}", "house")])

        only_check = scale_materialize(instance, resource, selection=dg.AssetSelection.checks(inputs_current))
        assert only_check.success and not only_check.get_asset_materialization_events()  # the check alone ran
        ev = check_result(only_check, "inputs_current")
        assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
        assert ev.description == f"{LEG}.{session}:house: vote matrix changed"

        tick = sensor_tick(instance, resource, evaluate_common_scale)
        (req,) = tick.run_requests
        assert req.run_key != built["before"].run_requests[0].run_key
        # not while a per-session run of this legislature is in progress (queued runs count too)
        run = dg.DagsterRun(
            job_name="legis_all",
            run_id="0" * 32,
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": str(partition_key(f"{LEG}.{session}", "senate"))},
        )
        instance.add_run(run)
        try:
            assert LEG in busy_legislatures(instance)
            assert sensor_tick(instance, resource, evaluate_common_scale).run_requests == []
        finally:
            instance.delete_run(run.run_id)
    finally:
        votes_csv.write_text(original)
        build_sessions(instance, resource, [(f"{LEG}.{session}", "house")])
    again = scale_materialize(instance, resource, selection=dg.AssetSelection.checks(inputs_current))
    assert check_result(again, "inputs_current").passed


@pytest.mark.slow
def test_a_removed_session_is_left_out_and_nothing_else_is_lost(built):
    root, resource = built["root"], built["resource"]
    settings = resource.settings()
    session = "90th_2023-2024"
    moved = root / "moved"
    (root / "data" / LEG / session).rename(moved)
    try:
        sp = ScalePipeline(settings)
        current, diff, used = sp.inputs_status(LEG)
        assert not current
        assert diff.filter(pl.col("change") == "removed from the data root")["chamber_session"].sort().to_list() == [
            f"{LEG}.{session}:house",
            f"{LEG}.{session}:senate",
        ]
        rows = sp.current_inputs(LEG, load=False).rows
        assert session not in " ".join(rows["chamber_session"].to_list())
        # the session's own results stay in the warehouse
        assert not Pipeline(settings).load_matrix(Partition.of(f"{LEG}.{session}", "house")).legislators.is_empty()
        # people runs without the removed session (the 89th and the lonely session are left)
        out = sp.people(LEG)
        assert session not in out.metadata["inputs"]
    finally:
        moved.rename(root / "data" / LEG / session)
        ScalePipeline(settings).people(LEG)  # back as it was for the other tests


def test_one_session_legislature_is_skipped_clearly(tmp_path, monkeypatch):
    """A legislature with a single chamber-session (or a single session) gets no common scale: the
    CLI says why and exits 0; the asset refuses with the same reason."""
    sim = simulate_legislature(seed=5, n_sessions=1, specs={"senate": ChamberSpec(seats=12, n_rollcalls=40)})
    write_legislature(sim, tmp_path / "data" / "solo")
    settings = Settings(data_dir=tmp_path / "data", home=tmp_path / "home", profile="quick")
    (part,) = ScalePipeline(settings).partitions("solo")
    Pipeline(settings).ingest(part)
    Pipeline(settings).vote_matrix(part)
    why = skip_reason(settings, "solo")
    assert why and "one chamber-session" in why and "that session's own scale" in why
    with pytest.raises(NotEnoughChamberSessions, match="needs two or more"):
        ScalePipeline(settings).people("solo")

    from legis_assets import cli

    monkeypatch.setenv("LEGIS_HOME", str(tmp_path / "home"))
    code = cli.main(["scale", "--legislature", "solo", "--data-dir", str(tmp_path / "data")])
    assert code == 0
    assert not (tmp_path / "home" / "dagster_home").exists()  # nothing to run, no instance made


def test_definitions_load_with_the_scale_job():
    from legis_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def(SCALE_JOB_NAME)
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert keys == set(SCALE_STEP_NAMES)  # the declared common-scale steps (steps.SCALE_STEPS)
    assert not keys & {"votes", "vote_matrix", "hierarchical_posterior"}
    assert common_scale_posterior.op.pool == "mcmc"
    specs = {s.name: s for s in common_scale_posterior.check_specs}
    assert {n for n, s in specs.items() if s.blocking} == {"rhat", "ess", "divergences"}
    assert job.partitions_def.name == "legislature"


def test_failed_scale_gates_block_keep_the_last_trace_and_alert(tmp_path, monkeypatch):
    """A joint fit that fails its ERROR gates (profile `starved`) fails the legis_scale run before
    any table is written, is kept beside the published trace as .failed.nc, and gets the alert
    record of the run-failure sensor (which watches every job), keyed by the legislature."""
    from legis_assets.defs.alerts import failed_error_checks

    monkeypatch.setenv("LEGIS_SCALE_PROFILE", "starved")
    small = {"house": ChamberSpec(seats=24, n_rollcalls=50, replacements=0)}
    write_legislature(simulate_legislature(seed=7, n_sessions=2, specs=small), tmp_path / "data" / "leg2")
    resource = legis(tmp_path)
    settings = resource.settings()
    for part in ScalePipeline(settings).partitions("leg2"):
        Pipeline(settings).ingest(part)
        Pipeline(settings).vote_matrix(part)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("legislature", ["leg2"])
        result = dg.materialize(
            [*SCALE_ASSETS, inputs_current],
            partition_key="leg2",
            instance=instance,
            resources={"legis": resource},
            raise_on_error=False,
        )
        assert not result.success
        failed = {
            e.check_name
            for e in result.get_asset_check_evaluations()
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        }
        assert failed and failed <= {"rhat", "ess", "divergences"}
        done = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
        assert "scale_positions" not in done and "scale_diagnostics" not in done
        sp = ScalePipeline(settings)
        assert sp.failed_trace_path("leg2").exists() and not sp.trace_path("leg2").exists()
        assert sp.used_inputs("leg2").is_empty()  # nothing recorded as the published scale's inputs
        # the failed attempt's materialization records its inputs: the sensor does not retry the same inputs
        assert last_inputs_digest(instance, "leg2") == sp.current_inputs("leg2", load=False).digest
        with dg.build_sensor_context(instance=instance, resources={"legis": resource}) as ctx:
            assert evaluate_common_scale(ctx, resource).run_requests == []
        (record,) = failed_error_checks(instance, result.dagster_run)
        assert record["asset"] == "common_scale_posterior" and record["partition"] == "leg2"
        assert record["check"] in failed


@pytest.mark.slow  # a second joint fit, through `legis-assets scale`
def test_cli_scale_prints_gates_tables_and_report(built, monkeypatch, capsys):
    from legis_assets import cli

    root = built["root"]
    monkeypatch.setenv("LEGIS_HOME", str(root / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "cli_dagster_home"))
    for name in ("LEGIS_DATA_DIR", "LEGIS_PROFILE", "LEGIS_MODEL"):  # the command sets them: restored after
        monkeypatch.delenv(name, raising=False)
    code = cli.main(["scale", "--legislature", LEG, "--data-dir", str(root / "data"), "--profile", "quick"])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert f"=== {LEG}: materializing the common scale (profile default" in out
    assert re.search(rf"=== {LEG} common scale: run \w+ succeeded in \d+ s ===", out)
    assert re.search(r"gates: rhat [\d.]+ PASS, ess [\d.,]+ PASS, divergences 0 PASS", out)
    assert "scale_positions " in out and "scale_party_trend " in out and "scale_movement " in out
    assert f"left out (no one links them to the others): {LEG}.{LONELY}:senate" in out
    assert f"report: {root / 'home' / 'reports' / LEG / 'common_scale' / 'report.html'}" in out
