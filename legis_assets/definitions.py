"""The single Definitions object of the code location."""

from __future__ import annotations

import dagster as dg

from legis_assets.defs.assets import ALL_ASSETS
from legis_assets.defs.resources import LegisResource

all_assets_job = dg.define_asset_job("legis_all", selection=dg.AssetSelection.assets(*ALL_ASSETS),
                                     description="Every asset of one session x chamber partition")

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[all_assets_job],
    resources={"legis": LegisResource()},
)
