"""Session keys and session directory names that are not valid keys or try path traversal: a clear
error, exit code 2, and nothing written anywhere (in particular nothing outside LEGIS_HOME).

`SessionKey` itself is unit-tested in test_schema.py; here the keys go through the command line
(one real `legis-assets` process, the rest through `cli.main` in this process) and real directories.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from legis_assets_tests.reliability import support

HOSTILE_KEYS = [
    "../../etc",
    "simulated/../../etc",
    "simulated.2025-2026/../../../tmp",
    "simulated.../../etc",
    "..",
    "/etc/passwd",
    "simulated.",
    ".2025-2026",
    "simulated.bad name",
    "simulated.2025-2026\n",
    "simulated.2025-2026\x00",
    "simulated.%2e%2e",
    "simulated.2025-2026;rm -rf ~",
    "Simulated.2025-2026",
    "simulated." + "9" * 41,
]


@pytest.fixture
def world(tmp_path) -> Path:
    """tmp/{data,home,cwd}; data holds one valid session; home does not exist yet."""
    support.write_simulated(tmp_path / "data" / support.LEGISLATURE / support.SESSION, seats=20, n_rollcalls=40)
    (tmp_path / "cwd").mkdir()
    return tmp_path


def _assert_nothing_written(world: Path, before: dict[str, str]) -> None:
    after = support.tree_listing(world)
    outside = {k: v for k, v in after.items() if not k.startswith("home")}
    assert outside == {k: v for k, v in before.items() if not k.startswith("home")}
    assert not any(k.startswith("home/traces") or k.startswith("home/reports") for k in after)


@pytest.mark.slow
def test_real_cli_refuses_a_traversal_session_key(world):
    before = support.tree_listing(world)
    proc = subprocess.run(
        support.cli_command(
            "pipeline",
            "--data-dir",
            str(world / "data"),
            "--session",
            "../../etc",
            "--chamber",
            support.CHAMBER,
            "--profile",
            "quick",
        ),
        cwd=world / "cwd",
        env=support.child_env(world / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: invalid session key '../../etc'" in proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_nothing_written(world, before)
    assert not (world / "home").exists()


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_cli_refuses_hostile_session_keys(world, key):
    before = support.tree_listing(world)
    code, out, err = support.run_cli(
        [
            "pipeline",
            "--data-dir",
            str(world / "data"),
            "--session",
            key,
            "--chamber",
            support.CHAMBER,
            "--profile",
            "quick",
        ],
        world / "home",
    )
    assert code == 2, (out, err)
    assert f"error: invalid session key {key!r}" in err
    _assert_nothing_written(world, before)


@pytest.mark.parametrize("chamber", ["../../etc", "Senate", "assembly"])
def test_cli_refuses_unknown_chambers(world, chamber):
    before = support.tree_listing(world)
    code, _, err = support.run_cli(
        ["pipeline", "--data-dir", str(world / "data"), "--session", support.KEY, "--chamber", chamber], world / "home"
    )
    assert code == 2
    assert "invalid choice" in err and repr(chamber) in err
    _assert_nothing_written(world, before)


def test_dagster_run_command_refuses_a_traversal_session_key(world):
    """`legis-assets run` (through Dagster) validates the key before anything is written: no
    partition, and neither LEGIS_HOME nor the Dagster instance directory (DAGSTER_HOME, by default
    LEGIS_HOME/dagster_home) is created."""
    before = support.tree_listing(world)
    code, _, err = support.run_cli(["run", "--data-dir", str(world / "data"), "--session", "../../etc"], world / "home")
    assert code == 2
    assert "error: invalid session key '../../etc'" in err
    _assert_nothing_written(world, before)
    assert not (world / "home" / "dagster_home").exists()
    assert not (world / "home").exists()
    assert support.tree_listing(world) == before


def test_dagster_run_command_refuses_a_missing_session_before_creating_the_instance(world):
    """A valid key without a session directory is refused the same way, before DAGSTER_HOME exists."""
    before = support.tree_listing(world)
    code, _, err = support.run_cli(
        ["run", "--data-dir", str(world / "data"), "--session", "simulated.1999-2000"], world / "home"
    )
    assert code == 2
    assert "error: no session directory for simulated.1999-2000" in err
    assert not (world / "home").exists()
    assert support.tree_listing(world) == before


@pytest.mark.parametrize(
    "bad", ["bad name", "2025-2026;rm -rf ~", ".hidden", "..2025", "2025-2026\u202e", "<script>alert(1)<", "x" * 41]
)
def test_session_directories_with_invalid_names_are_ignored_not_used_in_paths(tmp_path, bad):
    """A session directory whose name is not a valid key is never turned into a partition: the run
    says no session was found (exit 2) and nothing is written, not even inside LEGIS_HOME."""
    data = tmp_path / "data"
    good = support.write_simulated(tmp_path / "src" / support.SESSION, seats=20, n_rollcalls=40)
    folder = data / support.LEGISLATURE / bad
    folder.mkdir(parents=True)
    for path in good.glob(f"{support.SESSION}_*.csv"):
        (folder / path.name.replace(support.SESSION, bad)).write_bytes(path.read_bytes())
    # and a legislature folder that is not a valid name either
    other = data / "Bad Legislature" / support.SESSION
    other.mkdir(parents=True)
    for path in good.glob(f"{support.SESSION}_*.csv"):
        (other / path.name).write_bytes(path.read_bytes())
    before = support.tree_listing(tmp_path)

    code, _, err = support.run_cli(["pipeline", "--data-dir", str(data), "--profile", "quick"], tmp_path / "home")
    assert code == 2
    assert f"error: no session found under {data}" in err
    code, out, err = support.run_cli(["sessions", "--data-dir", str(data)], tmp_path / "home")
    assert code == 2 and "no session found" in err
    assert support.tree_listing(tmp_path) == before


# --- symbolic links that leave the data root ---------------------------------------------------------


@pytest.fixture
def linked_world(tmp_path) -> tuple[Path, Path]:
    """tmp/data/simulated/2025-2026 is a symbolic link to a valid session in tmp/elsewhere."""
    target = support.write_simulated(tmp_path / "elsewhere" / support.SESSION, seats=20, n_rollcalls=40)
    link = tmp_path / "data" / support.LEGISLATURE / support.SESSION
    link.parent.mkdir(parents=True)
    link.symlink_to(target, target_is_directory=True)
    (tmp_path / "cwd").mkdir()
    return tmp_path, target


def test_cli_refuses_a_session_folder_linked_outside_the_data_root(linked_world):
    world, target = linked_world
    before = support.tree_listing(world)
    code, out, err = support.run_cli(
        [
            "pipeline",
            "--data-dir",
            str(world / "data"),
            "--session",
            support.KEY,
            "--chamber",
            support.CHAMBER,
            "--profile",
            "quick",
        ],
        world / "home",
    )
    assert code == 2, (out[-2000:], err[-2000:])
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    link = world / "data" / support.LEGISLATURE / support.SESSION
    assert errors[0].startswith(
        f"error: {link}: this session folder is a symbolic link to {target}, which is "
        f"outside the data root {(world / 'data').resolve()}"
    ), errors[0]
    assert "LEGIS_ALLOW_OUTSIDE_DATA_ROOT=1" in errors[0] and "Traceback" not in err
    _assert_nothing_written(world, before)


def test_cli_sessions_skips_a_folder_linked_outside_unless_allowed(linked_world):
    world, _ = linked_world
    args = ["sessions", "--data-dir", str(world / "data")]
    code, out, err = support.run_cli(args, world / "home")
    assert code == 2 and support.KEY not in out
    assert "error: no session found" in err
    code, out, err = support.run_cli(args, world / "home", env={"LEGIS_ALLOW_OUTSIDE_DATA_ROOT": "1"})
    assert code == 0, err
    assert out.splitlines() == [f"{support.KEY}\t{support.CHAMBER}"]
