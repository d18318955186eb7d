import multiprocessing as mp
import os

import polars as pl
import pytest

from legis_assets.core.schema import SessionKey
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
    assert total.rows() == [("kansas.90th_2023-2024", "house", 1), ("kansas.91st_2025-2026", "house", 2),
                            ("kansas.91st_2025-2026", "senate", 1)]


def test_new_columns_are_added_to_an_existing_table(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("t", KEY, "house", pl.DataFrame({"a": [1]}))
    wh.replace_partition("t", OTHER, "house", pl.DataFrame({"a": [2], "b": ["x"]}))
    assert wh.read_partition("t", OTHER, "house").row(0) == (2, "x")
    assert wh.read_partition("t", KEY, "house").row(0) == (1, None)


def test_failed_write_keeps_the_previous_rows(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("t", KEY, "house", pl.DataFrame({"a": [1, 2]}))
    with pytest.raises(Exception):  # incompatible type: the INSERT fails inside the transaction
        wh.replace_partition("t", KEY, "house", pl.DataFrame({"a": ["not an int"]}))
    assert sorted(wh.read_partition("t", KEY, "house")["a"].to_list()) == [1, 2]


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
    with pytest.raises(Exception):
        artifact_dir("traces", KEY, "../x", tmp_path)
