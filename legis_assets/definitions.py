"""The single Definitions object of the code location."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import yaml

from legis_assets.defs.alerts import ALERT_SENSORS
from legis_assets.defs.analysis import ANALYSIS_ASSETS
from legis_assets.defs.assets import ALL_ASSETS
from legis_assets.defs.common_scale import SCALE_ASSETS, SCALE_CHECKS, scale_job
from legis_assets.defs.resources import LegisResource
from legis_assets.defs.schedules import SCHEDULES
from legis_assets.defs.sensors import JOB_NAME, SENSORS

all_assets_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(*ALL_ASSETS, *ANALYSIS_ASSETS),
    description="Every asset of one session x chamber partition",
)


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor chosen by LEGIS_EXECUTOR (default: Dagster's multiprocess executor).

    `k8s` (dagster-k8s `k8s_job_executor`, one pod per step) and `celery` (dagster-celery
    `celery_executor`) are imported only when chosen. LEGIS_EXECUTOR_CONFIG names a YAML file with the
    executor's config, either bare or as run config (`execution: {config: ...}`), e.g.
    deploy/k8s/run_config.yaml; it is baked in with `.configured`, so runs launched by the sensor and
    the schedule get it too. See deploy/README.md.
    """
    env = os.environ if env is None else env
    name = env.get("LEGIS_EXECUTOR", "").strip().lower()
    if name in ("", "default"):
        return None
    if name == "k8s":
        from dagster_k8s import k8s_job_executor as executor
    elif name == "celery":
        from dagster_celery import celery_executor as executor
    elif name == "multiprocess":
        executor = dg.multiprocess_executor
    elif name == "in_process":
        executor = dg.in_process_executor
    else:
        raise ValueError(f"LEGIS_EXECUTOR={name!r}: expected default, multiprocess, in_process, k8s or celery")
    config_path = env.get("LEGIS_EXECUTOR_CONFIG", "").strip()
    if not config_path:
        return executor
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    if "execution" in config:
        config = (config["execution"] or {}).get("config") or {}
    return executor.configured(config, name=executor.name)


defs = dg.Definitions(
    assets=[*ALL_ASSETS, *ANALYSIS_ASSETS, *SCALE_ASSETS],
    asset_checks=SCALE_CHECKS,
    jobs=[all_assets_job, scale_job],
    sensors=[*SENSORS, *ALERT_SENSORS],
    schedules=SCHEDULES,
    resources={"legis": LegisResource()},
    executor=executor_from_env(),
)
