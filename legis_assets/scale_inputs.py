"""The common scale's inputs: names of its tables and files, the legislature name check, the
digests that tell whether the chamber-sessions it was built from changed, and its errors.
Plain Python (no Dagster); scale_pipeline.py runs the steps."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import polars as pl

from legis_assets.core.common_scale import (
    ChamberSession,
)
from legis_assets.core.matrix import VoteMatrix
from legis_assets.core.schema import LEGISLATURE_RE, DataProblem, LegisError
from legis_assets.pipeline import (
    CheckOutcome,
)

log = logging.getLogger(__name__)

# --- table names (keyed by scale) ---------------------------------------------------------
T_PEOPLE, T_BRIDGE_EDGES, T_BRIDGE_NODES = "people", "bridge_edges", "bridge_nodes"
T_SCALE_INPUTS = "scale_inputs"
T_POSITIONS, T_PARTY_TREND, T_MOVEMENT = "scale_positions", "scale_party_trend", "scale_movement"
T_SCALE_DIAG, T_SCALE_PARAMS = "scale_diagnostics", "scale_parameter_diagnostics"

SCALE_DIR = "common_scale"
SCALE_TRACE = "common_scale_posterior.nc"
SCALE_FAILED_TRACE = "common_scale_posterior.failed.nc"
SCALE_REPORT = "report.html"
OVERRIDES_FILE = "people_overrides.csv"

#: columns of the inputs table (one row per chamber-session of the legislature found now)
INPUT_COLUMNS = {
    "chamber_session": pl.String,
    "session_key": pl.String,
    "chamber": pl.String,
    "legislators": pl.Int64,
    "rollcalls": pl.Int64,
    "matrix_digest": pl.String,
    "built": pl.String,
}


class NotEnoughChamberSessions(DataProblem):
    """A legislature with fewer than two built chamber-sessions: its common scale is that session's own."""


class ScaleGateFailure(LegisError):
    """An ERROR gate of the common-scale posterior failed (the last good trace stays published)."""

    def __init__(self, legislature: str, failed: list[CheckOutcome]):
        self.legislature = legislature
        self.failed = failed
        detail = "; ".join(
            f"{c.name}: {c.metadata.get('value', float('nan')):.4g} "
            f"(needs {c.metadata.get('comparison', '')} {c.metadata.get('threshold', float('nan')):g})"
            for c in failed
        )
        super().__init__(f"{legislature} common scale: convergence gates failed: {detail}")


def validate_legislature(name: str) -> str:
    if not LEGISLATURE_RE.fullmatch(name or ""):
        raise LegisError(
            f"invalid legislature name {name!r}: expected lower-case letters, digits and '_' "
            "(the directory name under the data root, e.g. kansas)"
        )
    return name


def matrix_digest(long: pl.DataFrame, legislators: pl.DataFrame, rollcalls: pl.DataFrame) -> str:
    """sha256 of a vote matrix as stored in the warehouse (cells, legislators, roll calls), independent
    of row order."""
    h = hashlib.sha256()
    for frame, keys in (
        (long, ["legislator_slug", "vote_id"]),
        (legislators, ["legislator_slug"]),
        (rollcalls, ["vote_id"]),
    ):
        frame = frame.select(sorted(frame.columns))
        frame = frame.sort([k for k in keys if k in frame.columns]) if frame.height else frame
        h.update(frame.write_csv().encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def inputs_digest(rows: pl.DataFrame) -> str:
    """One digest over the built chamber-sessions (name + matrix digest), order-free."""
    built = rows.filter(pl.col("matrix_digest").is_not_null())
    text = "\n".join(
        sorted(f"{cs}={d}" for cs, d in zip(built["chamber_session"].to_list(), built["matrix_digest"].to_list()))
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compare_inputs(used: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """The differences between the chamber-sessions a scale used and those found now: one row per
    chamber-session that changed (`vote matrix changed`), appeared (`new`), is not built yet
    (`new, vote matrix not built yet`) or is gone from the data root (`removed`)."""
    used_d = dict(zip(used["chamber_session"].to_list(), used["matrix_digest"].to_list())) if used.height else {}
    cur_d = dict(zip(current["chamber_session"].to_list(), current["matrix_digest"].to_list()))
    rows = []
    for cs in sorted(set(used_d) | set(cur_d)):
        if cs not in cur_d:
            rows.append((cs, "removed from the data root", used_d[cs][:12], ""))
        elif cs not in used_d:
            status = "new" if cur_d[cs] else "new, vote matrix not built yet"
            rows.append((cs, status, "", (cur_d[cs] or "")[:12]))
        elif cur_d[cs] is None:
            rows.append((cs, "vote matrix missing from the warehouse", used_d[cs][:12], ""))
        elif cur_d[cs] != used_d[cs]:
            rows.append((cs, "vote matrix changed", used_d[cs][:12], cur_d[cs][:12]))
    return pl.DataFrame(
        rows,
        schema={
            "chamber_session": pl.String,
            "change": pl.String,
            "used_digest": pl.String,
            "current_digest": pl.String,
        },
        orient="row",
    )


@dataclass
class ScaleInputs:
    """The chamber-sessions of a legislature found now: rows (INPUT_COLUMNS) and the built matrices."""

    legislature: str
    rows: pl.DataFrame
    matrices: dict[tuple[str, str], VoteMatrix]

    @property
    def built(self) -> pl.DataFrame:
        return self.rows.filter(pl.col("matrix_digest").is_not_null())

    @property
    def digest(self) -> str:
        return inputs_digest(self.rows)

    def chamber_sessions(self) -> list[ChamberSession]:
        return [ChamberSession(k, c, m) for (k, c), m in self.matrices.items()]
