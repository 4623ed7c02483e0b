"""Scenario files: loading, extends chains, overrides, validation messages, schema."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from sn_sim.errors import ScenarioError
from sn_sim.scenario import load_scenario, scenario_json_schema

from conftest import SCENARIOS, TINY_TOML, write_scenario

SHIPPED = sorted(SCENARIOS.glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates(path):
    s = load_scenario(path)
    assert s.name
    assert sum(d.neighbourhoods for d in s.districts) >= sum(c.neighbourhoods for c in s.strategy.rollout)


def test_national_rollout_is_the_reported_one():
    s = load_scenario(SCENARIOS / "national_rollout.toml")
    assert sum(d.neighbourhoods for d in s.districts) == 148
    assert [(c.year, c.neighbourhoods) for c in s.strategy.rollout] == [(2016, 5), (2017, 18), (2018, 30), (2019, 38)]


def test_missing_sections_take_documented_defaults(tiny_path):
    s = load_scenario(tiny_path)
    assert s.name == "tiny"
    assert s.crime.offending_rate == pytest.approx(scenario_json_schema()["$defs"]["Crime"]["properties"]
                                                   ["offending_rate"]["default"])
    assert s.population.scale == 0.03
    assert s.calendar.start == dt.date(2016, 1, 4)


def test_name_defaults_to_the_file_stem(tmp_path):
    text = TINY_TOML.replace('name = "tiny"\n', "")
    s = load_scenario(write_scenario(tmp_path, text, "my_variant.toml"))
    assert s.name == "my_variant"


# --- extends -------------------------------------------------------------------------------------------


def test_extends_child_overrides_parent_and_inherits_the_rest(tmp_path):
    write_scenario(tmp_path, TINY_TOML + "\n[crime]\noffending_rate = 0.05\nfemale_factor = 0.3\n", "parent.toml")
    child_dir = tmp_path / "variants"
    write_scenario(child_dir, textwrap.dedent("""\
        extends = "../parent.toml"
        name = "child"
        [crime]
        offending_rate = 0.07
        [budget]
        usd_per_year = 123456
        """), "child.toml")
    parent = load_scenario(tmp_path / "parent.toml")
    child = load_scenario(child_dir / "child.toml")
    assert child.name == "child" and parent.name == "tiny"
    assert child.crime.offending_rate == 0.07 and parent.crime.offending_rate == 0.05
    assert child.crime.female_factor == 0.3  # tables merge key by key
    assert child.budget.usd_per_year == 123456
    assert child.budget.usd_per_neighbourhood_year == parent.budget.usd_per_neighbourhood_year
    assert [d.name for d in child.districts] == [d.name for d in parent.districts]
    assert child.digest() != parent.digest()


def test_extends_chains_of_three_resolve_in_order(tmp_path):
    write_scenario(tmp_path, TINY_TOML, "a.toml")
    write_scenario(tmp_path, 'extends = "a.toml"\n[crime]\noffending_rate = 0.06\nrepeat_boost = 0.5\n', "b.toml")
    write_scenario(tmp_path, 'extends = "b.toml"\nname = "c"\n[crime]\nrepeat_boost = 0.7\n', "c.toml")
    c = load_scenario(tmp_path / "c.toml")
    assert (c.crime.offending_rate, c.crime.repeat_boost, c.name) == (0.06, 0.7, "c")


def test_shipped_variants_change_only_what_they_say(tmp_path):
    base = load_scenario(SCENARIOS / "national_rollout.toml")
    police = load_scenario(SCENARIOS / "police_only.toml")
    assert (police.strategy.mix.police, police.strategy.mix.social, police.strategy.mix.community) == (1.0, 0.0, 0.0)
    assert police.strategy.rollout == base.strategy.rollout
    assert police.districts == base.districts


@pytest.mark.parametrize("files", [
    {"a.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "a.toml"\n'},
    {"a.toml": 'extends = "a.toml"\n'},
    {"a.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "c.toml"\n', "c.toml": 'extends = "a.toml"\n'},
], ids=["two", "self", "three"])
def test_circular_extends_is_a_clean_error(tmp_path, files):
    for name, text in files.items():
        write_scenario(tmp_path, text, name)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(tmp_path / "a.toml")
    msg = str(exc.value)
    assert "\n" not in msg
    assert "extends" in msg and "circular" in msg
    assert ".toml" in msg


def test_extends_of_a_missing_parent_names_it(tmp_path):
    write_scenario(tmp_path, 'extends = "nowhere.toml"\n', "child.toml")
    with pytest.raises(ScenarioError, match="nowhere.toml: file not found"):
        load_scenario(tmp_path / "child.toml")


# --- overrides -----------------------------------------------------------------------------------------


def test_set_overrides_parse_toml_values_at_any_depth(tiny_path):
    s = load_scenario(tiny_path, [
        "crime.offending_rate=0.05",
        "strategy.community_police=false",
        "calendar.end=2017-06-26",
        "strategy.rollout.1.neighbourhoods=4",
        'culture_points.districts=["Beta", "Gamma"]',
        "programs.labour.completion=0.9",
        "name=renamed",
    ])
    assert s.crime.offending_rate == 0.05
    assert s.strategy.community_police is False
    assert s.calendar.end == dt.date(2017, 6, 26)
    assert s.strategy.rollout[1].neighbourhoods == 4
    assert s.culture_points.districts == ["Beta", "Gamma"]
    assert s.programs["labour"].completion == 0.9
    assert s.name == "renamed"


def test_overrides_can_set_defaults_the_file_never_mentions(tiny_path):
    s = load_scenario(tiny_path, ["insecurity.victim_jump=0.5"])
    assert s.insecurity.victim_jump == 0.5


def test_overrides_change_the_scenario_hash_and_nothing_else(tiny_path):
    a, b = load_scenario(tiny_path), load_scenario(tiny_path)
    assert a.digest() == b.digest()
    c = load_scenario(tiny_path, ["crime.offending_rate=0.05"])
    assert c.digest() != a.digest()
    assert load_scenario(tiny_path).crime.offending_rate == a.crime.offending_rate  # files are not modified


@pytest.mark.parametrize("override, key", [
    ("crime.bogus=1", "crime.bogus"),
    ("bogus.offending_rate=1", "bogus.offending_rate"),
    ('crime.offending_rate="high"', "crime.offending_rate"),
    ("budget.usd_per_year=-1", "budget.usd_per_year"),
    ("population.scale=0", "population.scale"),
    ("strategy.mix.police=0.9", "strategy.mix"),
    ("strategy.rollout.1.neighbourhoods=30", "strategy.rollout"),
    ("strategy.rollout.7.neighbourhoods=1", "strategy.rollout.7"),
    ('culture_points.districts=["Nowhere"]', "culture_points.districts"),
    ('strategy.rollout.0.districts=["Alpha", "Nowhere"]', "strategy.rollout.0.districts"),
    ("programs.sport.share=0.1", "programs.sport"),
    ("calendar.end=2015-01-01", "calendar"),
])
def test_bad_overrides_name_the_file_and_the_key(tiny_path, override, key):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(tiny_path, [override])
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(str(tiny_path)), msg
    assert key in msg, msg


@pytest.mark.parametrize("patch, key", [
    (("[population]", "[population]\nbogus = 1"), "population.bogus"),
    (('scale = 0.03', 'scale = "tiny"'), "population.scale"),
    (("usd_per_year = 100000", "usd_per_year = -5"), "budget.usd_per_year"),
    (('name = "Gamma"', 'name = "Alpha"'), "districts"),
])
def test_bad_files_name_the_file_and_the_key(tmp_path, patch, key):
    old, new = patch
    assert old in TINY_TOML
    path = write_scenario(tmp_path, TINY_TOML.replace(old, new, 1), "bad.toml")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path)) and key in msg, msg


# --- schema --------------------------------------------------------------------------------------------


def test_schema_documents_every_numeric_parameter():
    schema = scenario_json_schema()
    missing = []
    checked = 0
    for model_name, d in schema["$defs"].items():
        for key, prop in d.get("properties", {}).items():
            if "description" not in prop:
                missing.append(f"{model_name}.{key}: description")
            if prop.get("type") in ("number", "integer") and (model_name, key) != ("Cohort", "year"):
                checked += 1
                for attr in ("unit", "source"):
                    if not prop.get(attr):
                        missing.append(f"{model_name}.{key}: {attr}")
    assert checked > 100
    assert not missing, missing


def test_schema_carries_ranges():
    crime = scenario_json_schema()["$defs"]["Crime"]["properties"]
    assert crime["offending_rate"]["exclusiveMinimum"] == 0
    assert crime["displacement_share"]["minimum"] == 0 and crime["displacement_share"]["maximum"] == 1


def test_district_names_match_whatever_their_accents_and_case(tiny_path):
    from sn_sim.scenario import load_scenario

    a = load_scenario(tiny_path, ['culture_points.districts=["ÁLPHA"]', 'strategy.rollout.0.districts=["alpha", "Béta "]'])
    b = load_scenario(tiny_path, ['culture_points.districts=["Alpha"]', 'strategy.rollout.0.districts=["Alpha", "Beta"]'])
    assert a.culture_points.districts == ["Alpha"]
    assert a.strategy.rollout[0].districts == ["Alpha", "Beta"]
    assert a.digest() == b.digest()  # the same scenario


def test_an_unknown_district_gets_a_suggestion(tiny_path):
    from sn_sim import ScenarioError
    from sn_sim.scenario import load_scenario

    with pytest.raises(ScenarioError, match=r"unknown district 'Alfa' \(did you mean 'Alpha'\?\)"):
        load_scenario(tiny_path, ['culture_points.districts=["Alfa"]'])
    with pytest.raises(ScenarioError, match=r"unknown district 'Quxnor'$"):
        load_scenario(tiny_path, ['culture_points.districts=["Quxnor"]'])


def test_the_readme_spelling_of_rimac_is_accepted():
    from sn_sim.scenario import load_scenario

    s = load_scenario("lima_culture_points", ['culture_points.districts=["Rímac", "comas"]'])
    assert s.culture_points.districts == ["Rimac", "Comas"]


# --- strict values, calendar, shares, files (issue 11) ------------------------------------------------


@pytest.mark.parametrize("override, message", [
    ("population.scale=true", "population.scale: expected a number, got true"),
    ('population.scale="0.02"', 'population.scale: expected a number, got "0.02" (write it without quotes)'),
    ('population.block_rows="6"', "population.block_rows: expected a whole number"),
    ("population.block_rows=6.0", "population.block_rows: expected a whole number, got 6.0"),
    ('districts.0.lima="no"', 'districts.0.lima: expected true or false, got "no"'),
    ("name=5", "name: expected a string in quotes, got 5"),
    ("calendar.end=2017-06-26T00:00:00", "calendar.end: expected a date like 2016-01-04"),
])
def test_values_are_never_converted_between_types(tiny_path, override, message):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(tiny_path, [override])
    assert str(exc.value).startswith(f"{tiny_path} --set: {message}"), str(exc.value)


def test_integers_are_numbers_and_numpy_values_are_python_values(tiny_path):
    import numpy as np

    a = load_scenario(tiny_path, ["population.scale=0.02", "budget.usd_per_year=100000"])
    assert a.population.scale == 0.02 and a.budget.usd_per_year == 100000.0
    b = a.with_overrides({"population.scale": np.float64(0.02), "police.extra_officers": np.int64(20),
                          "police.hot_zone_blocks": np.float64(6.0), "strategy.community_police": np.bool_(True)})
    assert b.digest() == a.digest()
    with pytest.raises(ScenarioError, match="police.extra_officers: expected a whole number, got 20.5"):
        a.with_overrides({"police.extra_officers": np.float64(20.5)})


def test_a_resolved_scenario_survives_a_json_round_trip(tiny_scenario):
    """Manifests and run tasks hold scenarios as JSON: dates come back as ISO strings."""
    import json

    from sn_sim.scenario import validate

    again = validate(json.loads(json.dumps(tiny_scenario.to_dict())))
    assert again.digest() == tiny_scenario.digest() and again.calendar.start == dt.date(2016, 1, 4)


def test_the_calendar_starts_on_a_monday(tiny_path):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(tiny_path, ["calendar.start=2016-01-10"])
    assert str(exc.value).endswith("calendar.start: 2016-01-10 is a Sunday; weeks start on a Monday "
                                   "(the nearest are 2016-01-04 and 2016-01-11)")


def test_shares_sum_to_one_within_a_millionth(tiny_path):
    s = load_scenario(tiny_path, ["strategy.mix.community=0.249999"])
    assert s.strategy.mix.community == 0.249999
    with pytest.raises(ScenarioError, match=r"they sum to 0\.99999, off by -1e-05; the tolerance is 1e-06"):
        load_scenario(tiny_path, ["strategy.mix.community=0.24999"])


def test_a_byte_order_mark_is_not_content(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + TINY_TOML.encode())
    assert load_scenario(path).digest() == load_scenario(write_scenario(tmp_path, TINY_TOML)).digest()


def test_extends_chains_are_limited_and_cycles_are_named(tmp_path):
    from sn_sim.scenario.loading import MAX_EXTENDS

    write_scenario(tmp_path, TINY_TOML, "c0.toml")
    for i in range(1, MAX_EXTENDS + 2):
        write_scenario(tmp_path, f'extends = "c{i - 1}.toml"\n', f"c{i}.toml")
    assert load_scenario(tmp_path / f"c{MAX_EXTENDS}.toml").name == "tiny"  # the longest chain allowed
    with pytest.raises(ScenarioError, match=f"extends: a chain of more than {MAX_EXTENDS} extends steps"):
        load_scenario(tmp_path / f"c{MAX_EXTENDS + 1}.toml")
    write_scenario(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write_scenario(tmp_path, 'extends = "a.toml"\n', "b.toml")
    with pytest.raises(ScenarioError, match=r"b\.toml: extends: circular chain a\.toml -> b\.toml -> a\.toml$"):
        load_scenario(tmp_path / "a.toml")


@pytest.mark.parametrize("parent, reason", [
    ("/dev/zero", "'/dev/zero' is neither a .toml file nor a shipped scenario"),
    ("notes.txt", "'notes.txt' is neither a .toml file nor a shipped scenario"),
    ("folder.toml", "folder.toml: is a directory, not a TOML file"),
    ("zero.toml", "/dev/zero: not a regular file"),
])
def test_extends_reads_only_small_regular_toml_files(tmp_path, parent, reason):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "folder.toml").mkdir()
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    write_scenario(tmp_path, f'extends = "{parent}"\n', "child.toml")
    with pytest.raises(ScenarioError, match=reason):
        load_scenario(tmp_path / "child.toml")
