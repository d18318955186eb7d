"""A real scale-out deployment on this machine, from the project's own files (`make scale-demo`).

It starts, as the caller's own processes under one temporary directory (nothing system-wide):

* PostgreSQL (Debian's, found or installed by scripts/ensure_services.sh): initdb into the temp
  directory, started on a free port (5439 if free) with its socket directory there too; as root it
  runs as the unprivileged user `postgres` (postgres refuses to run as root);
* Redis (Debian's `redis-server`) on a free port (6389 if free), no persistence: the Celery broker
  and result backend;
* the Dagster instance: `deploy/celery/dagster.yaml` as shipped (Postgres run, event-log and
  schedule storage), its `/shared/` mount moved under the temp directory;
* Celery workers started with the documented command (`dagster-celery worker start -A
  dagster_celery.app -y deploy/celery/run_config.yaml -q <queues> -n <name> -- -c 1`), so they read
  the broker from the same file as the executor (`LEGIS_EXECUTOR=celery`,
  `LEGIS_EXECUTOR_CONFIG=deploy/celery/run_config.yaml`);
* the Dagster daemon (run queue, backfills, the data sensor and the alert sensors).

Then it launches an asset backfill of the chosen partitions through the daemon (Python API:
`PartitionBackfill.from_asset_partitions` + `instance.add_backfill`, what the UI's "Materialize"
dialog submits), waits for its runs and reads from the Postgres event log where every step ran (the
Celery worker's hostname, recorded by dagster-celery, and the queue the step was sent to).
`stop()` (also on SIGINT/SIGTERM and on any error) stops everything it started, by process id.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEPLOY = REPO / "deploy" / "celery"
ENSURE = REPO / "scripts" / "ensure_services.sh"
SHARED_DATA = Path(os.environ.get("LEGIS_SHARED_DIR", REPO.parent / "shared")) / "data"

#: the demo's partitions: (legislature, session directory, source directory, chambers)
DEMO_SESSIONS = [
    ("simulated", "91st_2025-2026", REPO / "data" / "simulated" / "91st_2025-2026", ("house", "senate")),
    ("us_congress", "107th_2001-2002", SHARED_DATA / "us_congress" / "107th_2001-2002", ("senate",)),
    ("california", "2019-2020", SHARED_DATA / "california" / "2019-2020", ("senate",)),
]

#: the documented worker layout (deploy/celery/run_config.yaml): light steps, and MCMC fits
DEMO_WORKERS = {"light": ("dagster",), "mcmc": ("mcmc",)}


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free TCP port")


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc: no psutil in the environment)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def ensure_services() -> dict[str, str]:
    """PG_BIN, REDIS_SERVER, PG_RUN_AS from scripts/ensure_services.sh (installs when absent)."""
    proc = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/ensure_services.sh failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def make_data_view(root: Path, sessions=DEMO_SESSIONS) -> Path:
    """A data root holding exactly the demo's sessions (symlinks to the read-only sources)."""
    for legislature, session, source, _ in sessions:
        if not source.is_dir():
            raise FileNotFoundError(f"session directory {source} is missing (set LEGIS_SHARED_DIR for ../shared)")
        (root / legislature).mkdir(parents=True, exist_ok=True)
        (root / legislature / session).symlink_to(source.resolve(), target_is_directory=True)
    return root


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log_path: Path


