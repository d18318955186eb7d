"""Bad input gets a clear error and changes nothing (issue 7).

Each case copies the golden partition (data directory + LEGIS_HOME), corrupts one real file of the
session, and runs the real command line (`legis_assets.cli.main`, the function behind the
`legis-assets` entry point) on it under the same session key and LEGIS_HOME. The run must fail with
exit code 2 and a message naming the file, the line and the problem, and every warehouse row, trace
and report of the last good partition must be exactly as before.

test_ingest.py unit-tests each validation on tiny files; here the same problems go end to end
through the pipeline, against a partition that has results to lose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from legis_assets.pipeline import T_MANIFEST, T_PROBLEMS, Partition, Pipeline
from legis_assets_tests.reliability import support
from legis_assets_tests.reliability.support import csv_path, golden_settings, line_of, read_rows, write_rows

pytestmark = pytest.mark.slow  # every case runs against the golden partition (one default-profile run)

VOTES, ROLLCALLS, LEGISLATORS = (f"{support.SESSION}_{k}.csv" for k in ("votes", "rollcalls", "legislators"))


@dataclass
class Expect:
    """What the error message must contain (file name, line, column, problem)."""

    fragments: list[str]


# --- the corruptions: each edits a real session folder and says what the error must name ----------


def missing_file(d: Path) -> Expect:
    csv_path(d, "legislators").unlink()
    return Expect([LEGISLATORS, "file not found"])


def missing_votes_file(d: Path) -> Expect:
    csv_path(d, "votes").unlink()
    return Expect([VOTES, "file not found"])


def missing_column(d: Path) -> Expect:
    header, rows = read_rows(csv_path(d, "votes"))
    write_rows(csv_path(d, "votes"), [c for c in header if c != "vote"], rows)
    return Expect([VOTES, "line 1", "missing required column 'vote'"])


def renamed_column(d: Path) -> Expect:
    header, rows = read_rows(csv_path(d, "legislators"))
    write_rows(
        csv_path(d, "legislators"),
        ["Party" if c == "party" else c for c in header],
        [{("Party" if k == "party" else k): v for k, v in r.items()} for r in rows],
    )
    return Expect([LEGISLATORS, "line 1", "missing required column 'party'", "'Party' looks like 'party'"])


def empty_file(d: Path) -> Expect:
    csv_path(d, "votes").write_bytes(b"")
    return Expect([VOTES, "the file is empty (0 bytes)"])


def header_only(d: Path) -> Expect:
    path = csv_path(d, "rollcalls")
    path.write_bytes(path.read_bytes().split(b"\n", 1)[0] + b"\n")
    return Expect([ROLLCALLS, "header line but no data rows"])


def unknown_vote_code(d: Path) -> Expect:
    header, rows = read_rows(csv_path(d, "votes"))
    rows[100]["vote"] = "Yes"
    write_rows(csv_path(d, "votes"), header, rows)
    return Expect([VOTES, f"line {line_of(100)}", "column 'vote'", "unknown vote code 'Yes'"])


def unknown_chamber(d: Path) -> Expect:
    header, rows = read_rows(csv_path(d, "rollcalls"))
    rows[10]["chamber"] = "Assembly"
    write_rows(csv_path(d, "rollcalls"), header, rows)
    return Expect([ROLLCALLS, f"line {line_of(10)}", "column 'chamber'", "unknown chamber 'Assembly'"])


def conflicting_duplicate(d: Path) -> Expect:
    header, rows = read_rows(csv_path(d, "votes"))
    copy = dict(rows[50], vote="Nay" if rows[50]["vote"] == "Yea" else "Yea")
    rows.append(copy)
    write_rows(csv_path(d, "votes"), header, rows)
    return Expect(
        [
            VOTES,
            f"line {line_of(len(rows) - 1)}",
            "column 'vote'",
            f"legislator {copy['legislator_slug']!r} has two different votes on roll call {copy['vote_id']!r}",
            f"on line {line_of(50)}",
            f"on line {line_of(len(rows) - 1)}",
        ]
    )


def non_utf8(d: Path) -> Expect:
    header, rows = read_rows(csv_path(d, "legislators"))
    rows[7]["name"] = "@@LATIN1@@"
    write_rows(csv_path(d, "legislators"), header, rows)
    path = csv_path(d, "legislators")
    path.write_bytes(path.read_bytes().replace(b"@@LATIN1@@", "M\u00fcller".encode("latin-1")))
    return Expect([LEGISLATORS, f"line {line_of(7)}", "not valid UTF-8", "0xfc"])


def nul_byte(d: Path) -> Expect:
    header, rows = read_rows(csv_path(d, "votes"))
    rows[60]["legislator_name"] = "@@NUL@@"
    write_rows(csv_path(d, "votes"), header, rows)
    path = csv_path(d, "votes")
    path.write_bytes(path.read_bytes().replace(b"@@NUL@@", b"Sm\x00ith"))
    return Expect([VOTES, f"line {line_of(60)}", "column 'legislator_name'", "NUL byte", "corrupted"])


def _outside(d: Path) -> Path:
    """A folder next to the data directory (outside the data root)."""
    outside = d.parents[2] / "outside"
    outside.mkdir(exist_ok=True)
    return outside


def session_folder_linked_outside(d: Path) -> Expect:
    """The session folder is a symbolic link to a valid session outside the data root."""
    target = d.rename(_outside(d) / d.name)
    d.symlink_to(target, target_is_directory=True)
    return Expect(
        [
            f"{support.LEGISLATURE}/{support.SESSION}: this session folder is a symbolic link to {target}",
            "outside the data root",
            "LEGIS_ALLOW_OUTSIDE_DATA_ROOT",
        ]
    )


def votes_file_linked_outside(d: Path) -> Expect:
    """The votes file is a symbolic link to a (valid) votes file outside the data root."""
    path = csv_path(d, "votes")
    target = path.rename(_outside(d) / path.name)
    path.symlink_to(target)
    return Expect([f"{VOTES}: this file is a symbolic link to {target}", "outside the data root"])


def truncated_last_line(d: Path) -> Expect:
    path = csv_path(d, "votes")
    data = path.read_bytes()
    start = data.rstrip(b"\r\n").rfind(b"\n") + 1
    last_line = data[:start].count(b"\n") + 1
    cut = start
    for _ in range(5):  # keep the first five fields of the last row
        cut = data.index(b",", cut) + 1
    path.write_bytes(data[:cut])
    return Expect([VOTES, f"line {last_line}", "fields but the header has 11 columns", "truncated"])


# the next one is a well-formed file that cannot be analysed: the pipeline finds out in `ingest`, by
# building the vote matrix before it writes anything. (A chamber with one party only is no longer
# refused: the flat model is fitted and published alone, test_flat_only.py.)


def unanimous(d: Path) -> Expect:
    header, rows = read_rows(csv_path(d, "votes"))
    for r in rows:
        if r["vote"] == "Nay":
            r["vote"] = "Yea"
    write_rows(csv_path(d, "votes"), header, rows)
    support.fix_counts(d)
    return Expect(["no contested roll calls left", "minority share below 2.5%"])


REJECTED: dict[str, Callable[[Path], Expect]] = {
    f.__name__: f
    for f in (
        missing_file,
        missing_votes_file,
        missing_column,
        renamed_column,
        empty_file,
        header_only,
        unknown_vote_code,
        unknown_chamber,
        conflicting_duplicate,
        non_utf8,
        nul_byte,
        truncated_last_line,
        session_folder_linked_outside,
        votes_file_linked_outside,
        unanimous,
    )
}

# --- running a case ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    root: Path
    expect: Expect
    exit_code: int
    stdout: str
    stderr: str
    after: support.Snapshot


def pipeline_args(root: Path, *extra: str) -> list[str]:
    return ["pipeline", "--data-dir", str(root / "data"), "--session", support.KEY, "--profile", "quick", *extra]


@pytest.fixture(scope="module")
def outcome(golden, tmp_path_factory):
    cache: dict[str, Outcome] = {}

    def get(name: str) -> Outcome:
        if name not in cache:
            root = support.clone(golden.root, tmp_path_factory.mktemp(name))
            expect = REJECTED[name](root / "data" / support.LEGISLATURE / support.SESSION)
            code, out, err = support.run_cli(pipeline_args(root, "--chamber", support.CHAMBER), root / "home")
            cache[name] = Outcome(root, expect, code, out, err, support.Snapshot.of(root / "home"))
        return cache[name]

    return get


@pytest.mark.parametrize("case", [name for name in REJECTED])
def test_bad_input_fails_with_a_message_naming_file_line_and_problem(case, outcome):
    result = outcome(case)
    assert result.exit_code == 2, (result.exit_code, result.stderr[-2000:])
    message = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(message) == 1, result.stderr[-2000:]
    for fragment in result.expect.fragments:
        assert fragment in message[0], (fragment, message[0])
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", list(REJECTED))
def test_bad_input_leaves_the_last_good_partition_untouched(case, outcome, golden):
    result = outcome(case)
    assert result.exit_code == 2
    assert golden.snapshot.differences(result.after) == []


# --- without --chamber: the CLI finds the chambers itself from the roll-call file --------------------


def _non_utf8_rollcall(d: Path) -> None:
    header, rows = read_rows(csv_path(d, "rollcalls"))
    rows[5]["bill_title"] = "@@LATIN1@@"
    write_rows(csv_path(d, "rollcalls"), header, rows)
    path = csv_path(d, "rollcalls")
    path.write_bytes(path.read_bytes().replace(b"@@LATIN1@@", "Stra\u00dfe".encode("latin-1")))


NO_CHAMBER = {
    "missing_rollcalls_file": (lambda d: csv_path(d, "rollcalls").unlink(), [ROLLCALLS, "file not found"]),
    "empty_rollcalls_file": (lambda d: csv_path(d, "rollcalls").write_bytes(b""), [ROLLCALLS, "empty"]),
    "header_only_rollcalls_file": (header_only, [ROLLCALLS, "no data rows"]),
    "renamed_chamber_column": (
        lambda d: csv_path(d, "rollcalls").write_bytes(
            csv_path(d, "rollcalls").read_bytes().replace(b",chamber,", b",Chamber,", 1)
        ),
        [ROLLCALLS, "line 1", "missing required column 'chamber'"],
    ),
    "non_utf8_rollcalls_file": (_non_utf8_rollcall, [ROLLCALLS, f"line {line_of(5)}", "not valid UTF-8"]),
}


@pytest.mark.parametrize("case", [name for name in NO_CHAMBER])
def test_bad_rollcall_file_without_chamber_option_fails_clearly(case, golden, tmp_path):
    """Without --chamber the CLI first looks for the chambers in the roll-call file; a bad file
    must still end in the reader's precise error, not a traceback or a silent success."""
    root = support.clone(golden.root, tmp_path)
    corrupt, fragments = NO_CHAMBER[case]
    corrupt(root / "data" / support.LEGISLATURE / support.SESSION)
    try:
        code, _, err = support.run_cli(pipeline_args(root), root / "home")
    except Exception as exc:  # noqa: BLE001 - what the user gets is a traceback
        pytest.fail(f"the CLI raised {type(exc).__name__}: {exc}")
    assert code == 2, (code, err[-1500:])
    for fragment in fragments:
        assert fragment in err
    assert golden.snapshot.differences(support.Snapshot.of(root / "home")) == []


