"""The scale-out config in deploy/ loads: YAML parses, instance files validate against Dagster's
instance schema, run-config files validate against the executor's schema (where the executor
package is installed), and the job loads with the executor configured. Also the local instance
written by legis_assets.dagster_home."""

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from legis_assets.dagster_home import ensure_dagster_home

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
INSTANCE_FILES = [DEPLOY / "k8s" / "dagster.yaml", DEPLOY / "celery" / "dagster.yaml"]
RUN_CONFIGS = {"k8s": DEPLOY / "k8s" / "run_config.yaml", "celery": DEPLOY / "celery" / "run_config.yaml"}
EXECUTOR_PACKAGES = {"k8s": "dagster_k8s", "celery": "dagster_celery"}
PG_ENV = {
    "DAGSTER_PG_HOST": "db",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "x",
    "DAGSTER_CELERY_BROKER_URL": "pyamqp://guest@localhost//",
    "DAGSTER_CELERY_BACKEND_URL": "rpc://",
}


@pytest.fixture
def pg_env(monkeypatch):
    for k, v in PG_ENV.items():
        monkeypatch.setenv(k, v)


def validate_instance_file(path: Path, tmp_path: Path) -> dict:
    home = tmp_path / path.parent.name
    home.mkdir()
    shutil.copy(path, home / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(home))
    assert custom_class is None
    return config


def test_every_yaml_parses():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {f.relative_to(DEPLOY).as_posix() for f in files} >= {
        "k8s/values.yaml",
        "k8s/dagster.yaml",
        "k8s/run_config.yaml",
        "celery/dagster.yaml",
        "celery/run_config.yaml",
    }
    for f in files:
        docs = list(yaml.safe_load_all(f.read_text()))
        assert docs and all(isinstance(d, dict) for d in docs), f
    assert (DEPLOY / "README.md").is_file()


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: p.parent.name)
def test_instance_yaml_validates(path, tmp_path, pg_env):
    config = validate_instance_file(path, tmp_path)
    assert "postgres" in config["storage"]  # SQLite does not work across machines
    assert config["telemetry"]["enabled"] is False
    assert config["concurrency"]["pools"]["default_limit"] >= 1
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1


def test_k8s_run_launcher_config_validates(tmp_path, pg_env):
    config = validate_instance_file(INSTANCE_FILES[0], tmp_path)
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    dagster_k8s = pytest.importorskip("dagster_k8s")
    from dagster._config import process_config

    result = process_config(dagster_k8s.K8sRunLauncher.config_type(), launcher["config"])
    assert result.success, result.errors


def test_helm_values_shape():
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "legis_assets.definitions"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["LEGIS_EXECUTOR"] == "k8s" and env["LEGIS_HOME"].startswith("/shared")
    assert env["LEGIS_EXECUTOR_CONFIG"].endswith("deploy/k8s/run_config.yaml")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    mounts = values["runLauncher"]["config"]["k8sRunLauncher"]["volumeMounts"]
    assert mounts[0]["mountPath"] == "/shared"
    assert values["postgresql"]["enabled"] is True


def test_run_configs_name_the_mcmc_steps():
    k8s = yaml.safe_load(RUN_CONFIGS["k8s"].read_text())["execution"]["config"]
    assert set(k8s["per_step_k8s_config"]) == {"flat_posterior", "hierarchical_posterior"}
    from legis_assets.defs.assets import ALL_ASSETS

    keys = {k.to_user_string() for a in ALL_ASSETS for k in a.keys}
    assert set(k8s["per_step_k8s_config"]) <= keys
    celery = yaml.safe_load(RUN_CONFIGS["celery"].read_text())["execution"]["config"]
    assert celery["include"] == ["legis_assets.definitions"]


def test_executor_from_env_default_and_errors(tmp_path):
    from legis_assets.definitions import executor_from_env

    assert executor_from_env({}) is None
    assert executor_from_env({"LEGIS_EXECUTOR": "multiprocess"}) is dg.multiprocess_executor
    cfg = tmp_path / "mp.yaml"
    cfg.write_text("execution:\n  config:\n    max_concurrent: 2\n")
    configured = executor_from_env({"LEGIS_EXECUTOR": "multiprocess", "LEGIS_EXECUTOR_CONFIG": str(cfg)})
    assert configured.name == "multiprocess"
    with dg.instance_for_test():
        defs = _definitions_with(configured)
        dg.Definitions.validate_loadable(defs)
        assert defs.resolve_job_def("legis_all").executor_def.name == "multiprocess"
    with pytest.raises(ValueError):
        executor_from_env({"LEGIS_EXECUTOR": "spark"})


def _definitions_with(executor):
    from legis_assets.definitions import all_assets_job, defs

    return dg.Definitions(
        assets=list(defs.assets), jobs=[all_assets_job], resources=dict(defs.resources), executor=executor
    )


@pytest.mark.parametrize("name", ["k8s", "celery"])
def test_run_config_validates_and_job_loads_with_executor(name, pg_env):
    pytest.importorskip(EXECUTOR_PACKAGES[name])
    from legis_assets.definitions import executor_from_env

    run_config = yaml.safe_load(RUN_CONFIGS[name].read_text())
    with dg.instance_for_test():
        # the plain executor + the file as run config (launchpad use)
        job = _definitions_with(executor_from_env({"LEGIS_EXECUTOR": name})).resolve_job_def("legis_all")
        assert job.executor_def.name == name
        assert dg.validate_run_config(job, run_config)
        # baked in (sensor/schedule runs): the job loads and needs no execution config
        baked = executor_from_env({"LEGIS_EXECUTOR": name, "LEGIS_EXECUTOR_CONFIG": str(RUN_CONFIGS[name])})
        defs = _definitions_with(baked)
        dg.Definitions.validate_loadable(defs)
        assert dg.validate_run_config(defs.resolve_job_def("legis_all"), {}) is not None


def test_default_definitions_load():
    from legis_assets.definitions import defs

    with dg.instance_for_test():
        dg.Definitions.validate_loadable(defs)
        assert defs.resolve_job_def("legis_all").executor_def.name == "multi_or_in_process_executor"


def test_ensure_dagster_home(tmp_path, monkeypatch):
    monkeypatch.delenv("LEGIS_MCMC_POOL_LIMIT", raising=False)
    monkeypatch.delenv("LEGIS_MAX_CONCURRENT_RUNS", raising=False)
    home = ensure_dagster_home(tmp_path / "dh")
    config, _ = dagster_instance_config(str(home))
    assert config["telemetry"]["enabled"] is False
    assert config["concurrency"] == {"pools": {"default_limit": 1}, "runs": {"max_concurrent_runs": 1}}
    with dg.DagsterInstance.from_config(str(home)) as inst:
        assert inst.get_concurrency_config().pool_config.default_pool_limit == 1

    # never overwritten; env overrides apply to a new home
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert ensure_dagster_home(home) == home
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    monkeypatch.setenv("LEGIS_MCMC_POOL_LIMIT", "3")
    monkeypatch.setenv("LEGIS_MAX_CONCURRENT_RUNS", "2")
    other, _ = dagster_instance_config(str(ensure_dagster_home(tmp_path / "other", 1, 1)))
    assert other["concurrency"] == {"pools": {"default_limit": 3}, "runs": {"max_concurrent_runs": 2}}
    monkeypatch.setenv("LEGIS_MCMC_POOL_LIMIT", "zero")
    with pytest.raises(ValueError):
        ensure_dagster_home(tmp_path / "bad")
