"""The hand-written kernel (fastirt.py) is the PyMC model: log-density differences and gradients
equal PyMC's, in both data layouts; the C callbacks nutpie calls give exactly what
`KernelModel.logp_grad` gives; the vectorised exp matches numpy's; and a short nutpie run of the
kernel backend agrees with the PyMC backend."""

from __future__ import annotations

import ctypes
import dataclasses

import arviz as az
import numpy as np
import pytest

from legis_assets.core import fastirt, models, pca, sampling, simulate
from legis_assets_tests.support import matrix_from_sim

SPEC = {"senate": simulate.ChamberSpec(seats=30, n_rollcalls=60)}


@pytest.fixture(scope="module")
def small_matrix():
    return matrix_from_sim(simulate.simulate_session(seed=3, specs=SPEC)["senate"])


@pytest.fixture(scope="module")
def datasets(small_matrix):
    hier = models.hierarchical_data(small_matrix)
    return {"flat": models.flat_data(small_matrix), "hierarchical": hier, "hierarchical_noncentered": hier}


def _pymc_point(name: str, theta: np.ndarray, L: int, J: int) -> dict[str, np.ndarray]:
    if name == "flat":
        return {"xi": theta[:L], "alpha": theta[L : L + J], "beta": theta[L + J :]}
    sampled = "xi_offset" if name == "hierarchical_noncentered" else "xi"  # the default is centred
    return {
        "party_gap_log__": np.asarray(theta[0]),
        "sigma_within_log__": theta[1:3],
        sampled: theta[3 : 3 + L],
        "alpha": theta[3 + L : 3 + L + J],
        "beta": theta[3 + L + J :],
    }


def _pymc_grad(model, dlogp, point: dict[str, np.ndarray]) -> np.ndarray:
    """PyMC's gradient (ordered as model.value_vars) reordered to the kernel's layout."""
    flat = dlogp(point)
    parts, pos = {}, 0
    for var in model.value_vars:
        size = int(np.size(point[var.name]))
        parts[var.name] = flat[pos : pos + size]
        pos += size
    return np.concatenate([np.atleast_1d(parts[k]) for k in point])


@pytest.mark.parametrize("name", ["flat", "hierarchical", "hierarchical_noncentered"])
def test_logp_and_gradient_equal_pymc(datasets, name):
    data = datasets[name]
    model = models.get_model(name).build(data)
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    L, J = data.n_legislators, data.n_rollcalls
    rng = np.random.default_rng(0)
    kms = [fastirt.kernel_model(name, data, dense=True), fastirt.kernel_model(name, data, dense=False)]
    assert kms[0].cells.dense_y is not None and kms[1].cells.dense_y is None
    thetas = [rng.normal(0, scale, kms[0].n_dim) for scale in (0.3, 1.0, 2.0)]
    ref_lp = [float(logp(_pymc_point(name, t, L, J))) for t in thetas]
    ref_g = [_pymc_grad(model, dlogp, _pymc_point(name, t, L, J)) for t in thetas]
    for km in kms:
        mine = [km.logp_grad(t) for t in thetas]
        for k in range(len(thetas)):
            g_ref = ref_g[k]
            assert np.max(np.abs(mine[k][1] - g_ref)) <= 1e-8 * max(1.0, np.max(np.abs(g_ref)))
            for m in range(k):
                d_ref = ref_lp[k] - ref_lp[m]
                assert abs((mine[k][0] - mine[m][0]) - d_ref) <= 1e-8 * max(1.0, abs(d_ref))
        # and PyMC's constant offset (float32-rounded constants) is tiny
        assert abs(mine[0][0] - ref_lp[0]) < 1e-3


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


