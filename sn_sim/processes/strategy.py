"""The Ministry of the Interior's strategy: selection, stages, policy mix and budget.

- Selection (stage 1, planning): each cohort year the Ministry ranks the candidates not yet
  selected by a diagnosis score built from what it can see: recorded crime per inhabitant,
  homicides per inhabitant and the share of former prisoners (the reported criteria), each as
  a z-score, plus diagnosis error. A cohort may be restricted to named districts (the 2016
  pilot). For each selected neighbourhood it designates the closest-scoring unselected
  neighbourhood as a control (Supreme Decree 008-2017-IN). ``strategy.rollout_design`` replaces
  the ranking by a randomised design (stepped wedge, matched pairs) for design diagnosis.
- Stages per neighbourhood, always in order: planning -> execution (from launch) ->
  consolidation -> evaluation and monitoring. Sectoral programs start ``consolidation_start_week``
  after launch, which may fall inside execution.
- Money: each active neighbourhood receives a weekly allocation scaled by its stage intensity,
  capped so that national spending never exceeds the yearly budget. The policy mix splits it
  between the pillars and their lines; each line converts money into whole activities at its
  unit cost and carries the remainder to the next week.
- In-kind officers (extra and community police, PNP payroll) belong to the police pillar; their
  value is ``officers * police.officer_week_cost``. Under ``strategy.resources.like_for_like`` a
  treated neighbourhood-week gets the resources of a reference Strategy (the budget allocation of
  ``strategy.resources.mix`` plus the value of every in-kind officer): the officers the scenario
  assigns are paid from them, the value of those it does not assign becomes budget (and raises the
  yearly cap), and the money goes to the scenario's pillars that can spend this week, in
  proportion to its mix (saved in the accounts when none can yet). Single-pillar scenarios then
  get the same total resources as the reference mix.
"""

from __future__ import annotations


import numpy as np

from sn_sim.processes.base import Process
from sn_sim.scenario.calendar import WEEKS_PER_YEAR
from sn_sim.world import World
from sn_sim.world.events import WeeklyEffort
from sn_sim.world.neighbourhoods import CONSOLIDATION, EVALUATION, EXECUTION, NONE, PLANNING


