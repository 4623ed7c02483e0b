"""Effects by channel (`sn-sim decompose`, docs/ODD.md §7.26): the channels add up to the total,
the total is the effect against the world with every channel off, and patrol deters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sn_sim.experiment.channels import chain
from sn_sim.experiment.compare import compare
from sn_sim.scenario import load_scenario

SN_SIM = str(Path(sys.executable).parent / "sn-sim")


@pytest.fixture(scope="module")
def compared(tiny_path, tmp_path_factory):
    """`sn-sim compare NO_ROLLOUT TINY --channels`: the comparison, with tiny's effects taken apart
    by channel in channels/tiny/ (what `sn-sim decompose` writes; the README test runs that one)."""
    d = tmp_path_factory.mktemp("decompose")
    (d / "nobody.toml").write_text(f'extends = "{tiny_path}"\nname = "nobody"\n[strategy]\nrollout = []\n')
    out = d / "cmp"
    proc = subprocess.run([SN_SIM, "compare", str(d / "nobody.toml"), str(tiny_path), "--channels", "--replicates",
                           "1", "--workers", "1", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


@pytest.fixture(scope="module")
def decomposed(compared):
    return compared[0] / "channels" / "tiny"


def test_compare_prints_and_saves_the_decomposition(compared):
    out, stdout = compared
    assert "# tiny: effects by channel" in stdout and "Extra patrol" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["channels"] == {"tiny": "channels/tiny"}
    assert json.loads((out / "channels" / "tiny" / "manifest.json").read_text())["kind"] == "sn_sim.decompose"


def test_decompose_writes_its_tables_plots_and_manifest(decomposed):
    for name in ("channels.csv", "channels.md", "replicates.csv", "neighbourhood_weeks.parquet", "manifest.json",
                 "plots/waterfall.png", "plots/waterfall.svg", "plots/waterfall_pool.png"):
        assert (decomposed / name).is_file(), name
    manifest = json.loads((decomposed / "manifest.json").read_text())
    assert manifest["kind"] == "sn_sim.decompose" and manifest["replicates"] == 1
    assert manifest["order"][0] == "patrol" and "culture_points" in manifest["order"]


def test_channels_a_scenario_cannot_use_are_left_out(tiny_path):
    scenario = load_scenario(tiny_path, ["culture_points.districts=[]"])
    assert "culture_points" not in [name for name, _ in chain(scenario, None)]


def test_channels_add_up_to_the_total_in_every_replicate(decomposed):
    reps = pd.read_csv(decomposed / "replicates.csv")
    for _, g in reps.groupby(["scope", "outcome", "replicate"]):
        parts = g.loc[g.channel != "total", "contribution"].sum()
        total = g.loc[g.channel == "total", "contribution"].item()
        assert parts == pytest.approx(total, abs=1e-9 * max(1.0, abs(total)))


def test_total_is_the_effect_against_every_channel_off(decomposed, tiny_path):
    """An independent compare of the all-off world against the full scenario gives the same
    total (common random numbers make both exact)."""
    scenario = load_scenario(tiny_path)
    worlds = chain(scenario, json.loads((decomposed / "manifest.json").read_text())["order"])
    res = compare([worlds[0][1], worlds[-1][1]], replicates=1, workers=1)
    table = pd.read_csv(decomposed / "channels.csv")
    for scope in ("treated", "all"):
        for outcome in ("offences_per_1000_year", "trust_police"):
            e = res.effects
            expected = e[(e.scope == scope) & (e.outcome == outcome) & (e.scenario == worlds[-1][1].name)].effect.item()
            got = table[(table.scope == scope) & (table.outcome == outcome) & (table.channel == "total")].effect.item()
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_every_channel_off_is_the_no_intervention_twin(tiny_path):
    """The chain starts from the twin ``sn-sim evaluate`` uses: the Strategy selects and spends but
    nothing acts, so every outcome is the twin's, week by week. Contributions therefore add up to
    the true effect against the twin."""
    from sn_sim.api import run_replicate
    from sn_sim.evaluation.twins import twin_scenario

    scenario = load_scenario(tiny_path)
    off = run_replicate(chain(scenario, None)[0][1], 5, 0)[0]
    twin = run_replicate(twin_scenario(scenario), 5, 0)[0]
    assert off["cost_usd"].sum() > 0 == twin["cost_usd"].sum()
    for column in ("offences", "victims", "recorded_crimes", "arrests", "trust_score", "insecurity_score",
                   "victimisation_12m", "youth_in_gangs", "incarcerated", "collective_efficacy"):
        np.testing.assert_array_equal(off[column].to_numpy(), twin[column].to_numpy(), err_msg=column)


def test_neighbourhood_weeks_add_up_to_each_channels_contribution(decomposed):
    """neighbourhood_weeks.parquet: each channel's change to every neighbourhood's weekly offences.
    Summed over the treated neighbourhoods and the post period, they are the channel's contribution
    to the offence rate times one constant (the person-years, the same in every world of the one
    replicate), so the two records agree channel by channel."""
    nw = pd.read_parquet(decomposed / "neighbourhood_weeks.parquet")
    manifest = json.loads((decomposed / "manifest.json").read_text())
    assert manifest["replicates"] == 1 and list(nw["channel"].cat.categories) == manifest["order"]
    assert nw.groupby("channel", observed=True).size().nunique() == 1  # every cell, for every channel
    # Before the first launch nothing a channel buys acts yet.
    assert (nw.loc[nw["week"] < manifest["post_start_week"], ["offences", "victims"]] == 0).all().all()
    post = nw[(nw["week"] >= manifest["post_start_week"]) & nw["treated"]]
    counts = post.groupby("channel", observed=True)["offences"].sum()
    table = pd.read_csv(decomposed / "channels.csv")
    rate = table[(table.scope == "treated") & (table.outcome == "offences_per_1000_year")].set_index("channel")
    moved = [c for c in manifest["order"] if abs(counts[c]) > 1]
    assert len(moved) >= 2
    ratios = np.array([rate.loc[c, "effect"] / counts[c] for c in moved])
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-3)
    assert ratios[0] > 0
    assert "## Where the offences fall" in (decomposed / "channels.md").read_text()


def test_extra_patrol_lowers_offences_in_treated_neighbourhoods(decomposed):
    reps = pd.read_csv(decomposed / "replicates.csv")
    patrol = reps[(reps.scope == "treated") & (reps.outcome == "offences_per_1000_year") & (reps.channel == "patrol")]
    assert (patrol.contribution < 0).all(), patrol


def test_a_switched_off_channel_spends_the_same_money(tiny_path):
    scenario = load_scenario(tiny_path)
    worlds = chain(scenario, ["patrol"])
    assert not any(worlds[0][1].strategy.channels.model_dump().values())
    assert all(worlds[-1][1].strategy.channels.model_dump().values())
    from sn_sim.api import run

    off, on = run(worlds[0][1], seed=1).panel, run(worlds[-1][1], seed=1).panel
    np.testing.assert_allclose(off.cost_usd.sum(), on.cost_usd.sum(), rtol=0.02)
    assert off.patrol_hours.sum() < on.patrol_hours.sum()


def test_unknown_channel_in_order_is_one_line(tiny_path, tmp_path):
    proc = subprocess.run([SN_SIM, "decompose", str(tiny_path), "--order", "patrol,bribes", "--out",
                           str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "bribes" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()
