"""How the CLI drives Dagster runs in this process (`legis-assets run` and `scale`): the log file of
a command, the watcher that copies a run's events into it and prints the pipeline's progress (and
who holds the pool slot a step waits for), what a finished run printed and how it ended
(`report_run`), and the common-scale runs of the legislatures a command touched (`run_scales`)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from legis_assets.cli_output import metadata_number


def run_log_path(home: Path) -> Path:
    """A new log file for one `legis-assets run`: $LEGIS_HOME/logs/run-<UTC time>-<pid>.log."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = home / "logs" / f"run-{stamp}-{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def new_run_id() -> str:
    """A run id in Dagster's form (a uuid4 string), chosen up front so the watcher can follow the run."""
    import uuid

    return str(uuid.uuid4())


def format_event(entry) -> str:
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


class RunWatcher:
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
                    self.log_file.write(format_event(entry))
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
        if pools and interrupt_requested():
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
            self._drop_claims()
            self._drain()
            self.log_file.write(message + "\n")
            self.log_file.flush()
        finally:
            os._exit(130)

    def _drop_claims(self) -> None:
        """Free this run's pool slots and pending claims for good. Dagster's wait loop in the main
        thread re-claims every second or so, and a claim in flight when we free would re-insert the
        pending step after we exit (CI saw it): first make any further claim of this run block
        forever (the process exits in a moment), then free until no claim of ours is left."""
        import threading

        from legis_assets.dagster_home import run_claims

        storage = self.instance.event_log_storage
        claim = storage.claim_concurrency_slot
        forever = threading.Event()

        def blocked(concurrency_key, run_id, step_key, priority=None):
            if run_id == self.run_id:
                forever.wait()
            return claim(concurrency_key, run_id, step_key, priority)

        storage.claim_concurrency_slot = blocked
        deadline = time.monotonic() + 10
        while True:
            storage.free_concurrency_slots_for_run(self.run_id)
            time.sleep(0.5)
            if run_claims(self.instance, self.run_id) == (0, 0) or time.monotonic() > deadline:
                return


def interrupt_requested() -> bool:
    """Whether Dagster captured a SIGINT/SIGTERM it has not acted on yet."""
    try:
        from dagster._utils.interrupts import check_captured_interrupt
    except ImportError:  # a later Dagster: the wait loop then handles interrupts itself, or not at all
        return False
    return check_captured_interrupt()


def innermost(error):
    while error is not None and error.cause is not None:
        error = error.cause
    return error


def run_scales(
    instance, settings, legislatures, log_file, log_path, notice, run_config: dict
) -> tuple[int, int, list[str]]:
    """Materialize the common scale of each legislature with 2+ chamber-sessions through Dagster
    (job legis_scale, with `run_config`); returns (failed, refused, built legislatures). A legislature with one
    chamber-session is skipped with a message (its common scale is that session's own)."""
    from legis_assets.dagster_home import this_process_tags
    from legis_assets.defs.common_scale import materialize_common_scale
    from legis_assets.scale_status import skip_reason

    failures = refused = 0
    built = []
    for legislature in legislatures:
        why = skip_reason(settings, legislature)
        if why:
            print(f"\n=== common scale skipped: {why} ===", flush=True)
            continue
        run_id = new_run_id()
        t0 = time.perf_counter()
        profile = settings.joint_profile
        print(f"\n=== {legislature}: materializing the common scale (profile {profile}, run {run_id}) ===", flush=True)
        log_file.write(f"=== {legislature} common scale: run {run_id} ===\n")
        with RunWatcher(instance, run_id, log_file, notice, legislature):
            result = materialize_common_scale(
                instance,
                legislature,
                run_id=run_id,
                tags=this_process_tags(),
                run_config=run_config,
            )
        built.append(legislature)
        outcome = report_run(
            result, f"{legislature} common scale", run_id, time.perf_counter() - t0, instance, settings, log_path
        )
        failures += outcome == "failed"
        refused += outcome == "refused"
    return failures, refused, built


def report_run(result, label: str, run_id: str, seconds: float, instance, settings, log_path: Path) -> str:
    """Print how one finished in-process run ended (`label`: the partition, or `<legislature> common
    scale`): a status line, the checks that failed, and, when it did not succeed, one `error:` line
    per refused input or failed step, or the failed gates (`GATE FAILURE:`, and the alerts sent).
    Returns "succeeded", "refused" (bad input: exit status 2) or "failed" (exit status 1)."""
    import dagster as dg

    from legis_assets.defs.alerts import deliver_run_alerts

    evaluations = result.get_asset_check_evaluations()
    failed_checks = [e for e in evaluations if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    warned = [e for e in evaluations if not e.passed and e.severity != dg.AssetCheckSeverity.ERROR]
    step_failures = [e for e in result.all_events if e.is_step_failure]
    user_failures = [e for e in step_failures if e.step_failure_data.user_failure_data is not None]
    refused = bool(user_failures) and not failed_checks
    status = "succeeded" if result.success else "REFUSED its input" if refused else "FAILED"
    print(f"=== {label}: run {run_id[:8]} {status} in {seconds:.0f} s ===", flush=True)
    for ev in warned + failed_checks:
        print(f"    check {ev.asset_key.to_user_string()}:{ev.check_name} failed ({ev.severity.value})")
    if result.success:
        return "succeeded"
    if refused:
        for event in user_failures:
            user_failure = event.step_failure_data.user_failure_data  # not None: see user_failures
            description = ((user_failure.description if user_failure is not None else None) or "").strip()
            print(
                f"error: {description or f'{label}: step {event.step_key} refused its input'}",
                file=sys.stderr,
                flush=True,
            )
        return "refused"
    if failed_checks:
        detail = "; ".join(
            f"{ev.check_name}: {metadata_number(ev.metadata.get('value'))} "
            f"(threshold {metadata_number(ev.metadata.get('threshold'))})"
            for ev in failed_checks
        )
        print(f"GATE FAILURE: {label}: convergence gates failed: {detail}", file=sys.stderr, flush=True)
        alert_log = logging.getLogger("legis_assets.cli.alerts")
        alert_log.setLevel(logging.WARNING)  # the line below says what was sent; a failed POST warns
        for record, delivered in deliver_run_alerts(instance, result.dagster_run, settings.home, alert_log):
            where = str(settings.home / "alerts.jsonl") + (" and the webhook" if delivered["posted"] else "")
            state = "already sent" if delivered["written"] is False else f"sent to {where}"
            print(f"    alert for {record['asset']}:{record['check']}: {state}", flush=True)
        return "failed"
    for event in step_failures:
        err = innermost(event.step_failure_data.error)
        first = (err.message.strip().splitlines() or [err.cls_name or "error"])[0] if err else "failed"
        print(
            f"error: {label}: step {event.step_key} failed: {first} (full trace in {log_path})",
            file=sys.stderr,
            flush=True,
        )
    if not step_failures:
        print(f"error: {label}: run {run_id} failed (see {log_path})", file=sys.stderr, flush=True)
    return "failed"
