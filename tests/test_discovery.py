"""Scenario discovery (`sn-sim discover`, PRIM/CART/feature scores via EMA Workbench) and the
EMA Workbench bridge (`sn_sim.to_ema`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sn_sim.cli import main
from sn_sim.errors import SnSimError
from sn_sim.experiment import run_sweep
from sn_sim.experiment.discovery import discover
from sn_sim.experiment.executors import Executor, Outcome
from sn_sim.scenario.keys import get_key

from mini import mini_scenario


@pytest.fixture(autouse=True, scope="module")
def _needs_ema_workbench():
    """Skipped without ema_workbench; imported when this file runs, not when the suite is collected
    (every worker collects every file)."""
    pytest.importorskip("ema_workbench")


SN_SIM = [sys.executable, "-m", "sn_sim.cli"]
# The mini scenario cut to 2015 (launch in May, end in August) at 0.6% scale: a run in a fraction of a second.
SHORT = (mini_scenario("emamini").replace("end = 2016-12-26", "end = 2015-08-31")
         .replace("year = 2016", "year = 2015").replace("launch = 2016-03-07", "launch = 2015-05-04")
         .replace("scale = 0.01", "scale = 0.006"))

# A Latin hypercube over three parameters of the mini scenario; the outputs are planted (below)
# instead of simulated, and written by the sweep's own collector: the real on-disk format.
PLANTED_SWEEP = textwrap.dedent(
    """\
    name = "planted"
    base = "mini.toml"
    seed = 5
    replicates = 1
    design = {method = "lhs", samples = 300}
    [parameters]
    "strategy.mix.police" = {min = 0.0, max = 1.0}
    "crime.offending_rate" = {min = 0.02, max = 0.06}
    "trust.relaxation" = {min = 0.0, max = 0.02}
    [derived]  # not parameters of the analysis: functions of the police share
    "strategy.mix.social" = "(1 - strategy.mix.police) * 0.35 / 0.6"
    "strategy.mix.community" = "(1 - strategy.mix.police) * 0.25 / 0.6"
    [outputs]
    summaries = ["trust_police_all", "offences_per_1000_year_all"]
    """
)
# The planted box: trust is high exactly where 0.3 <= police share <= 0.7 and offending rate < 0.04.
BOX = {"strategy.mix.police": (0.3, 0.7), "crime.offending_rate": (0.02, 0.04)}


class PlantedExecutor(Executor):
    """Answers every run task with planted summaries computed from its scenario's parameters."""

    description = "planted"

    def run(self, tasks, fn=None):
        for i, task in enumerate(tasks):
            police = get_key(task.scenario, "strategy.mix.police")
            rate = get_key(task.scenario, "crime.offending_rate")
            inside = BOX["strategy.mix.police"][0] <= police <= BOX["strategy.mix.police"][1] and rate < 0.04
            trust = (0.6 if inside else 0.2) + 0.01 * np.sin(1000 * police)  # deterministic jitter
            yield Outcome(i, True, value={"summary": {"trust_police_all": trust,
                                                      "offences_per_1000_year_all": 1000 * rate}})


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("planted")
    (d / "mini.toml").write_text(mini_scenario())
    (d / "planted.toml").write_text(PLANTED_SWEEP)
    res = run_sweep(d / "planted.toml", d / "sweep", executor=PlantedExecutor(), progress=False)
    assert res.done == 300 and res.failed == 0
    return d / "sweep"


