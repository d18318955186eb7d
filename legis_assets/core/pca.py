"""PCA-informed initial ideal points (the reference experiment's fix for reflection mode-splitting).

The vote matrix is centred per roll call, missing cells are filled with the roll call's mean
(i.e. 0 after centring, the usual practice for a first dimension), and PC1 is standardised to
mean 0, sd 1 across legislators. Its sign is fixed so that the right-of-centre party sits on
the positive side:

* Republicans and Democrats present: the Republicans' mean above the Democrats';
* one of them and other legislators (independents): that party on its usual side of 0;
* one group only (every legislator a Republican, or a nonpartisan chamber where everyone is
  Independent): no party can orient the scale, so the **majority side** is positive (more
  legislators above 0 than below; on a tie, the legislator furthest from 0 is positive). The
  direction then has no left/right meaning of its own: read it from the roll calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.decomposition import PCA

from legis_assets.core.matrix import VoteMatrix

#: parties taken as right of centre when fixing the sign of PC1, most conservative first
RIGHT_PARTIES = ("Republican",)
LEFT_PARTIES = ("Democrat",)


@dataclass
class PCAInit:
    scores: pl.DataFrame  # legislator_slug, party, pc1 (standardised, sign fixed), pc2
    explained_variance_ratio: list[float]  # first components
    sign_flipped: bool
    sign_rule: str

    @property
    def pc1(self) -> np.ndarray:
        return self.scores["pc1"].to_numpy()


def _party_mean(scores: np.ndarray, parties: list[str], names: tuple[str, ...]) -> float | None:
    mask = np.array([p in names for p in parties])
    return float(scores[mask].mean()) if mask.any() else None


def fit_pca_init(matrix: VoteMatrix, n_components: int = 5) -> PCAInit:
    dense = matrix.dense()
    col_mean = np.nanmean(dense, axis=0)
    centred = np.where(np.isnan(dense), 0.0, dense - col_mean)
    k = int(min(n_components, *centred.shape))
    pca = PCA(n_components=k, svd_solver="full")
    comps = pca.fit_transform(centred)
    parties = matrix.legislators["party"].to_list()

    def standardise(v: np.ndarray) -> np.ndarray:
        sd = v.std()
        return (v - v.mean()) / (sd if sd > 0 else 1.0)

    pc1 = standardise(comps[:, 0])
    right = _party_mean(pc1, parties, RIGHT_PARTIES)
    left = _party_mean(pc1, parties, LEFT_PARTIES)
    if len(set(parties)) < 2:
        # one group: no party to orient by; the side holding more legislators is positive
        above, below = int((pc1 > 0).sum()), int((pc1 < 0).sum())
        flip = below > above or (below == above and pc1[np.argmax(np.abs(pc1))] < 0)
        rule = (
            f"one group only ({parties[0] if parties else 'none'}): the majority side of PC1 is positive "
            "(no party orients the scale)"
        )
    elif right is not None and left is not None:
        flip, rule = right < left, "Republican mean > Democrat mean"
    elif right is not None:
        flip, rule = right < 0, "Republican mean > 0"
    elif left is not None:
        flip, rule = left > 0, "Democrat mean < 0"
    else:
        # no known party: the largest party goes to the positive side
        values, counts = np.unique(parties, return_counts=True)
        biggest = values[np.argmax(counts)]
        biggest_mean = _party_mean(pc1, parties, (biggest,))
        if biggest_mean is None:  # impossible: `biggest` is one of `parties`
            raise ValueError(f"party {biggest!r} has no legislator")
        flip, rule = biggest_mean < 0, f"{biggest} (largest group) mean > 0"
    if flip:
        pc1 = -pc1
    pc2 = standardise(comps[:, 1]) if k > 1 else np.zeros_like(pc1)
    scores = pl.DataFrame(
        {
            "legislator_slug": matrix.legislators["legislator_slug"],
            "party": matrix.legislators["party"],
            "pc1": pc1,
            "pc2": pc2,
        }
    )
    return PCAInit(scores, [float(v) for v in pca.explained_variance_ratio_], bool(flip), rule)
