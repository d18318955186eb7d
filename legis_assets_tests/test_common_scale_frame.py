"""The common scale sampled in the per-chamber-session affine frame (core/common_scale/frame.py) is
the same model: its log-density is the PyMC model's at the mapped point plus the log-Jacobian of
the map, its gradient is that function's, and a short run gives the posterior of the model's own
coordinates (kernel.py)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from legis_assets.core import simulate
from legis_assets.core.common_scale import build_common_data, build_common_scale, fit_common_scale, pca_start
from legis_assets.core.common_scale.frame import FrameSpec, frame_basis, frame_coords
from legis_assets.core.people import build_people
from legis_assets.core.sampling import SamplerSettings
from legis_assets_tests.test_common_scale import _legislature, _toy

#: big enough that some roll calls are sign-fixed (fastirt.rollcall_signs), two sessions
SPECS_FRAME = {
    "house": simulate.ChamberSpec(seats=40, n_rollcalls=150),
    "senate": simulate.ChamberSpec(seats=8, n_rollcalls=50, replacements=1),
}


@pytest.fixture(scope="module")
def framed_sim():
    _, css, data, _ = _legislature(7, SPECS_FRAME, n_sessions=2)
    return data, pca_start(data, css)


@pytest.fixture(scope="module")
def framed_toy():
    css = _toy()
    data = build_common_data(css, build_people([(cs.session_key, cs.chamber, cs.matrix.legislators) for cs in css]))
    return data, pca_start(data, css)


def test_frame_basis_and_inverse():
    rng = np.random.default_rng(1)
    party = np.array(["Republican"] * 5 + ["Democrat"] * 6 + ["Independent"])
    from legis_assets.core.common_scale.frame import _contrast

    d = _contrast(party)
    y0, va, vb = frame_basis(d)
    assert abs(y0.sum()) < 1e-12 and abs(d @ y0 - 1) < 1e-12
    x = rng.normal(size=party.size) + np.where(party == "Republican", 2.0, 0.0)
    coords = frame_coords(x, d)
    # the location is the mean, the log-scale the party gap
    assert coords[0] == pytest.approx(x.mean()) and coords[1] == pytest.approx(np.log(d @ x))
    with pytest.raises(ValueError, match="Republicans right"):
        frame_coords(-x, d)


def test_frame_which_chamber_sessions(framed_sim, framed_toy):
    data, start = framed_sim
    spec = FrameSpec(data, start, min_slots=0)
    assert spec.n_framed == data.chamber_sessions.height
    assert spec.n_sign_fixed > 0
    # only roll calls of framed chamber-sessions are sign-fixed, with the sign of their screening
    data, start = framed_toy
    spec = FrameSpec(data, start, min_slots=0)
    framed = dict(zip(data.chamber_sessions["label"].to_list(), spec.table[:, 0].tolist()))
    # the 2nd session's House has two slots: left in the model's coordinates
    assert framed == {
        "leg.1st_2001-2002/house": 1,
        "leg.1st_2001-2002/senate": 1,
        "leg.2nd_2003-2004/house": 0,
        "leg.2nd_2003-2004/senate": 1,
    }
    # the start is the initial point's positions, exactly
    theta = spec.initial_point(np.random.default_rng(0))
    np.testing.assert_allclose(spec.to_model(theta)[1 : 1 + data.n_slots], start, atol=1e-12)
    assert len(spec.unconstrained_names()) == spec.n_dim == len(set(spec.unconstrained_names()))


def _jacobian(f, theta: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    cols = []
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = eps
        cols.append((f(theta + e) - f(theta - e)) / (2 * eps))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("which", ["sim", "toy"])
def test_framed_density_is_the_model_plus_jacobian(which, framed_sim, framed_toy):
    """log p_frame(theta) = log p_model(map(theta)) + log |det d map / d theta| + const, the
    Jacobian by finite differences of the map; and the gradient is log p_frame's (finite differences)."""
    data, start = framed_sim if which == "sim" else framed_toy
    spec = FrameSpec(data, start, min_slots=0)
    assert spec.n_framed >= 3
    model = build_common_scale(data)
    logp = model.compile_logp()
    K, J = data.n_slots, data.n_rollcalls
    rng = np.random.default_rng(4)
    base = spec.initial_point(rng)
    diffs = []
    for _ in range(3):
        theta = base + rng.normal(0, 0.1, base.size)
        inner = spec.to_model(theta)
        point = {
            "tau_log__": inner[0],
            "xi": inner[1 : 1 + K],
            "alpha": inner[1 + K : 1 + K + J],
            "beta": inner[1 + K + J :],
        }
        sign, logdet = np.linalg.slogdet(_jacobian(spec.to_model, theta))
        assert sign != 0
        value, grad = spec.logp_grad(theta)
        diffs.append(value - (float(logp(point)) + logdet))
        for k in rng.choice(theta.size, 25, replace=False):
            e = np.zeros_like(theta)
            e[k] = 1e-6
            fd = (spec.logp_grad(theta + e)[0] - spec.logp_grad(theta - e)[0]) / 2e-6
            assert fd == pytest.approx(grad[k], rel=1e-5, abs=1e-5), spec.unconstrained_names()[k]
    np.testing.assert_allclose(np.diff(diffs), 0, atol=1e-5)


