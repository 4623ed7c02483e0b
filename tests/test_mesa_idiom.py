"""The model behaves as Mesa users expect: keyword construction, run_model, steps, the
DataCollector and mesa.batch_run, Mesa's scenario attribute, real agents."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from sn_sim import SafeNeighbourhoodModel, Scenario


def test_run_model_runs_to_the_end_and_stops(tiny_path):
    model = SafeNeighbourhoodModel(tiny_path, rng=3)
    assert model.steps == 0 and model.week == 0  # the burn-in is outside Mesa's step count
    model.step()
    model.step()
    assert model.steps == model.week == 2
    model.run_model()
    assert not model.running
    assert model.steps == model.week == model.n_weeks
    model.step()  # stepping a finished model changes nothing
    assert model.week == model.n_weeks


def test_keyword_overrides_dotted_or_double_underscore(tiny_path):
    a = SafeNeighbourhoodModel(tiny_path, rng=1, scale=0.02, police__hot_zone_share=0.2)
    b = SafeNeighbourhoodModel(tiny_path, rng=1, **{"population.scale": 0.02, "police.hot_zone_share": 0.2})
    assert a.spec.police.hot_zone_share == b.spec.police.hot_zone_share == 0.2
    assert a.spec.population.scale == 0.02
    assert a.spec.digest() == b.spec.digest()
    # Mesa's own scenario attribute is a Mesa Scenario that reads ours
    assert isinstance(a.scenario, mesa.experimental.scenarios.Scenario)
    assert isinstance(a.scenario.spec, Scenario)
    assert a.scenario.police.hot_zone_share == 0.2


def test_same_rng_same_run_and_from_a_shipped_name():
    a = SafeNeighbourhoodModel("no_intervention", rng=5, scale=0.005)
    b = SafeNeighbourhoodModel("no_intervention", rng=5, scale=0.005)
    for _ in range(3):
        a.step()
        b.step()
    assert np.array_equal(a.recorder.columns["offences"], b.recorder.columns["offences"])


def test_datacollector_holds_pool_wide_weekly_outcomes(tiny_path):
    model = SafeNeighbourhoodModel(tiny_path, rng=2)
    for _ in range(5):
        model.step()
    df = model.datacollector.get_model_vars_dataframe()
    assert len(df) == 5
    assert {"offences_per_1000_year", "trust_police", "victimisation_12m"} <= set(df.columns)
    assert ((df["trust_police"] >= 0) & (df["trust_police"] <= 1)).all()


def test_batch_run_on_a_small_grid(tiny_path):
    rows = mesa.batch_run(
        SafeNeighbourhoodModel,
        parameters={"scenario": str(tiny_path), "police__hot_zone_share": [0.0, 0.9]},
        rng=[1, 2], max_steps=12, number_processes=1, data_collection_period=-1, display_progress=False,
    )
    assert len(rows) == 4
    assert {r["police__hot_zone_share"] for r in rows} == {0.0, 0.9}
    assert all(r["Step"] == 12 for r in rows)
    assert all(np.isfinite(r["offences_per_1000_year"]) for r in rows)


def test_culture_organisations_are_mesa_agents_stepped_through_an_agentset(tiny_path):
    model = SafeNeighbourhoodModel(tiny_path, rng=4)
    model.run_model()
    orgs = model.culture_organisations
    assert len(orgs) == model.spec.culture_points.orgs_trained
    assert all(isinstance(o, mesa.Agent) for o in orgs)
    assert set(orgs) <= set(model.agents)
    financed = orgs.select(lambda o: o.stage == "financed")
    assert len(financed) > 0
    assert model.recorder.columns["culture_workshops"].sum() > 0


@pytest.mark.parametrize("bad", [{"police__no_such_key": 1}, {"police.hot_zone_share": 7}])
def test_bad_keyword_is_a_scenario_error(tiny_path, bad):
    from sn_sim import ScenarioError

    with pytest.raises(ScenarioError):
        SafeNeighbourhoodModel(tiny_path, rng=1, **bad)
