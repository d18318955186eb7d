"""The scale-out backfill's wall time with 1 and 2 Celery workers, measured in one run.

Each case starts a fresh local deployment (scripts/scale_cluster.py: Postgres, Redis, the Celery
workers, the Dagster daemon; a fresh warehouse), launches the backfill of `make scale-demo` (both
chambers of the example's 91st session, the US Senate 107th, the California Senate 2019-20: four
partitions, default sampling profile, seed 2025) and times it from the backfill's submission to the
end of its last run (service start-up excluded). Workers run one process each (`-c 1`):

* 1 worker: serves both queues (`dagster`, `mcmc`), so every step of every run goes through it;
* 2 workers: the first serves both queues, the second only `mcmc`, so two fits can run at once.

Prints a table and writes benchmarks/results/bench_scale_out_<UTC stamp>.json and .md.
`make bench-scale-out` runs it (niced).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import scale_cluster as sc  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
CASES = {
    1: {"w1": ("dagster", "mcmc")},
    2: {"w1": ("dagster", "mcmc"), "w2": ("mcmc",)},
}


def run_case(workers: dict[str, tuple[str, ...]], sessions) -> dict:
    data = sc.make_data_view(Path(tempfile.mkdtemp(prefix="legis-bench-data-")), sessions)
    cluster = sc.LocalCluster(data_dir=data, workers=dict(workers))
    try:
        with sc.stopped_on_signals(cluster):
            cluster.start()
            cluster.mark_data_seen()
            cluster.start_daemon()
            started = time.monotonic()
            partitions = sc.demo_partitions(sessions)
            backfill_id = cluster.launch_backfill(partitions, title=f"bench {len(workers)} worker(s)")
            runs = cluster.wait_for_backfill(backfill_id)
            wall = time.monotonic() - started
            with cluster.instance() as inst:
                rows = sc.where_steps_ran(inst, runs)
        step_seconds = sum(r["seconds"] or 0 for r in rows)
        busy = {}
        for r in rows:
            busy[r["worker"]] = busy.get(r["worker"], 0.0) + (r["seconds"] or 0)
        return {
            "workers": len(workers),
            "queues": {name: list(q) for name, q in workers.items()},
            "partitions": len(partitions),
            "runs_succeeded": sum(r.status.value == "SUCCESS" for r in runs),
            "wall_seconds": round(wall, 1),
            "step_seconds": round(step_seconds, 1),
            "busy_seconds_by_worker": {k: round(v, 1) for k, v in sorted(busy.items())},
        }
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--example-only",
        action="store_true",
        help="only the example session's two chambers (quicker; default: the four partitions of make scale-demo)",
    )
    args = parser.parse_args(argv)
    sessions = sc.DEMO_SESSIONS[:1] if args.example_only else sc.DEMO_SESSIONS
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = [run_case(CASES[n], sessions) for n in (1, 2)]
    header = "| workers | partitions | runs ok | backfill wall (s) | sum of step times (s) | busy s by worker |"
    lines = [header, "|---|---|---|---|---|---|"]
    for r in results:
        busy = ", ".join(f"{k.split('@')[0]} {v:.0f}" for k, v in r["busy_seconds_by_worker"].items())
        lines.append(
            f"| {r['workers']} | {r['partitions']} | {r['runs_succeeded']} | {r['wall_seconds']:.0f} | "
            f"{r['step_seconds']:.0f} | {busy} |"
        )
    speedup = results[0]["wall_seconds"] / results[1]["wall_seconds"]
    note = (
        f"\n{os.cpu_count()} CPUs on {socket.gethostname()}, shared with other jobs while measured; "
        f"2 workers vs 1: {speedup:.2f}x. Default profile (4 chains), seed 2025, {stamp}."
    )
    table = "\n".join(lines) + note
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"bench_scale_out_{stamp}.json").write_text(
        json.dumps({"stamp": stamp, "cpus": os.cpu_count(), "cases": results, "speedup_2_vs_1": speedup}, indent=2)
    )
    (RESULTS / f"bench_scale_out_{stamp}.md").write_text(table + "\n")
    return 0 if all(r["runs_succeeded"] == r["partitions"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