# --- problems that are reported, not fatal ---------------------------------------------------------


def _steps(root: Path, steps: tuple[str, ...]):
    pipe = Pipeline(golden_settings(root / "data", root / "home", profile="quick"))
    return pipe, pipe.run(Partition.of(support.KEY, support.CHAMBER), steps=steps)


def test_legislator_missing_from_legislator_file_fails_the_input_check_naming_file_and_line(golden, tmp_path):
    """DATA.md: their votes are kept (as an Independent) and the problem is reported: the
    `no_input_problems` check fails with the file and line in its metadata and ingest_problems holds it."""
    root = support.clone(golden.root, tmp_path)
    d = root / "data" / support.LEGISLATURE / support.SESSION
    header, legislators = read_rows(csv_path(d, "legislators"))
    gone = next(r for r in legislators if r["legislator_slug"] not in golden.hostile.legislators)
    write_rows(csv_path(d, "legislators"), header, [r for r in legislators if r is not gone])
    _, votes = read_rows(csv_path(d, "votes"))
    first = line_of(next(i for i, v in enumerate(votes) if v["legislator_slug"] == gone["legislator_slug"]))

    pipe, out = _steps(root, ("ingest", "vote_matrix"))
    check = next(c for c in out["ingest"].checks if c.name == "no_input_problems")
    expected = (
        f"{csv_path(d, 'votes')}, line {first}, column 'legislator_slug': legislator "
        f"{gone['legislator_slug']!r} is not in {LEGISLATORS}"
    )
    assert not check.passed
    assert check.metadata["problems"] == 1
    assert expected in check.metadata["first_problems"]
    stored = pipe.warehouse.read_partition(T_PROBLEMS, golden.part.key, golden.part.chamber)["problem"].to_list()
    assert len(stored) == 1 and stored[0].startswith(expected)
    kept = pipe.warehouse.read_partition("matrix_legislators", golden.part.key, golden.part.chamber)
    assert kept.filter(kept["legislator_slug"] == gone["legislator_slug"])["party"].to_list() == ["Independent"]


