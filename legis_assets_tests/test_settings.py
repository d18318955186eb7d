"""The settings module: every LEGIS_* variable parsed in one place, bad values named, the `legis`
resource equal to the run settings, the CLI's run config read back by the resource."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from legis_assets import settings
from legis_assets.defs.resources import LegisResource
from legis_assets.settings import DEPLOYMENT_VARIABLES, RUN_VARIABLES, Deployment, SettingError, Settings

PACKAGE = Path(settings.__file__).parent


def test_every_variable_is_declared_once_for_one_field():
    names = [v.env for v in (*RUN_VARIABLES, *DEPLOYMENT_VARIABLES)]
    assert len(names) == len(set(names)) and all(n.startswith("LEGIS_") for n in names)
    assert [v.field for v in RUN_VARIABLES] == [f.name for f in dataclasses.fields(Settings)]
    assert [v.field for v in DEPLOYMENT_VARIABLES] == [f.name for f in dataclasses.fields(Deployment)]
    for var in DEPLOYMENT_VARIABLES:  # the dataclass defaults are the environment's defaults
        assert getattr(Deployment(), var.field) == var.default, var.env


def test_no_module_reads_a_legis_variable_outside_the_settings_module():
    """A LEGIS_ name in code (not in a docstring or comment) outside settings.py is a second reader."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py":
            continue
        text = path.read_text(encoding="utf-8")
        for call in re.finditer(r"(environ|getenv|EnvVar)\W{1,3}[\"']LEGIS_", text):
            offenders.append(f"{path.relative_to(PACKAGE)}: {call.group(0)}")
    assert offenders == []


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("LEGIS_MIN_VOTES", "many", "a whole number"),
        ("LEGIS_SEED", "1.5", "a whole number"),
        ("LEGIS_MIN_MINORITY", "-0.1", "a number >= 0"),
        ("LEGIS_PROFILE", "turbo", "one of"),
        ("LEGIS_MODEL", "probit", "one of"),
        ("LEGIS_ALLOW_OUTSIDE_DATA_ROOT", "maybe", "1/true/yes/on"),
    ],
)
def test_a_bad_run_setting_is_named_with_its_value(name, raw, expected):
    with pytest.raises(SettingError, match=re.escape(f"{name}={raw!r}: expected {expected}")):
        Settings.from_env({name: raw})


@pytest.mark.parametrize(
    ("name", "raw"),
    [("LEGIS_SENSOR_INTERVAL", "0"), ("LEGIS_ALERT_TIMEOUT", "soon"), ("LEGIS_EXECUTOR", "spark")],
)
def test_a_bad_deployment_setting_is_named_with_its_value(name, raw):
    with pytest.raises(SettingError, match=re.escape(f"{name}={raw!r}")) as info:
        Deployment.from_env({name: raw})
    assert isinstance(info.value, ValueError)


def test_deployment_settings_parse_and_default():
    d = Deployment.from_env(
        {"LEGIS_SENSOR_INTERVAL": "5", "LEGIS_ALERT_BACKOFF": "0.2", "LEGIS_SENSOR_DEFAULT_RUNNING": "YES"}
    )
    assert (d.sensor_interval, d.alert_backoff, d.sensor_default_running) == (5, 0.2, True)
    assert Deployment.from_env({"LEGIS_ALERT_WEBHOOK": "  "}).alert_webhook is None  # empty: unset
    assert settings.read("alert_attempts", {"LEGIS_ALERT_ATTEMPTS": "4"}) == 4


def test_the_resource_is_the_run_settings(tmp_path):
    """One resource field per Settings field; the CLI's run config comes back as the same Settings."""
    assert set(LegisResource.model_fields) == {f.name for f in dataclasses.fields(Settings)}
    chosen = Settings(
        data_dir=tmp_path / "d",
        home=tmp_path / "h",
        profile="quick",
        model="flat",
        min_minority=0.1,
        min_votes=3,
        seed=9,
        scale_profile="reference",
        allow_outside_root=True,
    )
    config = chosen.run_config()["resources"]["legis"]["config"]
    assert LegisResource(**config).settings() == chosen


def test_the_cli_hands_settings_to_dagster_as_run_config_not_environment():
    import legis_assets.cli as cli

    source = Path(cli.__file__).read_text(encoding="utf-8")
    assert 'os.environ["LEGIS_' not in source and "settings.run_config()" in source


def test_the_joint_fit_profile(tmp_path):
    """LEGIS_SCALE_PROFILE wins; else the default profile's joint-fit counterpart "scale"; else
    LEGIS_PROFILE (a test's "quick" stays quick in the joint fit too)."""
    base = {"data_dir": tmp_path, "home": tmp_path}
    assert Settings(**base).joint_profile == "scale"
    assert Settings(**base, profile="quick").joint_profile == "quick"
    assert Settings(**base, profile="reference").joint_profile == "reference"
    assert Settings(**base, profile="quick", scale_profile="default").joint_profile == "default"
