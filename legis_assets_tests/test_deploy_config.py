"""The scale-out config in deploy/ loads: YAML parses, instance files validate against Dagster's
instance schema, run-config files validate against the executor's schema (where the executor
package is installed), and the job loads with the executor configured. Also the local instance
written by legis_assets.dagster_home."""

import os
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
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_PORT": "5432",
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


# --- the defects an operator hit (issue 16), each tested the way it failed -------------------


def resolve_storage(config: dict) -> dict:
    """The Postgres storage config as the storage classes get it when the instance loads: env
    references resolved in the current environment (a missing variable fails here, as in a pod)."""
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.storage.config import pg_config

    result = process_config(resolve_to_config_type(pg_config()), config["storage"]["postgres"])
    assert result.success, [e.message for e in result.errors or []]
    return dict(result.value)


def _engine_for(pg_config: dict):
    """The SQLAlchemy engine dagster-postgres builds from a storage config: creating it imports the
    driver the URL names (it does not connect), which is where `No module named 'psycopg'` came from."""
    import sqlalchemy
    from dagster_postgres.utils import pg_url_from_config

    return sqlalchemy.create_engine(pg_url_from_config(pg_config))


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: p.parent.name)
def test_postgres_storage_loads_with_the_locked_driver(path, tmp_path, pg_env):
    pytest.importorskip("dagster_postgres")
    config = validate_instance_file(path, tmp_path)
    engine = _engine_for(resolve_storage(config))
    assert engine.dialect.driver == "psycopg2"


def test_helm_values_name_the_locked_driver():
    """The chart renders `postgres_db` from these values (helm/dagster/templates/helpers/instance/
    _postgresql.tpl: username, DAGSTER_PG_PASSWORD, host, database, port, params, scheme)."""
    pytest.importorskip("dagster_postgres")
    pg = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())["postgresql"]
    rendered = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": "x",
            "hostname": "legis-postgresql",
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "scheme": pg["postgresqlScheme"],
        }
    }
    assert _engine_for(rendered).dialect.driver == "psycopg2"


def run_pod_env(launcher_config: dict, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """Exactly the environment K8sRunLauncher gives a run pod for this launcher config: the Job it
    would create (dagster_k8s' own construct_dagster_k8s_job), its container's `env` resolved
    against `secrets` and its `envFrom` Secrets expanded."""
    from unittest import mock

    from dagster._core.storage.dagster_run import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job

    with mock.patch("kubernetes.config.load_incluster_config"):
        launcher = K8sRunLauncher(**launcher_config)
    run = DagsterRun(job_name="legis_all", run_id="0f0f0f0f-0000-4000-8000-000000000000")
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image="legis-assets:test", run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-0f0f0f0f",
        user_defined_k8s_config=context.run_k8s_config,
        env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": "legis_all"}],
    )
    (container,) = job.spec.template.spec.containers
    env: dict[str, str] = {}
    for source in container.env_from or []:
        env.update(secrets[source.secret_ref.name])
    for var in container.env or []:
        if var.value_from is not None:
            ref = var.value_from.secret_key_ref
            env[var.name] = secrets[ref.name][ref.key]
        else:
            env[var.name] = var.value
    return env


def test_k8s_instance_loads_in_a_run_pod(tmp_path, monkeypatch):
    """deploy/k8s/dagster.yaml, mounted in a run pod, resolves with only the env the launcher injects."""
    pytest.importorskip("dagster_k8s")
    pytest.importorskip("dagster_postgres")
    raw = yaml.safe_load(INSTANCE_FILES[0].read_text())
    launcher_config = raw["run_launcher"]["config"]
    secrets = {
        launcher_config["postgres_password_secret"]: {"postgresql-password": "pw"},
        "legis-alert-webhook": {"LEGIS_ALERT_WEBHOOK": "https://alerts.example.org/hook"},
    }
    env = run_pod_env(launcher_config, secrets)
    assert env["DAGSTER_PG_PASSWORD"] == "pw" and env["DAGSTER_HOME"] == launcher_config["dagster_home"]
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    storage = resolve_storage(validate_instance_file(INSTANCE_FILES[0], tmp_path))
    db = storage["postgres_db"]
    assert db["password"] == "pw" and db["hostname"] and db["username"]
    assert _engine_for(storage).dialect.driver == "psycopg2"


def test_readme_matches_the_code():
    """deploy/README.md once said the mcmc queue tag was missing and the extra packages were not in
    pyproject.toml; both were wrong. The queue it documents is the one on the MCMC assets, and every
    package it says the image needs is locked."""
    import tomllib

    from legis_assets.defs.assets import ALL_ASSETS

    readme = (DEPLOY / "README.md").read_text()
    assert "not in `legis_assets/defs/assets.py` yet" not in readme and "**not** in `pyproject.toml`" not in readme
    queues = {a.op.tags.get("dagster-celery/queue") for a in ALL_ASSETS if "dagster-celery/queue" in (a.op.tags or {})}
    assert queues == {"mcmc"} and "-q mcmc" in readme
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = {p["name"] for p in lock["package"]}
    for package in ("dagster-celery", "dagster-postgres", "dagster-k8s", "redis", "psycopg2-binary"):
        assert package in locked and package in readme, package


def test_dockerfile_builds_the_image_the_configs_name():
    """No docker here: check that the Dockerfile's inputs exist and that it provides what the Helm
    values and the run configs refer to (module, /app/deploy paths, the locked environment)."""
    import re
    import tomllib

    text = (REPO / "Dockerfile").read_text()
    assert "uv sync --frozen" in text and "COPY pyproject.toml uv.lock" in text
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        *sources, _dest = line.split()
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repository"
    workdir = re.search(r"^WORKDIR (\S+)$", text, flags=re.M).group(1)
    assert re.search(r"^COPY deploy ", text, flags=re.M)
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), flags=re.M).group(1)
    assert f"UV_VERSION={makefile_uv}" in text
    python = re.search(r"^FROM python:(\d+\.\d+)", text, flags=re.M).group(1)
    assert f">={python}" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    # the module the chart's gRPC server loads, and the executor config path baked into the env
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    module = deployment["dagsterApiGrpcArgs"][1]
    assert f'"--module-name", "{module}"' in text and (REPO / (module.replace(".", "/") + ".py")).is_file()
    env = {e["name"]: e["value"] for e in deployment["env"]}
    in_image = Path(env["LEGIS_EXECUTOR_CONFIG"])
    assert in_image.is_relative_to(workdir) and (REPO / in_image.relative_to(workdir)).is_file()
    assert "Dockerfile" in (DEPLOY / "k8s" / "values.yaml").read_text()
    entry = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["legis-assets"]
    assert entry.split(":")[0].startswith("legis_assets.")
