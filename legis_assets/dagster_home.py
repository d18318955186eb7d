"""The local Dagster instance directory (DAGSTER_HOME) with the platform's concurrency settings.

`ensure_dagster_home(path)` creates the directory and, if it has none, a `dagster.yaml` with

* telemetry disabled;
* `concurrency.pools.default_limit` = the MCMC pool limit: every pool without its own limit (the
  platform has one, `mcmc`, on flat_posterior and hierarchical_posterior) runs at most that many
  steps at once across all runs (default 1: one NUTS fit at a time on a small machine; each fit
  already uses one core per chain);
* `concurrency.runs.max_concurrent_runs`: runs taken from the queue at once (default 1);
* `run_monitoring`: Dagster's run-monitoring daemon (part of `dagster dev` / `dagster-daemon run`)
  fails daemon-launched runs that never start or never finish cancelling, and frees the pool slots
  of every finished run (`free_slots_after_run_end_seconds`). With the default run launcher it
  cannot see a run worker that died *after* it started (the launcher has no health check), so the
  platform checks that itself (below).

Dead runs (`clean_up_dead_runs`): a run is dead when it is STARTING/STARTED/CANCELING in this
instance but the process that executes it is gone: for `legis-assets run` the process named in the
run's `legis/pid`, `legis/host` and `legis/pid_start` tags (the pid's start time guards against a
reused pid); for runs launched by the daemon on this host, the run worker whose pid Dagster records
in the run's "Started process for run (pid: N)" event. A dead run is reported failed (with the
reason) and its pool slots are freed, so it can no longer hold the `mcmc` slot forever.
`legis-assets run` does this at its start; the `dead_run_cleanup` sensor does it while the daemon runs.

Environment overrides: LEGIS_MCMC_POOL_LIMIT, LEGIS_MAX_CONCURRENT_RUNS. An existing dagster.yaml is
never overwritten (edit it, or set a single pool with `dagster instance concurrency set mcmc 2`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:  # dagster is imported lazily (slow to import)
    from dagster import DagsterRun

CONFIG_NAME = "dagster.yaml"

#: run tags naming the process that executes a `legis-assets run` partition run
TAG_PID, TAG_HOST, TAG_PID_START, TAG_LAUNCHER = "legis/pid", "legis/host", "legis/pid_start", "legis/launched_by"

#: Dagster's run-monitoring settings (keys checked against the 1.13 instance schema; test_dead_runs.py
#: validates the whole file with Dagster's own validator)
RUN_MONITORING = {
    "enabled": True,
    "start_timeout_seconds": 180,  # a launched run whose worker never started -> failed
    "cancel_timeout_seconds": 180,  # a run stuck cancelling -> canceled
    "poll_interval_seconds": 30,
    "free_slots_after_run_end_seconds": 30,  # pool slots still held by a finished run -> freed
}


def _positive(name: str, value: int) -> int:
    """The setting `name` (a Deployment field) if set in the environment, else `value` (>= 1)."""
    from legis_assets.settings import Deployment, variable

    configured = getattr(Deployment.from_env(), name)
    if configured is not None:
        return configured
    if value < 1:
        raise ValueError(f"{variable(name)}: expected a positive integer, got {value}")
    return value


def instance_config(mcmc_pool_limit: int = 1, max_concurrent_runs: int = 1) -> dict:
    """The dagster.yaml content (env overrides applied)."""
    return {
        "telemetry": {"enabled": False},
        "concurrency": {
            "pools": {"default_limit": _positive("mcmc_pool_limit", mcmc_pool_limit)},
            "runs": {"max_concurrent_runs": _positive("max_concurrent_runs", max_concurrent_runs)},
        },
        "run_monitoring": dict(RUN_MONITORING),
    }


def ensure_dagster_home(path: Path, mcmc_pool_limit: int = 1, max_concurrent_runs: int = 1) -> Path:
    """Create `path` and its dagster.yaml if absent; returns the resolved directory."""
    home = Path(path).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / CONFIG_NAME
    if not config.exists():
        text = (
            "# written by legis_assets.dagster_home.ensure_dagster_home; edit freely, it is not overwritten\n"
            + yaml.safe_dump(instance_config(mcmc_pool_limit, max_concurrent_runs), sort_keys=False)
        )
        tmp = config.with_name(f".{CONFIG_NAME}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        try:
            os.link(tmp, config)  # atomic and never replaces a file another process wrote meanwhile
        except FileExistsError:
            pass
        except OSError:
            if not config.exists():
                os.replace(tmp, config)
        finally:
            tmp.unlink(missing_ok=True)
    return home


# --- dead runs ----------------------------------------------------------------------------------


def process_start_time(pid: int) -> str | None:
    """An opaque token for when process `pid` started (Linux: /proc/<pid>/stat field 22, in clock
    ticks since boot), or None when it is unknown (no /proc) or the process does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return stat[stat.rindex(")") + 2 :].split()[19]  # fields after "pid (comm)": state is field 3
    except (ValueError, IndexError):
        return None