def test_prim_recovers_the_planted_box(planted, tmp_path):
    res = discover(planted, "trust_police_all", threshold=0.4)
    prim = res.boxes[res.boxes["method"] == "prim"].set_index("parameter")
    # The two planted restrictions, under their dotted names, and nothing else.
    assert set(prim.index) == {"strategy.mix.police", "crime.offending_rate"}
    assert prim.loc["strategy.mix.police", "min"] == pytest.approx(0.3, abs=0.03)
    assert prim.loc["strategy.mix.police", "max"] == pytest.approx(0.7, abs=0.03)
    assert prim.loc["crime.offending_rate", "max"] == pytest.approx(0.04, abs=0.002)
    assert prim["coverage"].iloc[0] > 0.9 and prim["density"].iloc[0] > 0.9
    assert prim.loc["crime.offending_rate", "sweep_max"] == pytest.approx(0.06, abs=0.001)
    assert (prim[["qp_lower", "qp_upper"]].min(axis=1) < 0.05).all()  # both restrictions significant
    # CART finds the same region; the irrelevant parameter scores lowest.
    cart = res.boxes[res.boxes["method"] == "cart"]
    assert len(cart) and cart["density"].max() > 0.9
    assert res.feature_scores["parameter"].iloc[-1] == "trust.relaxation"
    assert res.feature_scores["score"].sum() == pytest.approx(1.0)
    # The trajectory marks exactly one reported step per box.
    assert res.trajectory.groupby("box")["selected"].sum().tolist() == [1]
    # Below the threshold is the complement (not a box): two boxes, each meeting the density rule.
    below = discover(planted, "trust_police_all", threshold=0.4, direction="below", boxes=2)
    b = below.boxes[below.boxes["method"] == "prim"].drop_duplicates("box")
    assert b["box"].tolist() == [1, 2]
    for r in b.itertuples():  # the rule: density >= 0.8, else the densest step of the trajectory
        assert r.density >= 0.8 or r.density == below.trajectory.query(f"box == {r.box}")["density"].max()
    assert below.trajectory.groupby("box")["selected"].sum().tolist() == [1, 1]
    # Saved whole, with plots in PNG and SVG, names mapped back everywhere, reproducibly.
    out = res.save(tmp_path / "d")
    again = discover(planted, "trust_police_all", threshold=0.4).save(tmp_path / "e")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [".sn_sim-output", "boxes.csv", "cases.csv", "feature_scores.csv", "manifest.json",
                     "peeling_trajectory.csv", "plots/feature-scores.png", "plots/feature-scores.svg",
                     "plots/prim-box-1.png", "plots/prim-box-1.svg", "plots/prim-tradeoff-1.png",
                     "plots/prim-tradeoff-1.svg", "summary.md"]
    for name in files:
        if name not in (".sn_sim-output", "manifest.json"):
            assert (out / name).read_bytes() == (again / name).read_bytes(), name
    svg = (out / "plots" / "prim-box-1.svg").read_text()
    assert "strategy.mix.police" in svg and "strategy_mix_police" not in svg
    for name in ("boxes.csv", "feature_scores.csv", "cases.csv", "summary.md"):
        assert "strategy_mix_police" not in (out / name).read_text(), name
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "sn_sim.discovery" and m["cases_of_interest"] == int(res.cases_frame["of_interest"].sum())
    assert set(m["checksums"]) == set(m["files"]) and m["ema_workbench"].startswith("3.")