def test_framed_posterior_equals_unframed(framed_sim):
    """Short runs in both coordinates: the reported positions, party gaps and tau agree within
    their Monte Carlo error."""
    data, start = framed_sim
    post = {}
    for frame in ("off", "on"):
        settings = SamplerSettings(chains=2, tune=300, draws=600, seed=5, backend="kernel", frame=frame)
        fit = fit_common_scale(data, start, settings)
        post[frame] = fit.idata.posterior
        expected = 0 if frame == "off" else data.chamber_sessions.height
        assert fit.idata.posterior.attrs["framed_chamber_sessions"] == expected
    assert post["on"].attrs["sign_fixed_rollcalls"] > 0 and post["on"].attrs["sign_check"] < 0.05
    for var in ("xi_norm", "party_gap_norm", "tau_norm"):
        a, b = post["off"][var], post["on"][var]
        se = np.hypot(az.mcse(a.to_dataset(name=var))[var].values, az.mcse(b.to_dataset(name=var))[var].values)
        diff = np.abs(a.mean(("chain", "draw")).values - b.mean(("chain", "draw")).values)
        # 5 standard errors: 35 slots and gaps, none should be out by chance
        assert np.all(diff <= 5 * se + 1e-3), (var, float(np.max(diff / se)))


def test_frame_auto_frames_only_large_chamber_sessions(framed_sim):
    """frame "auto": chamber-sessions below frame.MIN_FRAMED_SLOTS stay in the model's coordinates
    (measured: framing California's 40-seat Senates tripled the steps per draw); "on": all."""
    from legis_assets.core.common_scale.fit import compile_model
    from legis_assets.core.common_scale.frame import MIN_FRAMED_SLOTS

    data, start = framed_sim
    sizes = data.chamber_sessions["n_slots"].to_numpy()
    spec = FrameSpec(data, start, min_slots=int(sizes.max()))
    assert spec.table[:, 0].tolist() == (sizes >= sizes.max()).astype(int).tolist()
    assert 0 < spec.n_framed < data.chamber_sessions.height
    # only the framed chamber-sessions' roll calls are sign-fixed
    framed_rc = np.repeat(spec.table[:, 0], spec.table[:, 4]).astype(bool)
    assert np.all(spec.sign[~framed_rc] == 0) and np.any(spec.sign[framed_rc] != 0)
    _, _, auto = compile_model(data, start, "kernel", "auto")
    _, _, on = compile_model(data, start, "kernel", "on")
    assert auto is not None and on is not None
    assert auto.n_framed == int((sizes >= MIN_FRAMED_SLOTS).sum()) and on.n_framed == data.chamber_sessions.height
    assert compile_model(data, start, "kernel", "off")[2] is None
