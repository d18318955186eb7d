"""The reference filters (DATA.md section 5) and the legislator x roll-call vote matrix.

Yea = 1, Nay = 0, every other category is missing (never imputed). Filters run once, in order:
drop near-unanimous roll calls (minority share < `min_minority`), then legislators with fewer
than `min_votes` Yea/Nay votes among the kept roll calls. A manifest records what each step kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from legis_assets.core.schema import INDEPENDENT, DataProblem


@dataclass(frozen=True)
class FilterSettings:
    min_minority: float = 0.025  # Voteview convention
    min_votes: int = 20


@dataclass
class VoteMatrix:
    """Observed Yea/Nay cells of one chamber in long form, with the row/column labels."""

    legislators: pl.DataFrame  # legislator_slug, name, full_name, party, district (row order = index)
    rollcalls: pl.DataFrame  # vote_id, bill_number, motion, vote_datetime, minority_share (column order)
    leg_idx: np.ndarray  # int32, one per observed cell
    rc_idx: np.ndarray  # int32
    y: np.ndarray  # int8, 1 Yea / 0 Nay
    manifest: dict = field(default_factory=dict)

    @property
    def n_legislators(self) -> int:
        return self.legislators.height

    @property
    def n_rollcalls(self) -> int:
        return self.rollcalls.height

    @property
    def n_obs(self) -> int:
        return int(self.y.size)

    def dense(self) -> np.ndarray:
        """legislators x roll calls, float, NaN where missing."""
        out = np.full((self.n_legislators, self.n_rollcalls), np.nan)
        out[self.leg_idx, self.rc_idx] = self.y
        return out

    def long_frame(self) -> pl.DataFrame:
        """The matrix as a long table (for the warehouse)."""
        return pl.DataFrame(
            {
                "legislator_slug": self.legislators["legislator_slug"].gather(self.leg_idx),
                "vote_id": self.rollcalls["vote_id"].gather(self.rc_idx),
                "leg_index": self.leg_idx,
                "rc_index": self.rc_idx,
                "vote_value": self.y,
            }
        )

    @classmethod
    def from_long_frame(
        cls, long: pl.DataFrame, legislators: pl.DataFrame, rollcalls: pl.DataFrame, manifest: dict | None = None
    ) -> VoteMatrix:
        """Inverse of `long_frame` (legislators / rollcalls in index order)."""
        return cls(
            legislators=legislators,
            rollcalls=rollcalls,
            leg_idx=long["leg_index"].to_numpy().astype(np.int32),
            rc_idx=long["rc_index"].to_numpy().astype(np.int32),
            y=long["vote_value"].to_numpy().astype(np.int8),
            manifest=dict(manifest or {}),
        )

    def party_codes(self, parties: tuple[str, ...]) -> np.ndarray:
        """Index of each legislator's party in `parties` (-1 for others)."""
        lookup = {p: k for k, p in enumerate(parties)}
        return np.array([lookup.get(p, -1) for p in self.legislators["party"].to_list()], dtype=np.int64)