@dataclass
class LocalCluster:
    """Postgres + Redis + Celery workers + the Dagster daemon, all under `root`."""

    data_dir: Path
    workers: dict[str, Sequence[str]] = field(default_factory=lambda: dict(DEMO_WORKERS))
    root: Path | None = None
    env_extra: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    pg_started: bool = False

    def __post_init__(self) -> None:
        self.root = Path(self.root or tempfile.mkdtemp(prefix="legis-scale-"))
        self.root.chmod(0o755)  # the postgres user must reach its data directory
        self.tools = ensure_services()
        self.pg_port = free_port(5439)
        self.redis_port = free_port(6389)
        self.dagster_home = self.root / "dagster_home"
        self.legis_home = self.root / "shared" / "legis"
        self.env = self._env()

    # --- environment -------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGIS_", "DAGSTER_"))}
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            DAGSTER_HOME=str(self.dagster_home),
            DAGSTER_PG_HOST="127.0.0.1",
            DAGSTER_PG_PORT=str(self.pg_port),
            DAGSTER_PG_USER="dagster",
            DAGSTER_PG_PASSWORD="legis",
            DAGSTER_PG_DB="dagster",
            DAGSTER_CELERY_BROKER_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            DAGSTER_CELERY_BACKEND_URL=f"redis://127.0.0.1:{self.redis_port}/1",
            LEGIS_EXECUTOR="celery",
            LEGIS_EXECUTOR_CONFIG=str(DEPLOY / "run_config.yaml"),
            LEGIS_HOME=str(self.legis_home),
            LEGIS_DATA_DIR=str(self.data_dir),
            # make_data_view's data root is symlinks to the sources (read-only, elsewhere)
            LEGIS_ALLOW_OUTSIDE_DATA_ROOT="1",
            # launching a run goes through the code server; on a loaded 2-core host that call can
            # take over Dagster's default 60 s and the run fails to launch
            DAGSTER_GRPC_TIMEOUT_SECONDS="300",
            LEGIS_PROFILE="default",
            LEGIS_SEED="2025",
            LEGIS_SENSOR_DEFAULT_RUNNING="1",
            LEGIS_SENSOR_INTERVAL="5",
            LEGIS_ALERT_INTERVAL="5",
            LEGIS_DEAD_RUN_INTERVAL="10",
        )
        env.update(self.env_extra)
        return env

    def write_instance(self) -> Path:
        """deploy/celery/dagster.yaml as shipped, with its `/shared/` mount under the temp dir."""
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        text = (DEPLOY / "dagster.yaml").read_text().replace("/shared/", f"{self.root}/shared/")
        (self.dagster_home / "dagster.yaml").write_text(text)
        return self.dagster_home / "dagster.yaml"

    # --- processes ---------------------------------------------------------------------------
    def _as_pg(self, args: list[str]) -> list[str]:
        user = self.tools.get("PG_RUN_AS", "")
        return ["runuser", "-u", user, "--", *args] if user else args

    def _spawn(self, name: str, args: list[str], cwd: Path = REPO) -> Service:
        log_path = self.root / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        proc = subprocess.Popen(
            args, cwd=cwd, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.services[name] = Service(name, proc, log_path)
        return self.services[name]

    def start_postgres(self) -> None:
        pg_bin = Path(self.tools["PG_BIN"])
        pg_root = self.root / "postgres"
        (pg_root / "sock").mkdir(parents=True)
        (self.root / "pwfile").write_text("legis\n")
        if self.tools.get("PG_RUN_AS"):
            shutil.chown(pg_root, self.tools["PG_RUN_AS"])
            shutil.chown(pg_root / "sock", self.tools["PG_RUN_AS"])
            shutil.chown(self.root / "pwfile", self.tools["PG_RUN_AS"])
        data = pg_root / "data"
        run = dict(check=True, capture_output=True, text=True, cwd=self.root)
        subprocess.run(
            self._as_pg(
                [str(pg_bin / "initdb"), "-D", str(data), "-U", "dagster", "--pwfile", str(self.root / "pwfile")]
                + ["-A", "scram-sha-256", "-E", "UTF8", "--no-sync"]
            ),
            **run,
        )
        options = f"-p {self.pg_port} -k {pg_root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off"
        cmd = [str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(pg_root / "server.log"), "-o", options, "-w"]
        subprocess.run(self._as_pg([*cmd, "start"]), **run)
        self.pg_started = True
        env = {**os.environ, "PGPASSWORD": "legis"}
        subprocess.run(
            [str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "dagster", "dagster"],
            check=True,
            capture_output=True,
            env=env,
        )
        log(f"postgres: 127.0.0.1:{self.pg_port}, data in {data}")

    def start_redis(self) -> None:
        (self.root / "redis").mkdir()
        args = [self.tools["REDIS_SERVER"], "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.root / "redis"), "--save", "", "--appendonly", "no", "--daemonize", "no"]
        self._spawn("redis", args)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.redis_port), 1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis did not answer on port {self.redis_port}")
            time.sleep(0.2)
        log(f"redis: 127.0.0.1:{self.redis_port}")

    def worker_command(self, name: str, queues: Sequence[str]) -> list[str]:
        """The documented worker command (deploy/celery/run_config.yaml, deploy/README.md)."""
        args = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        # one comma-separated -q: dagster-celery passes each -q on as celery's -Q, and with several
        # -Q celery keeps only the last (a worker started with -q dagster -q mcmc serves mcmc only)
        args += ["-y", str(DEPLOY / "run_config.yaml"), "-n", name, "-q", ",".join(queues)]
        return [*args, "--", "-c", "1"]

    def start_worker(self, name: str, queues: Sequence[str]) -> Service:
        service = self._spawn(f"worker-{name}", self.worker_command(name, queues))
        log(f"celery worker {name}@{socket.gethostname()}: queues {', '.join(queues)}")
        return service

    def wait_for_workers(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.workers)
        while pending:
            for name in list(pending):
                if b"ready." in self.services[f"worker-{name}"].log_path.read_bytes():
                    pending.discard(name)
                elif self.services[f"worker-{name}"].proc.poll() is not None:
                    raise RuntimeError(f"worker {name} exited: {self.tail(f'worker-{name}')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready: {sorted(pending)}")
            time.sleep(0.5)

    def start(self) -> LocalCluster:
        self.write_instance()
        self.start_postgres()
        self.start_redis()
        for name, queues in self.workers.items():
            self.start_worker(name, queues)
        self.wait_for_workers()
        return self

    def start_daemon(self) -> None:
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")])
        log("dagster-daemon: run queue, backfills, session_data_sensor, convergence_failure_alert")

    def tail(self, name: str, lines: int = 40) -> str:
        text = self.services[name].log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop_process(self, name: str) -> None:
        service = self.services.pop(name, None)
        if service is None or service.proc.poll() is not None:
            return
        family = [service.proc.pid, *descendants(service.proc.pid)]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in family):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(-1, os.WNOHANG)
                time.sleep(0.2)
        service.proc.wait(timeout=5)

    def stop(self) -> None:
        # a second Ctrl-C or SIGTERM must not interrupt the clean-up half-way
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._stop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _stop(self) -> None:
        for name in [n for n in self.services if n == "daemon"] + [n for n in self.services if n != "daemon"]:
            try:
                self.stop_process(name)
            except BaseException as err:  # keep stopping the others
                log(f"could not stop {name}: {err!r}")
        if self.pg_started:
            cmd = [str(Path(self.tools["PG_BIN"]) / "pg_ctl"), "-D", str(self.root / "postgres" / "data")]
            subprocess.run(self._as_pg([*cmd, "-m", "fast", "-w", "stop"]), capture_output=True, cwd=self.root)
            self.pg_started = False
        log("stopped postgres, redis, workers and daemon")

    # --- the instance ------------------------------------------------------------------------
    @contextlib.contextmanager
    def instance(self) -> Iterator:
        import dagster as dg

        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            with dg.DagsterInstance.from_config(str(self.dagster_home)) as inst:
                yield inst
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def mark_data_seen(self) -> None:
        """Set the data sensor's cursor to the data root as it is: its sessions are backfilled
        explicitly, and the running sensor only reacts to what arrives or changes afterwards."""
        code = (
            "import sys; from pathlib import Path; from legis_assets import automation;"
            "scan = automation.scan_data_root(Path(sys.argv[1]), {}, stable_seconds=0);"
            "print(automation.dump_cursor(scan.sessions))"
        )
        cursor = subprocess.run(
            [sys.executable, "-c", code, str(self.data_dir)], check=True, capture_output=True, text=True, env=self.env
        ).stdout.strip()
        # `sensor cursor --set` stores the state as STOPPED; `sensor start` turns it on, cursor kept
        for args in (["cursor", "session_data_sensor", "--set", cursor], ["start", "session_data_sensor"]):
            subprocess.run(
                [str(BIN / "dagster"), "sensor", *args, "-w", str(REPO / "workspace.yaml")],
                check=True,
                capture_output=True,
                cwd=REPO,
                env=self.env,
            )

    def launch_backfill(
        self, partitions: Sequence[tuple[str, str]], title: str = "scale-out backfill", run_config: dict | None = None
    ) -> str:
        """An asset backfill of every legis asset for these (session key, chamber) partitions,
        submitted to the instance (with `run_config`, e.g. the legis resource's settings); the
        daemon's backfill loop launches its runs."""
        from dagster._core.execution.backfill import PartitionBackfill
        from dagster._core.utils import make_new_backfill_id

        from legis_assets.definitions import defs
        from legis_assets.defs.assets import ALL_ASSETS
        from legis_assets.defs.partitions import SESSION, partition_key

        keys = [str(partition_key(s, c)) for s, c in partitions]
        with self.instance() as inst:
            sessions = sorted({s for s, _ in partitions} - set(inst.get_dynamic_partitions(SESSION)))
            if sessions:
                inst.add_dynamic_partitions(SESSION, sessions)
            backfill = PartitionBackfill.from_asset_partitions(
                backfill_id=make_new_backfill_id(),
                asset_graph=defs.resolve_asset_graph(),
                partition_names=keys,
                asset_selection=[k for a in ALL_ASSETS for k in a.keys],
                backfill_timestamp=time.time(),
                tags={"legis/trigger": "backfill"},
                dynamic_partitions_store=inst,
                all_partitions=False,
                title=title,
                description=None,
                run_config=run_config,
            )
            inst.add_backfill(backfill)
        log(f"backfill {backfill.backfill_id}: {len(keys)} partitions -> {', '.join(keys)}")
        return backfill.backfill_id

    def wait_for_backfill(self, backfill_id: str, timeout: float = 3600, poll: float = 3.0) -> list:
        """Wait until the backfill is done and its runs are finished; returns the runs."""
        import dagster as dg
        from dagster._core.execution.backfill import BulkActionStatus

        done = {
            BulkActionStatus.COMPLETED,
            BulkActionStatus.COMPLETED_SUCCESS,
            BulkActionStatus.COMPLETED_FAILED,
            BulkActionStatus.FAILED,
            BulkActionStatus.CANCELED,
        }
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        with self.instance() as inst:
            while True:
                backfill = inst.get_backfill(backfill_id)
                runs = inst.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
                for run in runs:
                    if seen.get(run.run_id) != run.status.value:
                        seen[run.run_id] = run.status.value
                        log(f"run {run.run_id[:8]} {run.tags.get('dagster/partition')}: {run.status.value}")
                if backfill and backfill.status in done and all(r.is_finished for r in runs):
                    return runs
                if time.monotonic() > deadline:
                    raise TimeoutError(f"backfill {backfill_id} not finished after {timeout:.0f} s")
                for name, service in self.services.items():
                    if service.proc.poll() is not None:
                        raise RuntimeError(f"{name} exited ({service.proc.returncode}): {self.tail(name)}")
                time.sleep(poll)


