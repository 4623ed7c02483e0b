"""Screening of every assumed parameter (``sn-sim screen``): which parameters it collects, the
analysis chain on a planted function, an end-to-end run on the mini pool, and refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from sn_sim.cli import main
from sn_sim.experiment.screening import (
    ASSUMED_KINDS, KENDALL, _design, assumed_parameters, influence, kendall_distance, plan_screen, set_by_files,
)
from sn_sim.experiment.sensitivity import salib_indices
from sn_sim.scenario import load_scenario
from sn_sim.scenario.loading import scenario_path

from mini import mini_scenario

pytest.importorskip("SALib")

PILLAR = textwrap.dedent(
    """\
    extends = "mini.toml"
    name = "{name}"
    [strategy.mix]
    police = {police}
    social = {social}
    community = 0.0
    """
)
SPEC = textwrap.dedent(
    """\
    base = "base.toml"
    scenarios = ["police.toml", "social.toml"]
    seed = 5
    nominal_replicates = 2
    [morris]
    trajectories = 2
    [sobol]
    samples = 2
    top = 2
    [parameters]
    only = ["crime.patrol_max_deterrence", "police.contact_loss"]
    """
)


def _write(d: Path, spec: str = SPEC) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    # One simulated year (the mini pool starts in 2015): the end-to-end run stays small.
    (d / "mini.toml").write_text(mini_scenario().replace("start = 2015-01-05", "start = 2016-01-04"))
    (d / "base.toml").write_text('extends = "mini.toml"\nname = "base"\n[strategy]\nrollout = []\n')
    (d / "police.toml").write_text(PILLAR.format(name="police", police=1.0, social=0.0))
    (d / "social.toml").write_text(PILLAR.format(name="social", police=0.0, social=1.0))
    (d / "spec.toml").write_text(spec)
    return d / "spec.toml"


def test_collects_every_assumed_parameter_with_its_range_and_nothing_else():
    names = ["no_intervention", "police_only", "social_only", "community_only", "national_rollout"]
    base = load_scenario("no_intervention")
    fixed = set_by_files([scenario_path(n) for n in names])
    params, excluded = assumed_parameters(base, fixed)
    keys = {p.key for p in params}
    assert len(params) > 120
    for p in params:
        assert p.kind in ASSUMED_KINDS and p.low < p.high, p
        assert p.source.startswith(p.kind + ": ")
        assert p.low <= p.value <= p.high or p.key.endswith(".share"), p  # at the calibrated point
    # Value-sourced parameters are not screened, nor the calibrated ones, nor the compared policy.
    assert "crime.offending_rate" not in keys and "crime.age_peak" not in keys  # value (fitted; from a source)
    assert "programs.education.cost_per_participant" not in keys  # calibrated.toml
    why = excluded.set_index("parameter")["reason"]
    assert why["strategy.mix.police"] == "set by police_only.toml"
    assert why["strategy.channels.patrol"].startswith("no numeric plausible range")
    assert why["programs.education.cost_per_participant"] == "set by parameters/calibrated.toml"
    # The assumptions issue 14 found outside the sensitivity analysis are screened.
    for key in ("crime.displacement_share", "crime.patrol_half_hours", "police.raid_trust_loss", "youth.peer_effect",
                "community.junta_tip_rate", "reporting.clearance", "programs.education.risk_reduction"):
        assert key in keys, key


def test_the_analysis_finds_a_planted_driver():
    """A function of the design driven by one parameter: Morris ranks it first, Sobol gives it the variance."""
    base = load_scenario("no_intervention")
    params, _ = assumed_parameters(base, only=("crime.displacement_share", "police.contact_loss", "youth.peer_effect"))
    from sn_sim.experiment.screening import ScreenFile

    spec = ScreenFile.model_validate({"scenarios": ["a", "b"], "morris": {"trajectories": 6}, "sobol": {"samples": 64,
                                                                                                       "top": 3}})
    for method in ("morris", "sobol"):
        problem, X, values = _design(method, params, spec, seed=1)
        y = pd.DataFrame({"out": 10 * values["youth.peer_effect"] / 20 + 0.01 * values["police.contact_loss"]})
        idx = salib_indices(method, problem, X, y, ["out"], levels=4)
        if method == "morris":
            assert influence(idx).index[0] == "youth.peer_effect"
        else:
            st = idx.set_index("parameter")["ST"]
            assert st["youth.peer_effect"] > 0.9 and st["crime.displacement_share"] < 0.05
    assert kendall_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert kendall_distance(["c", "b", "a"], ["a", "b", "c"]) == 3


def test_screen_end_to_end_from_the_cli(tmp_path):
    spec = _write(tmp_path / "in")
    out, doc = tmp_path / "screen", tmp_path / "docs" / "sensitivity.md"
    doc.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "sn_sim.cli", "screen", str(spec), "--out", str(out), "--doc",
                           str(doc), "--workers", "2", "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in ("sensitivity.md", "parameters.csv", "excluded.csv", "nominal.csv", "morris_points.csv",
                 "sobol_points.csv", "morris.csv", "sobol.csv", "robustness.csv", "plots/morris.png",
                 "plots/sobol.svg", "manifest.json"):
        assert (out / name).is_file(), name
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "sn_sim.screen" and m["runs"]["total"] == 3 * (2 + 2 * 3 + 2 * 4)
    assert set(pd.read_csv(out / "parameters.csv")["parameter"]) == {"crime.patrol_max_deterrence",
                                                                      "police.contact_loss"}
    morris = pd.read_csv(out / "morris.csv").set_index(["output", "parameter"])
    # contact losses act on trust; deterrence on offences (the real model, common random numbers)
    assert (morris.loc[("police.offences_per_1000_year", "crime.patrol_max_deterrence"), "mu_star"]
            > morris.loc[("police.offences_per_1000_year", "police.contact_loss"), "mu_star"])
    assert KENDALL in set(morris.index.get_level_values("output"))
    text = doc.read_text()
    assert "](../screen/plots/morris.png)" in text and "## Which policy conclusions hold across the ranges" in text
    assert "`police`: offences" in text and ("**holds**" in text or "**flips**" in text or "not clearly" in text)
    assert "What would pin down the top parameters" in text and "`crime.patrol_max_deterrence` (" in text
    # The saved screening reads back into the same tables and report (no run): a re-rendered report.
    from sn_sim.experiment.screening_report import load_screen, save

    again = save(load_screen(out), tmp_path / "again")
    for name in ("morris.csv", "sobol.csv", "robustness.csv", "nominal.csv", "morris_points.csv"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    assert "**Reduced screening**: only the 2 assumed parameters" in (again / "sensitivity.md").read_text()
    rob = pd.read_csv(out / "robustness.csv")
    assert ((rob["same_sign_share"] >= 0) & (rob["same_sign_share"] <= 1) | rob["same_sign_share"].isna()).all()


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace('scenarios = ["police.toml", "social.toml"]', 'scenarios = ["police.toml"]'),
     "scenarios: name at least two pillar scenarios"),
    (lambda s: s.replace('only = ["crime.patrol_max_deterrence"', 'only = ["crime.offending_rate"'),
     "parameters.only: crime.offending_rate cannot be screened"),
    (lambda s: s.replace("samples = 2", "samples = 3"), "sobol.samples: "),
    (lambda s: s.replace("seed = 5", "seed = 5\nbogus = 1"), "bogus"),
    (lambda s: s.replace('"police.toml"', '"missing.toml"'), "missing.toml"),
])
def test_bad_spec_is_one_line_exit_2_and_nothing_written(tmp_path, edit, message, capsys):
    spec = _write(tmp_path / "in", edit(SPEC))
    out = tmp_path / "screen"
    assert main(["screen", str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sn-sim: error: ") and message in lines[0], err
    assert "Traceback" not in err and not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]


def test_bad_spec_from_the_installed_command(tmp_path):
    """The same refusal through the console script a user types (exit code 2, one line, no output)."""
    spec = _write(tmp_path / "in", SPEC.replace("trajectories = 2", "trajectories = 1"))
    exe = Path(sys.executable).with_name("sn-sim")
    proc = subprocess.run([str(exe), "screen", str(spec), "--out", str(tmp_path / "screen")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("sn-sim: error: ") and "morris.trajectories" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "screen").exists()


def test_plan_refuses_a_top_larger_than_the_screened_set(tmp_path):
    from sn_sim.errors import ScenarioError

    spec = _write(tmp_path, SPEC.replace("top = 2", "top = 3"))
    with pytest.raises(ScenarioError, match="sobol.top: 3 is more than the 2 screened parameters"):
        plan_screen(spec)