def test_legislator_with_no_votes_left_is_dropped_and_named_in_the_manifest(golden, tmp_path):
    root = support.clone(golden.root, tmp_path)
    d = root / "data" / support.LEGISLATURE / support.SESSION
    header, votes = read_rows(csv_path(d, "votes"))
    slug = votes[0]["legislator_slug"]
    for v in votes:
        if v["legislator_slug"] == slug:
            v["vote"] = "Absent and Not Voting"
    write_rows(csv_path(d, "votes"), header, votes)
    support.fix_counts(d)

    pipe, out = _steps(root, ("ingest", "vote_matrix"))
    assert out["vote_matrix"].metadata["legislators_dropped_too_few_votes"] == 1
    manifest = json.loads(
        pipe.warehouse.read_partition(T_MANIFEST, golden.part.key, golden.part.chamber)["manifest_json"][0]
    )
    assert manifest["legislators_dropped"] == [slug]
    matrix = pipe.warehouse.read_partition("matrix_legislators", golden.part.key, golden.part.chamber)
    assert slug not in matrix["legislator_slug"].to_list()


def test_legislator_without_any_vote_row_is_reported(golden, tmp_path):
    root = support.clone(golden.root, tmp_path)
    d = root / "data" / support.LEGISLATURE / support.SESSION
    header, votes = read_rows(csv_path(d, "votes"))
    slug = votes[0]["legislator_slug"]
    write_rows(csv_path(d, "votes"), header, [v for v in votes if v["legislator_slug"] != slug])
    support.fix_counts(d)

    pipe, out = _steps(root, ("ingest", "vote_matrix"))
    legislators = pipe.warehouse.read_partition("legislators", golden.part.key, golden.part.chamber)
    assert slug in legislators["legislator_slug"].to_list()  # ingested ...
    manifest = json.loads(
        pipe.warehouse.read_partition(T_MANIFEST, golden.part.key, golden.part.chamber)["manifest_json"][0]
    )
    problems = pipe.warehouse.read_partition(T_PROBLEMS, golden.part.key, golden.part.chamber)["problem"].to_list()
    # ... and then named somewhere a user looks: the manifest (report, metadata) or the input problems
    assert slug in manifest["legislators_dropped"] or any(slug in p for p in problems)