@pytest.mark.parametrize("name", ["flat", "hierarchical", "hierarchical_noncentered"])
@pytest.mark.parametrize("dense", [True, False])
def test_c_callbacks_equal_logp_grad_and_expand(datasets, name, dense):
    km = fastirt.kernel_model(name, datasets[name], dense=dense)
    logp_c, expand_c = fastirt.c_callbacks()
    ud = ctypes.c_void_p(km.user_data.ctypes.data)
    theta = np.random.default_rng(1).normal(0, 1, km.n_dim)
    grad, out = np.full(km.n_dim, np.nan), np.full(1, np.nan)
    assert logp_c.ctypes(km.n_dim, _ptr(theta), _ptr(grad), _ptr(out), ud) == 0
    lp, g = km.logp_grad(theta)
    assert out[0] == lp
    assert np.array_equal(grad, g)

    expanded = np.full(km.n_expanded, np.nan)
    assert expand_c.ctypes(km.n_dim, km.n_expanded, _ptr(theta), _ptr(expanded), ud) == 0
    names, shapes, _ = km.var_shapes()
    by_name = km.expand(theta)
    assert list(by_name) == names and [v.shape for v in by_name.values()] == [tuple(s) for s in shapes]
    assert np.array_equal(expanded, np.concatenate([v.ravel() for v in by_name.values()]))
    if name != "flat":
        xi = by_name["mu_party"][km.party] + by_name["sigma_within"][km.party] * by_name["xi_offset"]
        assert np.allclose(by_name["xi"], xi, rtol=0, atol=1e-14)

    # wrong dimension: fatal (-1); a non-finite point: recoverable (> 0, a divergence for nutpie)
    assert logp_c.ctypes(km.n_dim + 1, _ptr(theta), _ptr(grad), _ptr(out), ud) == -1
    assert expand_c.ctypes(km.n_dim, km.n_expanded + 1, _ptr(theta), _ptr(expanded), ud) == -1
    bad = theta.copy()
    bad[-1] = np.nan
    assert logp_c.ctypes(km.n_dim, _ptr(bad), _ptr(grad), _ptr(out), ud) > 0
    # foreign data pointer: refused
    junk = np.zeros(fastirt.HEADER + 4)
    assert logp_c.ctypes(km.n_dim, _ptr(theta), _ptr(grad), _ptr(out), ctypes.c_void_p(junk.ctypes.data)) == -1


@pytest.mark.parametrize("module", ["per_chamber", "common_scale", "common_scale_frame"])
def test_every_kernels_callbacks_load_from_numbas_disk_cache(module):
    """The C callbacks of all three kernels, made by fastirt.callbacks, are written to Numba's
    on-disk cache, so a later process loads them instead of compiling them (seconds) again: a
    second compile in this process must be a cache hit (a run-time address in the machine code,
    e.g. a compiled function passed to a helper that Numba did not inline, makes them uncacheable)."""
    import numba

    from legis_assets.core.common_scale import frame, kernel
    from legis_assets.core.fastirt import callbacks

    cb = {"per_chamber": callbacks._CALLBACKS, "common_scale": kernel.CALLBACKS, "common_scale_frame": frame.CALLBACKS}
    cb[module].get()  # compiled (and saved) or loaded
    c_logp, c_expand = cb[module]._py
    again = (
        numba.cfunc(callbacks._LOGP_SIG, cache=True)(c_logp),
        numba.cfunc(callbacks._EXPAND_SIG, cache=True)(c_expand),
    )
    assert [f.cache_hits for f in again] == [1, 1]


def test_exp_neg_matches_numpy():
    rng = np.random.default_rng(0)
    x = -np.concatenate(
        [
            np.linspace(0.0, 760.0, 400_001),
            rng.exponential(3.0, 200_000),
            10.0 ** np.linspace(-320, 2.87, 20_001),
            [0.0, 5e-324, 708.0, 709.0, 1e300, np.inf],
        ]
    )
    out = np.empty_like(x)
    fastirt.exp_neg_array(x, out)
    ref = np.exp(x)
    kept = x >= fastirt.EXP_MIN_ARG
    rel = np.abs(out[kept] - ref[kept]) / ref[kept]
    assert rel.max() < 1e-13
    assert np.all(out[~kept] == 0.0)
    assert out[x == 0.0].tolist() == [1.0] * int((x == 0.0).sum())