class Ministry(Process):
    """The Ministry of the Interior runs the Strategy for the whole pool: selection, stages,
    and this week's effort bought with the budget (plus in-kind officers)."""

    name = "strategy"
    parameters = ("strategy", "budget", "police", "community", "programs")
    reads = ("places.recorded_rate", "places.homicide_rate", "residents.former_prisoner")
    writes = ("places.cohort_year", "places.launch_week", "places.stage", "places.is_control",
              "places.diagnosis_score", "effort", "tally.cost", "tally.cost_in_kind", "tally.activities_police",
              "tally.activities_social", "tally.activities_community", "tally.alcohol_operations",
              "tally.spaces_recovered")

    def __init__(self, world: World):
        super().__init__(world)
        s = world.scenario
        n = world.geo.n
        self.cohorts = [
            (c, world.clock.week_of(c.launch) - s.strategy.planning_weeks, world.clock.week_of(c.launch))
            for c in s.strategy.rollout
        ]
        self.program_specs = list(s.programs.values())
        K = len(self.program_specs)
        # Money lines: patrol, contacts, operations, activities, space, alcohol, programs...
        self.accounts = np.zeros((n, 6 + K))
        p, c = s.police, s.community
        self.unit_cost = np.array(
            [p.patrol_hour_cost, p.contact_cost, p.operation_cost,
             c.activity_cost, c.space_recovery_cost, c.alcohol_operation_cost]
            + [q.cost_per_participant for q in self.program_specs]
        )
        self.spent_by_year: dict[int, float] = {}
        # Value of in-kind officers converted into budget (like-for-like), by calendar year:
        # it raises that year's spending cap.
        self.converted_by_year: dict[int, float] = {}

    # --- selection --------------------------------------------------------------------------
    def diagnosis_score(self, candidates: np.ndarray) -> np.ndarray:
        s, st = self.world.scenario.strategy, self.world.places

        def z(x):
            x = x[candidates]
            sd = x.std()
            return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)

        score = (
            s.weight_crime * z(st.recorded_rate)
            + s.weight_homicide * z(st.homicide_rate)
            + s.weight_former_prisoners * z(self.world.former_prisoner_share())
        )
        return score + self.world.random.stream("strategy").normal(0.0, s.diagnosis_noise, size=candidates.size)

    def select_cohort(self, cohort, launch_week: int) -> None:
        world, st, geo = self.world, self.world.places, self.world.geo
        pool = st.cohort_year == 0
        if cohort.districts:
            allowed = np.isin(np.array(geo.district_names)[geo.district], cohort.districts)
            pool &= allowed
        candidates = np.flatnonzero(pool)
        k = min(cohort.neighbourhoods, candidates.size)
        if k == 0:
            return
        # One diagnosis of every unselected neighbourhood: it ranks the cohort and matches controls.
        unselected = np.flatnonzero(st.cohort_year == 0)
        all_scores = np.full(geo.n, np.nan)
        all_scores[unselected] = self.diagnosis_score(unselected)
        score = all_scores[candidates]
        order = np.argsort(-score, kind="stable")
        design = world.scenario.strategy.rollout_design
        paired = None
        if cohort.one_per_district:  # the pilot: the worst-diagnosed neighbourhood of each district
            names = np.array(geo.district_names)[geo.district[candidates[order]]]
            _, first = np.unique(names, return_index=True)
            chosen = candidates[order[np.sort(first)]]
        elif design == "stepped_wedge":
            chosen = self._stepped_wedge(cohort, candidates[order], k)
        elif design == "matched_pairs":
            chosen, paired = self._matched_pairs(candidates[order], k)
        else:
            chosen = candidates[order[:k]]
        st.cohort_year[chosen] = cohort.year
        st.launch_week[chosen] = launch_week
        st.is_control[chosen] = False
        st.diagnosis_score[unselected] = all_scores[unselected]
        n_controls = world.scenario.strategy.controls_per_treated
        if paired is not None:  # matched pairs: each treated neighbourhood's partner is its control
            if n_controls:
                st.is_control[paired] = True
            return
        # Controls: closest score among the never-selected, one per treated neighbourhood.
        if n_controls:
            others = np.flatnonzero((st.cohort_year == 0) & ~st.is_control)
            for h in chosen:
                for _ in range(n_controls):
                    if others.size == 0:
                        break
                    j = int(np.argmin(np.abs(all_scores[others] - all_scores[h])))
                    st.is_control[others[j]] = True
                    others = np.delete(others, j)

    # Randomised rollout designs (strategy.rollout_design). Both draw from the strategy's stream of
    # the selection week (after the diagnosis), so a run is reproducible from its seed and the
    # diagnosis design, which draws nothing more, is unchanged.
    def _stepped_wedge(self, cohort, ranked: np.ndarray, k: int) -> np.ndarray:
        """Same yearly counts, random order: the cohort is drawn at random among the
        worst-diagnosed neighbourhoods still to be treated by this and every later cohort, so
        the neighbourhoods eventually treated are (up to diagnosis noise) those of the
        diagnosis design and only when each is treated is randomised."""
        remaining = sum(c.neighbourhoods for c, _, _ in self.cohorts if c.year >= cohort.year and not c.one_per_district)
        eligible = ranked[:max(k, min(remaining, ranked.size))]
        rng = self.world.random.stream("strategy")
        return np.sort(rng.choice(eligible, size=k, replace=False))

    def _matched_pairs(self, ranked: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Matched-pair randomisation: the 2k worst-diagnosed candidates, paired in order of
        their diagnosis score (1st with 2nd, 3rd with 4th ...), one of each pair treated at random
        and the other designated its control; with fewer than 2k candidates the unpaired rest is
        treated."""
        n_pairs = min(k, ranked.size // 2)
        pairs = ranked[:2 * n_pairs].reshape(n_pairs, 2)
        rng = self.world.random.stream("strategy")
        pick = rng.integers(0, 2, size=n_pairs)
        treated = pairs[np.arange(n_pairs), pick]
        controls = pairs[np.arange(n_pairs), 1 - pick]
        rest = ranked[2 * n_pairs:2 * n_pairs + (k - n_pairs)]
        return np.sort(np.concatenate([treated, rest])), controls

    # --- stages and money ----------------------------------------------------------------------
    def update_stages(self) -> None:
        st, s, week = self.world.places, self.world.scenario.strategy, self.world.clock.week
        since = week - st.launch_week
        selected = st.cohort_year > 0
        stage = np.full(since.shape, NONE, dtype=np.int8)
        stage[selected & (since < 0) & (since >= -s.planning_weeks)] = PLANNING
        stage[selected & (since >= 0)] = EXECUTION
        stage[selected & (since >= s.execution_weeks)] = CONSOLIDATION
        stage[selected & (since >= s.execution_weeks + s.consolidation_weeks)] = EVALUATION
        st.stage[:] = stage

    def intensity(self) -> np.ndarray:
        s, st = self.world.scenario.strategy, self.world.places
        table = np.array([0.0, s.planning_intensity, 1.0, 1.0, s.evaluation_intensity])
        return table[st.stage]

    def step(self) -> None:
        world = self.world
        for cohort, select_week, launch_week in self.cohorts:
            if world.clock.week == max(select_week, 0):
                self.select_cohort(cohort, launch_week)
        self.update_stages()
        world.effort = self.weekly_effort()

    def split_resources(self, money: np.ndarray, delivering: np.ndarray, programs_on: np.ndarray):
        """Like-for-like: a neighbourhood's money this week split between the scenario's pillars
        that can spend it (police and community from execution on, social once programs start) in
        proportion to the mix; where none of them can yet (a social-only mix before programs
        start), by the mix, to be saved in the pillars' accounts. Returns (police, social, community)."""
        mix = self.world.scenario.strategy.mix
        share = np.stack([mix.police * delivering, mix.social * programs_on, mix.community * delivering]).astype(float)
        active = share.sum(axis=0)
        fallback = np.array([mix.police, mix.social, mix.community])[:, None]
        share = np.where(active > 0, share / np.where(active > 0, active, 1.0), fallback)
        return tuple(money * share)

    def weekly_effort(self) -> WeeklyEffort:
        """Turn this week's money and in-kind officers into activities."""
        world, s, st = self.world, self.world.scenario, self.world.places
        intensity = self.intensity()
        mix = s.strategy.mix
        programs_on = (st.stage >= EXECUTION) & (world.clock.week - st.launch_week >= s.strategy.consolidation_start_week)
        # Planning spends only on the diagnosis (no activities yet).
        delivering = st.stage >= EXECUTION
        like_for_like = s.strategy.resources.like_for_like
        # The allocation follows the scenario's mix, or under like-for-like the reference mix
        # (whose money is then redistributed to the scenario's pillars below).
        alloc = s.strategy.resources.mix if like_for_like else mix
        social = np.where(programs_on, alloc.social, 0.0)
        weekly = s.budget.usd_per_neighbourhood_year / WEEKS_PER_YEAR * intensity
        pillar_police = weekly * alloc.police * delivering
        pillar_social = weekly * social
        pillar_community = weekly * alloc.community * delivering
        planning_cost = weekly * (st.stage == PLANNING)
        total = pillar_police + pillar_social + pillar_community + planning_cost
        cap = s.budget.usd_per_year / world.clock.weeks_in_year(world.clock.date.year)
        if total.sum() > cap:  # the national budget binds: everyone gets less
            f = cap / total.sum()
            pillar_police, pillar_social, pillar_community, planning_cost = (
                pillar_police * f, pillar_social * f, pillar_community * f, planning_cost * f)

        # In-kind police (PNP payroll, outside the Strategy budget), part of the police pillar.
        p, c = s.police, s.community
        year = world.clock.date.year
        on_site = delivering * intensity
        officers = p.extra_officers * s.strategy.extra_officers_in_kind * on_site
        cp_officers = p.community_officers * s.strategy.community_police * on_site
        if like_for_like:
            # The reference assigns every officer; the value of those this scenario does not
            # assign becomes budget, and all the money goes to this scenario's pillars.
            dropped = (p.extra_officers * (not s.strategy.extra_officers_in_kind)
                       + p.community_officers * (not s.strategy.community_police)) * on_site
            converted = dropped * p.officer_week_cost
            self.converted_by_year[year] = self.converted_by_year.get(year, 0.0) + float(converted.sum())
            pillar_police, pillar_social, pillar_community = self.split_resources(
                pillar_police + pillar_social + pillar_community + converted, delivering, programs_on)

        income = np.zeros_like(self.accounts)
        income[:, 0] = pillar_police * p.split_patrol
        income[:, 1] = pillar_police * p.split_community_policing
        income[:, 2] = pillar_police * p.split_intelligence
        income[:, 3] = pillar_community * c.split_activities
        income[:, 4] = pillar_community * c.split_space
        income[:, 5] = pillar_community * c.split_alcohol
        for k, q in enumerate(self.program_specs):
            income[:, 6 + k] = pillar_social * q.share
        self.accounts += income
        units = np.floor(self.accounts / self.unit_cost)
        units[~programs_on, 6:] = 0.0  # program money saved before programs start waits for them
        # Lumpy activities (an operation, a recovered block) wait until their line has saved
        # enough, possibly across the new year, but spending in a calendar year never exceeds
        # the yearly budget (plus, under like-for-like, the officers' value converted into budget
        # this year): if it would, fewer units are bought and the money waits.
        room = s.budget.usd_per_year - self.spent_by_year.get(year, 0.0) - planning_cost.sum()
        if like_for_like:
            room += self.converted_by_year.get(year, 0.0)
        wanted = (units * self.unit_cost).sum()
        if wanted > room:
            units = np.floor(units * max(room, 0.0) / wanted)
        spend = units * self.unit_cost
        self.accounts -= spend
        cost = spend.sum(axis=1) + planning_cost
        world.tally.cost += cost
        self.spent_by_year[year] = self.spent_by_year.get(year, 0.0) + float(cost.sum())

        world.tally.cost_in_kind += (officers + cp_officers) * p.officer_week_cost

        contacts = cp_officers * p.contacts_per_officer + units[:, 1]
        effort = WeeklyEffort(
            extra_patrol_hours=officers * p.patrol_hours_per_officer + units[:, 0],
            contacts=contacts,
            operations=units[:, 2],
            community_activities=units[:, 3],
            space_recoveries=units[:, 4],
            alcohol_operations=units[:, 5],
            enrolments=units[:, 6:],
        )
        t = world.tally
        t.activities_police += contacts / p.contacts_per_activity + effort.operations
        t.activities_community += effort.community_activities + effort.space_recoveries + effort.alcohol_operations
        group = np.array([q.participants_per_activity for q in self.program_specs]) if self.program_specs else np.ones(0)
        t.activities_social += (effort.enrolments / np.maximum(group, 1e-9)).sum(axis=1) if group.size else 0.0
        t.alcohol_operations += effort.alcohol_operations
        t.spaces_recovered += effort.space_recoveries
        return switched_off(effort, world.scenario.strategy.channels)


def switched_off(effort: WeeklyEffort, channels) -> WeeklyEffort:
    """The effort that reaches the world: lines whose channel is switched off deliver nothing
    (their money was spent and their activities counted above, so costs stay comparable)."""
    zero = np.zeros_like(effort.extra_patrol_hours)
    return WeeklyEffort(
        extra_patrol_hours=effort.extra_patrol_hours if channels.patrol else zero,
        contacts=effort.contacts if channels.community_policing else zero,
        operations=effort.operations if channels.operations else zero,
        community_activities=effort.community_activities if channels.juntas else zero,
        space_recoveries=effort.space_recoveries if channels.spaces else zero,
        alcohol_operations=effort.alcohol_operations if channels.alcohol else zero,
        enrolments=effort.enrolments if channels.programs else np.zeros_like(effort.enrolments),
    )
