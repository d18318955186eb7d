"""The joint common-scale model (PyMC) and its start.

Model, for the slots k (one person in one chamber-session), roll calls j and observed votes:

* vote ~ Bernoulli(logit^-1(beta_j xi_k - alpha_j)) over the observed cells (absences missing);
* alpha_j ~ N(0, 5), beta_j ~ N(0, 1): every roll call its own, the per-chamber models' priors
  (fastirt.ALPHA_SCALE, BETA_SCALE);
* a person's first slot: xi ~ N(0, 1) (every newcomer from the same population, as in the flat
  per-chamber model and in Martin-Quinn's dynamic model; not party-informed, so the parties'
  distance is learned from the votes, never from the prior);
* each later slot: xi_next ~ N(xi_prev, tau), a Gaussian random walk between consecutive slots
  (a House and a Senate slot of the same session are consecutive), with one movement scale for
  the whole legislature, tau ~ HalfNormal(0.5) (TAU_SCALE): half a unit (the newcomers' sd) is a
  large move between two sessions, so the prior allows it without favouring it.

It is written centred (fit.py samples it through frame.py's per-chamber-session affine frame, a
change of variables of exactly this density): the slot positions are the parameters (each is pinned by its hundreds
of votes), the random walk is their joint prior density; `xi` is a flat variable whose prior
is added as two potentials (first slots, steps). The roll calls keep their own alpha, beta, so the
chamber-sessions share a scale only through the people who served in several: each bridge
person's steps are penalised by the random walk, which fixes the other chamber-sessions'
location and scale relative to each other.

Identification (identify.py): the likelihood is unchanged by one common shift and rescaling of
every xi (with alpha, beta following) and by a reflection; the priors hold the location and
scale weakly and the PCA start (Republicans right) keeps the chains in one reflection. What is
reported and gated is standardised per draw over all slots and oriented Republicans right.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pymc as pm

from legis_assets.core.common_scale.data import ChamberSession, CommonScaleData
from legis_assets.core.fastirt import ALPHA_SCALE, BETA_SCALE

#: prior scale of the movement between consecutive slots, tau ~ HalfNormal(TAU_SCALE)
TAU_SCALE = 0.5
#: prior sd of a person's first slot
FIRST_SCALE = 1.0


def build_common_scale(data: CommonScaleData) -> pm.Model:
    """The PyMC model (dims slot, rollcall, obs)."""
    coords = {"slot": data.slot_labels(), "rollcall": data.rollcall_ids, "obs": np.arange(data.n_obs)}
    first = data.first_slots
    t_from, t_to = data.trans_from, data.trans_to
    with pm.Model(coords=coords) as model:
        tau = pm.HalfNormal("tau", sigma=TAU_SCALE)
        xi = pm.Flat("xi", dims="slot")
        pm.Potential("xi_first_prior", pm.logp(pm.Normal.dist(0.0, FIRST_SCALE), xi[first]).sum())
        if t_from.size:
            pm.Potential("xi_walk_prior", pm.logp(pm.Normal.dist(0.0, tau), xi[t_to] - xi[t_from]).sum())
        alpha = pm.Normal("alpha", 0.0, ALPHA_SCALE, dims="rollcall")
        beta = pm.Normal("beta", 0.0, BETA_SCALE, dims="rollcall")
        eta = beta[data.rc_idx] * xi[data.slot_idx] - alpha[data.rc_idx]
        pm.Bernoulli("vote", logit_p=eta, observed=data.y, dims="obs")
    return model


def pca_start(data: CommonScaleData, chamber_sessions: list[ChamberSession]) -> np.ndarray:
    """Initial slot positions: each chamber-session's PC1 (core.pca.fit_pca_init: standardised,
    Republicans' mean > Democrats'), slot by slot. Not linked across chamber-sessions: the
    sampler finds the common location and scale; the start only fixes the orientation."""
    from legis_assets.core.pca import fit_pca_init

    by_label = {cs.label: cs for cs in chamber_sessions}
    start = np.zeros(data.n_slots)
    slots = data.slots
    for row in data.chamber_sessions.iter_rows(named=True):
        cs = by_label[row["label"]]
        pc1 = dict(zip(cs.matrix.legislators["legislator_slug"].to_list(), fit_pca_init(cs.matrix).pc1))
        mask = (slots["chamber_session"] == row["chamber_session"]).to_numpy()
        start[mask] = [pc1[s] for s in slots.filter(pl.Series(mask))["legislator_slug"].to_list()]
    return start