def test_short_nutpie_run_agrees_with_pymc_backend(small_matrix, datasets):
    data = datasets["hierarchical"]
    scores = dict(pca.fit_pca_init(small_matrix).scores.select("legislator_slug", "pc1").iter_rows())
    init = np.array([scores[s] for s in data.legislator_ids])
    init = (init - init.mean()) / init.std()
    spec = models.get_model("hierarchical")
    fits = {
        backend: sampling.fit(
            spec,
            data,
            init,
            sampling.SamplerSettings(chains=2, tune=200, draws=200, seed=5, backend=backend),
            progress=lambda _: None,
        )
        for backend in ("kernel", "pymc")
    }
    kernel = fits["kernel"]
    assert kernel.backend == "kernel" and fits["pymc"].backend == "pymc"
    post = kernel.idata.posterior
    L, J = data.n_legislators, data.n_rollcalls
    expected = {
        "party_gap": (),
        "mu_party": ("party",),
        "sigma_within": ("party",),
        "xi_offset": ("legislator",),
        "xi": ("legislator",),
        "alpha": ("rollcall",),
        "beta": ("rollcall",),
    }
    for var, dims in expected.items():
        assert post[var].dims == ("chain", "draw", *dims)
        assert np.all(np.isfinite(post[var].values))
    for dim, size in {"chain": 2, "draw": 200, "legislator": L, "rollcall": J, "party": 2}.items():
        assert post.sizes[dim] == size
    assert list(post["legislator"].values) == data.legislator_ids
    assert kernel.grad_evals > 0
    # 30 x 60 is thin data: the default was sampled in its non-centred form, and the trace says so
    assert post.attrs["parameterisation"] == "non-centred"
    assert post.attrs["model"] == "hierarchical"
    xi_k = post["xi"].mean(("chain", "draw")).values
    xi_p = fits["pymc"].idata.posterior["xi"].mean(("chain", "draw")).values
    assert np.corrcoef(xi_k, xi_p)[0, 1] > 0.99
    # the centred default and the reference's non-centred parameterisation: one posterior
    nc = sampling.fit(
        models.get_model("hierarchical_noncentered"),
        data,
        init,
        sampling.SamplerSettings(chains=2, tune=200, draws=200, seed=5, backend="kernel"),
        progress=lambda _: None,
    )
    assert nc.backend == "kernel"
    xi_nc = nc.idata.posterior["xi_norm"].mean(("chain", "draw")).values
    assert np.corrcoef(post["xi_norm"].mean(("chain", "draw")).values, xi_nc)[0, 1] > 0.99
    for var in ("mu_party_norm", "sigma_within_norm"):
        a = post[var].mean(("chain", "draw")).values
        b = nc.idata.posterior[var].mean(("chain", "draw")).values
        assert np.allclose(a, b, atol=0.1), (var, a, b)


def test_default_is_sampled_centred_only_where_the_data_are_strong(datasets):
    """Small chambers (few votes per legislator) get the non-centred twin: centred sampling there
    diverged (measured on a 31 x 70 chamber); strong data keep the centred default."""
    data = datasets["hierarchical"]  # 30 seats x 60 roll calls: < CENTRED_MIN_VOTES per legislator
    spec = models.get_model("hierarchical")
    assert models.parameterisation_for(spec, data).name == "hierarchical_noncentered"
    strong = models.hierarchical_data(
        matrix_from_sim(
            simulate.simulate_session(seed=3, specs={"senate": simulate.ChamberSpec(seats=30, n_rollcalls=260)})[
                "senate"
            ]
        )
    )
    assert models.parameterisation_for(spec, strong) is spec
    for other in ("flat", "hierarchical_reference", "hierarchical_noncentered"):
        assert models.parameterisation_for(models.get_model(other), data).name == other


# ---------------------------------------------------------------------------------------------
# the affine frame (KIND_HIER_S): the same posterior in other coordinates
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strong():
    """30 seats x 260 roll calls: enough votes per legislator for the centred default (and so the frame)."""
    sim = simulate.simulate_session(seed=3, specs={"senate": simulate.ChamberSpec(seats=30, n_rollcalls=260)})["senate"]
    matrix = matrix_from_sim(sim)
    data = models.hierarchical_data(matrix)
    scores = dict(pca.fit_pca_init(matrix).scores.select("legislator_slug", "pc1").iter_rows())
    init = np.array([scores[s] for s in data.legislator_ids])
    return sim, data, (init - init.mean()) / init.std(), models.flat_data(matrix)


def _model_data(strong, name):
    _, data, init, flat = strong
    if name == "flat":  # the flat data's legislators are in the same order here (no independents)
        assert flat.legislator_ids == data.legislator_ids
        return flat, init
    return data, init


