"""The world: every piece of simulation state in one object, and how it is built.

Processes read and write the world; they never see the Mesa model. The world holds

- ``scenario`` (validated parameters), ``clock``, ``random`` (named streams);
- ``geo`` (static neighbourhoods and blocks), ``residents`` (structure of arrays) and their
  ``layout`` and ``ages`` (age groups), ``blocks`` (block fields);
- ``places`` (neighbourhood state), ``reference`` (levels without the Strategy);
- the week's ``tally`` (flows), ``effort`` and ``offences`` (handed between processes);
- ``trust_ledger`` and ``insecurity_ledger``: the scores' changes by source (world/ledger.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterator

import numpy as np

from sn_sim.scenario import Scenario
from sn_sim.world.blocks import Blocks
from sn_sim.world.clock import Clock
from sn_sim.world.events import Offences, WeeklyEffort
from sn_sim.world.geography import Geography, build_geography
from sn_sim.world.ledger import INSECURITY_SOURCES, TRUST_SOURCES, ScoreLedger
from sn_sim.world.neighbourhoods import NeighbourhoodState, References
from sn_sim.world.randomness import RandomStreams
from sn_sim.world.residents import GANG_AT_RISK, GANG_INVOLVED, AgeGroups, Layout, Residents, create_residents
from sn_sim.world.tally import WeekTally


# Residents per chunk of a streaming pass over everyone (about 1 MB per float32 temporary):
# weekly passes work chunk by chunk so that their temporaries stay in the CPU cache, and the cost
# per resident does not grow once the resident arrays outgrow the cache (a ten-times larger
# pool). Elementwise results, and sequential random draws taken chunk by chunk, are identical.
CHUNK = 1 << 18
IN_PRISON = 3  # youth_at_home's fourth state, after the gang states (0, 1, 2)


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
    trust_ledger: ScoreLedger
    insecurity_ledger: ScoreLedger

    # --- units --------------------------------------------------------------------------------
    @property
    def scale(self) -> float:
        """Agents per inhabitant."""
        return self.scenario.population.scale

    @property
    def inhabitants(self) -> np.ndarray:
        """Inhabitants represented by each neighbourhood's agents (agents / scale), shape (n,)."""
        return self.agents_per_neighbourhood / self.scale

    def to_agents(self, amount: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Inhabitant-unit amounts -> whole agents at this scale (stochastic rounding, unbiased)."""
        x = np.asarray(amount, dtype=float) * self.scale
        base = np.floor(x)
        return (base + (rng.random(x.shape) < x - base)).astype(np.int64)

    def count_by_neighbourhood(self, masks: Callable[[slice], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Per-neighbourhood sums of per-resident masks, shape (n,) each.

        ``masks(residents)`` returns named boolean (or integer) arrays for one slice of whole
        neighbourhoods; it is called chunk by chunk, so its temporaries stay in the CPU cache."""
        out: dict[str, np.ndarray] = {}
        for res, nbs in self.neighbourhood_chunks:
            offsets = self.layout.nb_start[nbs.start:nbs.stop] - res.start
            for name, mask in masks(res).items():
                out.setdefault(name, np.zeros(self.geo.n, dtype=np.int64))[nbs] = \
                    np.add.reduceat(mask, offsets, dtype=np.int64)
        return out

    def per_neighbourhood(self, values: np.ndarray) -> np.ndarray:
        """Sum of a per-resident (boolean or integer) array within each neighbourhood, shape (n,)."""
        return self.count_by_neighbourhood(lambda res: {"sum": values[res]})["sum"]

    def share_by_neighbourhood(self, mask: np.ndarray, among: np.ndarray) -> np.ndarray:
        """Share of ``among`` residents for whom ``mask`` holds, per neighbourhood."""
        c = self.count_by_neighbourhood(lambda res: {"num": mask[res] & among[res], "den": among[res]})
        return c["num"] / np.maximum(c["den"], 1)

    def former_prisoner_share(self) -> np.ndarray:
        """Adults with a prison record, per neighbourhood (a selection criterion)."""
        return self.share_by_neighbourhood(self.residents.former_prisoner, self.ages.adult)

    def refresh_ages(self) -> None:
        y = self.scenario.youth
        self.ages = AgeGroups.of(self.residents, y.min_age, y.max_age)

    def chunks(self) -> Iterator[slice]:
        """Consecutive slices of at most CHUNK residents covering everyone."""
        n = self.residents.n
        for lo in range(0, n, CHUNK):
            yield slice(lo, min(lo + CHUNK, n))

    @cached_property
    def compiled(self) -> bool:
        """Whether the weekly passes use the compiled kernels (sn_sim/world/compiled.py): large
        worlds do. Results are identical either way; only the time differs."""
        from sn_sim.world.kernels import use_compiled
        return use_compiled(self.residents.n)

    @cached_property
    def agents_per_neighbourhood(self) -> np.ndarray:
        """Residents (agents) living in each neighbourhood, shape (n,); constant over a run."""
        return np.diff(self.layout.nb_start)

    @cached_property
    def agents_per_block(self) -> np.ndarray:
        """Residents (agents) living on each block, shape (n, B); constant over a run."""
        return np.diff(self.layout.block_start).reshape(self.geo.n, -1)

    @cached_property
    def neighbourhood_chunks(self) -> list[tuple[slice, slice]]:
        """(residents, neighbourhoods) slice pairs of whole neighbourhoods, about CHUNK residents
        each (at least one neighbourhood): per-neighbourhood sums can be taken chunk by chunk."""
        starts = self.layout.nb_start
        out, h = [], 0
        n = self.geo.n
        while h < n:
            end = int(np.searchsorted(starts, starts[h] + CHUNK, side="right")) - 1
            end = min(max(end, h + 1), n)
            out.append((slice(int(starts[h]), int(starts[end])), slice(h, end)))
            h = end
        return out

    def youth_at_home(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Youth not in prison per neighbourhood: all, at risk and gang-involved (agent units).

        Counted chunk by chunk of the (sorted) youth indices, so the temporaries stay small."""
        r, week, n = self.residents, self.clock.week, self.geo.n
        idx = self.ages.youth_idx
        if self.compiled:
            from sn_sim.world.compiled import youth_counts
            counts = youth_counts(idx, r.released_week, r.gang, r.neighbourhood, week, n, IN_PRISON)
        else:
            # One count per (neighbourhood, state) pair, prisoners as a fourth state: a single
            # bincount per chunk instead of a filter and three.
            counts = np.zeros(4 * n, dtype=np.int64)
            for lo in range(0, idx.size, CHUNK):
                sel = idx[lo:lo + CHUNK]
                state = np.where(r.released_week[sel] <= week, r.gang[sel], np.uint8(IN_PRISON))
                counts += np.bincount(r.neighbourhood[sel].astype(np.intp) * 4 + state, minlength=4 * n)
            counts = counts.reshape(n, 4)
        return counts[:, :IN_PRISON].sum(axis=1), counts[:, GANG_AT_RISK].copy(), counts[:, GANG_INVOLVED].copy()



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
        trust_ledger=ScoreLedger(TRUST_SOURCES, n), insecurity_ledger=ScoreLedger(INSECURITY_SOURCES, n),
    ), rng
