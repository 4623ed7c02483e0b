"""The Mesa model: builds the world, lists the weekly order of the processes, records.

State lives in the world (:mod:`sn_sim.world`); each mechanism is a process
(:mod:`sn_sim.processes`) that reads and writes it; observations are the panel recorder and a
Mesa DataCollector (:mod:`sn_sim.observe`). This module only says *in which order* things happen.

Mesa idiom: ``SafeNeighbourhoodModel("national_rollout", rng=1, scale=0.05,
**{"police.hot_zone_share": 0.5})`` (or ``police__hot_zone_share=0.5``); one ``step()`` is one
recorded week, so ``model.steps == model.week``; ``run_model()`` runs to the end of the calendar
(``running`` turns False); the burn-in happens in the constructor, outside Mesa's step count;
``model.datacollector`` holds pool-wide weekly outcomes, so ``mesa.batch_run`` works.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa.experimental.scenarios import Scenario as MesaScenario

from sn_sim.observe.outcomes import datacollector_reporters
from sn_sim.observe.recorder import PanelRecorder
from sn_sim.processes.ageing import Ageing
from sn_sim.processes.community import AlcoholControl, CollectiveEfficacy, Juntas, PublicSpaces
from sn_sim.processes.crime import Offending
from sn_sim.processes.justice import Justice, stationary_shares
from sn_sim.processes.police import CommunityPolicing, CrimeMap, Operations, Patrol
from sn_sim.processes.programs import SocialPrograms
from sn_sim.processes.rates import NeighbourhoodRates
from sn_sim.processes.strategy import Ministry
from sn_sim.processes.trust import Insecurity, Trust, Victims
from sn_sim.processes.youth import Youth
from sn_sim.scenario import Scenario, load_scenario
from sn_sim.world import build_world


class SimulationScenario(MesaScenario):
    """Mesa's scenario object for this model: attribute access reads the validated scenario
    (``model.scenario.police.hot_zone_share``); ``model.scenario.spec`` is the Scenario itself."""

    def __getattr__(self, name: str) -> Any:
        spec = self.__dict__.get("spec")
        if spec is None:
            raise AttributeError(name)
        return getattr(spec, name)


def as_seed_sequence(rng) -> np.random.SeedSequence:
    """Any Mesa-style seed (None, int, SeedSequence, Generator) as the run's root SeedSequence."""
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(int(rng.integers(2**63)))
    return np.random.SeedSequence(rng)


def resolve_scenario(scenario: Scenario | str | Path | None, scale: float | None, overrides: dict[str, Any]) -> Scenario:
    """A Scenario from a Scenario, a file or shipped name, plus keyword overrides (dotted keys,
    or ``section__key`` as Python keywords allow)."""
    sets = {k.replace("__", "."): v for k, v in overrides.items()}
    if scale is not None:
        sets["population.scale"] = scale
    if not isinstance(scenario, Scenario):
        return load_scenario(scenario if scenario is not None else "national_rollout", sets or None)
    return scenario.with_overrides(sets) if sets else scenario


