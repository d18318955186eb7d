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

from legis_assets.core.schema import CHAMBERS, LegisError, SessionKey


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
            # the published model's gates: the hierarchical model's, or the flat model's where the
            # hierarchical model was not fitted (one party, none, a pooled party too small)
            gates = wh.query(
                "SELECT model, gate, value, threshold, status FROM convergence_diagnostics "
                "WHERE session_key = ? AND chamber = ? ORDER BY model, gate",
                [part.key.key, part.chamber],
            )
            models_seen = set(gates["model"].to_list())
            published = "hierarchical" if "hierarchical" in models_seen else "flat"
            rows = gates.filter(gates["model"] == published).iter_rows()
            label = "" if published == "hierarchical" else " (flat model: the hierarchical model was not fitted)"
            from legis_assets.scale_status import number

            print(f"    gates{label}: " + ", ".join(f"{g} {number(v)} {s}" for _, g, v, _, s in rows))
        except Exception:
            print("    gates: (not computed)")
        traces = settings.home / "traces" / part.key.legislature / part.key.session / part.chamber
        print(f"    traces: {traces}")
        for trace in sorted(traces.glob("*.nc")) if traces.exists() else []:
            attrs = _trace_attrs(trace)
            if attrs:
                print(
                    f"      {trace.name}: {attrs.get('model')} ({attrs.get('backend')}), "
                    f"compile {float(attrs.get('compile_seconds', 'nan')):.1f} s, "
                    f"sample {float(attrs.get('sample_seconds', 'nan')):.1f} s, "
                    f"{attrs.get('grad_evals')} gradient evaluations"
                )
        reports = settings.home / "reports" / part.key.legislature / part.key.session / part.chamber
        if reports.exists():
            for html in sorted(reports.glob("*.html")):
                print(f"    report: {html}")
    print('\nQuery the results:  .venv/bin/legis-assets sql "SELECT * FROM ideal_points LIMIT 10"')
    print("Open the Dagster UI: make ui   (then http://127.0.0.1:3000)")


def _first_doc_line(fn: Callable[..., Any]) -> str:
    """The first line of `fn`'s docstring (the subcommand's help)."""
    if fn.__doc__ is None:
        raise ValueError(f"{fn.__name__} has no docstring")
    return fn.__doc__.splitlines()[0]


def _run_log_path(home: Path) -> Path:
    """A new log file for one `legis-assets run`: $LEGIS_HOME/logs/run-<UTC time>-<pid>.log."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = home / "logs" / f"run-{stamp}-{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _format_event(entry) -> str:
    """One event of the Dagster event log as log-file text (errors with their full trace)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.timestamp))
    level = logging.getLevelName(entry.level) if isinstance(entry.level, int) else str(entry.level)
    event = entry.dagster_event
    kind = event.event_type_value if event else "LOG"
    text = f"{when} {level:<7} {entry.step_key or '-'} {kind}: {entry.message}"
    errors = []
    if entry.error_info:
        errors.append(entry.error_info)
    if event is not None:
        if event.is_step_failure and event.step_failure_data.error:
            errors.append(event.step_failure_data.error)
        data = getattr(event, "event_specific_data", None)
        error = getattr(data, "error", None)
        if error is not None and not event.is_step_failure:
            errors.append(error)
    for err in errors:
        text += "\n" + "\n".join("    " + line for line in err.to_string().rstrip().splitlines())
    return text + "\n"


