"""legis_assets/pipeline.py, the plain-Python steps (the CLI path): Settings from the environment,
Partition validation, and Pipeline.run on a tiny two-party simulated Senate (20 seats x 60 roll
calls) through every step, then a starved run that stops with GateFailure.

The full run uses the `default` profile: `quick` (2 x 300 draws) fails the hierarchical R-hat
and ESS gates on this chamber (measured: R-hat 1.02, ESS 199), and the kernel backend samples the
default profile here in a few seconds. Chambers without two parties are test_flat_only.py's;
the Dagster assets over the same steps are test_definitions.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from legis_assets.core import simulate
from legis_assets.core.schema import DataProblem, InvalidSessionKey, LegisError, SessionKey
from legis_assets.pipeline import GateFailure, Partition, Pipeline, Settings
from legis_assets.storage import Warehouse

SESSION = "simulated.2025-2026"
ENV = (
    "LEGIS_DATA_DIR",
    "LEGIS_HOME",
    "LEGIS_PROFILE",
    "LEGIS_MODEL",
    "LEGIS_MIN_MINORITY",
    "LEGIS_MIN_VOTES",
    "LEGIS_SEED",
)


# --- Settings and Partition ---------------------------------------------------------------------


def test_settings_from_env_parses_every_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("LEGIS_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("LEGIS_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("LEGIS_PROFILE", "quick")
    monkeypatch.setenv("LEGIS_MODEL", "hierarchical_noncentered")
    monkeypatch.setenv("LEGIS_MIN_MINORITY", "0.1")
    monkeypatch.setenv("LEGIS_MIN_VOTES", "7")
    monkeypatch.setenv("LEGIS_SEED", "123")
    s = Settings.from_env()
    assert s == Settings(
        data_dir=tmp_path / "d",
        home=tmp_path / "h",
        profile="quick",
        model="hierarchical_noncentered",
        min_minority=0.1,
        min_votes=7,
        seed=123,
    )
    assert isinstance(s.min_minority, float) and isinstance(s.min_votes, int) and isinstance(s.seed, int)
    assert (s.filters.min_minority, s.filters.min_votes) == (0.1, 7)
    assert s.warehouse_path == tmp_path / "h" / "warehouse.duckdb"
    sampler = s.sampler()
    assert (sampler.chains, sampler.draws, sampler.seed) == (2, 300, 123)  # the quick profile, the seed given


def test_settings_from_env_defaults_and_overrides(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env()
    assert s.data_dir == (tmp_path / "data").resolve() and s.data_dir.is_absolute()
    assert s.home == (tmp_path / ".legis").resolve()
    assert (s.profile, s.model, s.min_minority, s.min_votes, s.seed) == ("default", "hierarchical", 0.025, 20, None)
    assert s.sampler().seed == 42  # no seed given: the profile's
    monkeypatch.setenv("LEGIS_SEED", "")  # empty: not set
    monkeypatch.setenv("LEGIS_PROFILE", "starved")
    over = Settings.from_env(profile="quick", seed=5, min_votes=None, home=tmp_path / "elsewhere")
    assert (over.profile, over.seed, over.min_votes, over.home) == ("quick", 5, 20, tmp_path / "elsewhere")
    assert Settings.from_env().seed is None and Settings.from_env().profile == "starved"
    with pytest.raises(TypeError):
        Settings.from_env(colour="blue")


def test_settings_reject_an_unknown_profile_when_sampling(tmp_path):
    with pytest.raises(ValueError, match="unknown sampling profile"):
        Settings(data_dir=tmp_path, home=tmp_path, profile="turbo").sampler()


def test_partition_validation():
    part = Partition.of(SESSION, "senate")
    assert part.key == SessionKey("simulated", "2025-2026") and part.chamber == "senate"
    assert str(part) == "simulated.2025-2026 / senate"
    with pytest.raises(LegisError, match="unknown chamber 'assembly'"):
        Partition.of(SESSION, "assembly")
    with pytest.raises(LegisError, match="unknown chamber"):
        Partition(SessionKey("simulated", "2025-2026"), "Senate")  # case matters
    for bad in ("simulated", "simulated/2025", "../etc.2025", "Simulated.2025", ""):
        with pytest.raises(InvalidSessionKey):
            Partition.of(bad, "senate")


# --- Pipeline.run -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline_data")
    spec = {"senate": simulate.ChamberSpec(seats=20, n_rollcalls=60, replacements=0)}
    simulate.write_session(simulate.simulate_session(seed=5, specs=spec), root / "simulated" / "2025-2026")
    return root


def _pipeline(root: Path, home: Path, profile: str, messages: list | None = None, **kw) -> Pipeline:
    settings = Settings(data_dir=root, home=home, profile=profile, seed=1, **kw)
    return Pipeline(settings, progress=(messages.append if messages is not None else lambda m: None))


def test_steps_need_their_inputs(data_root, tmp_path):
    pipe = _pipeline(data_root, tmp_path / "home", "quick")
    part = Partition.of(SESSION, "senate")
    with pytest.raises(DataProblem, match="materialize votes first"):
        pipe.vote_matrix(part)
    with pytest.raises(DataProblem, match="materialize vote_matrix first"):
        pipe.pca_init(part)
    out = pipe.run(part, steps=("ingest", "vote_matrix"))
    assert list(out) == ["ingest", "vote_matrix"]
    assert out["vote_matrix"].metadata["hierarchical_model_possible"] is True
    wh = Warehouse(pipe.settings.warehouse_path)
    assert (
        wh.read_partition("vote_matrix", part.key, part.chamber).height == out["vote_matrix"].metadata["observations"]
    )
    assert wh.read_partition("pca_init", part.key, part.chamber).is_empty()  # not run


def test_run_goes_through_every_step_and_writes_the_tables(data_root, tmp_path):
    home = tmp_path / "home"
    messages: list[str] = []
    pipe = _pipeline(data_root, home, "default", messages)
    part = Partition.of(SESSION, "senate")
    out = pipe.run(part)
    assert list(out) == list(Pipeline.STEP_NAMES)
    assert [m for m in messages if m.endswith(" ...")] == [f"{part}: {name} ..." for name in Pipeline.STEP_NAMES]

    wh = Warehouse(home / "warehouse.duckdb")

    def table(name):
        return wh.read_partition(name, part.key, part.chamber)

    n_legislators = out["vote_matrix"].metadata["legislators"]
    ideal = table("ideal_points")
    assert ideal.height == n_legislators == out["ideal_points"].metadata["legislators"]
    assert set(ideal["model"]) == {"hierarchical"} and ideal["xi_mean"].null_count() == 0
    assert ideal["overall_rank"].sort().to_list() == list(range(1, n_legislators + 1))
    # left party on the left
    means = {p: ideal.filter(ideal["party"] == p)["position"].mean() for p in ("Democrat", "Republican")}
    assert means["Democrat"] < 0 < means["Republican"]
    party = table("party_summary")
    assert set(party["parameter"]) == {"mu_party", "sigma_within", "var_between", "var_within", "icc"}
    assert 0 <= out["party_summary"].metadata["icc"] <= 1
    gates = table("convergence_diagnostics")
    assert set(gates["model"]) == {"hierarchical", "flat"}
    assert set(gates.filter((gates["model"] == "hierarchical") & (gates["severity"] == "error"))["status"]) == {"PASS"}
    assert not table("parameter_diagnostics").is_empty() and not table("pca_init").is_empty()

    # the published pair and the report, all from one run
    run_id = out["hierarchical_posterior"].metadata["run_id"]
    assert out["hierarchical_posterior"].metadata["published"] is True
    for step in ("convergence_diagnostics", "ideal_points", "party_summary", "report"):
        assert out[step].metadata["run_id"] == run_id, step
    traces = home / "traces" / "simulated" / "2025-2026" / "senate"
    assert (traces / "flat_posterior.nc").exists() and (traces / "hierarchical_posterior.nc").exists()
    assert not (traces / "flat_posterior.candidate.nc").exists()
    report = Path(out["report"].metadata["path"])
    assert report.name == "report.html" and report.stat().st_size == out["report"].metadata["bytes"]

    # a model that is not hierarchical is refused by the hierarchical step
    flat = _pipeline(data_root, home, "default", model="flat")
    with pytest.raises(ValueError, match="not a hierarchical model"):
        flat.hierarchical_posterior(part)


def test_a_starved_run_stops_with_gate_failure_before_the_estimates(data_root, tmp_path):
    home = tmp_path / "home"
    pipe = _pipeline(data_root, home, "starved")
    part = Partition.of(SESSION, "senate")
    with pytest.raises(GateFailure) as caught:
        pipe.run(part)
    err = caught.value
    assert err.partition == part and str(part) in str(err)
    failed = {g.name for g in err.failed}
    assert "ess" in failed and failed <= {"rhat", "ess", "divergences"}
    assert all(g.severity == "error" and not g.passed for g in err.failed)
    ess = next(g for g in err.failed if g.name == "ess")
    assert ess.value < ess.threshold == 400 and "needs > 400" in str(err)
    # nothing downstream of the gates was written; the failed traces and report sit beside the (absent) good ones
    wh = Warehouse(home / "warehouse.duckdb")
    for name in ("convergence_diagnostics", "ideal_points", "party_summary"):
        assert wh.read_partition(name, part.key, part.chamber).is_empty(), name
    traces = home / "traces" / "simulated" / "2025-2026" / "senate"
    assert (traces / "hierarchical_posterior.failed.nc").exists() and (traces / "flat_posterior.failed.nc").exists()
    assert not (traces / "hierarchical_posterior.nc").exists() and not (traces / "flat_posterior.nc").exists()
    reports = home / "reports" / "simulated" / "2025-2026" / "senate"
    assert (reports / "report.failed.html").exists() and not (reports / "report.html").exists()
    with pytest.raises(LegisError):
        pipe.load_published(part)