# --- the same through Dagster ----------------------------------------------------------------------


def test_bad_input_through_dagster_fails_the_votes_step_naming_file_and_line(golden, tmp_path):
    """`legis-assets run` materializes the assets with Dagster: the ingest step (asset `votes`) fails with the same
    message, nothing downstream runs, and the last good partition is untouched."""
    root = support.clone(golden.root, tmp_path)
    expect = unknown_vote_code(root / "data" / support.LEGISLATURE / support.SESSION)
    code, out, err = support.run_cli(
        [
            "run",
            "--data-dir",
            str(root / "data"),
            "--session",
            support.KEY,
            "--chamber",
            support.CHAMBER,
            "--profile",
            "quick",
        ],
        root / "home",
    )
    assert code == 2, (out[-2000:], err[-2000:])  # refused input: the same exit code as `pipeline`
    failures = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(failures) == 1 and "Stack Trace" not in err and "dagster._core" not in out + err, err[-3000:]
    for fragment in expect.fragments:
        assert fragment in failures[0], (fragment, failures[0])
    after = support.Snapshot.of(root / "home")
    # the Dagster instance and the command's log file (logs/run-*.log) are the only new files
    assert any(k.startswith("logs/run-") for k in after.files)
    after = support.Snapshot(
        after.tables, {k: v for k, v in after.files.items() if not k.startswith(("dagster_home/", "logs/"))}
    )
    assert golden.snapshot.differences(after) == []