SUBMIT_RE = re.compile(r'Submitting celery task for step "(?P<step>[^"]+)" to queue "(?P<queue>[^"]+)"')


def where_steps_ran(inst, runs) -> list[dict]:
    """Per step of each run: partition, Celery worker (hostname), queue, status and duration, read
    from the run's event log (dagster-celery records the worker and the queue)."""
    from dagster import DagsterEventType

    rows = []
    for run in runs:
        steps: dict[str, dict] = {}
        for record in inst.all_logs(run.run_id):
            event = record.dagster_event
            if event is None:
                continue
            step = event.step_key
            if event.event_type == DagsterEventType.ENGINE_EVENT:
                match = SUBMIT_RE.search(record.user_message or "")
                if match:
                    steps.setdefault(match["step"], {})["queue"] = match["queue"]
                    continue
                metadata = event.engine_event_data.metadata if event.engine_event_data else {}
                worker = metadata.get("Celery worker")
                if step and worker is not None:
                    steps.setdefault(step, {})["worker"] = getattr(worker, "value", worker)
            elif step and event.event_type == DagsterEventType.STEP_START:
                steps.setdefault(step, {})["start"] = record.timestamp
            elif step and event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                info = steps.setdefault(step, {})
                info["end"], info["status"] = record.timestamp, event.event_type.value
        for step, info in steps.items():
            rows.append(
                {
                    "run": run.run_id,
                    "partition": run.tags.get("dagster/partition", ""),
                    "step": step,
                    "queue": info.get("queue"),
                    "worker": info.get("worker"),
                    "status": info.get("status", "NOT_FINISHED"),
                    "seconds": round(info["end"] - info["start"], 1) if "end" in info and "start" in info else None,
                    "start": info.get("start"),
                }
            )
    return sorted(rows, key=lambda r: (r["partition"], r["start"] or 0))


