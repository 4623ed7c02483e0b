"""End to end: ``sn-sim run`` then ``sn-sim evaluate`` on a tiny staggered rollout; the twin,
the survey, spillovers and the written evaluation."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sn_sim.errors import SnSimError
from sn_sim.evaluation import EvaluationError
from sn_sim.evaluation.data import admin_data
from sn_sim.evaluation.report import evaluate
from sn_sim.evaluation.spillovers import block_spillovers, neighbourhood_spillovers
from sn_sim.evaluation.survey import draw_survey
from sn_sim.evaluation.twins import first_selection_week, run_twin, true_effects, twin_scenario
from sn_sim import Results, load_results, outcomes
from sn_sim.observe.outcomes import WEEKS_PER_YEAR

# Three districts x four neighbourhoods in two cities; cohorts of three in 2016 and 2017.
TOML = textwrap.dedent(
    """\
    name = "tiny_eval"
    [calendar]
    start = 2015-01-05
    end = 2017-12-25
    burn_in_weeks = 4
    [population]
    scale = 0.02
    [[districts]]
    name = "Norte"
    city = "Lima"
    neighbourhoods = 4
    lima = true
    [[districts]]
    name = "Sur"
    city = "Lima"
    neighbourhoods = 4
    crime_level = 1.2
    lima = true
    [[districts]]
    name = "Centro"
    city = "Trujillo"
    neighbourhoods = 4
    [[strategy.rollout]]
    year = 2016
    neighbourhoods = 3
    launch = 2016-06-06
    [[strategy.rollout]]
    year = 2017
    neighbourhoods = 3
    launch = 2017-05-01
    """
)
SEED = 7
OUTPUTS = ("report.md", "effects.csv", "effects.md", "effects_summary.csv", "event_study.csv", "spillovers.csv",
           "by_stage_pillar.csv", "cost_effectiveness.csv", "survey.csv", "true_effects.parquet",
           "evaluation.json", "event_study.png", "estimator_comparison.png", "event_study.svg",
           "estimator_comparison.svg", "bacon.csv", "honest_did.csv", "scores.csv", "scores_by_source.png",
           "scores_by_source.svg")


def cli(argv: list[str]) -> int:
    """``sn_sim.cli.main``, with ``evaluate`` registered on a fresh parser if the CLI does not
    register it (yet)."""
    from sn_sim import cli as sn_cli

    parser = sn_cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "evaluate" in sub.choices:
        return sn_cli.main(argv)
    from sn_sim.evaluation.cli import register

    register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SnSimError as exc:
        print(f"sn-sim: error: {exc}", file=sys.stderr)
        return 2


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("evaluation")


@pytest.fixture(scope="module")
def run_dir(workdir) -> Path:
    scenario = workdir / "tiny_eval.toml"
    scenario.write_text(TOML, encoding="utf-8")
    out = workdir / "run"
    assert cli(["run", str(scenario), "--out", str(out), "--replicates", "2", "--seed", str(SEED),
                "--quiet", "--no-plots"]) == 0
    return out


@pytest.fixture(scope="module")
def results(run_dir) -> Results:
    return load_results(run_dir)


@pytest.fixture(scope="module")
def twin(results) -> Results:
    return run_twin(results)


@pytest.fixture(scope="module")
def evaluated(run_dir) -> Path:
    assert cli(["evaluate", str(run_dir), "--quiet"]) == 0
    return run_dir / "evaluation"


# --- the twin ------------------------------------------------------------------------------------


def test_twin_is_the_run_without_the_intervention_on_common_random_numbers(results, twin):
    assert twin.manifest["seed"] == SEED and twin.manifest["replicates"] == 2
    assert not twin.neighbourhoods["cohort_year"].notna().any()
    s = twin_scenario(results.manifest["scenario"])
    assert s.strategy.rollout == [] and s.culture_points.districts == []
    eff = true_effects(results, twin)
    first = first_selection_week(results)
    assert first is not None and first > 0
    before = eff[eff["week"] < first].filter(like="_effect").to_numpy()
    # Same population, same random numbers until the first selection (NaN: a rate with no victims).
    assert np.all((before == 0) | np.isnan(before))
    assert (before == 0).mean() > 0.9
    treated_after = eff[eff["cohort_year"].notna() & (eff["event_week"] >= 0)]
    assert treated_after["offences_effect"].abs().sum() > 0
    assert (treated_after["cost_usd_effect"] >= 0).all()
    # Event time is weeks since launch; cohorts as in the run.
    launch = results.neighbourhoods.dropna(subset=["cohort_year"])
    assert set(eff["cohort_year"].dropna().astype(int)) == {2016, 2017} == set(launch["cohort_year"].astype(int))


# --- sn-sim evaluate -------------------------------------------------------------------------------


def test_evaluate_writes_estimates_against_truth(evaluated):
    for name in OUTPUTS:
        assert (evaluated / name).is_file() and (evaluated / name).stat().st_size > 0, name
    for png in ("event_study.png", "estimator_comparison.png"):
        assert (evaluated / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (evaluated / "twin" / "manifest.json").is_file()  # the twin was simulated and kept
    meta = json.loads((evaluated / "evaluation.json").read_text())
    assert meta["twin_source"] == "computed" and meta["survey_size"] == 400 and meta["survey_seed"] == SEED

    eff = pd.read_csv(evaluated / "effects.csv")
    for col in ("replicate", "estimator", "outcome", "term", "estimate", "se", "ci_low", "ci_high", "true_effect",
                "true_att", "bias", "covers_truth"):
        assert col in eff.columns
    att = eff[eff["term"] == "ATT"]
    assert set(att["replicate"]) == {0, 1}
    admin = att[att["outcome"] == "recorded_crimes_per_1000_year"]
    assert {"twfe", "did2s", "imputation", "cs_notyet", "cs_never", "sun_abraham", "matched"} <= set(admin["estimator"])
    assert {"victimisation", "reporting", "trust_police", "insecurity", "offences_per_1000_year"} <= set(att["outcome"])
    assert np.allclose(att["bias"], att["estimate"] - att["true_effect"])
    assert (att["ci_low"] <= att["estimate"]).all() and (att["estimate"] <= att["ci_high"]).all()
    assert att["true_effect"].notna().all()
    md = (evaluated / "effects.md").read_text()
    assert "| outcome | source | estimator | estimate | 95% CI | true effect |" in md
    report = (evaluated / "report.md").read_text()  # one page for a memo: the table, spillovers, figures inside
    assert md.strip() in report and "Callaway-Sant'Anna (not-yet-treated)" in report
    assert "## Spillovers on untreated neighbours" in report and "--replicates 20" in report
    assert report.count("](data:image/png;base64,") == 3

    es = pd.read_csv(evaluated / "event_study.csv")
    assert {"event_study_twfe", "event_study_cs", "event_study_sa"} <= set(es["estimator"])
    assert (es["event_time"] < 0).any() and (es["event_time"] >= 0).any()

    # Goodman-Bacon: the 2 x 2 comparisons' weights sum to one and their weighted estimates to TWFE.
    bacon = pd.read_csv(evaluated / "bacon.csv")
    assert {"recorded_crimes_per_1000_year", "offences_per_1000_year"} <= set(bacon["outcome"])
    for _, b in bacon.groupby(["replicate", "outcome"]):
        assert b["weight"].sum() == pytest.approx(1.0, abs=1e-8)
        assert (b["weight"] * b["estimate"]).sum() == pytest.approx(b["twfe_estimate"].iloc[0], rel=1e-6, abs=1e-8)
    honest = pd.read_csv(evaluated / "honest_did.csv")
    assert set(honest["estimator"]) == {"cs_notyet"} and 0 in set(honest["M"])
    assert (honest["ci_low"] <= honest["ci_high"]).all() and honest["true_effect"].notna().all()

    sp = pd.read_csv(evaluated / "spillovers.csv")
    assert {"neighbourhood", "block"} <= set(sp["level"])
    assert set(sp["interpretation"]) <= {"displacement", "diffusion of benefits", "no detectable spillover",
                                         "undetermined", "higher than twin", "lower than twin",
                                         "no detectable difference"}

    sp_ = pd.read_csv(evaluated / "by_stage_pillar.csv")
    assert {"stage", "pillar"} <= set(sp_["kind"])
    assert {"execution", "consolidation"} <= set(sp_.loc[sp_["kind"] == "stage", "level"])
    assert {"police", "social", "community"} & set(sp_.loc[sp_["kind"] == "pillar", "level"])

    ce = pd.read_csv(evaluated / "cost_effectiveness.csv")
    truth = ce[(ce["basis"] == "truth") & ce["usd_per_unit"].notna()]
    assert np.allclose(truth["usd_per_unit"], truth["cost_usd"] / truth["quantity"])
    assert {"usd_per_offence_averted", "usd_per_pp_trust_year"} <= set(ce["measure"])
    assert (ce["cost_usd"] > 0).all()


def test_trust_and_insecurity_effects_are_taken_apart_by_mechanism(evaluated, results, twin):
    """scores.csv: the true ATT on each mean score, its parts by mechanism and the rest; the total
    is the ATT computed independently from the twin, and for trust the ledger leaves little rest."""
    from sn_sim.evaluation.twins import true_att

    table = pd.read_csv(evaluated / "scores.csv").set_index(["score", "source"])
    eff = true_effects(results, twin, ["trust_score", "insecurity_score"])
    for score in ("trust", "insecurity"):
        t = table.loc[score]
        parts = t.drop(index="total")["effect"]
        assert parts.sum() == pytest.approx(t.loc["total", "effect"], abs=1e-12)
        assert t.loc["total", "effect"] == pytest.approx(true_att(eff, f"{score}_score")["true_att"].item(), rel=1e-6)
    trust = table.loc["trust"]["effect"]
    assert abs(trust["rest"]) < 0.1 * trust.drop(["rest", "total"]).abs().sum()
    assert trust["patrol"] > 0 and trust["contacts_unjust"] < 0
    report = (evaluated / "report.md").read_text()
    assert "Trust and insecurity by mechanism" in report and "Visible extra patrol" in report


def test_evaluate_channels_takes_the_effects_apart_by_channel(workdir):
    run_one = workdir / "run_one"  # one replicate: the decomposition runs every channel's world once
    assert cli(["run", str(workdir / "tiny_eval.toml"), "--out", str(run_one), "--seed", str(SEED), "--quiet",
                "--no-plots"]) == 0
    out = workdir / "with_channels"
    assert cli(["evaluate", str(run_one), "--channels", "--workers", "1", "--no-plots", "--quiet",
                "--out", str(out), "--outcome", "recorded_crimes_per_1000_year"]) == 0
    manifest = json.loads((out / "channels" / "manifest.json").read_text())
    assert manifest["seed"] == SEED and manifest["replicates"] == 1 and manifest["order"][0] == "patrol"
    table = pd.read_csv(out / "channels" / "channels.csv")
    total = table[(table.scope == "treated") & (table.channel == "total")].set_index("outcome")["effect"]
    assert total["offences_per_1000_year"] < 0
    assert "## Effects by channel" in (out / "report.md").read_text()


def test_refuses_to_overwrite_and_force_reuses_the_twin(run_dir, evaluated, capsys):
    before = pd.read_csv(evaluated / "effects.csv")
    capsys.readouterr()
    assert cli(["evaluate", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists" in err and "--force" in err
    assert cli(["evaluate", str(run_dir), "--quiet", "--force", "--no-plots"]) == 0
    meta = json.loads((evaluated / "evaluation.json").read_text())
    assert meta["twin_source"] == "previous evaluation"
    assert (evaluated / "twin" / "panel.parquet").is_file()
    after = pd.read_csv(evaluated / "effects.csv")
    pd.testing.assert_frame_equal(before, after)  # deterministic: same run, same survey seed
    assert not list(run_dir.glob(".evaluation.tmp-*"))


def test_run_dir_twin_out_and_options(run_dir, evaluated, workdir):
    copy = workdir / "run_with_twin"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("evaluation"))
    shutil.copytree(evaluated / "twin", copy / "twin")
    out = workdir / "elsewhere" / "eval"
    assert cli(["evaluate", str(copy), "--out", str(out), "--survey-size", "50", "--seed", "3", "--quiet",
                "--no-plots", "--outcome", "trust_police", "recorded_crimes_per_1000_year"]) == 0
    meta = json.loads((out / "evaluation.json").read_text())
    assert meta["twin_source"] == "run_dir/twin" and meta["survey_seed"] == 3
    assert not (out / "twin").exists()  # the run's own twin is not copied
    eff = pd.read_csv(out / "effects.csv")
    assert set(eff["outcome"]) == {"trust_police", "recorded_crimes_per_1000_year"}
    survey = pd.read_csv(out / "survey.csv")
    assert (survey["respondents"] == 50).all()
    assert not (out / "event_study.png").exists()


def test_bad_inputs_are_one_line_errors(run_dir, workdir, results, capsys):
    cases = [
        ["evaluate", str(workdir / "missing")],
        ["evaluate", str(workdir)],  # a directory, but not a run
        ["evaluate", str(run_dir), "--out", str(workdir / "x"), "--outcome", "happiness"],
        ["evaluate", str(run_dir), "--out", str(workdir / "x"), "--survey-size", "0"],
        ["evaluate", str(run_dir), "--out", str(run_dir), "--force"],  # never replace the run itself
    ]
    for argv in cases:
        capsys.readouterr()
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("sn-sim: error:") and "\n" not in err, err
    assert not (workdir / "x").exists()
    assert (run_dir / "panel.parquet").is_file()
    # A twin/ that is not this run's twin (another seed) is refused.
    bad = workdir / "run_bad_twin"
    shutil.copytree(run_dir, bad, ignore=shutil.ignore_patterns("evaluation"))
    from sn_sim.api import run

    run(twin_scenario(results.manifest["scenario"]), seed=SEED + 1, replicates=2).save(bad / "twin", plots=False)
    capsys.readouterr()
    assert cli(["evaluate", str(bad), "--quiet"]) == 2
    assert "twin/" in capsys.readouterr().err


def test_python_api_on_results_writes_nothing(results, twin):
    ev = evaluate(results, twin=twin, outcomes=["recorded_crimes_per_1000_year"], survey_size=100, seed=1)
    assert ev.out is None and ev.metadata["twin_source"] == "given"
    assert set(ev.effects["outcome"]) == {"recorded_crimes_per_1000_year"}
    with pytest.raises(EvaluationError, match="--outcome"):
        evaluate(results, twin=twin, outcomes=["nonsense"])
    with pytest.raises(EvaluationError, match="renamed 'offences_per_1000_year'"):
        evaluate(results, twin=twin, outcomes=["offences_per_1000"])


def test_admin_rates_are_the_registry_outcomes(results, twin):
    """One name, one meaning: the administrative panel's offences_per_1000_year over a period is
    the registry's outcome over that period's neighbourhood-weeks."""
    admin = admin_data(results, twin, "year")
    p = results.panel[(results.panel["replicate"] == 0) & (pd.to_datetime(results.panel["date"]).dt.year == 2016)]
    totals = outcomes.neighbourhood_totals(p, names=["offences_per_1000_year"])
    expected = [outcomes.summarise_totals(totals, totals.index == h, names=["offences_per_1000_year"])[
        "offences_per_1000_year"] for h in totals.index]
    got = admin[(admin["replicate"] == 0) & (admin["time"] == 2016)].sort_values("neighbourhood")
    assert np.allclose(got["offences_per_1000_year"], expected)
    # Recorded crime: the same definition with recorded crimes as numerator; true effects: run minus twin.
    def recorded_rate(panel):
        g = panel.groupby("neighbourhood")[["recorded_crimes", "population"]].sum()
        return (1000 * outcomes.WEEKS_PER_YEAR * g["recorded_crimes"] / g["population"]).to_numpy()

    q = twin.panel[(twin.panel["replicate"] == 0) & (pd.to_datetime(twin.panel["date"]).dt.year == 2016)]
    assert np.allclose(got["recorded_crimes_per_1000_year"], recorded_rate(p))
    assert np.allclose(got["tau_recorded_crimes_per_1000_year"], recorded_rate(p) - recorded_rate(q))


# --- the survey --------------------------------------------------------------------------------------


def test_survey_is_seeded_binomial_sampling_of_true_shares(results, twin):
    a = draw_survey(results.panel, results.neighbourhoods, size=400, seed=1, twin_panel=twin.panel)
    b = draw_survey(results.panel, results.neighbourhoods, size=400, seed=1)
    c = draw_survey(results.panel, results.neighbourhoods, size=400, seed=2)
    pd.testing.assert_series_equal(a["victims"], b["victims"])
    assert not a["victims"].equals(c["victims"])
    assert sorted(a["year"].unique()) == [2015, 2016, 2017]
    ever_or_control = results.neighbourhoods["cohort_year"].notna() | results.neighbourhoods["is_control"]
    assert len(a) == 3 * int(ever_or_control.sum())
    assert (a["reported"] <= a["victims"]).all() and (a["victims"] <= 400).all()
    # Reporting is asked of the sampled victims only.
    with_victims = a["victims"] > 0
    assert np.allclose(a.loc[with_victims, "reporting"], 100 * a["reported"] / a["victims"])
    assert a.loc[~with_victims, "reporting"].isna().all()
    # Binomial(n, p) is simple random sampling: a huge sample recovers the population share.
    big = draw_survey(results.panel, results.neighbourhoods, size=2_000_000, seed=5)
    for item in ("victimisation", "trust_police", "insecurity"):
        assert np.allclose(big[item], big[f"true_{item}"], atol=0.25)
    # The standard error of a share of 400 is about 2.5 points at 50 %.
    assert a["se_trust_police"].max() < 2.6
    # Baseline and follow-ups: treated_at_survey flips after launch, never before.
    treated = a[a["cohort_year"].notna()].sort_values(["replicate", "neighbourhood", "year"])
    flips = treated.groupby(["replicate", "neighbourhood"])["treated_at_survey"].apply(lambda s: s.is_monotonic_increasing)
    assert flips.all()
    assert "true_effect_trust_police" in a.columns and (a.loc[a["year"] == 2015, "true_effect_trust_police"] == 0).all()
    everyone = draw_survey(results.panel, results.neighbourhoods, size=10, seed=1, coverage="all")
    assert len(everyone) == 3 * len(results.neighbourhoods)


# --- spillovers -----------------------------------------------------------------------------------


def test_spillover_sign_convention(results):
    """A twin with fewer offences next door than the run means the strategy pushed crime there:
    displacement (+); more offences in the twin: diffusion of benefits (-)."""
    nb = results.neighbourhoods
    sp0 = neighbourhood_spillovers(results, results)  # the run as its own twin: no spillover at all
    assert (sp0["effect"].fillna(0) == 0).all()
    treated = set(nb.loc[nb["cohort_year"].notna(), ["replicate", "neighbourhood"]].itertuples(index=False, name=None))
    adjacent = {(r, h) for r, h, adj, c in nb[["replicate", "neighbourhood", "adjacent", "cohort_year"]].itertuples(index=False)
                if pd.isna(c) and any((r, int(a)) in treated for a in adj)}
    assert adjacent, "the tiny pool must have an untreated neighbour of an intervened neighbourhood"
    for shift, sign, word in ((-10.0, 1, "displacement"), (10.0, -1, "diffusion of benefits")):
        panel = results.panel.copy()
        key = list(zip(panel["replicate"], panel["neighbourhood"]))
        mask = np.array([k in adjacent for k in key])
        panel.loc[mask, "offences"] += shift
        panel.loc[mask, "offences_per_1000_week"] = 1000 * panel.loc[mask, "offences"] / panel.loc[mask, "population"]
        blocks = results.blocks.copy()
        bkey = list(zip(blocks["replicate"], blocks["neighbourhood"]))
        blocks.loc[np.array([k in adjacent for k in bkey]), "offences"] += shift
        fake_twin = Results(panel=panel, blocks=blocks, manifest=results.manifest, neighbourhoods=nb)
        sp = neighbourhood_spillovers(results, fake_twin, outcomes=("offences_per_1000_year",))
        row = sp[sp["group"] == "adjacent_untreated"]
        assert (np.sign(row["effect"]) == sign).all() and set(row["interpretation"]) == {word}
        per_1000_year = -shift * WEEKS_PER_YEAR * 1000 / panel.loc[mask, "population"].mean()
        assert row["effect"].mean() == pytest.approx(per_1000_year, rel=0.05)
        bs = block_spillovers(results, fake_twin)
        border = bs[bs["group"] == "border_blocks_facing_intervened"]
        assert np.allclose(border["effect"], -shift)
        assert np.allclose(bs.loc[bs["group"] == "border_minus_interior", "effect"], 0.0)


def test_console_summary_names_units_estimators_and_why_coverage_needs_replicates(capsys):
    from sn_sim.evaluation.cli import print_summary

    summary = pd.DataFrame({"outcome": ["victimisation", "victimisation"], "term": ["ATT", "ATT"],
                            "estimator": ["cs_notyet", "twfe"], "estimate": [-0.01, -0.02], "bias": [0.001, -0.009],
                            "true_att": [-0.011, -0.011]})
    print_summary(summary, replicates=1)
    out = capsys.readouterr().out
    assert "victimisation (" in out and "true ATT -0.011" in out
    assert "Callaway" in out and "cs_notyet" not in out  # full names, not codes
    assert "1 replicate;" in out and "--replicates 20" in out
    print_summary(summary, replicates=40)
    assert "note:" not in capsys.readouterr().out
