"""Typed Dagster metadata for the UI: tables with a column schema, row counts, rounded floats.

* a step's small tables (pipeline.TableMarkdown) become `TableMetadataValue`s with a
  `TableSchema` whose columns carry descriptions (COLUMN_DESCRIPTIONS);
* an asset that writes a warehouse table records `dagster/row_count` (rows of its partition) and
  `dagster/column_schema` (the table's columns with descriptions), the keys Dagster's asset page
  shows as the row count and the columns tab;
* floats are rounded for reading (`round_float`): 4 significant digits below 1, 4 decimals below
  10 (an R-hat of 1.0099 must not read as 1.01), fewer above, so no 0.00011298651781861262 and
  no 1.007e+04.
"""

from __future__ import annotations

import math
from typing import Any

import dagster as dg
import polars as pl

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "session_key": "session: <legislature>.<session directory>",
    "chamber": "house or senate",
    "legislator_slug": "the scraper's legislator id",
    "legislator_name": "name as in the votes file",
    "name": "legislator's short name",
    "full_name": "legislator's full name",
    "party": "party label from the legislators file (empty: independent / none)",
    "district": "district",
    "n_votes": "Yea/Nay votes on kept roll calls",
    "vote_id": "the scraper's roll-call id",
    "vote": "vote category as recorded (Yea, Nay, absent, ...)",
    "vote_value": "1 = Yea, 0 = Nay, null = anything else (never imputed)",
    "bill_number": "bill the roll call was on",
    "motion": "motion voted on",
    "vote_datetime": "time of the roll call",
    "vote_date": "date of the roll call",
    "leg_index": "row of the legislator in the vote matrix",
    "rc_index": "column of the roll call in the vote matrix",
    "pc1": "standardised first principal component (Republicans positive)",
    "pc2": "standardised second principal component",
    "model": "hierarchical (party-pooled) or flat",
    "gate": "convergence gate",
    "metric": "what the gate measures",
    "value": "measured value",
    "threshold": "value the gate compares against",
    "comparison": "how value is compared with threshold",
    "severity": "error (blocks publication) or warn",
    "passed": "whether the gate passed",
    "status": "PASS, FAIL or WARN",
    "description": "what the gate checks",
    "group": "parameter group (xi_norm, mu_party_norm, ...)",
    "parameter": "parameter (with its index)",
    "rhat": "rank-normalised split R-hat (< 1.01 to pass)",
    "ess_bulk": "bulk effective sample size",
    "ess_tail": "tail effective sample size",
    "xi_mean": "posterior mean position (hierarchical; 1 unit = 1 sd of the chamber)",
    "xi_sd": "posterior sd of the position",
    "xi_hdi_low": "lower end of the 90% HDI of the position",
    "xi_hdi_high": "upper end of the 90% HDI of the position",
    "rank": "rank by posterior mean, 1 = most liberal (among the model's legislators)",
    "rank_low": "5% quantile of the legislator's rank over draws",
    "rank_high": "95% quantile of the legislator's rank over draws",
    "flat_mean": "flat model's posterior mean on its own scale",
    "xi_flat": "flat model's position mapped onto the hierarchical scale",
    "xi_flat_hdi_low": "lower end of the flat model's 90% HDI, mapped",
    "xi_flat_hdi_high": "upper end of the flat model's 90% HDI, mapped",
    "shrinkage": "hierarchical minus flat position (the pull of party pooling)",
    "position": "published position (hierarchical, or flat where not pooled)",
    "overall_rank": "rank among everyone, 1 = most liberal",
    "n_legislators": "legislators in the party",
    "n": "count",
    "len": "count",
    "mean": "posterior mean",
    "sd": "posterior sd",
    "hdi_low": "lower end of the 90% HDI",
    "hdi_high": "upper end of the 90% HDI",
    "mean_position": "mean published position of the party's legislators",
    "max_rhat": "largest R-hat in the group",
    "min_ess_bulk": "smallest bulk ESS in the group",
    "min_ess_tail": "smallest tail ESS in the group",
}

#: the warehouse table each asset writes (its rows for the partition are the asset's row count)
WAREHOUSE_TABLES = {
    "votes": "votes",
    "vote_matrix": "vote_matrix",
    "pca_init": "pca_init",
    "convergence_diagnostics": "convergence_diagnostics",
    "ideal_points": "ideal_points",
    "party_summary": "party_summary",
}


def round_float(v: float) -> float:
    """A float rounded for reading: 4 significant digits below 1 in size, else 4 decimals below
    10, 3 below 100, 2 below 1000 and 1 above."""
    if not math.isfinite(v) or v == 0:
        return v
    size = abs(v)
    if size < 1:
        return float(f"{v:.4g}")
    return round(v, max(1, 4 - int(math.floor(math.log10(size)))))


def _column_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_temporal():
        return "datetime"
    return "string"


def schema_of(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, _column_type(dtype), description=COLUMN_DESCRIPTIONS.get(name))
            for name, dtype in frame.schema.items()
        ]
    )


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return round_float(v) if math.isfinite(v) else None
    if v is None or isinstance(v, (bool, int, str)):
        return v
    return str(v)


def table_value(frame: pl.DataFrame) -> dg.TableMetadataValue:
    """A frame as Dagster's table metadata, with its column schema and rounded numbers."""
    records = [dg.TableRecord({k: _cell(v) for k, v in row.items()}) for row in frame.iter_rows(named=True)]
    return dg.MetadataValue.table(records, schema=schema_of(frame))


def warehouse_metadata(frame_of_partition: pl.DataFrame) -> dict[str, dg.MetadataValue]:
    """dagster/row_count and dagster/column_schema of the rows an asset wrote for its partition."""
    frame = frame_of_partition
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema_of(frame)),
    }
