"""Block fields: the places where offences happen, stored as ``(n_neighbourhoods, n_blocks)``
arrays; ``block_layer`` turns one neighbourhood's row into a Mesa PropertyLayer (the app's map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mesa.discrete_space import PropertyLayer

from sn_sim.scenario import Scenario
from sn_sim.world.geography import Geography, attractor_weights


@dataclass
class Blocks:
    """Block fields, shape (n_neighbourhoods, blocks_per_neighbourhood).

    ``attractiveness`` is static: the land use's attractor weight times a heavy-tailed
    (Pareto) place-specific factor, scaled to mean 1 over the pool; ``repeat`` is the dynamic
    relative rise raised by each offence and decaying weekly (near repeats: Johnson & Bowers
    2004; self-exciting attractiveness: Short et al. 2008). It is relative because a block's
    static attractiveness stands for its suitable targets: one offence at a market with many
    targets raises the risk of the place less than one at a quiet residential block.
    """

    attractiveness: np.ndarray   # float64, static, mean c. 1
    repeat: np.ndarray           # float64, dynamic relative rise of the attractiveness (0 = at its static level)
    space_condition: np.ndarray  # float64 in [0, 1]: lit, maintained public space; disorder = 1 - condition
    outlets: np.ndarray          # int16, alcohol outlets
    patrol_hours: np.ndarray     # float64, this week's patrol hours
    recorded_crime: np.ndarray   # float64, exponentially weighted recorded offences (what police see)
    offences_year: np.ndarray    # int64, offences this calendar year (agent units)
    recovered: np.ndarray        # bool, public space recovered by the Strategy

    @classmethod
    def create(cls, scenario: Scenario, geo: Geography, rng: np.random.Generator) -> "Blocks":
        shape = (geo.n, geo.blocks_per_neighbourhood)
        a = scenario.crime.attractiveness_shape
        # Pareto (Lomax + 1) scaled to mean 1, times the land use's weight, over the pool's mean
        # weight: attractors and generators plus unobserved place features.
        weight = attractor_weights(scenario)[geo.land_use]
        attractiveness = (rng.pareto(a, size=shape) + 1.0) * (a - 1.0) / a * weight / weight.mean()
        c = scenario.community
        # (The clip to [0, 1] only keeps the condition a valid score: not a parameter.)
        condition = np.clip(rng.beta(c.initial_condition_a, c.initial_condition_b, size=shape)
                            - c.condition_deprivation_effect * geo.deprivation[:, None], 0.0, 1.0)
        outlets = rng.poisson(c.outlets_per_block * attractiveness.clip(c.outlet_attractiveness_min,
                                                                        c.outlet_attractiveness_max)).astype(np.int16)
        return cls(
            attractiveness=attractiveness,
            repeat=np.zeros(shape),
            space_condition=condition,
            outlets=outlets,
            patrol_hours=np.zeros(shape),
            recorded_crime=np.zeros(shape),
            offences_year=np.zeros(shape, dtype=np.int64),
            recovered=np.zeros(shape, dtype=bool),
        )

    @property
    def current_attractiveness(self) -> np.ndarray:
        """What offenders weigh this week: static attractiveness x (1 + recent-offence rise)."""
        return self.attractiveness * (1.0 + self.repeat)

    @property
    def disorder(self) -> np.ndarray:
        return 1.0 - self.space_condition


def block_layer(values: np.ndarray, geo: Geography, neighbourhood: int, name: str = "field") -> PropertyLayer:
    """One neighbourhood's block field as a Mesa PropertyLayer of shape (rows, cols), e.g. for a map."""
    data = np.asarray(values[neighbourhood]).reshape(geo.rows, geo.cols)
    return PropertyLayer.from_data(name, data)