class _RunWatcher:
    """Follows one in-process run from a thread: copies every event of the run into the log file,
    prints the pipeline's progress messages, and says so when a step waits for a pool slot
    (naming the run that holds it) instead of waiting silently."""

    def __init__(self, instance, run_id: str, log_file, notice_seconds: float, progress_prefix: str):
        import threading

        self.instance, self.run_id, self.log_file = instance, run_id, log_file
        self.progress_prefix = progress_prefix
        self.notice_seconds = notice_seconds
        self._stop = threading.Event()
        self._cursor = None
        self._waiting_since: dict[str, float] = {}
        self._announced: dict[str, float] = {}
        self._thread = threading.Thread(target=self._loop, name="legis-run-watcher", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        self._drain()

    def _loop(self) -> None:
        last_pool_check = 0.0
        while not self._stop.wait(0.5):
            self._drain()
            if time.monotonic() - last_pool_check >= 1.0:
                last_pool_check = time.monotonic()
                self._check_pools()

    def _drain(self) -> None:
        from dagster import DagsterEventType

        try:
            while True:
                conn = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, limit=500)
                for record in conn.records:
                    entry = record.event_log_entry
                    self.log_file.write(_format_event(entry))
                    event = entry.dagster_event
                    # the pipeline's progress messages (they name their partition); Dagster's own
                    # messages (skipped steps, errors with their traces) stay in the log file
                    if (
                        event is None
                        and entry.level >= logging.INFO
                        and entry.user_message.startswith(self.progress_prefix)
                    ):
                        print(f"  {entry.user_message}", flush=True)
                    elif event is not None and event.event_type == DagsterEventType.STEP_START:
                        self._waiting_since.clear()
                self.log_file.flush()
                self._cursor = conn.cursor
                if not conn.has_more:
                    return
        except Exception as err:  # the storage is busy: try again on the next tick
            self.log_file.write(f"(could not read the run's events: {err})\n")

    def _check_pools(self) -> None:
        from legis_assets.dagster_home import pending_pools, pool_holders

        try:
            pools = pending_pools(self.instance, self.run_id)
        except Exception:
            return
        if pools and _interrupt_requested():
            self._give_up_waiting(pools)
        now = time.monotonic()
        for pool in list(self._waiting_since):
            if pool not in pools:
                del self._waiting_since[pool]
                self._announced.pop(pool, None)
        for pool in pools:
            since = self._waiting_since.setdefault(pool, now)
            last = self._announced.get(pool)
            if now - since < self.notice_seconds or (last is not None and now - last < 60):
                continue
            self._announced[pool] = now
            try:
                holders = [h for h in pool_holders(self.instance, pool) if h.run_id != self.run_id]
                limit = self.instance.event_log_storage.get_concurrency_info(pool).slot_count
            except Exception:
                holders, limit = [], None
            held = ("held by " + "; ".join(h.describe() for h in holders)) if holders else "no run holds one"
            print(f"  waiting {now - since:.0f} s for a slot of pool {pool} (limit {limit}), {held}", flush=True)

    def _give_up_waiting(self, pools: list[str]) -> None:
        """SIGINT/SIGTERM while the run only waits for a pool slot. Dagster defers interrupts to its
        checkpoints and its in-process wait loop has none, so the signal would be ignored for as long
        as the slot is held. No step is executing: cancel the run, drop its claims and exit."""
        message = f"interrupted while waiting for a slot of pool {', '.join(pools)}: run {self.run_id} canceled"
        print(f"\n{message}", file=sys.stderr, flush=True)
        try:
            run = self.instance.get_run_by_id(self.run_id)
            if run is not None and not run.is_finished:
                self.instance.report_run_canceled(run, message=message)
            self.instance.event_log_storage.free_concurrency_slots_for_run(self.run_id)
            self._drain()
            self.log_file.write(message + "\n")
            self.log_file.flush()
        finally:
            os._exit(130)


def _interrupt_requested() -> bool:
    """Whether Dagster captured a SIGINT/SIGTERM it has not acted on yet."""
    try:
        from dagster._utils.interrupts import check_captured_interrupt
    except ImportError:  # a later Dagster: the wait loop then handles interrupts itself, or not at all
        return False
    return check_captured_interrupt()


def _innermost(error):
    while error is not None and error.cause is not None:
        error = error.cause
    return error