def test_cli_discover_on_a_real_sweep(tmp_path, monkeypatch):
    """The user's path: a real (tiny) sweep, then `sn-sim discover` on it in its own process."""
    (tmp_path / "short.toml").write_text(SHORT)
    (tmp_path / "lhs.toml").write_text(textwrap.dedent(
        """\
        name = "lhs"
        base = "short.toml"
        seed = 3
        replicates = 1
        design = {method = "lhs", samples = 8}
        [parameters]
        "crime.offending_rate" = {min = 0.02, max = 0.06}
        "trust.relaxation" = {min = 0.0, max = 0.02}
        [outputs]
        summaries = ["offences_per_1000_year_all", "trust_police_all"]
        """))
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "lhs.toml", "--out", "sw", "--workers", "1", "--quiet"]) == 0  # sweeps are tested elsewhere
    proc = subprocess.run(SN_SIM + ["discover", "sw", "--output", "offences_per_1000_year_all", "--threshold",
                                    "median"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "sw" / "discovery-offences_per_1000_year_all-above"
    assert f"wrote {Path('sw') / out.name}/" in proc.stdout
    boxes = pd.read_csv(out / "boxes.csv")
    # Offences follow the offending rate: the box restricts it from below.
    prim = boxes[boxes["method"] == "prim"].set_index("parameter")
    assert "crime.offending_rate" in prim.index
    assert prim.loc["crime.offending_rate", "min"] > 0.03
    assert (out / "plots" / "prim-tradeoff-1.svg").is_file() and (out / "summary.md").read_text().startswith("#")
    # The sweep itself still reads as a sweep (the output sits beside runs/).
    from sn_sim.experiment import load_sweep

    assert len(load_sweep(tmp_path / "sw")) == 8


@pytest.mark.parametrize("args,expected", [
    (["nowhere", "--output", "trust_police_all", "--threshold", "1"], "nowhere: not a sweep directory"),
    (["{sweep}", "--output", "trust", "--threshold", "1"],
     "unknown output 'trust' (the sweep kept: trust_police_all, offences_per_1000_year_all)"),
    (["{sweep}", "--output", "trust_police_all", "--threshold", "0.9"],
     "selects none of the 300 points (trust_police_all ranges from"),
    (["{sweep}", "--output", "trust_police_all", "--threshold", "0.1"], "selects all of the 300 points"),
    (["{sweep}", "--output", "trust_police_all", "--threshold", "0.1", "--direction", "below"],
     "selects none of the 300 points"),
    (["{sweep}", "--output", "trust_police_all", "--threshold", "high"], "--threshold: 'high': expected a number"),
    (["{sweep}", "--output", "trust_police_all", "--threshold", "p100"], "a percentile is p1 to p99"),
])
def test_cli_discover_refusals(planted, tmp_path, capsys, monkeypatch, args, expected):
    (tmp_path / "afile").write_text("")
    monkeypatch.chdir(tmp_path)
    argv = ["discover"] + [a.format(sweep=planted) for a in args] + ["--out", str(tmp_path / "d")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sn-sim: error:") and expected in err, err
    assert not (tmp_path / "d").exists()


def test_cli_discover_keeps_an_existing_output_without_force(planted, tmp_path, capsys):
    argv = ["discover", str(planted), "--output", "trust_police_all", "--threshold", "0.4", "--quiet",
            "--out", str(tmp_path / "d")]
    assert main(argv) == 0
    assert main(argv[:-1] + [str(tmp_path / "d")]) == 2
    assert "already exists (use --force" in capsys.readouterr().err
    assert main(argv + ["--force", "--threshold", "0.5"]) == 0
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["threshold"] == 0.5
    (tmp_path / "sweepish").mkdir()
    assert main(["discover", str(tmp_path / "sweepish"), "--output", "x", "--threshold", "1"]) == 2
    assert "not a sweep directory (no manifest.json)" in capsys.readouterr().err


# --- The EMA Workbench bridge -----------------------------------------------------------------



def test_to_ema_runs_perform_experiments(tmp_path):
    import sn_sim
    from ema_workbench import SequentialEvaluator, perform_experiments

    (tmp_path / "short.toml").write_text(SHORT)
    # A lever bound by a sum (the pillar shares) travels with its partners, as a sweep's [derived].
    model = sn_sim.to_ema(tmp_path / "short.toml", uncertainties={"crime.offending_rate": (0.02, 0.06)},
                          levers={"strategy.mix.police": (0.2, 0.8)},
                          derived={"strategy.mix.social": "(1 - strategy.mix.police) * 0.35 / 0.6",
                                   "strategy.mix.community": "(1 - strategy.mix.police) * 0.25 / 0.6"},
                          outcomes=["offences_per_1000_year_all", "trust_police_all"])
    assert model.sn_sim_names["crime_offending_rate"] == "crime.offending_rate"
    with SequentialEvaluator(model) as evaluator:
        experiments, results = perform_experiments(model, scenarios=3, policies=1, evaluator=evaluator)
    assert len(experiments) == 3 and set(results) == {"offences_per_1000_year_all", "trust_police_all"}
    assert np.isfinite(results["offences_per_1000_year_all"]).all()
    # Each experiment is the model's own run: the same values through sn_sim's entry point agree.
    from sn_sim.api import run_replicate
    from sn_sim.observe import outcomes
    from sn_sim.scenario import load_scenario

    row = experiments.iloc[0]
    police = float(row["strategy_mix_police"])
    scenario = load_scenario(tmp_path / "short.toml", {
        "crime.offending_rate": float(row["crime_offending_rate"]), "strategy.mix.police": police,
        "strategy.mix.social": (1 - police) * 0.35 / 0.6, "strategy.mix.community": (1 - police) * 0.25 / 0.6})
    direct = outcomes.summarise(run_replicate(scenario, 0, 0)[0], outcomes.post_start_for(scenario),
                                ["offences_per_1000_year_all"])
    assert results["offences_per_1000_year_all"][0] == pytest.approx(direct["offences_per_1000_year_all"])
    # More offending, more offences: the outcome follows the uncertainty. (EMA's Latin hypercube is
    # unseeded; neighbouring strata can hold nearly equal rates, the outer ones are a stratum apart.)
    order = np.argsort(experiments["crime_offending_rate"].to_numpy())
    assert results["offences_per_1000_year_all"][order[-1]] > results["offences_per_1000_year_all"][order[0]]


def test_to_ema_refuses_typos_at_once(tmp_path):
    import sn_sim
    from sn_sim.errors import SnSimError

    (tmp_path / "short.toml").write_text(SHORT)
    with pytest.raises(SnSimError, match="crime.ofending_rate: unknown key"):
        sn_sim.to_ema(tmp_path / "short.toml", uncertainties={"crime.ofending_rate": (0.02, 0.06)})
    with pytest.raises(SnSimError, match="unknown summary 'trust'"):
        sn_sim.to_ema(tmp_path / "short.toml", uncertainties={"crime.offending_rate": (0.02, 0.06)},
                      outcomes=["trust"])
    with pytest.raises(SnSimError, match="range low must be below high"):
        sn_sim.to_ema(tmp_path / "short.toml", levers={"strategy.mix.police": (0.8, 0.2)})
    # A share moved alone breaks the pillars' sum: refused when the model is built, not in an experiment.
    with pytest.raises(SnSimError, match="pillar shares must sum to 1"):
        sn_sim.to_ema(tmp_path / "short.toml", levers={"strategy.mix.police": (0.2, 0.8)})
    with pytest.raises(SnSimError, match="unknown name 'strategy.mix.polise'"):
        sn_sim.to_ema(tmp_path / "short.toml", levers={"strategy.mix.police": (0.2, 0.8)},
                      derived={"strategy.mix.social": "1 - strategy.mix.polise"})


def test_runs_as_cases_and_unfinished_sweeps(planted, tmp_path):
    import shutil

    by_run = discover(planted, "trust_police_all", threshold=0.4, cases="runs")
    assert list(by_run.cases_frame.columns[:3]) == ["run", "point", "replicate"] and len(by_run.cases_frame) == 300
    copy = tmp_path / "sweep"
    shutil.copytree(planted, copy)
    (copy / "runs" / "run-000007.parquet").unlink()
    with pytest.raises(SnSimError, match="1 of 300 runs have not finished"):
        discover(copy, "trust_police_all", threshold=0.4)


class SwitchExecutor(Executor):
    """Trust is high exactly where community police is on and there are at least 10 extra officers."""

    description = "planted"

    def run(self, tasks, fn=None):
        for i, task in enumerate(tasks):
            on = get_key(task.scenario, "strategy.community_police")
            officers = get_key(task.scenario, "police.extra_officers")
            yield Outcome(i, True, value={"summary": {"trust_police_all": 0.5 if on and officers >= 10 else 0.1}})


def test_a_switch_and_an_integer_parameter(tmp_path):
    """A list-valued (here boolean) parameter is a category for PRIM and CART, and an integer
    limit is not truncated (EMA 3.0's CART would report one leaf as two overlapping boxes)."""
    (tmp_path / "mini.toml").write_text(mini_scenario())
    (tmp_path / "grid.toml").write_text(textwrap.dedent(
        """\
        base = "mini.toml"
        design = "grid"
        [parameters]
        "strategy.community_police" = [true, false]
        "police.extra_officers" = {min = 0, max = 30, num = 16}
        [outputs]
        summaries = ["trust_police_all"]
        """))
    run_sweep(tmp_path / "grid.toml", tmp_path / "sw", executor=SwitchExecutor(), progress=False)
    res = discover(tmp_path / "sw", "trust_police_all", threshold=0.3)
    for method in ("prim", "cart"):
        box = res.boxes[res.boxes["method"] == method]
        assert box["box"].nunique() == 1 and (box["density"] == 1).all() and (box["coverage"] == 1).all(), method
        box = box.set_index("parameter")
        assert box.loc["strategy.community_police", "values"] == "True"
        assert 8 < box.loc["police.extra_officers", "min"] <= 10 and box.loc["police.extra_officers", "max"] == 30
