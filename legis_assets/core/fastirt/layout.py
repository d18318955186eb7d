"""The data layout: one float64 array holding everything a model needs (nutpie's user_data),
and the observed cells in the layout the likelihood uses (dense matrix or long arrays)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from legis_assets.core.models import IRTData

_MAGIC = 7431.0  # first header slot: guards against a foreign pointer
KIND_FLAT, KIND_HIER, KIND_HIER_C, KIND_HIER_S, KIND_FLAT_S = 0, 1, 2, 3, 4
LAYOUT_DENSE, LAYOUT_SPARSE = 0, 1
# header slots (float64 values; integers are exact)
_H_MAGIC, _H_KIND, _H_LAYOUT, _H_L, _H_J, _H_NCELL, _H_NDIM, _H_NEXP, _H_TOTAL = range(9)
_H_OFF_VOTE, _H_OFF_LEG, _H_OFF_RC, _H_OFF_PARTY, _H_OFF_SIG, _H_OFF_SIGN, _H_OFF_AFFINE = range(9, 16)
HEADER = 16


def pack_user_data(
    kind: int,
    cells: VoteCells,
    n_dim: int,
    n_expanded: int,
    party: np.ndarray | None = None,
    sig_scale: np.ndarray | None = None,
    sign: np.ndarray | None = None,
    affine: np.ndarray | None = None,
) -> np.ndarray:
    """One contiguous float64 array: header, then the votes and (hierarchical) party data.

    dense layout: vote[i * J + j] = +1 (Yea), -1 (Nay), 0 (no vote) for every cell;
    sparse layout: vote[k] = y in {0, 1} per observed cell, with leg[k], rc[k] stored as int64
    bit patterns. party (int64 bits, L) and sig_scale (2) follow for the hierarchical models.
    """
    L, J = cells.n_leg, cells.n_rc
    parts: list[np.ndarray] = []
    offsets = {}
    pos = HEADER

    def add(key, arr):
        nonlocal pos
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.int64:
            arr = arr.view(np.float64)
        offsets[key] = pos
        parts.append(arr.astype(np.float64, copy=False).ravel())
        pos += arr.size

    if cells.dense_y is not None:
        if cells.dense_mask is None:
            raise ValueError("VoteCells has dense_y but no dense_mask")
        layout = LAYOUT_DENSE
        add(_H_OFF_VOTE, cells.dense_mask * (2.0 * cells.dense_y - 1.0))
    else:
        layout = LAYOUT_SPARSE
        add(_H_OFF_VOTE, cells.y.astype(np.float64))
        add(_H_OFF_LEG, cells.leg.astype(np.int64))
        add(_H_OFF_RC, cells.rc.astype(np.int64))
    if kind not in (KIND_FLAT, KIND_FLAT_S):
        add(_H_OFF_PARTY, np.asarray(party, dtype=np.int64))
        add(_H_OFF_SIG, np.asarray(sig_scale, dtype=np.float64))
    if sign is not None:
        add(_H_OFF_SIGN, np.asarray(sign, dtype=np.float64))
    if affine is not None:
        add(_H_OFF_AFFINE, np.asarray(affine, dtype=np.float64))
    header = np.zeros(HEADER)
    header[[_H_MAGIC, _H_KIND, _H_LAYOUT, _H_L, _H_J, _H_NCELL, _H_NDIM, _H_NEXP, _H_TOTAL]] = (
        _MAGIC,
        kind,
        layout,
        L,
        J,
        len(cells.y),
        n_dim,
        n_expanded,
        pos,
    )
    for key, off in offsets.items():
        header[key] = off
    # left writeable: a read-only array would be a different Numba type (a second compilation)
    return np.concatenate([header, *parts])


#: use the dense layout when at least this share of the legislator x roll-call cells is observed
DENSE_MIN_FILL = 0.5


@dataclass(frozen=True)
class VoteCells:
    """The observed cells in the layout the likelihood uses (dense matrix or long arrays)."""

    leg: np.ndarray
    rc: np.ndarray
    y: np.ndarray
    n_leg: int
    n_rc: int
    dense_y: np.ndarray | None = None
    dense_mask: np.ndarray | None = None

    @classmethod
    def from_data(cls, data: IRTData, dense: bool | None = None) -> VoteCells:
        n_leg, n_rc = data.n_legislators, data.n_rollcalls
        fill = len(data.y) / max(n_leg * n_rc, 1)
        dense = fill >= DENSE_MIN_FILL if dense is None else dense
        leg, rc, y = data.leg_idx.astype(np.int64), data.rc_idx.astype(np.int64), data.y.astype(np.float64)
        if not dense:
            return cls(leg, rc, y, n_leg, n_rc)
        dense_y = np.zeros((n_leg, n_rc))
        dense_mask = np.zeros((n_leg, n_rc))
        dense_y[leg, rc] = y
        dense_mask[leg, rc] = 1.0
        return cls(leg, rc, y, n_leg, n_rc, dense_y, dense_mask)