def _run_scales(instance, settings, legislatures, log_file, log_path, notice) -> tuple[int, int, list[str]]:
    """Materialize the common scale of each legislature with 2+ chamber-sessions through Dagster
    (job legis_scale); returns (failed, refused, built legislatures). A legislature with one
    chamber-session is skipped with a message (its common scale is that session's own)."""
    import dagster as dg

    from legis_assets.dagster_home import this_process_tags
    from legis_assets.defs.alerts import deliver_run_alerts
    from legis_assets.defs.common_scale import materialize_common_scale
    from legis_assets.scale_status import skip_reason

    failures = refused = 0
    built = []
    for legislature in legislatures:
        why = skip_reason(settings, legislature)
        if why:
            print(f"\n=== common scale skipped: {why} ===", flush=True)
            continue
        run_id = _new_run_id()
        t0 = time.perf_counter()
        profile = settings.joint_profile
        print(f"\n=== {legislature}: materializing the common scale (profile {profile}, run {run_id}) ===", flush=True)
        log_file.write(f"=== {legislature} common scale: run {run_id} ===\n")
        with _RunWatcher(instance, run_id, log_file, notice, legislature):
            result = materialize_common_scale(
                instance,
                legislature,
                run_id=run_id,
                tags=this_process_tags(),
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}, **settings.run_config()},
            )
        evaluations = result.get_asset_check_evaluations()
        failed_checks = [e for e in evaluations if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
        step_failures = [e for e in result.all_events if e.is_step_failure]
        user_failures = [e for e in step_failures if e.step_failure_data.user_failure_data is not None]
        status = (
            "succeeded" if result.success else "REFUSED its input" if user_failures and not failed_checks else "FAILED"
        )
        print(
            f"=== {legislature} common scale: run {run_id[:8]} {status} in {time.perf_counter() - t0:.0f} s ===",
            flush=True,
        )
        for ev in evaluations:
            if not ev.passed:
                print(f"    check {ev.asset_key.to_user_string()}:{ev.check_name} failed ({ev.severity.value})")
        built.append(legislature)
        if result.success:
            continue
        if user_failures and not failed_checks:
            refused += 1
            for event in user_failures:
                print(
                    f"error: {(event.step_failure_data.user_failure_data.description or '').strip()}",
                    file=sys.stderr,
                    flush=True,
                )
            continue
        failures += 1
        if failed_checks:
            detail = "; ".join(
                f"{ev.check_name}: {_metadata_number(ev.metadata.get('value'))} "
                f"(threshold {_metadata_number(ev.metadata.get('threshold'))})"
                for ev in failed_checks
            )
            print(
                f"GATE FAILURE: {legislature} common scale: convergence gates failed: {detail}",
                file=sys.stderr,
                flush=True,
            )
            alert_log = logging.getLogger("legis_assets.cli.alerts")
            alert_log.setLevel(logging.WARNING)
            for record, delivered in deliver_run_alerts(instance, result.dagster_run, settings.home, alert_log):
                state = (
                    "already sent"
                    if delivered["written"] is False
                    else f"sent to {settings.home / 'alerts.jsonl'}"
                    + (" and the webhook" if delivered["posted"] else "")
                )
                print(f"    alert for {record['asset']}:{record['check']}: {state}", flush=True)
        else:
            for event in step_failures:
                err = _innermost(event.step_failure_data.error)
                first = (err.message.strip().splitlines() or [err.cls_name or "error"])[0] if err else "failed"
                print(
                    f"error: {legislature} common scale: step {event.step_key} failed: {first} "
                    f"(full trace in {log_path})",
                    file=sys.stderr,
                    flush=True,
                )
    return failures, refused, built


def _print_scales(settings, legislatures) -> None:
    from legis_assets.scale_status import scale_summary

    if legislatures:
        print("\n=== common scale ===")
    for legislature in legislatures:
        for line in scale_summary(settings, legislature):
            print(line)


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
        from legis_assets.dagster_home import clean_up_dead_runs, ensure_dagster_home, this_process_tags
        from legis_assets.definitions import all_assets_job, defs
        from legis_assets.defs.alerts import deliver_run_alerts
        from legis_assets.defs.partitions import SESSION, partition_key
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the instance's schema setup, not news

    # the settings reach the runs as the `legis` resource's run config (settings.run_config), not
    # through os.environ: Dagster stores the run config with the run, so every executor's step
    # processes (multiprocess children, k8s pods) get the same values; only DAGSTER_HOME is an
    # environment variable (the instance is found through it)
    dagster_home = ensure_dagster_home(Path(os.environ.setdefault("DAGSTER_HOME", str(settings.home / "dagster_home"))))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    job = defs.resolve_job_def(all_assets_job.name)
    log_path = _run_log_path(settings.home)
    print(f"Dagster log of this command: {log_path}", flush=True)
    from legis_assets.settings import Deployment

    notice = Deployment.from_env().pool_wait_notice
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
            run_id = _new_run_id()
            print(
                f"\n=== {part}: materializing {len(list(job.asset_layer.executable_asset_keys))} assets "
                f"(profile {settings.profile}, model {settings.model}, run {run_id}) ===",
                flush=True,
            )
            log_file.write(f"=== {part}: run {run_id} ===\n")
            with _RunWatcher(instance, run_id, log_file, notice, f"{part}:"):
                # Dagster's console logger stays quiet: the watcher prints the progress and the log
                # file gets every event (stack traces included)
                result = job.execute_in_process(
                    partition_key=partition_key(part.key.key, part.chamber),
                    instance=instance,
                    raise_on_error=False,
                    run_id=run_id,
                    tags=this_process_tags(),
                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}, **settings.run_config()},
                )
            seconds = time.perf_counter() - t0
            failed_checks = [
                e
                for e in result.get_asset_check_evaluations()
                if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
            ]
            warned = [
                e
                for e in result.get_asset_check_evaluations()
                if not e.passed and e.severity != dg.AssetCheckSeverity.ERROR
            ]
            step_failures = [e for e in result.all_events if e.is_step_failure]
            user_failures = [e for e in step_failures if e.step_failure_data.user_failure_data is not None]
            if result.success:
                status = "succeeded"
            elif user_failures and not failed_checks:
                status = "REFUSED its input"
            else:
                status = "FAILED"
            print(f"=== {part}: run {run_id[:8]} {status} in {seconds:.0f} s ===", flush=True)
            for ev in warned + failed_checks:
                print(f"    check {ev.asset_key.to_user_string()}:{ev.check_name} failed ({ev.severity.value})")
            if result.success:
                continue
            if user_failures and not failed_checks:
                refused += 1
                for event in user_failures:
                    user_failure = event.step_failure_data.user_failure_data  # not None: see user_failures
                    description = ((user_failure.description if user_failure is not None else None) or "").strip()
                    print(
                        f"error: {description or f'{part}: step {event.step_key} refused its input'}",
                        file=sys.stderr,
                        flush=True,
                    )
                continue
            failures += 1
            if failed_checks:
                detail = "; ".join(
                    f"{ev.check_name}: {_metadata_number(ev.metadata.get('value'))} "
                    f"(threshold {_metadata_number(ev.metadata.get('threshold'))})"
                    for ev in failed_checks
                )
                print(f"GATE FAILURE: {part}: convergence gates failed: {detail}", file=sys.stderr, flush=True)
                alert_log = logging.getLogger("legis_assets.cli.alerts")
                alert_log.setLevel(logging.WARNING)  # the line below says what was sent; a failed POST warns
                for record, delivered in deliver_run_alerts(instance, result.dagster_run, settings.home, alert_log):
                    where = str(settings.home / "alerts.jsonl") + (" and the webhook" if delivered["posted"] else "")
                    state = "already sent" if delivered["written"] is False else f"sent to {where}"
                    print(f"    alert for {record['asset']}:{record['check']}: {state}", flush=True)
            else:
                for event in step_failures:
                    err = _innermost(event.step_failure_data.error)
                    first = (err.message.strip().splitlines() or [err.cls_name or "error"])[0] if err else "failed"
                    print(
                        f"error: {part}: step {event.step_key} failed: {first} (full trace in {log_path})",
                        file=sys.stderr,
                        flush=True,
                    )
                if not step_failures:
                    print(f"error: {part}: run {run_id} failed (see {log_path})", file=sys.stderr, flush=True)
        # then the common scale of every legislature touched (2+ sessions), unless --no-scale
        legislatures = [] if args.no_scale else sorted({k.legislature for k in keys})
        scale_failures, scale_refused, scales = _run_scales(
            instance, settings, legislatures, log_file, log_path, notice
        )
        failures += scale_failures
        refused += scale_refused
    _print_outputs(settings, parts)
    _print_scales(settings, scales)
    print(f"Dagster instance: {dagster_home}")
    print(f"Dagster log: {log_path}")
    return 2 if refused else 1 if failures else 0


