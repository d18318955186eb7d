"""`legis-assets`: the platform from the command line.

    legis-assets run [--session KEY] [--chamber house|senate] [--profile P]   materialize through Dagster
    legis-assets pipeline [...]                                              the same steps without Dagster
    legis-assets simulate OUT_DIR [--seed N]                                 write a simulated session
    legis-assets sessions                                                    list the sessions found
    legis-assets sql "SELECT ..."                                            query the warehouse
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from legis_assets.core.schema import CHAMBERS, LegisError, SessionKey


def _discover(data_dir: Path, sessions: list[str] | None) -> list[SessionKey]:
    from legis_assets.core import ingest

    found = [SessionKey(leg, ses) for leg, ses in ingest.discover_sessions(data_dir)]
    if sessions:
        wanted = [SessionKey.parse(s) for s in sessions]
        for key in wanted:
            if key not in found and key.directory(data_dir).is_dir():
                ingest.session_files(key.directory(data_dir))  # raises, naming the missing file
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
    from legis_assets.pipeline import Settings

    return Settings.from_env(
        data_dir=Path(args.data_dir).resolve() if args.data_dir else None,
        profile=args.profile,
        model=args.model,
        seed=args.seed,
    )


def _trace_attrs(path: Path) -> dict:
    import xarray as xr

    try:
        with xr.open_dataset(path, group="posterior") as ds:
            return dict(ds.attrs)
    except Exception:  # a report of what exists must never fail the command
        return {}


def _print_outputs(settings, parts) -> None:
    from legis_assets.storage import Warehouse

    print("\n=== built ===")
    print(f"warehouse: {settings.warehouse_path}")
    wh = Warehouse(settings.warehouse_path)
    for part in parts:
        print(f"  {part}")
        try:
            gates = wh.query(
                "SELECT gate, value, threshold, status FROM convergence_diagnostics "
                "WHERE session_key = ? AND chamber = ? AND model = 'hierarchical' ORDER BY gate",
                [part.key.key, part.chamber])
            print("    gates: " + ", ".join(f"{g} {v:.4g} {s}" for g, v, _, s in gates.iter_rows()))
        except Exception:
            print("    gates: (not computed)")
        traces = settings.home / "traces" / part.key.legislature / part.key.session / part.chamber
        print(f"    traces: {traces}")
        for trace in sorted(traces.glob("*.nc")) if traces.exists() else []:
            attrs = _trace_attrs(trace)
            if attrs:
                print(f"      {trace.name}: {attrs.get('model')} ({attrs.get('backend')}), "
                      f"compile {float(attrs.get('compile_seconds', 'nan')):.1f} s, "
                      f"sample {float(attrs.get('sample_seconds', 'nan')):.1f} s, "
                      f"{attrs.get('grad_evals')} gradient evaluations")
        reports = settings.home / "reports" / part.key.legislature / part.key.session / part.chamber
        if reports.exists():
            for html in sorted(reports.glob("*.html")):
                print(f"    report: {html}")
    print("\nQuery the results:  .venv/bin/legis-assets sql \"SELECT * FROM ideal_points LIMIT 10\"")
    print("Open the Dagster UI: make ui   (then http://127.0.0.1:3000)")


def cmd_run(args) -> int:
    """Materialize every asset for each partition through Dagster, recorded in $DAGSTER_HOME."""
    import dagster as dg

    from legis_assets.defs.partitions import partition_key, session_partitions
    from legis_assets.definitions import all_assets_job, defs
    from legis_assets.pipeline import Partition

    settings = _settings(args)
    os.environ["LEGIS_DATA_DIR"] = str(settings.data_dir)
    os.environ["LEGIS_PROFILE"] = settings.profile
    os.environ["LEGIS_MODEL"] = settings.model
    if settings.seed is not None:
        os.environ["LEGIS_SEED"] = str(settings.seed)
    from legis_assets.dagster_home import ensure_dagster_home

    dagster_home = ensure_dagster_home(Path(os.environ.setdefault("DAGSTER_HOME", str(settings.home / "dagster_home"))))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    keys = _discover(settings.data_dir, args.session)
    parts = [Partition(k, c) for k in keys for c in _chambers_with_data(settings.data_dir, k, args.chamber)]
    job = defs.resolve_job_def(all_assets_job.name)
    failures = 0
    with dg.DagsterInstance.get() as instance:
        new = [k.key for k in keys if not instance.has_dynamic_partition(session_partitions.name, k.key)]
        if new:
            instance.add_dynamic_partitions(session_partitions.name, new)
        for part in parts:
            t0 = time.perf_counter()
            print(f"\n=== {part}: materializing {len(job.asset_layer.executable_asset_keys)} assets "
                  f"(profile {settings.profile}, model {settings.model}) ===", flush=True)
            result = job.execute_in_process(
                partition_key=partition_key(part.key.key, part.chamber), instance=instance, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}})
            failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
            status = "succeeded" if result.success else "FAILED"
            print(f"=== {part}: run {result.run_id[:8]} {status} in {time.perf_counter() - t0:.0f} s ===")
            for ev in failed_checks:
                print(f"    check {ev.asset_key.to_user_string()}:{ev.check_name} failed ({ev.severity.value})")
            if not result.success:
                failures += 1
                for event in result.all_events:
                    if event.is_step_failure:
                        print(f"    step {event.step_key} failed: {event.step_failure_data.error.message.strip()[:500]}")
    _print_outputs(settings, parts)
    print(f"Dagster instance: {dagster_home}")
    return 1 if failures else 0


def cmd_pipeline(args) -> int:
    """The same steps without Dagster (scripted use)."""
    from legis_assets.pipeline import GateFailure, Partition, Pipeline

    settings = _settings(args)
    pipe = Pipeline(settings, progress=lambda m: print(m, flush=True))
    keys = _discover(settings.data_dir, args.session)
    parts = [Partition(k, c) for k in keys for c in _chambers_with_data(settings.data_dir, k, args.chamber)]
    status = 0
    for part in parts:
        try:
            pipe.run(part)
        except GateFailure as err:
            print(f"GATE FAILURE: {err}", file=sys.stderr)
            status = 1
    _print_outputs(settings, parts)
    return status


def cmd_simulate(args) -> int:
    from legis_assets.core import simulate

    out = Path(args.out)
    specs = simulate.EXAMPLE if args.example else None
    sims = simulate.simulate_session(seed=args.seed, start_year=args.start_year, specs=specs)
    simulate.write_session(sims, out, compact_votes=args.example)
    for chamber, sim in sims.items():
        print(f"{chamber}: {sim.truth.height} legislators, {sim.rollcall_truth.height} roll calls, "
              f"{sim.votes.height} vote rows")
    print(f"wrote {out}")
    return 0


def cmd_sessions(args) -> int:
    settings = _settings(args)
    for key in _discover(settings.data_dir, None):
        print(f"{key.key}\t{', '.join(_chambers_with_data(settings.data_dir, key, None))}")
    return 0


def cmd_sql(args) -> int:
    import polars as pl

    from legis_assets.storage import Warehouse

    import duckdb

    from legis_assets.core.schema import LegisError

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="legis-assets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--data-dir", help="data root (default $LEGIS_DATA_DIR or ./data)")
        p.add_argument("--profile", help="sampling profile: default, reference, quick, starved")
        p.add_argument("--model", help="hierarchical model: hierarchical (default), hierarchical_noncentered or "
                       "hierarchical_reference")
        p.add_argument("--seed", type=int, help="sampler seed (recorded in the metadata)")

    for name, fn in (("run", cmd_run), ("pipeline", cmd_pipeline)):
        p = sub.add_parser(name, help=fn.__doc__.splitlines()[0])
        common(p)
        p.add_argument("--session", action="append", help="session key, e.g. simulated.91st_2025-2026 (repeatable)")
        p.add_argument("--chamber", choices=sorted(CHAMBERS))
        p.set_defaults(fn=fn)
    p = sub.add_parser("simulate", help="write a simulated session in the scraper layout")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--start-year", type=int, default=2025)
    p.add_argument("--example", action="store_true", help="the bundled example's shape (smaller files)")
    p.set_defaults(fn=cmd_simulate)
    p = sub.add_parser("sessions", help="list sessions and chambers under the data directory")
    common(p)
    p.set_defaults(fn=cmd_sessions)
    p = sub.add_parser("sql", help="run a SQL query on the warehouse")
    common(p)
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(fn=cmd_sql)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.fn(args)
    except LegisError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