def process_alive(pid: int, start: str | None = None) -> bool:
    """True when `pid` exists (and, if `start` is given and /proc can tell, started at `start`)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if start:
        now = process_start_time(pid)
        if now is not None and now != start:
            return False  # the pid was reused by another process
        if now is None and Path("/proc/self/stat").exists():
            return False  # /proc works but has no such process (exited between the two checks)
    if Path(f"/proc/{pid}/stat").exists():
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
            if state[state.rindex(")") + 2 :].split()[0] == "Z":
                return False  # a zombie: dead, waiting for its parent to reap it
        except (OSError, ValueError, IndexError):
            pass
    return True


def this_process_tags(launcher: str = "cli") -> dict[str, str]:
    """Run tags that let a later process tell whether this one is still alive."""
    pid = os.getpid()
    tags = {TAG_LAUNCHER: launcher, TAG_PID: str(pid), TAG_HOST: socket.gethostname()}
    start = process_start_time(pid)
    if start:
        tags[TAG_PID_START] = start
    return tags


@dataclass(frozen=True)
class RunProcess:
    """The process executing a run, as far as the instance records it."""

    pid: int
    host: str | None  # None: not recorded (a daemon-launched run worker, same host assumed)
    start: str | None
    launcher: str  # "cli" or "daemon"

    def describe(self) -> str:
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        return f"pid {self.pid}{where}, launched by {'legis-assets run' if self.launcher == 'cli' else 'the daemon'}"


def run_process(instance, run) -> RunProcess | None:
    """The process recorded for `run`: its legis/* tags, else the pid of Dagster's
    "Started process for run" engine event (the run worker of a daemon-launched run)."""
    tags = run.tags or {}
    if tags.get(TAG_PID, "").isdigit():
        return RunProcess(
            int(tags[TAG_PID]), tags.get(TAG_HOST), tags.get(TAG_PID_START) or None, tags.get(TAG_LAUNCHER, "cli")
        )
    from dagster import DagsterEventType

    try:
        events = instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
    except Exception:
        return None
    for entry in events:
        message = entry.message or ""
        if not message.startswith("Started process for run"):
            continue
        data = getattr(entry.dagster_event, "engine_event_data", None)
        pid = getattr((data.metadata or {}).get("pid"), "value", None) if data else None
        if pid is not None and str(pid).isdigit():
            return RunProcess(int(pid), None, None, "daemon")
    return None


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    process: RunProcess
    status: str
    freed_slots: int
    reason: str


def _local_run_workers(instance) -> bool:
    """True when daemon-launched run workers are processes of this machine: Dagster's default run
    launcher (run workers are children of the local code server) over a SQLite instance (a local
    DAGSTER_HOME; a Postgres instance means a multi-container deployment, where another host's pid
    must not be judged here)."""
    from dagster import DefaultRunLauncher

    try:
        return isinstance(instance.run_launcher, DefaultRunLauncher) and type(instance.run_storage).__name__.startswith(
            "Sqlite"
        )
    except Exception:
        return False


def find_dead_runs(instance) -> list[tuple[DagsterRun, RunProcess]]:
    """In-progress runs of `instance` whose recorded process on this host no longer exists."""
    import dagster as dg

    host = socket.gethostname()
    local_workers = None
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
        )
    )
    dead = []
    for record in records:
        run = record.dagster_run
        proc = run_process(instance, run)
        if proc is None or (proc.host and proc.host != host):
            continue  # nothing to check, or another machine's process: not ours to judge
        if proc.host is None:
            local_workers = _local_run_workers(instance) if local_workers is None else local_workers
            if not local_workers:
                continue  # a run worker in another container or pod: its pid means nothing here
        if proc.pid == os.getpid():
            continue
        if not process_alive(proc.pid, proc.start):
            dead.append((run, proc))
    return dead


def free_run_slots(instance, run_id: str) -> int:
    """Free every pool slot (and pending claim) of `run_id`; returns how many were held."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 0
    held, _ = run_claims(instance, run_id)
    storage.free_concurrency_slots_for_run(run_id)
    return held


def clean_up_dead_runs(instance) -> list[DeadRun]:
    """Report every dead run failed (with the reason) and free its pool slots."""
    cleaned = []
    for run, proc in find_dead_runs(instance):
        reason = (
            f"the process executing this run ({proc.describe()}) is gone (killed or crashed) while the "
            f"run was {run.status.value}; marked failed and its pool slots freed"
        )
        try:
            instance.report_run_failed(run, message=reason)
        except Exception:  # someone else finished it meanwhile: still free its slots
            pass
        freed = free_run_slots(instance, run.run_id)
        cleaned.append(DeadRun(run.run_id, proc, run.status.value, freed, reason))
    return cleaned


@dataclass(frozen=True)
class SlotHolder:
    run_id: str
    step_key: str
    status: str | None
    process: RunProcess | None

    def describe(self) -> str:
        who = f", {self.process.describe()}" if self.process else ""
        state = f", {self.status}" if self.status else ""
        return f"run {self.run_id} (step {self.step_key}{state}{who})"


def pool_holders(instance, pool: str) -> list[SlotHolder]:
    """The runs holding slots of `pool` now."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    out = []
    for slot in info.claimed_slots:
        run = instance.get_run_by_id(slot.run_id)
        out.append(
            SlotHolder(
                slot.run_id,
                slot.step_key,
                run.status.value if run else None,
                run_process(instance, run) if run else None,
            )
        )
    return out


def run_claims(instance, run_id: str) -> tuple[int, int]:
    """(slots held, steps queued) of `run_id` over all pools; a queued step may hold its slot too."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 0, 0
    held = queued = 0
    for key in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(key)
        held += sum(1 for slot in info.claimed_slots if slot.run_id == run_id)
        queued += sum(1 for step in info.pending_steps if step.run_id == run_id)
    return held, queued


def pending_pools(instance, run_id: str) -> list[str]:
    """Pools in which `run_id` has a step waiting for a slot (claimed, not yet granted)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    pools = []
    for key in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(key)
        mine_claimed = {s.step_key for s in info.claimed_slots if s.run_id == run_id}
        if any(step.run_id == run_id and step.step_key not in mine_claimed for step in info.pending_steps):
            pools.append(key)
    return pools
