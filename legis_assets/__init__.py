"""legis-assets: hierarchical Bayesian ideal points as a Dagster asset platform.

Console hygiene, set once here because every entry point (the CLI, `dagster dev`, tests) imports
this package first. This module must not import Dagster: ``legis_assets.core`` is Dagster-free.
"""

import logging
import warnings

# ArviZ 0.23's `arviz.preview` logs "arviz_base not installed" (and arviz_stats, arviz_plots) at
# INFO on import; the CLI logs at INFO, so every command printed three lines about optional
# packages we do not use. Only that logger is raised to WARNING.
logging.getLogger("arviz.preview").setLevel(logging.WARNING)

# Dagster 1.13 marks partitioned asset checks (`partitions_def=` on AssetCheckSpec) as a preview
# feature and warns on every definition load, once per check. We rely on it on purpose (each check
# result is stored per session x chamber partition; /work/shared/DAGSTER.md section 2), so that
# one notice, matched by its message, is silenced; every other Dagster warning still shows.
warnings.filterwarnings(
    "ignore",
    message=r"Specifying a partitions_def on an AssetCheckSpec is currently in preview",
)
