"""Session x chamber partitions. A session key is `<legislature>.<session dir>` (validated by
`SessionKey.parse` before it is used in any path); the sensor adds new ones."""

from __future__ import annotations

import dagster as dg

from legis_assets.core.schema import CHAMBERS
from legis_assets.pipeline import Partition

SESSION = "session"  # the session partitions definition's name
session_partitions = dg.DynamicPartitionsDefinition(name=SESSION)
chamber_partitions = dg.StaticPartitionsDefinition(sorted(CHAMBERS))
session_chamber = dg.MultiPartitionsDefinition({"session": session_partitions, "chamber": chamber_partitions})


def partition_key(session_key: str, chamber: str) -> dg.MultiPartitionKey:
    """Build a multi-partition key (never by string formatting: dimensions sort alphabetically)."""
    return dg.MultiPartitionKey({"session": session_key, "chamber": chamber})


def partition_of(context) -> Partition:
    """The validated partition of an asset or check context (works for runs launched with only the
    `dagster/partition` tag, where the key is a plain string)."""
    key = context.partition_key
    dims = (
        key.keys_by_dimension
        if isinstance(key, dg.MultiPartitionKey)
        else session_chamber.get_partition_key_from_str(key).keys_by_dimension
    )
    return Partition.of(dims["session"], dims["chamber"])


#: one partition per legislature (the directory name under the data root), for the common-scale
#: assets; the data sensor adds one when it first sees a session of that legislature
LEGISLATURE = "legislature"  # the partitions definition's name
legislature_partitions = dg.DynamicPartitionsDefinition(name=LEGISLATURE)


def legislature_of(context) -> str:
    """The validated legislature of a common-scale asset or check context."""
    from legis_assets.scale_pipeline import validate_legislature

    op_context = getattr(context, "op_execution_context", context)
    return validate_legislature(str(op_context.partition_key))
