"""Resources: the platform's settings (data directory, LEGIS_HOME, sampling profile, model,
filters), read from the environment unless set in run config."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from legis_assets.pipeline import Pipeline, Settings


class LegisResource(dg.ConfigurableResource):
    """Settings for one deployment; unset fields come from LEGIS_* environment variables."""

    data_dir: str | None = None
    home: str | None = None
    profile: str | None = None
    model: str | None = None
    min_minority: float | None = None
    min_votes: int | None = None
    seed: int | None = None

    def settings(self) -> Settings:
        return Settings.from_env(
            data_dir=Path(self.data_dir).resolve() if self.data_dir else None,
            home=Path(self.home).resolve() if self.home else None,
            profile=self.profile,
            model=self.model,
            min_minority=self.min_minority,
            min_votes=self.min_votes,
            seed=self.seed,
        )

    def pipeline(self, log=None) -> Pipeline:
        return Pipeline(self.settings(), progress=log)
