import multiprocessing as mp
import os

import duckdb
import polars as pl
import pytest

from legis_assets.core.schema import LegisError, SessionKey
from legis_assets.storage import Warehouse, artifact_dir, file_sha256, write_atomic

KEY = SessionKey("kansas", "91st_2025-2026")
OTHER = SessionKey("kansas", "90th_2023-2024")


def test_replace_partition_replaces_only_that_partition(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("t", KEY, "house", pl.DataFrame({"a": [1, 2, 3]}))
    wh.replace_partition("t", KEY, "senate", pl.DataFrame({"a": [9]}))
    wh.replace_partition("t", OTHER, "house", pl.DataFrame({"a": [7]}))
    wh.replace_partition("t", KEY, "house", pl.DataFrame({"a": [4, 5]}))
    assert sorted(wh.read_partition("t", KEY, "house")["a"].to_list()) == [4, 5]
    assert wh.read_partition("t", KEY, "senate")["a"].to_list() == [9]
    assert wh.read_partition("t", OTHER, "house")["a"].to_list() == [7]
    total = wh.query("SELECT session_key, chamber, count(*) AS n FROM t GROUP BY ALL ORDER BY ALL")
    assert total.rows() == [
        ("kansas.90th_2023-2024", "house", 1),
        ("kansas.91st_2025-2026", "house", 2),
        ("kansas.91st_2025-2026", "senate", 1),
    ]


def test_new_columns_are_added_to_an_existing_table(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("t", KEY, "house", pl.DataFrame({"a": [1]}))
    wh.replace_partition("t", OTHER, "house", pl.DataFrame({"a": [2], "b": ["x"]}))
    assert wh.read_partition("t", OTHER, "house").row(0) == (2, "x")
    assert wh.read_partition("t", KEY, "house").row(0) == (1, None)


def test_failed_write_keeps_the_previous_rows(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("t", KEY, "house", pl.DataFrame({"a": [1, 2]}))
    with pytest.raises(duckdb.Error):  # incompatible type: the INSERT fails inside the transaction
        wh.replace_partition("t", KEY, "house", pl.DataFrame({"a": ["not an int"]}))
    assert sorted(wh.read_partition("t", KEY, "house")["a"].to_list()) == [1, 2]


def test_replace_scale_replaces_only_that_scale_adds_columns_and_keeps_rows_on_failure(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_scale("t", "kansas", pl.DataFrame({"a": [1, 2]}))
    wh.replace_scale("t", "us_congress", pl.DataFrame({"a": [9]}))
    assert wh.replace_scale("t", "kansas", pl.DataFrame({"a": [3], "b": ["x"]})) == 1
    assert wh.read_scale("t", "kansas").rows() == [(3, "x")]
    assert wh.read_scale("t", "us_congress").rows() == [(9, None)]
    with pytest.raises(duckdb.Error):
        wh.replace_scale("t", "kansas", pl.DataFrame({"a": ["not an int"]}))
    assert wh.read_scale("t", "kansas").rows() == [(3, "x")]
    with pytest.raises(LegisError, match="invalid scale name"):
        wh.replace_scale("t", "Bad Name", pl.DataFrame({"a": [1]}))


def test_hostile_table_names_are_refused(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    with pytest.raises(ValueError):
        wh.replace_partition('t"; DROP TABLE x; --', KEY, "house", pl.DataFrame({"a": [1]}))


def test_values_are_stored_verbatim(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    hostile = ["<script>alert(1)</script>", "Robert'); DROP TABLE votes;--", "שלום", "x" * 10_000, 'a "quote"']
    wh.replace_partition("t", KEY, "house", pl.DataFrame({"name": hostile}))
    assert wh.read_partition("t", KEY, "house")["name"].to_list() == hostile


def _writer(path, chamber, n):
    wh = Warehouse(path)
    for i in range(n):
        wh.replace_partition("t", KEY, chamber, pl.DataFrame({"i": list(range(i + 1))}))


def test_concurrent_writers_queue_on_the_lock(tmp_path):
    path = tmp_path / "w.duckdb"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, c, 15)) for c in ("house", "senate", "house")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    wh = Warehouse(path)
    assert len(wh.read_partition("t", KEY, "house")) == 15  # the last complete write, no duplicates
    assert len(wh.read_partition("t", KEY, "senate")) == 15


def test_write_atomic_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "a" / "trace.nc"
    digest = write_atomic(path, lambda tmp: tmp.write_bytes(b"good"))
    assert digest == file_sha256(path)

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        write_atomic(path, broken)
    assert path.read_bytes() == b"good"
    assert os.listdir(path.parent) == ["trace.nc"]


def test_artifact_dir_is_inside_home(tmp_path):
    assert artifact_dir("traces", KEY, "house", tmp_path) == tmp_path / "traces" / "kansas" / "91st_2025-2026" / "house"
    with pytest.raises(LegisError):
        artifact_dir("traces", KEY, "../x", tmp_path)


# --- the published posterior pair (TraceStore) ----------------------------------------------------

from legis_assets import storage  # noqa: E402
from legis_assets.core.schema import DataProblem  # noqa: E402
from legis_assets.storage import FLAT, HIER, ArtifactMismatch, TraceStore  # noqa: E402


def _run(store: TraceStore, tag: str, hier: bool = True) -> tuple[str, str | None]:
    """Write one run's candidates (stand-in bytes for the traces); returns their sha256."""
    _, flat_sha = store.write_candidate(FLAT, lambda tmp: tmp.write_bytes(f"flat {tag}".encode()))
    hier_sha = None
    if hier:
        _, hier_sha = store.write_candidate(HIER, lambda tmp: tmp.write_bytes(f"hier {tag}".encode()))
    return flat_sha, hier_sha


def _publish(store: TraceStore, tag: str, hier: bool = True) -> dict:
    flat_sha, hier_sha = _run(store, tag, hier)
    return store.promote({"run_id": tag, "hierarchical_fitted": hier}, flat_sha, hier_sha)


def test_promotion_publishes_both_traces_together(tmp_path):
    store = TraceStore(tmp_path)
    _publish(store, "run1")
    assert store.path(FLAT).read_bytes() == b"flat run1" and store.path(HIER).read_bytes() == b"hier run1"
    assert not store.candidate(FLAT).exists() and not store.candidate(HIER).exists()
    manifest = store.published()
    assert manifest["run_id"] == "run1"
    assert manifest["files"] == {FLAT: file_sha256(store.path(FLAT)), HIER: file_sha256(store.path(HIER))}


def test_a_failed_run_goes_beside_the_published_pair(tmp_path):
    store = TraceStore(tmp_path)
    _publish(store, "good")
    good = {n: file_sha256(store.path(n)) for n in (FLAT, HIER)}
    _run(store, "starved", hier=False)
    store.set_aside(FLAT)
    assert {n: file_sha256(store.path(n)) for n in (FLAT, HIER)} == good
    assert store.failed(FLAT).read_bytes() == b"flat starved" and not store.candidate(FLAT).exists()
    assert store.published()["run_id"] == "good"
    # the next passing run supersedes the failed files
    _publish(store, "better")
    assert not store.failed(FLAT).exists() and store.published()["run_id"] == "better"


def test_a_trace_copied_from_another_run_is_refused_naming_both_files(tmp_path):
    other = TraceStore(tmp_path / "other")
    _publish(other, "other run")
    store = TraceStore(tmp_path / "this")
    _publish(store, "this run")
    store.path(HIER).write_bytes(other.path(HIER).read_bytes())
    with pytest.raises(ArtifactMismatch) as err:
        store.published()
    assert str(store.path(FLAT)) in str(err.value) and str(store.path(HIER)) in str(err.value)
    assert "do not belong together" in str(err.value)


@pytest.mark.parametrize("crash_after", [0, 1])
def test_a_promotion_killed_after_its_commit_is_completed_by_the_next_reader(tmp_path, monkeypatch, crash_after):
    """A crash after the manifest (the commit point) was written, before both candidates were moved
    (none or one of them): the published files disagree with the manifest, and the next reader
    finishes the promotion instead of mixing the pair."""
    store = TraceStore(tmp_path)
    _publish(store, "old")
    real_replace, calls = os.replace, []

    def crashing_replace(src, dst):
        if os.path.basename(src) in (store.candidate(FLAT).name, store.candidate(HIER).name):
            calls.append(dst)
            if len(calls) > crash_after:
                raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", crashing_replace)
    with pytest.raises(KeyboardInterrupt):
        _publish(store, "new")
    monkeypatch.setattr(storage.os, "replace", real_replace)
    assert store.manifest()["run_id"] == "new"
    assert store.path(FLAT).read_bytes() == (b"flat new" if crash_after else b"flat old")
    manifest = TraceStore(tmp_path).published()
    assert manifest["run_id"] == "new"
    assert store.path(FLAT).read_bytes() == b"flat new" and store.path(HIER).read_bytes() == b"hier new"


def test_a_promotion_killed_before_its_commit_keeps_the_previous_pair(tmp_path, monkeypatch):
    store = TraceStore(tmp_path)
    _publish(store, "old")
    flat_sha, hier_sha = _run(store, "new")

    def killed(path, write):  # the manifest never reaches its name
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(storage, "write_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        store.promote({"run_id": "new"}, flat_sha, hier_sha)
    monkeypatch.undo()
    assert store.published()["run_id"] == "old"
    assert store.path(FLAT).read_bytes() == b"flat old" and store.path(HIER).read_bytes() == b"hier old"


def test_a_flat_only_pair_removes_the_earlier_hierarchical_trace(tmp_path):
    store = TraceStore(tmp_path)
    _publish(store, "two parties")
    _publish(store, "one party", hier=False)
    assert not store.path(HIER).exists()
    assert store.published()["files"] == {FLAT: file_sha256(store.path(FLAT))}


def test_traces_without_a_manifest_are_refused_and_nothing_published_says_so(tmp_path):
    store = TraceStore(tmp_path)
    with pytest.raises(DataProblem, match="materialize flat_posterior"):
        store.published()
    store.path(FLAT).write_bytes(b"legacy flat")
    store.path(HIER).write_bytes(b"legacy hier")
    with pytest.raises(ArtifactMismatch, match="no record of the run"):
        store.published()
