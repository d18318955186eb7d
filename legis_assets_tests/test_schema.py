from pathlib import Path

import pytest

from legis_assets.core.schema import InputError, InvalidSessionKey, LegisError, SessionKey, validate_chamber


@pytest.mark.parametrize(
    "key", ["kansas.91st_2025-2026", "us_congress.117th_2021-2022", "california.2019-2020", "kansas.2024s"]
)
def test_valid_session_keys_round_trip(key):
    parsed = SessionKey.parse(key)
    assert parsed.key == key
    assert parsed.directory(Path("/data")) == Path("/data") / parsed.legislature / parsed.session


@pytest.mark.parametrize(
    "key",
    [
        "../../etc",
        "kansas/../..",
        "kansas..91st",
        "kansas.91st/../x",
        "Kansas.91st",
        "kansas.",
        ".91st",
        "kansas.91st\n",
        "kansas.91 st",
        "",
        "kansas.a|b",
        "x" * 50 + ".91st",
    ],
)
def test_hostile_session_keys_are_refused(key):
    with pytest.raises(InvalidSessionKey) as err:
        SessionKey.parse(key)
    assert "invalid" in str(err.value)


def test_session_key_constructor_validates_parts():
    with pytest.raises(InvalidSessionKey):
        SessionKey("kansas", "../etc")
    with pytest.raises(InvalidSessionKey):
        SessionKey("../kansas", "91st")


def test_chamber_validation():
    assert validate_chamber("house") == "house"
    with pytest.raises(LegisError):
        validate_chamber("House")


def test_input_error_names_file_line_column_and_problem():
    err = InputError("x_votes.csv", "unknown vote code 'Yes'", row=12, column="vote")
    assert str(err) == "x_votes.csv, line 12, column 'vote': unknown vote code 'Yes'"
    assert (err.file, err.row, err.column) == ("x_votes.csv", 12, "vote")
