"""The world: every piece of simulation state in one object, and how it is built.

Processes read and write the world; they never see the Mesa model. The world holds

- ``scenario`` (validated parameters), ``clock``, ``random`` (named streams);
- ``geo`` (static neighbourhoods and blocks), ``residents`` (structure of arrays) and their
  ``layout`` and ``ages`` (age groups), ``blocks`` (block fields);
- ``places`` (neighbourhood state), ``reference`` (levels without the Strategy);
- the week's ``tally`` (flows), ``effort`` and ``offences`` (handed between processes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sn_sim.scenario import Scenario
from sn_sim.world.blocks import Blocks
from sn_sim.world.clock import Clock
from sn_sim.world.events import Offences, WeeklyEffort
from sn_sim.world.geography import Geography, build_geography
from sn_sim.world.neighbourhoods import NeighbourhoodState, References
from sn_sim.world.randomness import RandomStreams
from sn_sim.world.residents import AgeGroups, Layout, Residents, create_residents
from sn_sim.world.tally import WeekTally


@dataclass
class World:
    scenario: Scenario
    clock: Clock
    random: RandomStreams
    geo: Geography
    residents: Residents
    layout: Layout
    ages: AgeGroups
    blocks: Blocks
    places: NeighbourhoodState
    reference: References
    tally: WeekTally
    effort: WeeklyEffort
    offences: Offences

    # --- units --------------------------------------------------------------------------------
    @property
    def scale(self) -> float:
        """Agents per inhabitant."""
        return self.scenario.population.scale

    @property
    def inhabitants(self) -> np.ndarray:
        """Inhabitants represented by each neighbourhood's agents (agents / scale), shape (n,)."""
        return np.diff(self.layout.nb_start) / self.scale

    def to_agents(self, amount: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Inhabitant-unit amounts -> whole agents at this scale (stochastic rounding, unbiased)."""
        x = np.asarray(amount, dtype=float) * self.scale
        base = np.floor(x)
        return (base + (rng.random(x.shape) < x - base)).astype(np.int64)

    def per_neighbourhood(self, values: np.ndarray) -> np.ndarray:
        """Sum of a per-resident array within each neighbourhood (agent units), shape (n,)."""
        return np.add.reduceat(values, self.layout.nb_start[:-1], dtype=np.int64)

    def share_by_neighbourhood(self, mask: np.ndarray, among: np.ndarray) -> np.ndarray:
        """Share of ``among`` residents for whom ``mask`` holds, per neighbourhood."""
        return self.per_neighbourhood(mask & among) / np.maximum(self.per_neighbourhood(among), 1)

    def former_prisoner_share(self) -> np.ndarray:
        """Adults with a prison record, per neighbourhood (a selection criterion)."""
        return self.share_by_neighbourhood(self.residents.former_prisoner, self.ages.adult)

    def refresh_ages(self) -> None:
        y = self.scenario.youth
        self.ages = AgeGroups.of(self.residents, y.min_age, y.max_age)

    @property
    def free(self) -> np.ndarray:
        """(N,) bool: not in prison this week."""
        return self.residents.released_week <= self.clock.week


def build_world(scenario: Scenario, seed_sequence: np.random.SeedSequence) -> tuple[World, np.random.Generator]:
    """The world at the start of the burn-in: places, people and blocks drawn from the scenario.

    Returns the world and the generator the initial state was drawn from: processes that draw
    initial stocks of their own continue on it (model.py lists their order)."""
    s = scenario
    clock = Clock(s.calendar.start, s.calendar.end, week=-s.calendar.burn_in_weeks)
    random = RandomStreams(seed_sequence, clock)
    rng = random.initial()
    geo = build_geography(s, rng)
    residents, layout = create_residents(s, geo, rng)
    blocks = Blocks.create(s, geo, rng)
    n = geo.n
    y = s.youth
    return World(
        scenario=s, clock=clock, random=random, geo=geo, residents=residents, layout=layout,
        ages=AgeGroups.of(residents, y.min_age, y.max_age), blocks=blocks,
        places=NeighbourhoodState.empty(n),
        reference=References(junta_share=np.zeros(n), condition=blocks.space_condition.copy(),
                             disorder=blocks.disorder.copy(), offence_rate=np.zeros(n)),
        tally=WeekTally(n), effort=WeeklyEffort.none(n, len(s.programs)), offences=Offences.empty(),
    ), rng
