"""`sn-sim optimise`: a Pareto front of levers over several objectives across uncertain worlds
(Optuna NSGA-II on the experiment executors), resumable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from sn_sim.cli import main
from sn_sim.experiment.executors import Executor, Outcome
from sn_sim.experiment.optimise import run_optimisation
from sn_sim.scenario.keys import get_key

from mini import mini_scenario


@pytest.fixture(autouse=True, scope="module")
def _needs_optuna():
    """Skipped without optuna; imported when this file runs, not when the suite is collected
    (every worker collects every file)."""
    pytest.importorskip("optuna")


TOY = textwrap.dedent(
    """\
    name = "toy"
    base = "mini.toml"
    seed = 3
    trials = {trials}
    population = 10
    replicates = 2
    uncertainty_samples = 2
    [levers]
    "strategy.mix.police" = {{min = 0.0, max = 1.0}}
    "police.extra_officers" = {{min = 0, max = 30}}
    [uncertainties]
    "crime.offending_rate" = {{min = 0.03, max = 0.05}}
    [derived]
    "strategy.mix.social" = "(1 - strategy.mix.police) * 0.35 / 0.6"
    "strategy.mix.community" = "(1 - strategy.mix.police) * 0.25 / 0.6"
    [objectives]
    offences_per_1000_year_all = "minimize"
    trust_police_all = "maximize"
    """
)


class ToyExecutor(Executor):
    """Known objectives instead of simulations. Offences are least at police share 0.3 and 15
    officers, trust is highest at 0.3 and 24 officers: the Pareto set is share 0.3 with 15 to 24
    officers. The world (offending rate) and the replicate shift both objectives alike."""

    description = "toy"

    def __init__(self, stop_after: int | None = None):
        self.stop_after = stop_after
        self.calls = 0

    def run(self, tasks, fn=None):
        for i, task in enumerate(tasks):
            self.calls += 1
            if self.stop_after is not None and self.calls > self.stop_after:
                raise KeyboardInterrupt
            police = get_key(task.scenario, "strategy.mix.police")
            officers = get_key(task.scenario, "police.extra_officers") / 30
            shift = 10 * get_key(task.scenario, "crime.offending_rate") + 0.01 * task.replicate
            yield Outcome(i, True, value={"summary": {
                "offences_per_1000_year_all": (police - 0.3) ** 2 + (officers - 0.5) ** 2 + shift,
                "trust_police_all": -((police - 0.3) ** 2) - (officers - 0.8) ** 2 - shift}})


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "mini.toml").write_text(mini_scenario())
    path = tmp_path / "toy.toml"
    path.write_text(TOY.format(trials=120))
    return path


def test_the_optimiser_finds_the_known_best(toy, tmp_path):
    executor = ToyExecutor()
    res = run_optimisation(toy, tmp_path / "opt", executor=executor, progress=False)
    c = res.candidates
    assert len(c) == 120 and res.evaluated == 120 and c["worlds"].eq(4).all()
    # A candidate proposed again is not simulated again: four runs (2 worlds x 2 replicates) per distinct mix.
    distinct = len(c.drop_duplicates(["lever:strategy.mix.police", "lever:police.extra_officers"]))
    assert executor.calls == 4 * distinct
    best = c.loc[c["offences_per_1000_year_all"].idxmin()]
    assert best["lever:strategy.mix.police"] == pytest.approx(0.3, abs=0.05)
    assert best["lever:police.extra_officers"] == pytest.approx(15, abs=3)
    p = res.pareto
    assert len(p) >= 3
    assert (p["lever:strategy.mix.police"] - 0.3).abs().median() < 0.05
    assert p["lever:police.extra_officers"].between(12, 27).all()
    # Intervals over the four worlds: the replicate and the world shift every candidate alike.
    assert (p["offences_per_1000_year_all_ci_low"] < p["offences_per_1000_year_all"]).all()
    assert (p["offences_per_1000_year_all_ci_high"] > p["offences_per_1000_year_all"]).all()
    # The base scenario's own mix is the first candidate; every candidate is compared with it
    # world by world (the toy's worlds shift every mix alike: the paired intervals have no width).
    base = c[c["base"]]
    assert base["trial"].tolist() == [0] and base["lever:strategy.mix.police"].iloc[0] == 0.4
    assert (base["offences_per_1000_year_all_vs_base"] == 0).all()
    assert best["offences_per_1000_year_all_vs_base"] < 0
    assert best["offences_per_1000_year_all_vs_base_ci_high"] == pytest.approx(best["offences_per_1000_year_all_vs_base"])
    assert "Against the base scenario's own mix (trial 0)" in res.markdown()
    # The derived shares keep the pillars summing to 1.
    total = p["lever:strategy.mix.police"] + p["derived:strategy.mix.social"] + p["derived:strategy.mix.community"]
    assert np.allclose(total, 1.0)
    out = tmp_path / "opt"
    for name in ("candidates.csv", "pareto.csv", "pareto.md", "plots/pareto.png", "plots/pareto.svg", "study.journal"):
        assert (out / name).is_file(), name
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "sn_sim.optimise" and len(m["worlds"]) == 2 and set(m["checksums"]) >= {"pareto.csv"}
    # Same file, same seed: the same search.
    again = run_optimisation(toy, tmp_path / "again", executor=ToyExecutor(), progress=False)
    pd.testing.assert_frame_equal(again.candidates, res.candidates)


def test_an_interrupted_optimisation_resumes(toy, tmp_path):
    toy.write_text(TOY.format(trials=30))
    out = tmp_path / "opt"
    with pytest.raises(KeyboardInterrupt):  # in the middle of the second generation (40 runs each)
        run_optimisation(toy, out, executor=ToyExecutor(stop_after=55), progress=False)
    assert (out / "study.journal").is_file() and not (out / "candidates.csv").exists()
    with pytest.raises(Exception, match="already exists"):
        run_optimisation(toy, out, executor=ToyExecutor(), progress=False)
    res = run_optimisation(toy, out, executor=ToyExecutor(), resume=True, progress=False)
    assert len(res.candidates) == 30 and res.evaluated == 20
    import optuna

    study = optuna.load_study(study_name="toy", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "study.journal"))))
    retried = [t for t in study.trials if "retry_of" in t.user_attrs]
    assert len(retried) == 10  # the generation in flight, evaluated again
    # The file changed: no resume, start over with --force.
    toy.write_text(TOY.format(trials=31))
    with pytest.raises(Exception, match="changed since it started"):
        run_optimisation(toy, out, executor=ToyExecutor(), resume=True, progress=False)


SHORT = (mini_scenario("short").replace("end = 2016-12-26", "end = 2015-08-31")
         .replace("year = 2016", "year = 2015").replace("launch = 2016-03-07", "launch = 2015-05-04")
         .replace("scale = 0.01", "scale = 0.006"))


def test_cli_optimise_end_to_end(tmp_path, monkeypatch, capsys):
    (tmp_path / "short.toml").write_text(SHORT)
    (tmp_path / "opt.toml").write_text(textwrap.dedent(
        """\
        base = "short.toml"
        trials = 4
        population = 2
        replicates = 1
        [levers]
        "police.extra_officers" = {min = 0, max = 30}
        [objectives]
        offences_per_1000_year_all = "minimize"
        total_cost_usd_all = "minimize"
        """))
    proc = subprocess.run([sys.executable, "-m", "sn_sim.cli", "optimise", "opt.toml", "--workers", "1", "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "optimise" / "opt"
    c = pd.read_csv(out / "candidates.csv")
    assert len(c) == 4 and c["offences_per_1000_year_all"].gt(0).all() and c["pareto"].any()
    assert (out / "plots" / "pareto.svg").is_file()
    # Resuming a finished optimisation evaluates nothing and leaves the same front.
    before = (out / "pareto.csv").read_bytes()
    monkeypatch.chdir(tmp_path)
    assert main(["optimise", "optimise/opt", "--resume", "--workers", "1"]) == 0
    assert "0 candidates evaluated" in capsys.readouterr().out
    assert (out / "pareto.csv").read_bytes() == before
    assert main(["optimise", "opt.toml", "--workers", "1"]) == 2  # exists: --resume or --force
    assert "use --resume to continue it or --force" in capsys.readouterr().err


@pytest.mark.parametrize("edit,expected", [
    (lambda t: t.replace('trust_police_all = "maximize"', 'trust = "maximize"'), "unknown summary 'trust'"),
    (lambda t: t.replace('"police.extra_officers" = {min = 0, max = 30}', '"police.extra_oficers" = {min = 0, max = 30}'),
     "levers.police.extra_oficers: unknown scenario key"),
    (lambda t: t.split("[derived]")[0] + "[objectives]" + t.split("[objectives]")[1],
     "with every lever at its lowest value"),
    (lambda t: t.replace('"minimize"', '"least"'), "objectives.offences_per_1000_year_all"),
])
def test_cli_optimise_refusals(toy, tmp_path, capsys, edit, expected):
    toy.write_text(edit(TOY.format(trials=4)))
    assert main(["optimise", str(toy), "--out", str(tmp_path / "o"), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sn-sim: error:") and expected in err, err
    assert not (tmp_path / "o").exists()


def test_an_invalid_candidate_fails_alone(toy, tmp_path, capsys):
    """Candidates that are no valid scenario (here: shares that do not sum to 1 near a police
    share of 0.5) are recorded as failed; the search goes on to the number of trials asked."""
    toy.write_text(TOY.format(trials=20).replace(
        '"strategy.mix.community" = "(1 - strategy.mix.police) * 0.25 / 0.6"',
        '"strategy.mix.community" = "(1 - strategy.mix.police) * 0.25 / 0.6 + max(0, 0.2 - abs(strategy.mix.police - 0.5))"'))
    res = run_optimisation(toy, tmp_path / "opt", executor=ToyExecutor(), progress=False)
    assert len(res.candidates) == 20
    assert not res.candidates["lever:strategy.mix.police"].between(0.3, 0.7, inclusive="neither").any()
    err = capsys.readouterr().err
    assert "failed: not a valid scenario" in err and "pillar shares must sum to 1" in err


def test_worlds_carry_the_calibrated_parameters_posterior(toy, capsys):
    """`calibrated_uncertainty = true`: each world also gets one draw of the calibrated free
    parameters from their approximate posterior (the shipped calibrated_uncertainty.toml), the
    same draws for every candidate; a key both drawn and searched or sampled is refused."""
    from sn_sim.experiment.optimise import plan_optimisation
    from sn_sim.scenario.posterior import load_posterior

    posterior = load_posterior()
    text = TOY.format(trials=4).replace("uncertainty_samples = 2", "uncertainty_samples = 3\ncalibrated_uncertainty = true")
    toy.write_text(text)
    assert main(["optimise", str(toy), "--workers", "1"]) == 2
    assert "calibrated_uncertainty: crime.offending_rate is also a lever, an uncertainty" in capsys.readouterr().err
    toy.write_text(text.replace('"crime.offending_rate" = {min = 0.03, max = 0.05}',
                                '"trust.victim_penalty" = {min = 0.02, max = 0.06}'))
    plan = plan_optimisation(toy)
    drawn = [w["crime.offending_rate"] for w in plan.worlds]
    assert len(drawn) == 3 and len(set(drawn)) == 3
    lo, hi = posterior.interval(0.9999)
    assert all(lo[0] <= v <= hi[0] for v in drawn)
    assert plan.worlds == plan_optimisation(toy).worlds  # seeded by the file's seed
    scenario = plan.scenario({"strategy.mix.police": 0.4, "police.extra_officers": 10}, plan.worlds[1])
    assert get_key(scenario, "crime.offending_rate") == drawn[1]
