"""The person table: identity rule, session order, override file and its errors, real data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from legis_assets.core import people
from legis_assets.core.schema import InputError, InvalidSessionKey, LegisError
from legis_assets_tests.support import legislators_frame, needs_shared, real_legislators, real_votes


def _person(table: pl.DataFrame, slug: str, session_key: str | None = None) -> str:
    rows = table.filter(pl.col("legislator_slug") == slug)
    if session_key is not None:
        rows = rows.filter(pl.col("session_key") == session_key)
    ids = rows["person_id"].unique().to_list()
    assert len(ids) == 1, (slug, ids)
    return ids[0]


#: three chamber-sessions of a small legislature (US-style slugs: the trailing id is the person)
TOY = [
    ("toy.97th_1981-1982", "house", legislators_frame("rep_blunt_roy_29735", "rep_lone_ann_1", "rep_jeff_jim_14240")),
    ("toy.97th_1981-1982", "senate", legislators_frame("sen_old_bob_7")),
    (
        "toy.107th_2001-2002",
        "senate",
        legislators_frame(
            "sen_blunt_roy_29735",
            "sen_old_bob_7",
            "sen_jeff_jim_14240",
            "sen_jeff_jim_94240",
            party={"sen_jeff_jim_94240": "Independent"},
        ),
    ),
]


def _write(tmp_path: Path, text: str, name: str = "people_overrides.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the identity rule -------------------------------------------------------------------------


def test_slug_without_chamber_prefix_links_house_and_senate():
    table = people.build_people(TOY)
    assert table.columns == list(people.PEOPLE_COLUMNS)
    assert _person(table, "rep_blunt_roy_29735") == _person(table, "sen_blunt_roy_29735") == "slug:blunt_roy_29735"
    assert _person(table, "sen_old_bob_7", "toy.97th_1981-1982") == _person(
        table, "sen_old_bob_7", "toy.107th_2001-2002"
    )
    # a party switcher with a new id stays two people
    assert _person(table, "sen_jeff_jim_14240") != _person(table, "sen_jeff_jim_94240")
    assert _person(table, "rep_jeff_jim_14240") == _person(table, "sen_jeff_jim_14240")
    assert table.height == 8 and table["person_id"].n_unique() == 5
    assert set(table["identity"]) == {"slug"}
    # one row per (person, session, chamber, slug), with name and party carried along
    assert not table.select("person_id", "session_key", "chamber", "legislator_slug").is_duplicated().any()
    row = table.filter(pl.col("legislator_slug") == "sen_jeff_jim_94240").row(0, named=True)
    assert row["party"] == "Independent" and row["name"] == "Jeff" and row["legislature"] == "toy"
    assert row["session"] == "107th_2001-2002" and row["chamber"] == "senate"


def test_ocd_id_wins_over_the_slug_and_fills_rows_without_it():
    frames = [
        # different slug stems, same ocd id: one person (a name change or a new slug)
        (
            "ca.2017-2018",
            "house",
            legislators_frame(
                "rep_melendez_melissa_1",
                "rep_same_name_1",
                ocd={"rep_melendez_melissa_1": "ocd-person/aaa", "rep_same_name_1": "ocd-person/x1"},
            ),
        ),
        (
            "ca.2019-2020",
            "senate",
            legislators_frame(
                "sen_melendez_melissa_2",
                "sen_same_name_1",
                "sen_other_eve_1",
                ocd={"sen_melendez_melissa_2": "ocd-person/aaa", "sen_same_name_1": "ocd-person/x2"},
            ),
        ),
        # an older file without ocd ids: the stem takes the ocd id it has elsewhere, if unambiguous
        ("ca.2015-2016", "house", legislators_frame("rep_melendez_melissa_1", "rep_same_name_1", "rep_other_eve_1")),
    ]
    table = people.build_people(frames)
    assert _person(table, "rep_melendez_melissa_1", "ca.2017-2018") == "ocd:ocd-person/aaa"
    assert _person(table, "sen_melendez_melissa_2") == "ocd:ocd-person/aaa"
    assert _person(table, "rep_melendez_melissa_1", "ca.2015-2016") == "ocd:ocd-person/aaa"
    # same stem, two different ocd ids: two people, and the row without ocd id stays a slug person
    assert _person(table, "rep_same_name_1", "ca.2017-2018") == "ocd:ocd-person/x1"
    assert _person(table, "sen_same_name_1") == "ocd:ocd-person/x2"
    assert _person(table, "rep_same_name_1", "ca.2015-2016") == "slug:same_name_1"
    # no ocd id anywhere: the slug rule links the stems
    assert _person(table, "rep_other_eve_1") == _person(table, "sen_other_eve_1") == "slug:other_eve_1"
    identity = dict(zip(table["legislator_slug"] + "@" + table["session_key"], table["identity"]))
    assert identity["rep_melendez_melissa_1@ca.2015-2016"] == "ocd"
    assert identity["rep_other_eve_1@ca.2015-2016"] == "slug"
    # sessions in time order whatever the input order
    order = dict(zip(table["session_key"], table["session_order"]))
    assert order == {"ca.2015-2016": 0, "ca.2017-2018": 1, "ca.2019-2020": 2}
    assert table["session_order"].is_sorted()


def test_session_order_follows_the_years_in_the_name():
    keys = ["ks.91st_2025-2026", "ks.2024s", "ks.90th_2023-2024", "ks.84th_2011-2012"]
    assert sorted(keys, key=people.session_sort_key) == [
        "ks.84th_2011-2012",
        "ks.90th_2023-2024",
        "ks.2024s",
        "ks.91st_2025-2026",
    ]
    frames = [(k, "senate", legislators_frame("sen_a_b_1")) for k in keys]
    table = people.build_people(frames)
    order = dict(zip(table["session_key"], table["session_order"]))
    assert order == {"ks.84th_2011-2012": 0, "ks.90th_2023-2024": 1, "ks.2024s": 2, "ks.91st_2025-2026": 3}
    assert people.slug_stem("rep_blunt_roy_29735") == "blunt_roy_29735"
    assert people.slug_person_id("sen_blunt_roy_29735") == "slug:blunt_roy_29735"


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidSessionKey):
        people.build_people([("../etc", "house", legislators_frame("rep_a_b_1"))])
    with pytest.raises(LegisError, match="unknown chamber"):
        people.build_people([("ks.2025-2026", "assembly", legislators_frame("rep_a_b_1"))])
    with pytest.raises(LegisError, match="given twice"):
        people.build_people(
            [
                ("ks.2025-2026", "house", legislators_frame("rep_a_b_1")),
                ("ks.2025-2026", "House", legislators_frame("rep_c_d_1")),
            ]
        )
    with pytest.raises(LegisError, match="listed twice"):
        people.build_people([("ks.2025-2026", "house", legislators_frame("rep_a_b_1", "rep_a_b_1"))])
    # the older column name `slug` is accepted, and "House" is read as "house"
    table = people.build_people(
        [("ks.2025-2026", "House", legislators_frame("rep_a_b_1").rename({"legislator_slug": "slug"}))]
    )
    assert table["chamber"].to_list() == ["house"] and table["person_id"].to_list() == ["slug:a_b_1"]


# --- the override file -------------------------------------------------------------------------


def test_merge_by_slug_and_by_person_id(tmp_path):
    path = _write(tmp_path, "action,id,other_id,note\nmerge,rep_lone_ann_1,slug:old_bob_7,same woman (test)\n")
    table = people.build_people(TOY, overrides=path)
    assert (
        _person(table, "rep_lone_ann_1") == _person(table, "sen_old_bob_7", "toy.107th_2001-2002") == "slug:lone_ann_1"
    )
    assert set(table.filter(pl.col("person_id") == "slug:lone_ann_1")["identity"]) == {"override", "slug"}
    assert table["person_id"].n_unique() == 4


def test_merges_are_transitive_and_keep_the_first_id(tmp_path):
    frames = [
        ("toy.2001-2002", "house", legislators_frame("rep_c_x_3", "rep_d_y_4")),
        ("toy.2003-2004", "house", legislators_frame("rep_b_y_2", "rep_e_z_5")),
        ("toy.2005-2006", "senate", legislators_frame("sen_a_z_1")),
    ]
    path = _write(
        tmp_path,
        "action,id,other_id\n"
        "merge,rep_c_x_3,rep_b_y_2\n"
        "# a comment line, then a blank line\n\n"
        "merge,slug:b_y_2,sen_a_z_1\n",
    )
    table = people.build_people(frames, overrides=path)
    assert {_person(table, s) for s in ("rep_c_x_3", "rep_b_y_2", "sen_a_z_1")} == {"slug:a_z_1"}
    assert table["person_id"].n_unique() == 3
    # a later line that makes two members of one chamber-session one person is named
    clash = _write(
        tmp_path,
        "action,id,other_id\nmerge,rep_c_x_3,rep_b_y_2\nmerge,sen_a_z_1,rep_e_z_5\nmerge,rep_b_y_2,rep_d_y_4\n",
        "clash.csv",
    )
    with pytest.raises(InputError) as info:
        people.build_people(frames, overrides=clash)
    assert info.value.row == 4 and "'rep_c_x_3' and 'rep_d_y_4' both sat in toy.2001-2002 house" in info.value.problem


def test_split_a_slug_everywhere_or_in_one_session(tmp_path):
    everywhere = _write(tmp_path, "action,id,other_id\nsplit,sen_old_bob_7,\n", "a.csv")
    table = people.build_people(TOY, overrides=everywhere)
    assert _person(table, "sen_old_bob_7") == "split:sen_old_bob_7"
    one = _write(tmp_path, "action,id,other_id\nsplit,sen_old_bob_7,toy.107th_2001-2002\n", "b.csv")
    table = people.build_people(TOY, overrides=one)
    assert _person(table, "sen_old_bob_7", "toy.97th_1981-1982") == "slug:old_bob_7"
    assert _person(table, "sen_old_bob_7", "toy.107th_2001-2002") == "split:toy.107th_2001-2002:sen_old_bob_7"
    # the rest is untouched
    assert _person(table, "rep_blunt_roy_29735") == _person(table, "sen_blunt_roy_29735")
    # split first, then merge the split part with someone else
    both = _write(
        tmp_path, "action,id,other_id\nmerge,split:sen_old_bob_7,rep_lone_ann_1\nsplit,sen_old_bob_7,\n", "c.csv"
    )
    table = people.build_people(TOY, overrides=both)
    assert _person(table, "sen_old_bob_7") == _person(table, "rep_lone_ann_1")


def test_merging_two_seats_of_one_chamber_session_is_refused_unless_votes_show_they_never_overlapped(tmp_path):
    path = _write(tmp_path, "action,id,other_id\nmerge,sen_jeff_jim_14240,sen_jeff_jim_94240\n")
    with pytest.raises(InputError) as info:
        people.build_people(TOY, overrides=path)
    err = info.value
    assert err.file == str(path) and err.row == 2
    assert (
        "sen_jeff_jim_14240" in err.problem
        and "same time" in err.problem
        and "toy.107th_2001-2002 senate" in err.problem
    )
    key = ("toy.107th_2001-2002", "senate")
    # votes: the two ids never voted on the same roll call (a mid-session party switch) -> allowed
    apart = pl.DataFrame(
        {
            "vote_id": ["v1", "v2", "v3", "v4"],
            "legislator_slug": ["sen_jeff_jim_14240", "sen_jeff_jim_14240", "sen_jeff_jim_94240", "sen_jeff_jim_94240"],
        }
    )
    table = people.build_people(TOY, overrides=path, votes={key: apart})
    assert _person(table, "sen_jeff_jim_94240") == _person(table, "rep_jeff_jim_14240") == "slug:jeff_jim_14240"
    assert table.filter((pl.col("person_id") == "slug:jeff_jim_14240") & (pl.col("session_key") == key[0])).height == 2
    # ... but a common roll call means two seats at once -> refused
    together = apart.with_columns(pl.Series("vote_id", ["v1", "v2", "v2", "v4"]))
    with pytest.raises(InputError, match="same time"):
        people.build_people(TOY, overrides=path, votes={key: together})


@pytest.mark.parametrize(
    "text, line, message",
    [
        (
            "action,id,other_id\nmerge,rep_lone_ann_1,sen_old_bob_7\nrename,rep_lone_ann_1,x\n",
            3,
            "unknown action 'rename'",
        ),
        ("action,id,other_id\nmerge,rep_lone_ann_1\n", 2, "has 2 fields but the header has 3"),
        ("action,id,other_id,note\nmerge,rep_lone_ann_1,sen_old_bob_7\n", 2, "has 3 fields but the header has 4"),
        ("action,id,other_id\nmerge,rep_lone_ann_1,sen_nobody_0\n", 2, "'sen_nobody_0', which is neither a person id"),
        ("action,id,other_id\nmerge,slug:ghost_9,rep_lone_ann_1\n", 2, "'slug:ghost_9'"),
        ("action,id,other_id\nsplit,rep_ghost_9,\n", 2, "no legislator slug"),
        ("action,id,other_id\nsplit,sen_old_bob_7,toy.1999-2000\n", 2, "not in that session"),
        ("action,id,other_id\nsplit,sen_old_bob_7,not a key\n", 2, "session key"),
        ("action,id,other_id\nsplit,slug:old_bob_7,\n", 2, "split takes a legislator slug"),
        ("action,id,other_id\nmerge,rep_lone_ann_1,\n", 2, "needs two ids"),
        ("action,id,other_id\nmerge,,rep_lone_ann_1\n", 2, "empty id"),
        ("action,id,other_id\nmerge,rep_lone_ann_1,rep_lone_ann_1\n", 2, "with itself"),
        ("action,id,other_id\nmerge,rep_blunt_roy_29735,sen_blunt_roy_29735\n", 2, "already the same person"),
        (
            "id,action,other_id\nmerge,rep_lone_ann_1,sen_old_bob_7\n",
            1,
            "header line must start with 'action,id,other_id'",
        ),
        ("# only a comment\n", 1, "empty"),
        ('action,id,other_id\nmerge,"rep_lone_ann_1,sen_old_bob_7\n', 2, "not valid CSV"),
        # a quoted note spanning two lines: the next record's line number is still the physical line
        (
            'action,id,other_id,note\nmerge,rep_lone_ann_1,sen_old_bob_7,"two\nlines"\nmerge,sen_x_y_1,rep_lone_ann_1,\n',
            4,
            "'sen_x_y_1'",
        ),
    ],
)
def test_bad_override_files_name_file_line_and_problem(tmp_path, text, line, message):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        people.build_people(TOY, overrides=path)
    assert info.value.file == str(path)
    assert info.value.row == line
    assert message in info.value.problem
    assert str(path) in str(info.value) and f"line {line}" in str(info.value)


def test_override_file_missing_or_not_utf8(tmp_path):
    with pytest.raises(InputError, match="not found"):
        people.read_overrides(tmp_path / "absent.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes("action,id,other_id\nmerge,rep_l\xe9on_1,rep_a_b_1\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        people.read_overrides(path)


def test_read_overrides_parses_actions_with_their_lines(tmp_path):
    path = _write(tmp_path, "\ufeffaction,id,other_id,note\nMERGE, rep_a_b_1 ,sen_a_c_1,x\nsplit,rep_a_b_1,,\n")
    parsed = people.read_overrides(path)
    assert [(o.action, o.id, o.other_id, o.line) for o in parsed] == [
        ("merge", "rep_a_b_1", "sen_a_c_1", 2),
        ("split", "rep_a_b_1", None, 3),
    ]


# --- the real data -------------------------------------------------------------------------------


@needs_shared
def test_chamber_inputs_cover_every_real_chamber_session():
    keys = [(key, chamber) for key, chamber, _ in real_legislators()]
    assert keys == [  # time order of the sessions, House before Senate
        ("us_congress.97th_1981-1982", "house"),
        ("us_congress.97th_1981-1982", "senate"),
        ("us_congress.107th_2001-2002", "senate"),
        ("california.2017-2018", "house"),
        ("california.2017-2018", "senate"),
        ("california.2019-2020", "senate"),
        ("us_congress.117th_2021-2022", "house"),
        ("us_congress.117th_2021-2022", "senate"),
    ]
    assert sorted(keys) == sorted(real_votes())
    sizes = {f"{key}:{chamber}": frame.height for key, chamber, frame in real_legislators()}
    assert sizes["us_congress.117th_2021-2022:house"] == 455 and sizes["california.2019-2020:senate"] == 43
    assert real_votes()[("us_congress.117th_2021-2022", "senate")].height == 94898


@needs_shared
def test_real_person_tables():
    table = people.build_people(list(real_legislators()))
    # one row per legislator row of every chamber-session (README: 442+101+102+455+102 and 85+42+43)
    sizes = table.group_by("legislature").len()
    assert dict(zip(sizes["legislature"], sizes["len"])) == {"us_congress": 1202, "california": 170}
    ident = table.group_by("legislature").agg(pl.col("identity").unique())
    assert {r["legislature"]: sorted(r["identity"]) for r in ident.iter_rows(named=True)} == {
        "us_congress": ["slug"],
        "california": ["ocd"],
    }
    # Jeffords: House 1981 and Senate 2001 under one ICPSR id, a second person after his party switch
    us = table.filter(pl.col("legislature") == "us_congress")
    assert _person(us, "rep_jeffords_james_14240") == _person(us, "sen_jeffords_james_14240")
    assert _person(us, "sen_jeffords_james_94240") != _person(us, "sen_jeffords_james_14240")
    # California: Melendez and Dahle moved from the Assembly (2017-18) to the Senate (2019-20)
    ca = table.filter(pl.col("legislature") == "california")
    for surname in ("melendez", "dahle"):
        rows = ca.filter(pl.col("name").str.to_lowercase() == surname)
        assert rows["person_id"].n_unique() == 1, rows
        assert set(zip(rows["session"], rows["chamber"])) == {("2017-2018", "house"), ("2019-2020", "senate")}
    assert ca.filter(pl.col("name") == "Mayes")["party"].to_list() == ["Independent"]
    order = dict(zip(table["session_key"], table["session_order"]))
    assert (
        order["us_congress.97th_1981-1982"]
        < order["us_congress.107th_2001-2002"]
        < order["us_congress.117th_2021-2022"]
    )
    assert order["california.2017-2018"] < order["california.2019-2020"]


@needs_shared
def test_real_party_switcher_can_be_merged_because_his_two_ids_never_voted_together(tmp_path):
    path = _write(
        tmp_path,
        "action,id,other_id,note\nmerge,sen_jeffords_james_14240,sen_jeffords_james_94240,party switch June 2001\n",
    )
    legislators = [f for f in real_legislators() if f[0].startswith("us_congress.")]
    with pytest.raises(InputError, match="same time"):
        people.build_people(legislators, overrides=path)  # without votes: refused
    table = people.build_people(legislators, overrides=path, votes=real_votes())
    jeffords = table.filter(pl.col("person_id") == "slug:jeffords_james_14240")
    assert sorted(jeffords["legislator_slug"]) == [
        "rep_jeffords_james_14240",
        "sen_jeffords_james_14240",
        "sen_jeffords_james_94240",
    ]
    # two real senators in one Senate cannot be merged, votes or not
    clash = _write(tmp_path, "action,id,other_id\nmerge,sen_akaka_daniel_14400,sen_allard_a_29108\n", "clash.csv")
    with pytest.raises(InputError, match="both sat in us_congress.107th_2001-2002 senate at the same time"):
        people.build_people(legislators, overrides=clash, votes=real_votes())