class SafeNeighbourhoodModel(mesa.Model):
    """Safe Neighborhood strategy over a pool of candidate neighbourhoods.

    Parameters
    ----------
    scenario : Scenario, path of a scenario file, or name of a shipped scenario
        (default ``"national_rollout"``).
    rng : int, SeedSequence, Generator or None
        Source of all randomness; the same scenario and rng give the same run.
    scale : float, optional
        Agents per inhabitant (overrides ``population.scale``).
    **overrides
        Scenario values by dotted key (``**{"police.hot_zone_share": 0.5}``) or with ``__``
        for the dot (``police__hot_zone_share=0.5``).
    """

    def __init__(self, scenario: Scenario | str | Path | None = None, *, rng=None, scale: float | None = None,
                 **overrides: Any):
        spec = resolve_scenario(scenario, scale, overrides)
        seed_sequence = as_seed_sequence(rng)
        super().__init__(scenario=SimulationScenario(rng=seed_sequence, spec=spec))
        self.seed_sequence = seed_sequence
        self.world, initial_rng = build_world(spec, seed_sequence)
        w = self.world

        self.ministry = Ministry(w)
        self.offending = Offending(w)
        self.justice = Justice(w)
        self.youth = Youth(w)
        self.efficacy = CollectiveEfficacy(w)
        self.programs = SocialPrograms(w, host=self)
        self.victims, self.trust = Victims(w), Trust(w)
        # The weekly order (docs/ODD.md §3): the Strategy acts, police and communities respond,
        # programs and youth dynamics change who offends, offences happen and are answered,
        # then the neighbourhood climate (rates, efficacy, trust, insecurity) follows.
        self.processes = (
            Ageing(w), self.ministry, Patrol(w), CommunityPolicing(w), Operations(w),
            Juntas(w), PublicSpaces(w), AlcoholControl(w), self.programs, self.youth,
            self.offending, self.justice, self.victims, CrimeMap(w),
            NeighbourhoodRates(w), self.efficacy, self.trust, Insecurity(w),
        )
        # Initial stocks, in the order they depend on each other (docs/ODD.md §5): gang states
        # from the youth dynamics, then propensities, prisoners drawn by propensity, efficacy.
        self.youth.initialise(initial_rng)
        self.offending.initialise(initial_rng)
        self.justice.initialise(initial_rng, self.offending.base_propensity(), self.offending.age_curve)
        self.efficacy.initialise(initial_rng)

        self.recorder = PanelRecorder(w)
        self.datacollector = mesa.DataCollector(model_reporters=datacollector_reporters(self.recorder))
        self._year = w.clock.year
        self._burn_in(initial_rng)
        w.blocks.offences_year[:] = 0  # block-year counts start with the recorded calendar
        self.running = not w.clock.finished

    def _burn_in(self, rng: np.random.Generator) -> None:
        """The unrecorded weeks before week 0, which settle the world (docs/ODD.md §5):
        trust moves faster for its first weeks; then the conviction probability per attempt is
        measured, and youth and the justice state are redrawn from the stationary distribution
        of the measured flows; the last weeks set the reference offence rate (processes/rates.py)."""
        spec = self.spec
        burn = spec.calendar.burn_in_weeks
        settled = min(spec.trust.settling_weeks, burn)  # trust is fast before this burn-in week
        probed = min(settled + spec.calendar.justice_probe_weeks, burn)  # ... and probed until this one
        for k in range(burn):
            self.trust.speed = self.victims.speed = spec.trust.settling_factor if k < settled else 1.0
            self.justice.probing = settled <= k < probed
            self._week()
            if k == probed - 1 and probed > settled:
                self._settle_youth_and_justice(rng)
        self.trust.speed = self.victims.speed = 1.0
        self.justice.probing = False

    def _settle_youth_and_justice(self, rng: np.random.Generator) -> None:
        """Redraw gang states and the justice state from their joint stationary distribution at
        the measured conviction probability: youth first, their hazards scaled by the share of
        time each state spends out of prison (prisoners neither move nor count as peers), then
        the justice state given the new gang states."""
        q = self.justice.conviction_per_attempt()
        if q is None:
            return
        offending, justice = self.offending, self.justice
        curve = offending.age_curve
        base = offending.base_propensity()
        r = self.world.residents
        gang_mult = np.array([1.0, self.spec.crime.at_risk_multiplier, self.spec.crime.gang_multiplier])

        def free_share(idx: np.ndarray) -> np.ndarray:
            # The person's stationary prison share were they in each gang state (the state
            # multiplies their propensity), as the share of time free.
            without_gang = base[idx] / gang_mult[r.gang[idx]]
            out = np.empty((idx.size, 3))
            for state, mult in enumerate(gang_mult):
                h, _ = justice.admission_hazards(q, without_gang * mult, curve, idx)
                out[:, state] = 1 - stationary_shares(h, self.spec.reporting.sentence_weeks,
                                                      self.spec.crime.recidivism_window_weeks,
                                                      self.spec.crime.former_prisoner_multiplier)[0]
            return out

        self.youth.initialise(rng, free_share)
        justice.draw(rng, q, offending.base_propensity(), curve)
        offending.refresh_propensity()

    # --- Mesa ---------------------------------------------------------------------------------
    def step(self) -> None:
        """One recorded week (nothing once the calendar is over)."""
        if self.world.clock.finished:
            self.running = False
            return
        self._week()
        if self.world.clock.finished:
            self.recorder.close_year(self._year)
            self.running = False

    def _week(self) -> None:
        w = self.world
        clock = w.clock
        if clock.year != self._year:
            if clock.week > 0:
                self.recorder.close_year(self._year)
            self._year = clock.year
        w.tally.reset()
        for process in self.processes:
            process.step()
        if clock.week >= 0:
            self.recorder.record_week()
            self.datacollector.collect(self)
        clock.week += 1

    def run(self, progress=None) -> None:
        """Step to the end of the calendar; ``progress(1)`` is called after each week."""
        while self.running:
            self.step()
            if progress is not None:
                progress(1)

    # --- reading the model ------------------------------------------------------------------------
    @property
    def spec(self) -> Scenario:
        """The validated scenario this model runs."""
        return self.world.scenario

    @property
    def week(self) -> int:
        """Weeks recorded so far (equals Mesa's ``steps``)."""
        return self.world.clock.week

    @property
    def n_weeks(self) -> int:
        return self.world.clock.n_weeks

    @property
    def date(self) -> dt.date:
        return self.world.clock.date

    @property
    def finished(self) -> bool:
        return self.world.clock.finished

    @property
    def residents(self):
        return self.world.residents

    @property
    def geo(self):
        return self.world.geo

    @property
    def blocks(self):
        return self.world.blocks

    @property
    def places(self):
        """Neighbourhood state (stage, cohort, efficacy, ...), arrays of shape (n,)."""
        return self.world.places

    @property
    def culture_organisations(self):
        return self.programs.culture_points.orgs