def build_vote_matrix(
    votes: pl.DataFrame,
    legislators: pl.DataFrame,
    rollcalls: pl.DataFrame | None = None,
    settings: FilterSettings = FilterSettings(),
) -> VoteMatrix:
    """Filter one chamber's votes and build its matrix.

    `votes` needs `vote_id, legislator_slug, vote_value` (1/0/null); `legislators` needs
    `legislator_slug, party` (plus optional name fields); `rollcalls` (optional) gives the
    column order (`order`) and labels.
    """
    cast = votes.select("vote_id", "legislator_slug", pl.col("vote_value").cast(pl.Int8))
    raw_rc = cast["vote_id"].n_unique()
    yn = cast.filter(pl.col("vote_value").is_not_null())

    rc_stats = (
        yn.group_by("vote_id")
        .agg(n=pl.len(), share_yea=pl.col("vote_value").cast(pl.Float64).mean())
        .with_columns(minority_share=pl.min_horizontal("share_yea", 1 - pl.col("share_yea")))
    )
    kept_rc = rc_stats.filter(pl.col("minority_share") >= settings.min_minority)
    no_yn = raw_rc - rc_stats.height
    lopsided = rc_stats.height - kept_rc.height
    if kept_rc.height == 0:
        raise DataProblem(
            f"no contested roll calls left: all {raw_rc} roll calls have a minority share below "
            f"{settings.min_minority:.1%} (or no Yea/Nay votes); nothing to scale"
        )

    yn = yn.join(kept_rc.select("vote_id"), on="vote_id", how="semi")
    leg_counts = yn.group_by("legislator_slug").agg(n_votes=pl.len())
    kept_leg = leg_counts.filter(pl.col("n_votes") >= settings.min_votes)
    # everyone on the chamber's lists: voters, and members on the legislator list with no vote row
    everyone = set(cast["legislator_slug"].unique().to_list()) | set(legislators["legislator_slug"].to_list())
    dropped_leg = sorted(everyone - set(kept_leg["legislator_slug"].to_list()))
    raw_leg = len(everyone)
    if kept_leg.height < 2:
        raise DataProblem(
            f"fewer than 2 legislators have at least {settings.min_votes} Yea/Nay votes on the "
            f"{kept_rc.height} contested roll calls; nothing to scale"
        )
    yn = yn.join(kept_leg.select("legislator_slug"), on="legislator_slug", how="semi")
    # the filters run once (no iteration to a fixed point, as in the reference analysis); a roll
    # call whose every voter was dropped has no cell left and cannot be a column
    still_split = yn.select("vote_id").unique()
    emptied = kept_rc.height - still_split.height
    yn = yn.join(still_split.select("vote_id"), on="vote_id", how="semi")

    # row order: legislators by slug; column order: roll calls in time order
    leg_info_cols = [
        c for c in ("legislator_slug", "name", "full_name", "party", "district") if c in legislators.columns
    ]
    leg_table = (
        kept_leg.select("legislator_slug", "n_votes")
        .join(
            legislators.select(leg_info_cols).unique("legislator_slug", keep="first"), on="legislator_slug", how="left"
        )
        .with_columns(pl.col("party").fill_null(INDEPENDENT))
        .sort("legislator_slug")
    )
    rc_table = still_split.select("vote_id").join(rc_stats, on="vote_id", how="left")
    if rollcalls is not None and "order" in rollcalls.columns:
        rc_cols = [c for c in ("vote_id", "order", "bill_number", "motion", "vote_datetime") if c in rollcalls.columns]
        rc_table = rc_table.join(rollcalls.select(rc_cols), on="vote_id", how="left").sort(
            "order", "vote_id", nulls_last=True
        )
    else:
        rc_table = rc_table.sort("vote_id")
    rc_table = rc_table.rename({"n": "n_yea_nay"})

    leg_pos = dict(zip(leg_table["legislator_slug"].to_list(), range(leg_table.height)))
    rc_pos = dict(zip(rc_table["vote_id"].to_list(), range(rc_table.height)))
    leg_idx = np.fromiter((leg_pos[s] for s in yn["legislator_slug"].to_list()), np.int32, yn.height)
    rc_idx = np.fromiter((rc_pos[v] for v in yn["vote_id"].to_list()), np.int32, yn.height)
    order = np.lexsort((rc_idx, leg_idx))
    y = yn["vote_value"].to_numpy().astype(np.int8)

    # members on the legislator list who cast no recorded vote at all in this chamber: reported
    without_votes = sorted(set(legislators["legislator_slug"].to_list()) - set(cast["legislator_slug"].to_list()))
    manifest = {
        "min_minority": settings.min_minority,
        "min_votes": settings.min_votes,
        "rollcalls_raw": int(raw_rc),
        "rollcalls_no_yea_nay": int(no_yn),
        "rollcalls_lopsided": int(lopsided),
        "rollcalls_emptied_by_legislator_filter": int(emptied),
        "rollcalls_kept": int(rc_table.height),
        "legislators_raw": int(raw_leg),
        "legislators_too_few_votes": len(dropped_leg),
        "legislators_dropped": dropped_leg,
        "legislators_kept": int(leg_table.height),
        "legislators_without_votes": without_votes,
        "observations_raw": int(cast.height),
        "observations_yea_nay": int(cast.filter(pl.col("vote_value").is_not_null()).height),
        "observations_kept": int(y.size),
        "share_yea": float(y.mean()) if y.size else float("nan"),
    }
    return VoteMatrix(leg_table, rc_table, leg_idx[order], rc_idx[order], y[order], manifest)
