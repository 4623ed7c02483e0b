"""Crime at places: land use, journeys to crime, displacement and victims (docs/ODD.md §7.4, §7.6).

Directions on controlled inputs, paired on common random numbers where the mechanism allows it,
and the concentration of offences at places that must emerge from them.
"""

from __future__ import annotations

import numpy as np
import pytest

from sn_sim.api import run
from sn_sim.processes import crime
from sn_sim.world.geography import LAND_USES, MARKET, RESIDENTIAL, TRANSPORT

from conftest import make_model


def test_land_use_is_drawn_as_the_scenario_says(quiet_scenario):
    m = make_model(quiet_scenario, seed=0)
    lu = m.geo.land_use
    assert ((lu == MARKET).sum(axis=1) == quiet_scenario.land_use.markets).all()
    assert ((lu == TRANSPORT).sum(axis=1) == quiet_scenario.land_use.transport_nodes).all()
    # Fewer residents live on a non-residential block (land_use.nonresidential_density < 1).
    per_block = np.diff(m.world.layout.block_start).reshape(lu.shape)
    assert per_block[lu != RESIDENTIAL].mean() < 0.6 * per_block[lu == RESIDENTIAL].mean()


def test_a_more_attractive_block_draws_more_of_the_same_offenders(quiet_scenario):
    """Paired: the same offenders with the same uniforms; only one block's attractiveness rises.
    Inverse-transform sampling makes the count at that block monotone in its weight."""
    m = make_model(quiet_scenario, seed=1)
    w = m.world
    B = m.geo.blocks_per_neighbourhood
    homes = np.repeat(np.arange(B, 2 * B), 200)  # 200 offenders on every block of neighbourhood 1
    u = np.random.default_rng(0).random(homes.size)
    block = B + 2 * m.geo.cols + 5  # an interior block of neighbourhood 1
    before = crime.choose_targets(w, homes, u)
    m.blocks.attractiveness.ravel()[block] *= 10
    after = crime.choose_targets(w, homes, u)
    assert (after == block).sum() > 3 * max((before == block).sum(), 1)
    # Nobody who chose that block before changes their mind.
    assert (after[before == block] == block).all()