@pytest.mark.parametrize("name", ["flat", "hierarchical"])
@pytest.mark.parametrize("dense", [True, False])
def test_affine_frame_is_the_model(strong, name, dense):
    """log p(frame coordinates) = log p_centred(mapped point) + log|Jacobian| + constant, for every
    mix of roll-call modes; the gradient matches central differences; the draws expand to the
    centred model's variables at the mapped point; the PCA start maps exactly."""
    data, init = _model_data(strong, name)
    L, J = data.n_legislators, data.n_rollcalls
    framed = fastirt.kernel_model(name, data, dense=dense, frame_init=init)
    h = 0 if name == "flat" else 3
    assert framed.framed and np.count_nonzero(framed.sign) > 0
    rng = np.random.default_rng(2)
    for sign in (framed.sign, np.zeros(J), rng.choice([-1.0, 0.0, 1.0], J)):
        km = dataclasses.replace(framed, sign=sign, user_data=None)
        km._packed()
        direct = dataclasses.replace(km, frame_group=None, user_data=None)
        direct._packed()
        n_ge = int(np.count_nonzero(sign)) - int(np.sum(sign == 0))

        def reference(theta, km=km, direct=direct, n_ge=n_ge):
            inner = fastirt._to_inner(theta, km.user_data)
            jac = (L - 1 + n_ge) * theta[h + 1]
            return direct.logp_grad(inner)[0] + jac + (0.0 if name == "flat" else (L + n_ge) * theta[0])

        thetas = [km.initial_point(init, rng) + rng.normal(0, 0.1, km.n_dim) for _ in range(3)]
        lps = [km.logp_grad(t)[0] for t in thetas]
        refs = [reference(t) for t in thetas]
        assert np.allclose(np.diff(lps), np.diff(refs), rtol=0, atol=1e-7)
        theta = thetas[0]
        _, grad = km.logp_grad(theta)
        idx = np.concatenate([np.arange(8), rng.choice(km.n_dim, 40, replace=False), [km.n_dim - 1]])
        eps = 1e-6
        numeric = np.array(
            [
                (km.logp_grad(theta + eps * e)[0] - km.logp_grad(theta - eps * e)[0]) / (2 * eps)
                for e in np.eye(km.n_dim)[idx]
            ]
        )
        assert np.allclose(grad[idx], numeric, rtol=1e-5, atol=1e-4)
        inner = fastirt._to_inner(theta, km.user_data)
        a, b = km.expand(theta), direct.expand(inner)
        assert all(np.allclose(a[k], b[k], rtol=1e-12, atol=1e-12) for k in a)
    start = framed.initial_point(init, rng)
    gap = 1.0 if name == "flat" else np.exp(start[0])
    assert np.allclose(framed.expand(start)["xi"], gap * init, atol=1e-10)


@pytest.mark.parametrize("name", ["flat", "hierarchical"])
def test_affine_frame_callbacks_equal_logp_grad(strong, name):
    data, init = _model_data(strong, name)
    km = fastirt.kernel_model(name, data, frame_init=init)
    logp_c, expand_c = fastirt.c_callbacks()
    ud = ctypes.c_void_p(km.user_data.ctypes.data)
    theta = km.initial_point(init, np.random.default_rng(1))
    grad, out = np.full(km.n_dim, np.nan), np.full(1, np.nan)
    assert logp_c.ctypes(km.n_dim, _ptr(theta), _ptr(grad), _ptr(out), ud) == 0
    lp, g = km.logp_grad(theta)
    assert out[0] == lp and np.array_equal(grad, g)
    expanded = np.full(km.n_expanded, np.nan)
    assert expand_c.ctypes(km.n_dim, km.n_expanded, _ptr(theta), _ptr(expanded), ud) == 0
    assert np.array_equal(expanded, np.concatenate([v.ravel() for v in km.expand(theta).values()]))
    names = km.unconstrained_names()
    assert len(names) == km.n_dim == len(set(names))
    h = 0 if name == "flat" else 3
    assert names[h : h + 2] == ["xi_frame_location", "xi_frame_log_scale"]


def test_rollcall_signs_screen_only_clear_roll_calls(strong):
    """The screen fixes a sign only where the data leave no doubt: on a simulated House every fixed
    sign is the true one, many roll calls are fixed, and those left free are the weaker ones."""
    sim = simulate.simulate_session(seed=11, specs={"house": simulate.ChamberSpec(seats=125, n_rollcalls=300)})["house"]
    matrix = matrix_from_sim(sim)
    data = models.hierarchical_data(matrix)
    scores = dict(pca.fit_pca_init(matrix).scores.select("legislator_slug", "pc1").iter_rows())
    init = np.array([scores[s] for s in data.legislator_ids])
    sign, root = fastirt.rollcall_signs(data, (init - init.mean()) / init.std())
    truth = dict(sim.rollcall_truth.select("vote_id", "beta_true").iter_rows())
    beta_true = np.array([truth[v] for v in data.rollcall_ids])
    fixed = sign != 0
    assert fixed.sum() > 0.25 * len(sign)  # 84 of 225 here; real chambers: 60-95 %
    assert np.all(sign[fixed] == np.sign(beta_true[fixed]))
    assert np.all(np.abs(root[fixed]) >= fastirt.SIGN_MIN_ROOT) and np.all(np.abs(root[~fixed]) < fastirt.SIGN_MIN_ROOT)
    assert np.median(np.abs(beta_true[~fixed])) < np.median(np.abs(beta_true[fixed]))
    # a start that does not order the parties: no frame (the model's own coordinates)
    _, small, small_init, _ = strong
    assert not fastirt.kernel_model("hierarchical", small, frame_init=-small_init).framed


