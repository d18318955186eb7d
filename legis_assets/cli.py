"""`legis-assets`: the platform from the command line.

    legis-assets run [--session KEY] [--chamber house|senate] [--profile P]   materialize through Dagster
    legis-assets pipeline [...]                                              the same steps without Dagster
    legis-assets scale --legislature NAME                                    the common scale of one legislature
    legis-assets simulate OUT_DIR [--seed N] [--legislature]                 write a simulated session (or legislature)
    legis-assets sessions                                                    list the sessions found
    legis-assets sql "SELECT ..."                                            query the warehouse

Exit status of `run` and `pipeline`: 0 built and every convergence gate passed; 1 a convergence
gate failed (or a step failed for another reason); 2 refused input (invalid session key, missing or
malformed file, data that cannot be analysed), with one `error: <file>: line N: problem` line.
`run` writes Dagster's full log (stack traces included) to $LEGIS_HOME/logs/ and prints its path.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from legis_assets.cli_output import print_outputs, print_scales
from legis_assets.cli_runs import RunWatcher, new_run_id, report_run, run_log_path, run_scales
from legis_assets.core.schema import CHAMBERS, LegisError, SessionKey

#: the names the reliability tests import from here
_RunWatcher = RunWatcher


def _discover(data_dir: Path, sessions: list[str] | None, allow_outside_root: bool = False) -> list[SessionKey]:
    from legis_assets.core import ingest

    found = [
        SessionKey(leg, ses) for leg, ses in ingest.discover_sessions(data_dir, allow_outside_root=allow_outside_root)
    ]
    if sessions:
        wanted = [SessionKey.parse(s) for s in sessions]
        for key in wanted:
            if key not in found and key.directory(data_dir).is_dir():
                ingest.session_files(
                    key.directory(data_dir), allow_outside_root=allow_outside_root
                )  # raises, naming the missing file
        missing = [w.key for w in wanted if w not in found]
        if missing:
            raise LegisError(f"no session directory for {', '.join(missing)} under {data_dir}")
        return wanted
    if not found:
        raise LegisError(f"no session found under {data_dir} (expected <legislature>/<session>/<session>_votes.csv)")
    return found


def _chambers_with_data(data_dir: Path, key: SessionKey, chamber: str | None) -> list[str]:
    """Chambers that have roll calls in the session (a directory may hold one chamber only)."""
    from legis_assets.automation import chambers_with_data

    return [chamber] if chamber else chambers_with_data(key.directory(data_dir))


def _settings(args):
    from legis_assets.settings import Settings

    return Settings.from_env(
        data_dir=Path(args.data_dir).resolve() if args.data_dir else None,
        profile=args.profile,
        model=args.model,
        seed=args.seed,
    )


def _first_doc_line(fn: Callable[..., Any]) -> str:
    """The first line of `fn`'s docstring (the subcommand's help)."""
    if fn.__doc__ is None:
        raise ValueError(f"{fn.__name__} has no docstring")
    return fn.__doc__.splitlines()[0]


def _start_dagster(settings) -> tuple[Path, Path, float]:
    """The Dagster instance directory (DAGSTER_HOME, made ready), this command's log file (its path
    printed) and how long a step waits for a pool slot before the CLI says so.

    The settings reach the runs as the `legis` resource's run config (`quiet_run_config`), not
    through os.environ: Dagster stores the run config with the run, so every executor's step
    processes (multiprocess children, k8s pods) get the same values; only DAGSTER_HOME is an
    environment variable (the instance is found through it)."""
    from legis_assets.dagster_home import ensure_dagster_home
    from legis_assets.settings import Deployment

    dagster_home = ensure_dagster_home(Path(os.environ.setdefault("DAGSTER_HOME", str(settings.home / "dagster_home"))))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    log_path = run_log_path(settings.home)
    print(f"Dagster log of this command: {log_path}", flush=True)
    return dagster_home, log_path, Deployment.from_env().pool_wait_notice


def quiet_run_config(settings) -> dict:
    """The run config of a CLI run: the `legis` resource's settings (settings.run_config()) and a
    quiet console logger (the watcher prints the progress; the log file gets every event, stack
    traces included)."""
    return {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}, **settings.run_config()}


def cmd_run(args) -> int:
    """Materialize every asset for each partition through Dagster, recorded in $DAGSTER_HOME.

    Exit status (the same as `pipeline`): 0 every partition built and passed its gates; 1 a
    convergence gate (or a step, for another reason) failed; 2 refused input (an invalid session
    key or chamber, a missing or malformed file, data that cannot be analysed). One `error:` line per
    refused partition on stderr; Dagster's full log of the run, with every stack trace, goes to
    $LEGIS_HOME/logs/run-<time>-<pid>.log, whose path is printed. A failed gate also alerts
    ($LEGIS_HOME/alerts.jsonl and LEGIS_ALERT_WEBHOOK), once per failed partition run.
    Runs left STARTED by a killed `legis-assets run` are marked failed and their pool slots freed
    before anything runs. A step waiting for a pool slot says which run holds it; SIGINT/SIGTERM
    while it waits cancels the run and exits with 130.
    """
    from legis_assets.pipeline import Partition

    settings = _settings(args)
    # everything that can refuse the command runs before anything is written (no DAGSTER_HOME yet)
    keys = _discover(settings.data_dir, args.session, settings.allow_outside_root)
    parts = [Partition(k, c) for k in keys for c in _chambers_with_data(settings.data_dir, k, args.chamber)]

    import warnings

    import dagster as dg

    with warnings.catch_warnings():  # Dagster's preview notices about our definitions: not the user's problem
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        from legis_assets.dagster_home import clean_up_dead_runs, this_process_tags
        from legis_assets.definitions import all_assets_job, defs
        from legis_assets.defs.partitions import SESSION, partition_key
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the instance's schema setup, not news

    dagster_home, log_path, notice = _start_dagster(settings)
    job = defs.resolve_job_def(all_assets_job.name)
    failures = refused = 0
    with dg.DagsterInstance.get() as instance, open(log_path, "a", encoding="utf-8") as log_file:
        for dead in clean_up_dead_runs(instance):
            message = (
                f"run {dead.run_id} was {dead.status} but its process ({dead.process.describe()}) is gone: "
                f"marked failed, {dead.freed_slots} pool slot(s) freed"
            )
            print(f"warning: {message}", file=sys.stderr, flush=True)
            log_file.write(f"{message}\n")
        new = [k.key for k in keys if not instance.has_dynamic_partition(SESSION, k.key)]
        if new:
            instance.add_dynamic_partitions(SESSION, new)
        for part in parts:
            t0 = time.perf_counter()
            run_id = new_run_id()
            print(
                f"\n=== {part}: materializing {len(list(job.asset_layer.executable_asset_keys))} assets "
                f"(profile {settings.profile}, model {settings.model}, run {run_id}) ===",
                flush=True,
            )
            log_file.write(f"=== {part}: run {run_id} ===\n")
            with RunWatcher(instance, run_id, log_file, notice, f"{part}:"):
                # Dagster's console logger stays quiet: the watcher prints the progress and the log
                # file gets every event (stack traces included)
                result = job.execute_in_process(
                    partition_key=partition_key(part.key.key, part.chamber),
                    instance=instance,
                    raise_on_error=False,
                    run_id=run_id,
                    tags=this_process_tags(),
                    run_config=quiet_run_config(settings),
                )
            outcome = report_run(result, str(part), run_id, time.perf_counter() - t0, instance, settings, log_path)
            failures += outcome == "failed"
            refused += outcome == "refused"
        # then the common scale of every legislature touched (2+ sessions), unless --no-scale
        legislatures = [] if args.no_scale else sorted({k.legislature for k in keys})
        scale_failures, scale_refused, scales = run_scales(
            instance, settings, legislatures, log_file, log_path, notice, quiet_run_config(settings)
        )
        failures += scale_failures
        refused += scale_refused
    print_outputs(settings, parts)
    print_scales(settings, scales)
    print(f"Dagster instance: {dagster_home}")
    print(f"Dagster log: {log_path}")
    return 2 if refused else 1 if failures else 0


def cmd_pipeline(args) -> int:
    """The same steps without Dagster (scripted use)."""
    from legis_assets.pipeline import GateFailure, Partition, Pipeline

    settings = _settings(args)
    pipe = Pipeline(settings, progress=lambda m: print(m, flush=True))
    keys = _discover(settings.data_dir, args.session, settings.allow_outside_root)
    parts = [Partition(k, c) for k in keys for c in _chambers_with_data(settings.data_dir, k, args.chamber)]
    status = 0
    for part in parts:
        try:
            pipe.run(part)
        except GateFailure as err:
            print(f"GATE FAILURE: {err}", file=sys.stderr)
            status = 1
    from legis_assets.scale_pipeline import ScaleGateFailure, ScalePipeline
    from legis_assets.scale_status import skip_reason

    scales = []
    for legislature in [] if args.no_scale else sorted({k.legislature for k in keys}):
        why = skip_reason(settings, legislature)
        if why:
            print(f"common scale skipped: {why}", flush=True)
            continue
        scales.append(legislature)
        try:
            ScalePipeline(settings, progress=lambda m: print(m, flush=True)).run(legislature)
        except ScaleGateFailure as err:
            print(f"GATE FAILURE: {err}", file=sys.stderr)
            status = 1
    print_outputs(settings, parts)
    print_scales(settings, scales)
    return status


def cmd_scale(args) -> int:
    """Materialize the common scale of one legislature through Dagster (its sessions' vote matrices must be built)."""
    import warnings

    import dagster as dg

    from legis_assets.scale_pipeline import validate_legislature
    from legis_assets.scale_status import skip_reason

    settings = _settings(args)
    legislature = validate_legislature(args.legislature)
    from legis_assets.core import ingest

    if not any(
        leg == legislature
        for leg, _ in ingest.discover_sessions(settings.data_dir, allow_outside_root=settings.allow_outside_root)
    ):
        raise LegisError(f"no session of legislature {legislature!r} under {settings.data_dir}")
    why = skip_reason(settings, legislature)
    if why:
        print(f"common scale skipped: {why}")
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        import legis_assets.definitions  # noqa: F401  (the definitions, before the instance)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    dagster_home, log_path, notice = _start_dagster(settings)
    with dg.DagsterInstance.get() as instance, open(log_path, "a", encoding="utf-8") as log_file:
        failures, refused, scales = run_scales(
            instance, settings, [legislature], log_file, log_path, notice, quiet_run_config(settings)
        )
    print_scales(settings, scales)
    print(f"Dagster instance: {dagster_home}")
    print(f"Dagster log: {log_path}")
    return 2 if refused else 1 if failures else 0


def cmd_simulate(args) -> int:
    from legis_assets.core import simulate

    out = Path(args.out)
    specs = simulate.EXAMPLE if args.example else None
    if args.legislature:  # several sessions of one legislature, linked by the people who stay
        sim = simulate.simulate_legislature(
            seed=args.seed, n_sessions=args.sessions, start_year=args.start_year, specs=specs
        )
        for session_dir in simulate.write_legislature(sim, out, compact_votes=args.example):
            sizes = ", ".join(
                f"{c} {part.truth.height} legislators / {part.rollcall_truth.height} roll calls"
                for c, part in sim.sessions[session_dir.name].items()
            )
            print(f"{session_dir.name}: {sizes}")
        print(
            f"wrote {out} ({len(sim.sessions)} sessions; {len(sim.chamber_movers)} House -> Senate movers, "
            f"{len(sim.big_movers)} big movers)"
        )
        return 0
    sims = simulate.simulate_session(seed=args.seed, start_year=args.start_year, specs=specs)
    simulate.write_session(sims, out, compact_votes=args.example)
    for chamber, chamber_sim in sims.items():
        print(
            f"{chamber}: {chamber_sim.truth.height} legislators, {chamber_sim.rollcall_truth.height} roll calls, "
            f"{chamber_sim.votes.height} vote rows"
        )
    print(f"wrote {out}")
    return 0


def cmd_sessions(args) -> int:
    settings = _settings(args)
    for key in _discover(settings.data_dir, None, settings.allow_outside_root):
        print(f"{key.key}\t{', '.join(_chambers_with_data(settings.data_dir, key, None))}")
    return 0


def cmd_sql(args) -> int:
    import duckdb
    import polars as pl

    from legis_assets.core.schema import LegisError
    from legis_assets.storage import Warehouse

    settings = _settings(args)
    if not settings.warehouse_path.exists():
        raise LegisError(f"no warehouse at {settings.warehouse_path} yet: run `legis-assets run` first")
    try:
        frame = Warehouse(settings.warehouse_path).query(args.query)
    except duckdb.Error as err:  # the user's SQL: say what DuckDB said, no traceback
        raise LegisError(f"query failed: {str(err).strip()}") from None
    with pl.Config(tbl_rows=args.limit, tbl_cols=-1, fmt_str_lengths=40, tbl_width_chars=200):
        print(frame)
    return 0


def cmd_export(args) -> int:
    """Write the warehouse's tables as CSV or Parquet files (all sessions, or one)."""
    from legis_assets.export import export_tables

    settings = _settings(args)
    out = Path(args.out).resolve()
    results = export_tables(settings.warehouse_path, out, args.format, args.session, args.chamber)
    for r in results:
        if r.path is None:
            print(f"skipped {r.table}: {r.note}")
        else:
            print(f"{r.table}: {r.rows:,} rows -> {r.path}")
    print(f"wrote {sum(r.path is not None for r in results)} files to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="legis-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--data-dir", help="data root (default $LEGIS_DATA_DIR or ./data)")
        p.add_argument("--profile", help="sampling profile: default, reference, quick, starved")
        p.add_argument(
            "--model",
            help="hierarchical model: hierarchical (default), hierarchical_noncentered or hierarchical_reference",
        )
        p.add_argument("--seed", type=int, help="sampler seed (recorded in the metadata)")

    for name, fn in (("run", cmd_run), ("pipeline", cmd_pipeline)):
        p = sub.add_parser(name, help=_first_doc_line(fn))
        common(p)
        p.add_argument("--session", action="append", help="session key, e.g. simulated.91st_2025-2026 (repeatable)")
        p.add_argument("--chamber", choices=sorted(CHAMBERS))
        p.add_argument(
            "--no-scale",
            action="store_true",
            help="only the per-session partitions, not the legislatures' common scale",
        )
        p.set_defaults(fn=fn)
    p = sub.add_parser("scale", help=_first_doc_line(cmd_scale))
    common(p)
    p.add_argument("--legislature", required=True, help="legislature directory under the data root, e.g. simulated")
    p.set_defaults(fn=cmd_scale)
    p = sub.add_parser("simulate", help="write a simulated session in the scraper layout")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--start-year", type=int, default=2025)
    p.add_argument("--example", action="store_true", help="the bundled example's shape (smaller files)")
    p.add_argument(
        "--legislature",
        action="store_true",
        help="write a legislature: OUT/<session>/ for --sessions consecutive sessions (from --start-year)",
    )
    p.add_argument("--sessions", type=int, default=3, help="sessions of a --legislature (default 3)")
    p.set_defaults(fn=cmd_simulate)
    p = sub.add_parser("sessions", help="list sessions and chambers under the data directory")
    common(p)
    p.set_defaults(fn=cmd_sessions)
    p = sub.add_parser("sql", help="run a SQL query on the warehouse")
    common(p)
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(fn=cmd_sql)

    p = sub.add_parser("export", help=_first_doc_line(cmd_export))
    common(p)
    p.add_argument("--out", required=True, help="directory to write <table>.csv / <table>.parquet into")
    p.add_argument("--format", default="csv", help="csv (default) or parquet")
    p.add_argument("--session", help="only this session, e.g. simulated.91st_2025-2026 (default: everything)")
    p.add_argument("--chamber", choices=sorted(CHAMBERS), help="only this chamber")
    p.set_defaults(fn=cmd_export)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.fn(args)
    except LegisError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
