"""The command line: one-line errors with exit code 2 and nothing written; end-to-end runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sn_sim.api import run
from sn_sim.cli import main
from sn_sim.scenario import load_scenario

from conftest import TINY_NEIGHBOURHOODS, TINY_TOML, write_scenario

PANEL_COLUMNS = [
    "scenario", "replicate", "seed", "week", "date", "neighbourhood", "neighbourhood_name", "district", "city",
    "lima", "treated", "cohort_year", "stage", "is_control", "population", "offences", "violent_offences",
    "property_offences", "homicides", "recorded_crimes", "victims", "arrests", "displaced_offences",
    "victimisation_12m", "trust_police", "insecurity", "reporting_rate", "youth", "youth_at_risk",
    "youth_in_gangs", "patrol_hours", "community_contacts", "intelligence_operations", "program_enrolments",
    "collective_efficacy", "alcohol_consumption", "cost_usd", "cost_in_kind_usd", "offences_per_1000_week",
]


def _weeks(s) -> int:
    return (s.calendar.end - s.calendar.start).days // 7 + 1


def _variant(tmp_path: Path, old: str, new: str, name: str = "bad.toml") -> Path:
    assert old in TINY_TOML
    return write_scenario(tmp_path, TINY_TOML.replace(old, new, 1), name)


def assert_clean_error(capsys, rc, *fragments):
    """Exit code 2, nothing on stdout, exactly one line on stderr naming every fragment."""
    out, err = capsys.readouterr()
    assert rc == 2, (rc, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("sn-sim") and "error:" in line, line
    assert "Traceback" not in err
    for f in fragments:
        assert str(f) in line, (f, line)
    return line


def assert_nothing_written(where: Path, out: Path):
    assert not out.exists()
    assert not (where / "runs").exists()
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] if out.parent.is_dir() else []
    assert not leftovers, leftovers


# --- bad input ---------------------------------------------------------------------------------------


BAD_FILES = {
    # id: (replace old, new in the tiny scenario, key that must be named)
    "unknown_key": (("[population]", "[population]\nshare_teenagers = 0.1"), "population.share_teenagers"),
    "wrong_type": (("scale = 0.03", 'scale = 0.03\n[crime]\noffending_rate = "high"'), "crime.offending_rate"),
    "negative_budget": (("usd_per_year = 100000", "usd_per_year = -1"), "budget.usd_per_year"),
    "pillars_do_not_sum_to_1": (("[budget]", "[strategy.mix]\npolice = 0.9\n[budget]"), "strategy.mix"),
    "rollout_larger_than_pool": (("neighbourhoods = 3\nlaunch", "neighbourhoods = 30\nlaunch"), "strategy.rollout"),
    "unknown_culture_district": (('districts = ["Alpha"]', 'districts = ["Omega"]'), "culture_points.districts"),
    "unknown_cohort_district": (('districts = ["Alpha", "Beta"]', 'districts = ["Alpha", "Omega"]'),
                                "strategy.rollout.0.districts"),
    "launch_outside_calendar": (("launch = 2017-04-03", "launch = 2019-04-01"), "strategy.rollout.1.launch"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_scenario_file_is_one_clean_line(tmp_path, capsys, monkeypatch, case):
    (old, new), key = BAD_FILES[case]
    monkeypatch.chdir(tmp_path)
    path = _variant(tmp_path, old, new)
    out = tmp_path / "out"
    rc = main(["run", str(path), "--out", str(out), "--quiet", "--no-plots"])
    assert_clean_error(capsys, rc, path, key)
    assert_nothing_written(tmp_path, out)


BAD_SETS = {
    "unknown_key": (["--set", "crime.bogus=1"], "crime.bogus"),
    "unknown_section": (["--set", "weather.rain=1"], "weather.rain"),
    "wrong_type": (["--set", 'crime.offending_rate="high"'], "crime.offending_rate"),
    "negative_budget": (["--set", "budget.usd_per_year=-1"], "budget.usd_per_year"),
    "pillars_do_not_sum_to_1": (["--set", "strategy.mix.police=0.9"], "strategy.mix"),
    "rollout_larger_than_pool": (["--set", "strategy.rollout.1.neighbourhoods=30"], "strategy.rollout"),
    "unknown_district": (["--set", 'culture_points.districts=["Omega"]'], "culture_points.districts"),
    "no_equals_sign": (["--set", "crime.offending_rate"], "crime.offending_rate"),
    "scale_zero": (["--scale", "0"], "population.scale"),
    "scale_above_one": (["--scale", "2"], "population.scale"),
}


@pytest.mark.parametrize("case", list(BAD_SETS), ids=list(BAD_SETS))
def test_bad_override_is_one_clean_line(tiny_path, tmp_path, capsys, monkeypatch, case):
    extra, key = BAD_SETS[case]
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    rc = main(["run", str(tiny_path), "--out", str(out), "--quiet", "--no-plots", *extra])
    assert_clean_error(capsys, rc, tiny_path, key)
    assert_nothing_written(tmp_path, out)


def test_missing_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nowhere.toml"
    rc = main(["run", str(missing), "--out", str(tmp_path / "out"), "--quiet"])
    line = assert_clean_error(capsys, rc, missing)
    assert "not found" in line
    assert_nothing_written(tmp_path, tmp_path / "out")


def test_non_toml_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    txt = tmp_path / "scenario.txt"
    txt.write_text(TINY_TOML)
    rc = main(["run", str(txt), "--out", str(tmp_path / "out"), "--quiet"])
    line = assert_clean_error(capsys, rc, txt)
    assert "TOML" in line
    assert_nothing_written(tmp_path, tmp_path / "out")


@pytest.mark.parametrize("text", ["[calendar\nstart = 2016-01-04\n", "name = \n", "\x00\x01 binary junk = = ="],
                         ids=["unclosed_table", "missing_value", "junk"])
def test_invalid_toml(tmp_path, capsys, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    bad = write_scenario(tmp_path, text, "broken.toml")
    rc = main(["run", str(bad), "--out", str(tmp_path / "out"), "--quiet"])
    line = assert_clean_error(capsys, rc, bad)
    assert "TOML" in line
    assert_nothing_written(tmp_path, tmp_path / "out")


def test_directory_instead_of_a_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "dir.toml"
    d.mkdir()
    rc = main(["run", str(d), "--out", str(tmp_path / "out"), "--quiet"])
    assert_clean_error(capsys, rc, d)


def test_circular_extends(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = write_scenario(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write_scenario(tmp_path, 'extends = "a.toml"\n', "b.toml")
    rc = main(["run", str(a), "--out", str(tmp_path / "out"), "--quiet"])
    assert_clean_error(capsys, rc, "extends", "circular")
    assert_nothing_written(tmp_path, tmp_path / "out")


def test_zero_replicates(tiny_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["run", str(tiny_path), "--out", str(tmp_path / "out"), "--quiet", "--replicates", "0"])
    assert_clean_error(capsys, rc, "--replicates")
    assert_nothing_written(tmp_path, tmp_path / "out")


def test_existing_out_without_force_is_refused_and_left_untouched(tiny_path, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    (out / "sub").mkdir()
    (out / "sub" / "panel.parquet").write_bytes(b"not really")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    rc = main(["run", str(tiny_path), "--out", str(out), "--quiet", "--no-plots"])
    assert_clean_error(capsys, rc, out, "--out")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / "keep.txt").read_text() == "precious"
    assert (out / "sub" / "panel.parquet").read_bytes() == b"not really"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_out_whose_parent_is_a_regular_file(tiny_path, tmp_path, capsys):
    parent = tmp_path / "afile"
    parent.write_text("I am a file")
    out = parent / "out"
    rc = main(["run", str(tiny_path), "--out", str(out), "--quiet", "--no-plots"])
    assert_clean_error(capsys, rc, out, "--out")
    assert parent.read_text() == "I am a file"


def test_argparse_errors_are_one_line_with_code_2(tiny_path, capsys):
    assert main(["run", str(tiny_path), "--seed", "abc"]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "--seed" in err and "Traceback" not in err


# --- validate and schema -------------------------------------------------------------------------------


def test_validate_ok_prints_name_and_hash(tiny_path, tiny_scenario, capsys):
    assert main(["validate", str(tiny_path)]) == 0
    out, _ = capsys.readouterr()
    assert "ok" in out and tiny_scenario.name in out and tiny_scenario.digest()[:12] in out


def test_validate_reports_bad_files_like_run(tmp_path, capsys):
    bad = _variant(tmp_path, "[population]", "[population]\nbogus = 1")
    rc = main(["validate", str(bad)])
    assert_clean_error(capsys, rc, bad, "population.bogus")


def test_schema_prints_json_with_descriptions_units_and_sources(capsys):
    assert main(["schema"]) == 0
    out, _ = capsys.readouterr()
    schema = json.loads(out)
    rate = schema["$defs"]["Crime"]["properties"]["offending_rate"]
    assert rate["description"] and rate["unit"] == "attempts per person-week" and rate["source"]
    budget = schema["$defs"]["Budget"]["properties"]["usd_per_year"]
    assert "USD" in budget["unit"] and budget["minimum"] == 0
    assert out.count('"unit"') > 100 and out.count('"description"') > 100


# --- end to end -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(tiny_path, tmp_path_factory):
    """``sn-sim run`` with two replicates and plots, through ``main``."""
    out = tmp_path_factory.mktemp("cli") / "tiny_run"
    rc = main(["run", str(tiny_path), "--out", str(out), "--replicates", "2", "--seed", "3", "--quiet"])
    return rc, out


def test_cli_run_succeeds_and_writes_the_files(cli_run):
    rc, out = cli_run
    assert rc == 0
    for name in ["panel.parquet", "blocks.parquet", "manifest.json"]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".tiny_run")]  # no temp leftovers


def test_cli_panel_has_one_row_per_replicate_neighbourhood_week(cli_run, tiny_scenario):
    _, out = cli_run
    panel = pd.read_parquet(out / "panel.parquet")
    assert len(panel) == 2 * TINY_NEIGHBOURHOODS * _weeks(tiny_scenario)
    assert not panel.duplicated(["replicate", "neighbourhood", "week"]).any()
    missing = [c for c in PANEL_COLUMNS if c not in panel.columns]
    assert not missing, missing
    assert set(panel.seed) == {3}


def test_cli_panel_equals_the_library_run(cli_run, tiny_scenario):
    _, out = cli_run
    written = pd.read_parquet(out / "panel.parquet")
    expected = run(tiny_scenario, seed=3, replicates=2).panel
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, check_categorical=False)


def test_cli_blocks_table(cli_run, tiny_scenario):
    _, out = cli_run
    blocks = pd.read_parquet(out / "blocks.parquet")
    B = tiny_scenario.population.block_rows * tiny_scenario.population.block_cols
    assert len(blocks) == 2 * 2 * TINY_NEIGHBOURHOODS * B
    assert {"replicate", "year", "neighbourhood", "block", "offences"} <= set(blocks.columns)


def test_cli_manifest(cli_run, tiny_path):
    _, out = cli_run
    m = json.loads((out / "manifest.json").read_text())
    scenario = load_scenario(tiny_path)
    assert m["version"]
    assert m["scenario_hash"] == scenario.digest()
    assert m["scenario"] == json.loads(json.dumps(scenario.to_dict()))
    assert m["seed"] == 3
    assert len(m["replicate_streams"]) == 2
    assert isinstance(m["wall_time_s"], (int, float)) and m["wall_time_s"] >= 0


def test_cli_plots(cli_run):
    _, out = cli_run
    pngs = sorted((out / "plots").glob("*.png"))
    assert pngs, "no plots written"
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_force_replaces_an_existing_output(tiny_path, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(tiny_path), "--out", str(out), "--quiet", "--no-plots"]) == 0  # sn-sim's own run
    (out / "stale.txt").write_text("old")
    rc = main(["run", str(tiny_path), "--out", str(out), "--force", "--quiet", "--no-plots"])
    assert rc == 0
    assert not (out / "stale.txt").exists()
    assert (out / "panel.parquet").is_file()
    assert not (out / "plots").exists()
    assert capsys.readouterr().out == ""


def test_summary_is_printed_unless_quiet(tiny_path, tmp_path, capsys, tiny_scenario):
    out = tmp_path / "loud"
    rc = main(["run", str(tiny_path), "--no-plots", "--out", str(out)])
    assert rc == 0
    printed, _ = capsys.readouterr()
    assert str(out) in printed and tiny_scenario.digest()[:12] in printed


@pytest.mark.parametrize("out_args", [["--out", "runs/national"], []], ids=["readme_quickstart", "default_out"])
def test_runs_directory_of_a_fresh_checkout_is_usable(tiny_path, tmp_path, capsys, monkeypatch, out_args):
    """Regression test for a fixed bug (sn_sim/observe/storage.py check_output_dir, sn_sim/cli.py cmd_run): the README's first command
    is ``sn-sim run scenarios/national_rollout.toml --out runs/national`` and the default output is
    ``runs/<scenario name>``, but ``runs/`` is git-ignored and never created, so in a fresh
    checkout both fail with "parent directory runs does not exist"."""
    monkeypatch.chdir(tmp_path)
    rc = main(["run", str(tiny_path), "--quiet", "--no-plots", "--set", "strategy.rollout=[]",
               "--set", "calendar.end=2016-03-28", *out_args])
    _, err = capsys.readouterr()
    assert rc == 0, err
    written = tmp_path / "runs" / ("national" if out_args else "tiny")
    assert (written / "panel.parquet").is_file()


# --- the installed entry point ----------------------------------------------------------------------------


def _script() -> Path:
    return Path(sys.executable).parent / "sn-sim"


def test_console_script_entry_point_works():
    script = _script()
    assert script.exists(), "sn-sim console script is not installed next to the interpreter"
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for sub in ("run", "schema", "validate"):
        assert sub in proc.stdout


def test_module_entry_point_reports_errors_without_traceback(tmp_path):
    bad = _variant(tmp_path, "usd_per_year = 100000", "usd_per_year = -1")
    proc = subprocess.run([sys.executable, "-m", "sn_sim.cli", "validate", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "budget.usd_per_year" in lines[0]