def test_sign_check_flags_a_restriction_that_binds():
    rng = np.random.default_rng(0)
    clear = rng.lognormal(0.0, 0.6, (4, 500, 3))  # skewed, but clear of zero
    assert fastirt.sign_check(clear, np.array([1.0, 1.0, 0.0])) <= sampling.SIGN_CHECK_MAX_NEAR_ZERO
    pressed = np.abs(rng.normal(0.0, 0.5, (4, 500, 3)))  # a posterior piled against zero
    assert fastirt.sign_check(pressed, np.array([1.0, 0.0, 0.0])) > 0.05
    assert fastirt.sign_check(pressed, np.zeros(3)) == 0.0


@pytest.mark.parametrize("name", ["flat", "hierarchical"])
def test_affine_frame_posterior_agrees_with_direct_sampling(strong, name, tmp_path):
    """The frame changes coordinates, not the posterior: a short run in each agrees on every
    reported quantity; the trace records the coordinates and the sign check."""
    data, init = _model_data(strong, name)
    spec = models.get_model(name)
    fits = {
        frame: sampling.fit(
            spec,
            data,
            init,
            sampling.SamplerSettings(chains=2, tune=300, draws=500, seed=7, low_rank_mass_matrix=True, frame=frame),
            progress=lambda _: None,
        )
        for frame in ("on", "off")
    }
    a, b = (fits[f].idata.posterior for f in ("on", "off"))
    assert a.attrs["sampling_coordinates"] == "affine frame" and b.attrs["sampling_coordinates"] == "direct"
    path = tmp_path / "trace.nc"
    fits["on"].idata.to_netcdf(str(path))  # what the trace file keeps
    kept = az.from_netcdf(str(path)).posterior.attrs
    assert kept["sampling_coordinates"] == "affine frame" and kept["sign_fixed_rollcalls"] > 0
    assert a.attrs["sign_fixed_rollcalls"] > 0
    assert a.attrs["sign_check_near_zero"] <= sampling.SIGN_CHECK_MAX_NEAR_ZERO
    mean = lambda p, v: p[v].mean(("chain", "draw")).values  # noqa: E731
    assert np.corrcoef(mean(a, "xi_norm"), mean(b, "xi_norm"))[0, 1] > 0.995
    if name == "hierarchical":
        assert a.attrs["parameterisation"] == "centred"
        for var in ("mu_party_norm", "sigma_within_norm"):
            assert np.allclose(mean(a, var), mean(b, var), atol=0.1), var
    for var in ("alpha_norm", "beta_norm"):
        assert np.corrcoef(mean(a, var), mean(b, var))[0, 1] > 0.98, var
    sd_a, sd_b = a["xi_norm"].std(("chain", "draw")).values, b["xi_norm"].std(("chain", "draw")).values
    assert 0.8 < np.median(sd_a / sd_b) < 1.25


def test_frame_setting_auto_frames_flat_always_and_hierarchical_from_enough_legislators(strong):
    data, init = _model_data(strong, "hierarchical")
    flat, _ = _model_data(strong, "flat")
    assert data.n_legislators < fastirt.FRAME_MIN_LEGISLATORS  # 32: California-sized
    hier, flat_spec = models.get_model("hierarchical"), models.get_model("flat")
    framed = {
        (spec.name, setting): sampling._compile(spec, d, init, "auto", setting)[2].framed
        for spec, d in ((hier, data), (flat_spec, flat))
        for setting in ("auto", "on", "off")
    }
    assert framed == {
        ("hierarchical", "auto"): False,
        ("hierarchical", "on"): True,
        ("hierarchical", "off"): False,
        ("flat", "auto"): True,
        ("flat", "on"): True,
        ("flat", "off"): False,
    }
    with pytest.raises(ValueError, match="frame setting"):
        sampling._compile(hier, data, init, "auto", "sometimes")