def _metadata_number(value) -> str:
    from legis_assets.scale_status import number

    value = getattr(value, "value", value)
    try:
        return number(value)
    except (TypeError, ValueError):
        return str(value)


def _new_run_id() -> str:
    """A run id in Dagster's form (a uuid4 string), chosen up front so the watcher can follow the run."""
    import uuid

    return str(uuid.uuid4())


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
    _print_outputs(settings, parts)
    _print_scales(settings, scales)
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
        from legis_assets.dagster_home import ensure_dagster_home
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # the settings reach the runs as the `legis` resource's run config (settings.run_config), not
    # through os.environ: Dagster stores the run config with the run, so every executor's step
    # processes (multiprocess children, k8s pods) get the same values; only DAGSTER_HOME is an
    # environment variable (the instance is found through it)
    dagster_home = ensure_dagster_home(Path(os.environ.setdefault("DAGSTER_HOME", str(settings.home / "dagster_home"))))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    log_path = _run_log_path(settings.home)
    print(f"Dagster log of this command: {log_path}", flush=True)
    from legis_assets.settings import Deployment

    notice = Deployment.from_env().pool_wait_notice
    with dg.DagsterInstance.get() as instance, open(log_path, "a", encoding="utf-8") as log_file:
        failures, refused, scales = _run_scales(instance, settings, [legislature], log_file, log_path, notice)
    _print_scales(settings, scales)
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
