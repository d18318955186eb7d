"""LEGIS_HOME, the storage root, as a path or a URI (storage.storage_root; deploy/README.md)."""

from pathlib import Path

import pytest

from legis_assets.core.schema import LegisError
from legis_assets.pipeline import Settings
from legis_assets.storage import legis_home, storage_root


def test_paths_and_file_uris_name_the_same_directory(tmp_path):
    assert storage_root(str(tmp_path)) == tmp_path.resolve()
    assert storage_root(tmp_path.resolve().as_uri()) == tmp_path.resolve()
    assert storage_root("relative/home") == Path("relative/home").resolve()


def test_settings_follow_a_file_uri(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGIS_HOME", (tmp_path / "shared" / "legis").as_uri())
    assert legis_home() == tmp_path / "shared" / "legis"
    assert Settings.from_env().warehouse_path == tmp_path / "shared" / "legis" / "warehouse.duckdb"


@pytest.mark.parametrize("uri", ["s3://bucket/legis", "gs://bucket/legis", "az://container/legis"])
def test_object_store_uris_are_refused_with_the_reason(uri, monkeypatch):
    monkeypatch.setenv("LEGIS_HOME", uri)
    with pytest.raises(LegisError, match="LEGIS_HOME"):
        legis_home()
