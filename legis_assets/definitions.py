"""The single Definitions object of the code location."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import yaml

from legis_assets.defs.alerts import ALERT_SENSORS
from legis_assets.defs.assets import ALL_ASSETS
from legis_assets.defs.common_scale import SCALE_ASSETS, SCALE_CHECKS, scale_job
from legis_assets.defs.resources import LegisResource
from legis_assets.defs.schedules import SCHEDULES
from legis_assets.defs.sensors import JOB_NAME, SENSORS
from legis_assets.settings import Deployment

all_assets_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(*ALL_ASSETS),
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
    deployment = Deployment.from_env(env)
    name = deployment.executor
    if name == "default":
        return None
    if name == "k8s":
        from dagster_k8s import k8s_job_executor as executor
    elif name == "celery":
        from dagster_celery import celery_executor as executor
    elif name == "multiprocess":
        executor = dg.multiprocess_executor
    elif name == "in_process":
        executor = dg.in_process_executor
    else:  # the settings module refuses any other name
        raise AssertionError(name)
    config_path = deployment.executor_config
    if config_path is None:
        return executor
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    if "execution" in config:
        config = (config["execution"] or {}).get("config") or {}
    return executor.configured(config, name=executor.name)


defs = dg.Definitions(
    assets=[*ALL_ASSETS, *SCALE_ASSETS],
    asset_checks=SCALE_CHECKS,
    jobs=[all_assets_job, scale_job],
    sensors=[*SENSORS, *ALERT_SENSORS],
    schedules=SCHEDULES,
    resources={"legis": LegisResource()},
    executor=executor_from_env(),
)