def format_steps(rows: list[dict]) -> str:
    header = f"{'partition':<36} {'step':<26} {'queue':<8} {'worker':<30} {'status':<13} {'s':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else "-"
        lines.append(
            f"{r['partition']:<36} {r['step']:<26} {r['queue'] or '-':<8} {r['worker'] or '-':<30} "
            f"{r['status']:<13} {seconds:>7}"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def stopped_on_signals(cluster: LocalCluster) -> Iterator[LocalCluster]:
    """Stop the cluster on exit, error, SIGINT and SIGTERM (the script's trap)."""

    def _raise(signum, _frame):
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, _raise) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cluster
    finally:
        cluster.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def demo_partitions(sessions=DEMO_SESSIONS) -> list[tuple[str, str]]:
    return [
        (f"{legislature}.{session}", chamber) for legislature, session, _, chambers in sessions for chamber in chambers
    ]


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, warehouse) afterwards")
    args = parser.parse_args(argv)
    data = make_data_view(Path(tempfile.mkdtemp(prefix="legis-scale-data-")))
    cluster = LocalCluster(data_dir=data)
    started = time.monotonic()
    status = 1
    with stopped_on_signals(cluster):
        cluster.start()
        cluster.mark_data_seen()
        cluster.start_daemon()
        backfill_id = cluster.launch_backfill(demo_partitions())
        runs = cluster.wait_for_backfill(backfill_id)
        wall = time.monotonic() - started
        with cluster.instance() as inst:
            rows = where_steps_ran(inst, runs)
            ticks = {
                name: len(inst.get_ticks(origin, selector))
                for name, origin, selector in _sensor_ids(inst, ("session_data_sensor", "convergence_failure_alert"))
            }
        print(format_steps(rows))
        ok = [r for r in runs if r.status.value == "SUCCESS"]
        workers = sorted({r["worker"] for r in rows if r["worker"]})
        print(
            f"\n{len(ok)}/{len(runs)} runs succeeded in {wall:.0f} s (services included); steps ran on "
            f"{len(workers)} workers: {', '.join(workers)}; sensor ticks in Postgres: "
            + ", ".join(f"{k} {v}" for k, v in ticks.items())
        )
        print(f"warehouse: {cluster.legis_home / 'warehouse.duckdb'}; logs: {cluster.root / 'logs'}")
        status = 0 if len(ok) == len(runs) == len(demo_partitions()) else 1
    if not args.keep:
        shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    return status


def _sensor_ids(inst, names):
    """(name, origin id, selector id) of the code location's sensors with these names, as stored."""
    out = []
    for state in inst.all_instigator_state():
        if state.name in names:
            out.append((state.name, state.instigator_origin_id, state.selector_id))
    return out


if __name__ == "__main__":
    sys.exit(main())