def test_journeys_to_crime_are_short_and_cross_borders(quiet_scenario):
    """Distance decay: most offences are near home, some are in the next neighbourhood."""
    m = make_model(quiet_scenario, seed=2)
    w, geo = m.world, m.geo
    B, cols = geo.blocks_per_neighbourhood, geo.cols
    middle = int(np.flatnonzero((geo.search_area[:, 0] >= 0) & (geo.search_area[:, 2] >= 0))[0])
    homes = middle * B + np.repeat(np.arange(B), 300)
    target = crime.choose_targets(w, homes, np.random.default_rng(1).random(homes.size))
    assert set(np.unique(target // B)) <= set(geo.search_area[middle])
    # Column distance in a city row of neighbourhoods side by side.
    order = {nb: k for k, nb in enumerate(geo.search_area[middle])}
    offset = np.array([order[t] for t in target // B]) - 1
    dc = (target % B) % cols + offset * cols - (homes % B) % cols
    dr = (target % B) // cols - (homes % B) // cols
    dist = np.hypot(dr, dc)
    assert np.median(dist) < 4
    assert 0.02 < (offset != 0).mean() < 0.5, (offset != 0).mean()


def test_market_and_transport_blocks_are_hot_spots_in_a_run(quiet_scenario):
    res = run(quiet_scenario, seed=3)
    per_use = res.blocks.groupby("land_use", observed=True).offences.mean()
    assert per_use["market"] > 3 * per_use["residential"]
    assert per_use["transport"] > 2 * per_use["residential"]
    assert set(per_use.index) <= set(LAND_USES)


def test_offences_concentrate_at_few_places_stably_from_year_to_year(quiet_scenario):
    """The law of crime concentration (Weisburd 2015) and the stability of hot spots: a small
    share of blocks holds half the offences, and the hottest blocks stay hot next year."""
    res = run(quiet_scenario, seed=4)
    shares = []
    for _, g in res.blocks.groupby("year"):
        o = np.sort(g.offences.to_numpy())[::-1]
        shares.append((np.searchsorted(np.cumsum(o) / o.sum(), 0.5) + 1) / o.size)
    assert max(shares) < 0.2, shares
    piv = res.blocks.pivot_table(index=["neighbourhood", "block"], columns="year", values="offences")
    years = piv.columns
    # Counts, not ranks: at this small scale most blocks see a handful of offences a year, whose
    # ranks are noise; the hot spots carry the correlation of counts.
    rho = [piv[a].corr(piv[b]) for a, b in zip(years[:-1], years[1:])]
    assert min(rho) > 0.8, rho


def test_displaced_offences_land_next_to_the_deterred_target(quiet_scenario):
    m = make_model(quiet_scenario, seed=5)
    w, geo = m.world, m.geo
    deterred_at = np.random.default_rng(2).integers(0, geo.n * geo.blocks_per_neighbourhood, size=5000)
    pick = crime.displacement_targets(w, deterred_at, np.random.default_rng(3).random(deterred_at.size))
    assert (pick >= 0).all(), "a retry always has a neighbouring block, also at grid edges"
    assert (geo.block_neighbours[deterred_at] == pick[:, None]).any(axis=1).all()
    # The next suitable target: an attractive neighbour is chosen more often.
    b = 2 * geo.cols + 4
    nbrs = geo.block_neighbours[b]
    m.blocks.attractiveness.ravel()[nbrs] = 1.0
    m.blocks.repeat.ravel()[nbrs] = 0.0
    m.blocks.attractiveness.ravel()[nbrs[0]] = 20.0
    picks = crime.displacement_targets(w, np.full(2000, b), np.random.default_rng(4).random(2000))
    assert (picks == nbrs[0]).mean() == pytest.approx(20 / 27, abs=0.05)


def test_victims_at_markets_are_mostly_people_from_elsewhere(quiet_scenario):
    """Street robbery at a market hits visitors; at a residential block, its residents."""
    m = make_model(quiet_scenario, seed=6)
    w = m.world
    lu = m.geo.land_use.ravel()
    victims, blocks = [], []
    for _ in range(30):
        o = crime.draw_offences(w)
        w.clock.week += 1
        victims.append(o.victim)
        blocks.append(o.block)
    v, b = np.concatenate(victims), np.concatenate(blocks)
    resident_of_block = m.residents.block[v] == b
    assert resident_of_block[lu[b] == MARKET].mean() < 0.4
    assert resident_of_block[lu[b] == RESIDENTIAL].mean() > 0.6


# --- stated national trends (docs/ODD.md §7.27) -------------------------------------------------------


def _offences_per_week(scenario, seed=7):
    res = run(scenario, seed=seed)
    p = res.panel
    return p.groupby("week")[["offences", "recorded_crimes"]].sum(), p.drop_duplicates("week").set_index("week").date


def test_an_offending_trend_lowers_offences_only_from_its_window_on(quiet_scenario):
    """Paired on common random numbers: identical before the window opens, fewer offences after."""
    flat, dates = _offences_per_week(quiet_scenario)
    falling, _ = _offences_per_week(quiet_scenario.with_overrides({
        "trends.offending_per_year": -0.3, "trends.offending_from": "2016-01-04", "trends.offending_until": "2016-12-26"}))
    before = (dates < "2016-01-04").to_numpy()
    after = (dates > "2016-12-26").to_numpy()
    np.testing.assert_array_equal(flat.offences[before], falling.offences[before])
    assert falling.offences[after].sum() < 0.85 * flat.offences[after].sum()


def test_a_reporting_trend_raises_the_share_of_offences_the_police_record(quiet_scenario):
    flat, _ = _offences_per_week(quiet_scenario)
    rising, _ = _offences_per_week(quiet_scenario.with_overrides({"trends.reporting_logit_per_year": 0.5}))
    share = lambda d: d.recorded_crimes.sum() / d.offences.sum()  # noqa: E731
    assert share(rising) > share(flat) + 0.02


def test_deterrence_at_some_blocks_equals_the_whole_map_there(quiet_scenario):
    m = make_model(quiet_scenario, seed=8)
    m.blocks.patrol_hours.ravel()[::7] += 40.0
    at = np.random.default_rng(5).integers(0, m.blocks.patrol_hours.size, size=300)
    np.testing.assert_allclose(crime.deterrence(m.world, at), crime.deterrence(m.world).ravel()[at], rtol=1e-12)


def test_a_property_crime_trend_leaves_violence_alone(quiet_scenario):
    res = run(quiet_scenario, seed=9).panel
    falling = run(quiet_scenario.with_overrides({"trends.property_offending_per_year": -0.3}), seed=9).panel
    assert falling.property_offences.sum() < 0.8 * res.property_offences.sum()
    assert falling.violent_offences.sum() == pytest.approx(res.violent_offences.sum(), rel=0.05)


def test_a_rebound_gives_back_part_of_the_fall_from_its_window_on(quiet_scenario):
    """Paired on common random numbers: a rebound changes nothing before its window opens, then
    more property offences happen than after the fall alone, fewer than with no trend at all."""
    fall = {"trends.property_offending_per_year": -0.4, "trends.property_offending_from": "2016-01-04",
            "trends.property_offending_until": "2016-12-26"}
    flat = run(quiet_scenario, seed=9).panel
    fallen = run(quiet_scenario.with_overrides(fall), seed=9).panel
    rebound = run(quiet_scenario.with_overrides({**fall, "trends.property_rebound_per_year": 0.3,
                                                 "trends.property_rebound_from": "2017-01-02",
                                                 "trends.property_rebound_until": "2017-12-25"}), seed=9).panel
    before, after = fallen.date < "2017-01-02", fallen.date >= "2017-03-06"
    np.testing.assert_array_equal(fallen.offences[before], rebound.offences[before])
    assert fallen.property_offences[after].sum() < rebound.property_offences[after].sum() < flat.property_offences[after].sum()


@pytest.mark.parametrize("rebound, message", [
    ({"trends.property_rebound_from": "2017-06-05"}, "property_rebound_from must not be before"),
    ({"trends.property_rebound_per_year": 0.5}, "gives back more than the fall"),
])
def test_a_rebound_only_follows_and_never_exceeds_a_fall(quiet_scenario, rebound, message):
    from sn_sim.errors import ScenarioError

    trend = {"trends.property_offending_per_year": -0.2, "trends.property_offending_from": "2016-01-04",
             "trends.property_offending_until": "2017-12-25", "trends.property_rebound_per_year": 0.1,
             "trends.property_rebound_from": "2017-12-25", "trends.property_rebound_until": "2019-12-30"}
    quiet_scenario.with_overrides(trend)  # valid: starts as the fall ends, gives back half
    with pytest.raises(ScenarioError, match=message):
        quiet_scenario.with_overrides({**trend, **rebound})
