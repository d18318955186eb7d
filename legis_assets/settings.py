"""Every `LEGIS_*` setting of the platform: declared once, parsed once, typed and validated.

Two groups, each a frozen dataclass read from the environment by one parser:

* :class:`Settings`: what one run computes with (data directory, LEGIS_HOME, sampling profile,
  model, filters, seed, ...). The Dagster `legis` resource (defs/resources.py) has one config
  field per `Settings` field (a test keeps them equal), so the launchpad can set any of them per
  run; `legis-assets run` passes them to its Dagster runs as run config (:meth:`Settings.run_config`).
* :class:`Deployment`: how the deployment behaves (sensor and schedule timing, alerts, executor,
  the Dagster instance's pools); read when the code location loads or when an alert is delivered.

A bad value fails with :class:`SettingError`, naming the variable and the value. An empty
variable counts as unset. `core/` never reads the environment: it gets these values as arguments.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from legis_assets.core import matrix as matrix_mod
from legis_assets.core import sampling
from legis_assets.core.models import MODELS
from legis_assets.core.schema import LegisError


class SettingError(LegisError, ValueError):
    """A `LEGIS_*` environment variable with a value that cannot be used."""

    def __init__(self, variable: str, raw: str, expected: str):
        self.variable, self.raw = variable, raw
        super().__init__(f"{variable}={raw!r}: expected {expected}")


# --- parsers: raw (non-empty, stripped) text -> value; raise ValueError with what was expected ---


def _path(raw: str) -> Path:
    return Path(raw).expanduser().resolve()


#: URI schemes LEGIS_HOME accepts: a local or mounted POSIX filesystem (NFS, EFS, CephFS, a FUSE
#: mount of a bucket), which gives the atomic rename and `flock` that publication relies on
POSIX_SCHEMES = ("", "file", "local")


def storage_root(value: str) -> Path:
    """The storage root (warehouse, traces, reports, alerts) from `LEGIS_HOME`: a plain path or a
    `file://` URI. Object-store URIs (s3://, gs://, az://...) are refused with the reason: traces
    are published by atomic rename and the warehouse is serialised with `flock`, which object
    stores do not offer; mount the bucket or share at a path instead (deploy/README.md, "Shared
    warehouse and artifact store")."""
    from upath import UPath  # universal_pathlib, a dependency of dagster

    text = value.strip()
    if not text:
        raise ValueError("a directory or a file:// URI")
    path = UPath(text)
    protocol = getattr(path, "protocol", "") or ""
    if protocol not in POSIX_SCHEMES:
        raise ValueError(
            f"a directory or a file:// URI: {protocol}:// storage is not supported directly (publication needs an "
            "atomic rename and flock); mount it as a filesystem on every machine and set LEGIS_HOME to the mount "
            "path (deploy/README.md)"
        )
    return Path(path.path if protocol else text).expanduser().resolve()


def _float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("a number") from None


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("a whole number") from None


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value < 1:
        raise ValueError("a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = _float(raw)
    if value <= 0:
        raise ValueError("a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = _float(raw)
    if value < 0:
        raise ValueError("a number >= 0")
    return value


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("1/true/yes/on or 0/false/no/off")


def _choice(options: Callable[[], list[str]]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options():
            raise ValueError(f"one of {', '.join(options())}")
        return raw

    return parse


def _text(raw: str) -> str:
    return raw


#: set to 1 / true to read session folders and files that symbolic links place outside the data root
ALLOW_OUTSIDE_ROOT_ENV = "LEGIS_ALLOW_OUTSIDE_DATA_ROOT"

EXECUTORS = ("default", "multiprocess", "in_process", "k8s", "celery")


@dataclass(frozen=True)
class Variable:
    """One environment variable: the dataclass field it sets, its parser, its default, its doc."""

    env: str
    field: str
    parse: Callable[[str], Any]
    default: Any
    doc: str


def _parse(variables: tuple[Variable, ...], env: Mapping[str, str] | None) -> dict[str, Any]:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for var in variables:
        raw = (env.get(var.env) or "").strip()
        if not raw:
            values[var.field] = var.default() if callable(var.default) else var.default
            continue
        try:
            values[var.field] = var.parse(raw)
        except ValueError as err:
            raise SettingError(var.env, raw, str(err)) from None
    return values


# --- the run settings ------------------------------------------------------------------------

RUN_VARIABLES: tuple[Variable, ...] = (
    Variable("LEGIS_DATA_DIR", "data_dir", _path, lambda: _path("data"), "data root (default ./data)"),
    Variable("LEGIS_HOME", "home", storage_root, lambda: _path(".legis"), "results: warehouse, traces, reports, logs"),
    Variable("LEGIS_PROFILE", "profile", _choice(lambda: sorted(sampling.PROFILES)), "default", "sampling profile"),
    Variable("LEGIS_MODEL", "model", _choice(lambda: sorted(MODELS)), "hierarchical", "hierarchical model"),
    Variable("LEGIS_MIN_MINORITY", "min_minority", _non_negative_float, 0.025, "roll-call filter: minority share"),
    Variable("LEGIS_MIN_VOTES", "min_votes", _int, 20, "legislator filter: votes cast"),
    Variable("LEGIS_SEED", "seed", _int, None, "sampler seed (default: the profile's)"),
    Variable(
        "LEGIS_SCALE_PROFILE",
        "scale_profile",
        _choice(lambda: sorted(sampling.PROFILES)),
        None,
        "sampling profile of the common scale's joint fit (default: scale when LEGIS_PROFILE is default, else LEGIS_PROFILE)",
    ),
    Variable(
        ALLOW_OUTSIDE_ROOT_ENV,
        "allow_outside_root",
        _flag,
        False,
        "follow symbolic links that leave the data root (default: refused)",
    ),
)


@dataclass(frozen=True)
class Settings:
    """What one run computes with. `from_env` reads the `LEGIS_*` variables (RUN_VARIABLES)."""

    data_dir: Path
    home: Path
    profile: str = "default"
    model: str = "hierarchical"
    min_minority: float = 0.025
    min_votes: int = 20
    seed: int | None = None
    scale_profile: str | None = None
    allow_outside_root: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The environment's settings, with every override that is not None in their place."""
        values = _parse(RUN_VARIABLES, env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def filters(self) -> matrix_mod.FilterSettings:
        return matrix_mod.FilterSettings(self.min_minority, self.min_votes)

    def sampler(self) -> sampling.SamplerSettings:
        return sampling.get_profile(self.profile, seed=self.seed)

    @property
    def joint_profile(self) -> str:
        """The sampling profile of the common scale's joint fit: LEGIS_SCALE_PROFILE, else the
        profile "scale" when LEGIS_PROFILE is "default" (its joint-fit counterpart), else LEGIS_PROFILE."""
        if self.scale_profile:
            return self.scale_profile
        return "scale" if self.profile == "default" else self.profile

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    def run_config(self) -> dict[str, Any]:
        """These settings as the `legis` resource's config (Dagster run config, plain values)."""
        config: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                config[f.name] = str(value) if isinstance(value, Path) else value
        return {"resources": {"legis": {"config": config}}}


# --- the deployment settings -----------------------------------------------------------------

DEPLOYMENT_VARIABLES: tuple[Variable, ...] = (
    Variable("LEGIS_SENSOR_INTERVAL", "sensor_interval", _positive_int, 30, "data sensor tick, seconds"),
    Variable(
        "LEGIS_SENSOR_STABLE_SECONDS", "sensor_stable_seconds", _non_negative_float, 10.0, "file quiet time, seconds"
    ),
    Variable("LEGIS_SENSOR_DEFAULT_RUNNING", "sensor_default_running", _flag, False, "data sensor on by default"),
    Variable(
        "LEGIS_SCALE_SENSOR_DEFAULT_RUNNING", "scale_sensor_default_running", _flag, False, "scale sensor on by default"
    ),
    Variable("LEGIS_SCHEDULE_CRON", "schedule_cron", _text, "0 3 * * *", "nightly rebuild cron"),
    Variable("LEGIS_SCHEDULE_TZ", "schedule_tz", _text, "UTC", "the schedule's timezone"),
    Variable("LEGIS_SCHEDULE_DEFAULT_RUNNING", "schedule_default_running", _flag, False, "schedule on by default"),
    Variable("LEGIS_CURRENT_SESSION", "current_session", _text, None, "session key(s) the schedule rebuilds"),
    Variable("LEGIS_ALERT_WEBHOOK", "alert_webhook", _text, None, "URL the alerts are POSTed to"),
    Variable("LEGIS_ALERT_TIMEOUT", "alert_timeout", _positive_float, 5.0, "webhook timeout, seconds"),
    Variable("LEGIS_ALERT_ATTEMPTS", "alert_attempts", _positive_int, 3, "webhook attempts"),
    Variable("LEGIS_ALERT_BACKOFF", "alert_backoff", _non_negative_float, 1.0, "webhook backoff, seconds"),
    Variable("LEGIS_ALERT_INTERVAL", "alert_interval", _positive_int, 30, "alert sensor tick, seconds"),
    Variable("LEGIS_DEAD_RUN_INTERVAL", "dead_run_interval", _positive_int, 60, "dead-run sensor tick, seconds"),
    Variable("LEGIS_EXECUTOR", "executor", _choice(lambda: list(EXECUTORS)), "default", "Dagster executor"),
    Variable("LEGIS_EXECUTOR_CONFIG", "executor_config", _path, None, "YAML file with the executor's config"),
    Variable("LEGIS_MCMC_POOL_LIMIT", "mcmc_pool_limit", _positive_int, None, "steps per pool at once"),
    Variable("LEGIS_MAX_CONCURRENT_RUNS", "max_concurrent_runs", _positive_int, None, "runs taken from the queue"),
    Variable(
        "LEGIS_POOL_WAIT_NOTICE", "pool_wait_notice", _non_negative_float, 10.0, "CLI: say who holds a pool after"
    ),
)


@dataclass(frozen=True)
class Deployment:
    """How the deployment behaves (DEPLOYMENT_VARIABLES); `from_env` reads them."""

    sensor_interval: int = 30
    sensor_stable_seconds: float = 10.0
    sensor_default_running: bool = False
    scale_sensor_default_running: bool = False
    schedule_cron: str = "0 3 * * *"
    schedule_tz: str = "UTC"
    schedule_default_running: bool = False
    current_session: str | None = None
    alert_webhook: str | None = None
    alert_timeout: float = 5.0
    alert_attempts: int = 3
    alert_backoff: float = 1.0
    alert_interval: int = 30
    dead_run_interval: int = 60
    executor: str = "default"
    executor_config: Path | None = None
    mcmc_pool_limit: int | None = None
    max_concurrent_runs: int | None = None
    pool_wait_notice: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Deployment:
        return cls(**_parse(DEPLOYMENT_VARIABLES, env))


def read(field_name: str, env: Mapping[str, str] | None = None) -> Any:
    """One setting (a `Settings` or `Deployment` field) read from the environment alone."""
    return _parse((_variable(field_name),), env)[field_name]


def allow_outside_root(value: bool | None = None) -> bool:
    """`value` when given, else LEGIS_ALLOW_OUTSIDE_DATA_ROOT (default: refused)."""
    return bool(value) if value is not None else bool(read("allow_outside_root"))


def _variable(field_name: str) -> Variable:
    for var in (*RUN_VARIABLES, *DEPLOYMENT_VARIABLES):
        if var.field == field_name:
            return var
    raise KeyError(field_name)


def variable(field_name: str) -> str:
    """The environment variable of a `Settings` or `Deployment` field (for messages)."""
    return _variable(field_name).env
