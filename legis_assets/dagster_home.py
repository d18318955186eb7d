"""The local Dagster instance directory (DAGSTER_HOME) with the platform's concurrency settings.

`ensure_dagster_home(path)` creates the directory and, if it has none, a `dagster.yaml` with

* telemetry disabled;
* `concurrency.pools.default_limit` = the MCMC pool limit: every pool without its own limit (the
  platform has one, `mcmc`, on flat_posterior and hierarchical_posterior) runs at most that many
  steps at once across all runs (default 1: one NUTS fit at a time on a small machine; each fit
  already uses one core per chain);
* `concurrency.runs.max_concurrent_runs`: runs taken from the queue at once (default 1).

Environment overrides: LEGIS_MCMC_POOL_LIMIT, LEGIS_MAX_CONCURRENT_RUNS. An existing dagster.yaml is
never overwritten (edit it, or set a single pool with `dagster instance concurrency set mcmc 2`).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

CONFIG_NAME = "dagster.yaml"


def _positive(name: str, value: int) -> int:
    raw = os.environ.get(name, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r}: expected a positive integer") from None
    if value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value}")
    return value


def instance_config(mcmc_pool_limit: int = 1, max_concurrent_runs: int = 1) -> dict:
    """The dagster.yaml content (env overrides applied)."""
    return {
        "telemetry": {"enabled": False},
        "concurrency": {
            "pools": {"default_limit": _positive("LEGIS_MCMC_POOL_LIMIT", mcmc_pool_limit)},
            "runs": {"max_concurrent_runs": _positive("LEGIS_MAX_CONCURRENT_RUNS", max_concurrent_runs)},
        },
    }


def ensure_dagster_home(path: Path, mcmc_pool_limit: int = 1, max_concurrent_runs: int = 1) -> Path:
    """Create `path` and its dagster.yaml if absent; returns the resolved directory."""
    home = Path(path).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / CONFIG_NAME
    if not config.exists():
        text = ("# written by legis_assets.dagster_home.ensure_dagster_home; edit freely, it is not overwritten\n"
                + yaml.safe_dump(instance_config(mcmc_pool_limit, max_concurrent_runs), sort_keys=False))
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
