"""The `legis` resource: the run settings (legis_assets/settings.py `Settings`) as Dagster config.

One config field per `Settings` field (test_definitions checks they stay equal). A field left
unset (None) takes its value from the environment through `Settings.from_env` (the LEGIS_*
variable named in the field's description), so a deployment configures the resource once by its
environment and the launchpad (or `legis-assets run`, which passes `Settings.run_config()`) can
set any field for one run.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from legis_assets.pipeline import Pipeline
from legis_assets.settings import RUN_VARIABLES, Settings

_DOC = {var.field: f"{var.doc}; unset: ${var.env}" for var in RUN_VARIABLES}


class LegisResource(dg.ConfigurableResource):
    """The run settings; unset fields come from the LEGIS_* environment variables."""

    data_dir: str | None = Field(default=None, description=_DOC["data_dir"])
    home: str | None = Field(default=None, description=_DOC["home"])
    profile: str | None = Field(default=None, description=_DOC["profile"])
    model: str | None = Field(default=None, description=_DOC["model"])
    min_minority: float | None = Field(default=None, description=_DOC["min_minority"])
    min_votes: int | None = Field(default=None, description=_DOC["min_votes"])
    seed: int | None = Field(default=None, description=_DOC["seed"])
    scale_profile: str | None = Field(default=None, description=_DOC["scale_profile"])
    allow_outside_root: bool | None = Field(default=None, description=_DOC["allow_outside_root"])

    def settings(self) -> Settings:
        values = {name: getattr(self, name) for name in Settings.__dataclass_fields__}
        for name in ("data_dir", "home"):
            if values[name]:
                values[name] = Path(values[name]).resolve()
        return Settings.from_env(**values)

    def pipeline(self, log=None) -> Pipeline:
        return Pipeline(self.settings(), progress=log)
