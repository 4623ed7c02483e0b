"""Design diagnosis (``sn-sim diagnose``) and the rollout designs (``strategy.rollout_design``):
the statistics on a case with a known answer, the designs' selection, the command end to end at
a tiny scale, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sn_sim.api import run_replicate
from sn_sim.evaluation import EvaluationError
from sn_sim.evaluation.diagnosis import (MDE_FACTOR, diagnose_group, diagnosis_table, parse_designs, parse_survey_sizes,
                                         run_diagnosis)
from sn_sim.scenario import load_scenario
from test_evaluation_end_to_end import TOML as EVAL_TOML

CLI = str(Path(sys.executable).parent / "sn-sim")

# The evaluation tests' three districts x four neighbourhoods (cohorts of three in 2016 and 2017),
# at the smallest scale, the second cohort launched early in 2017 so that a short calendar holds a
# survey after it.
TOML = (EVAL_TOML.replace('name = "tiny_eval"', 'name = "tiny_diagnose"').replace("scale = 0.02", "scale = 0.003")
        .replace("end = 2017-12-25", "end = {end}").replace("launch = 2017-05-01", "launch = 2017-01-09"))
assert TOML.count("{end}") == 1 and "2017-01-09" in TOML and "0.003" in TOML


def scenario_file(tmp_path: Path, end: str = "2017-06-26") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TOML.format(end=end))
    return path


# --- the statistics: a case with a known answer ---------------------------------------------------


def synthetic_estimates(tau: float, sigma: float, n: int, seed: int = 1) -> pd.DataFrame:
    """An unbiased, normal estimator with known standard error: estimate ~ N(truth, sigma)."""
    rng = np.random.default_rng(seed)
    truth = tau + rng.normal(0, 0.1, n)  # the truth varies by replicate world, as in the model
    e = truth + rng.normal(0, sigma, n)
    z = stats.norm.ppf(0.975)
    p = 2 * stats.norm.sf(np.abs(e / sigma))
    return pd.DataFrame({"estimate": e, "se": sigma, "true_effect": truth, "covers_truth": np.abs(e - truth) <= z * sigma,
                         "rejects": p < 0.05})


def test_diagnosis_of_an_unbiased_estimator_with_known_se():
    sigma, n = 2.0, 4000
    mde = MDE_FACTOR * sigma
    d = diagnose_group(synthetic_estimates(mde, sigma, n))
    assert d["replicates"] == n
    assert abs(d["bias"]) < 3 * d["bias_mcse"] and d["bias_mcse"] == pytest.approx(sigma / np.sqrt(n), rel=0.05)
    assert d["rmse"] == pytest.approx(sigma, rel=0.05)
    assert abs(d["coverage"] - 0.95) < 3 * d["coverage_mcse"]
    assert d["coverage_mcse"] == pytest.approx(np.sqrt(0.95 * 0.05 / n), rel=0.1)
    # the MDE is 2.80 SE; at an effect of exactly the MDE an unbiased test has 80% power
    assert MDE_FACTOR == pytest.approx(1.95996 + 0.84162, abs=1e-4)
    assert d["mde"] == pytest.approx(mde) and d["mde_mcse"] == 0
    assert abs(d["power"] - 0.80) < 3 * d["power_mcse"]
    # no effect: power is the false-positive rate
    null = diagnose_group(synthetic_estimates(0.0, sigma, n, seed=2))
    assert abs(null["power"] - 0.05) < 3 * null["power_mcse"] + 0.01


def test_diagnosis_table_groups_and_names_estimators():
    a = synthetic_estimates(1.0, 1.0, 50).assign(design="diagnosis", survey_n=400, outcome="trust_police",
                                                  source="survey", unit="percentage points", estimator="twfe")
    b = a.assign(estimator="spillover_cs_notyet", survey_n=pd.NA)
    t = diagnosis_table(pd.concat([a, b], ignore_index=True))
    assert len(t) == 2 and set(t["replicates"]) == {50}
    assert t.loc[t["estimator"] == "twfe", "estimator_name"].item() == "Two-way fixed effects (TWFE)"
    assert "spillover on untreated neighbours" in t.loc[t["estimator"] == "spillover_cs_notyet", "estimator_name"].item()


# --- rollout designs --------------------------------------------------------------------------------


def selection(path: Path, design: str, seed: int) -> pd.DataFrame:
    sc = load_scenario(path, [f"strategy.rollout_design={design}"])
    _, _, nb = run_replicate(sc, seed, 0)
    return nb[["neighbourhood", "cohort_year", "is_control", "diagnosis_score"]].set_index("neighbourhood")


def test_rollout_designs_keep_yearly_counts_are_reproducible_and_randomise(tmp_path):
    # the calendar as short as it gets: both cohorts selected (planning starts 8 weeks ahead)
    path = tmp_path / "short.toml"
    path.write_text(TOML.format(end="2016-01-18").replace("2016-06-06", "2015-06-01").replace("2017-01-09", "2016-01-11")
                    .replace("year = 2016", "year = 2015").replace("year = 2017", "year = 2016"))
    seed = 3
    base = selection(path, "diagnosis", seed)
    counts = base["cohort_year"].value_counts().sort_index().to_dict()
    assert counts == {2015: 3, 2016: 3}
    for design in ("stepped_wedge", "matched_pairs"):
        picks = selection(path, design, seed)
        assert picks["cohort_year"].value_counts().sort_index().to_dict() == counts
        assert not picks["cohort_year"].fillna(0).equals(base["cohort_year"].fillna(0)), \
            f"{design}: the same rollout as the diagnosis"
        pd.testing.assert_frame_equal(picks, selection(path, design, seed))  # same seed, same rollout
        if design == "matched_pairs":
            # the last cohort's pair partners stay its controls (earlier controls may be treated later)
            controls = picks[picks["is_control"].astype(bool)]
            assert controls["cohort_year"].isna().all() and len(controls) >= counts[2016]


# --- the command ------------------------------------------------------------------------------------


def test_diagnose_end_to_end(tmp_path):
    path = scenario_file(tmp_path)
    out = tmp_path / "diag"
    cmd = [CLI, "diagnose", str(path), "--replicates", "2", "--survey-n", "100,400", "--outcome", "trust_police",
           "--design", "stepped_wedge", "--workers", "1", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {p.name for p in out.iterdir()}
    assert {"diagnosis.csv", "diagnosis.md", "estimates.csv", "manifest.json", "power_curve.png",
            "power_curve.svg"} <= names
    t = pd.read_csv(out / "diagnosis.csv")
    assert set(t["design"]) == {"stepped_wedge"} and set(t["survey_n"]) == {100, 400}
    assert {"twfe", "cs_notyet", "twfe_buffer"} <= set(t["estimator"])
    for col in ("bias", "rmse", "coverage", "power", "mde", "bias_mcse", "power_mcse"):
        assert col in t.columns
    assert t["replicates"].max() == 2 and t["coverage"].between(0, 1).all()
    e = pd.read_csv(out / "estimates.csv")
    # the survey is drawn again for each size from the same worlds: same truth, other estimates
    tw = e[e["estimator"] == "twfe"].pivot(index="replicate", columns="survey_n")
    np.testing.assert_allclose(tw["true_effect"][100], tw["true_effect"][400])
    assert not np.allclose(tw["estimate"][100], tw["estimate"][400])
    m = json.loads((out / "manifest.json").read_text())
    assert m["replicates"] == 2 and m["survey_sizes"] == [100, 400] and m["checksums"]["diagnosis.csv"].startswith("sha256:")
    # again without --force: refused, one line, the output left alone
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    errors = [line for line in again.stderr.splitlines() if line.startswith("sn-sim: error:")]
    assert again.returncode == 2 and len(errors) == 1 and "exists" in errors[0] and "Traceback" not in again.stderr


# One case through a real process as a user meets it; the others (an unknown design, sizes that
# are not numbers, one replicate, a bad strategy.rollout_design) are in the hostile-input corpus
# (tests/hostile/cli/diagnose_*.args), which runs them through the CLI in-process.
@pytest.mark.parametrize("args, message", [
    (["--survey-n", "0"], "--survey-n: every survey size must be at least 1"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    path = scenario_file(tmp_path)
    out = tmp_path / "diag"
    proc = subprocess.run([CLI, "diagnose", str(path), "--out", str(out), *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sn-sim: error: ") and message in proc.stderr and proc.stderr.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".diag*"))


def test_other_bad_input_is_refused_before_any_run(tmp_path):
    with pytest.raises(EvaluationError, match="--survey-n: 'abc' is not an integer"):
        parse_survey_sizes("400,abc")
    with pytest.raises(EvaluationError, match="--design: unknown rollout design 'lottery'"):
        parse_designs("lottery")
    with pytest.raises(EvaluationError, match="--replicates: a diagnosis needs at least 2 replicates"):
        run_diagnosis(load_scenario(scenario_file(tmp_path)), replicates=1, out=tmp_path / "diag")
    assert not (tmp_path / "diag").exists()
    assert parse_survey_sizes("400, 800,400") == (400, 800)
