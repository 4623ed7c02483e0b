"""The app-facing model: two twin runs of the Safe Neighborhood model driven by the page's controls.

``AppModel`` is the Mesa model the SolaraViz page steps and resets. Its keyword arguments are the
page's controls (Mesa re-instantiates the class with them on Reset); it turns them into scenario
overrides and runs two ``SafeNeighbourhoodModel`` twins on the same seed:

- **mix A** -- the pillar sliders (police, social, community weights, normalised to sum to 1, so
  no slider position gives an invalid mix);
- **mix B** -- a comparison chosen from a short list (the scenario's own mix, one pillar only,
  equal thirds, or no Strategy at all).

Every other control (budget, hot-zone share, community-policing quality, program capacity,
rollout size, scale) applies to both, so the two runs differ by the mix alone. The model draws
each weekly process from its own random stream keyed by (seed, process, week), so the twins share
common random numbers and their difference is the effect of the mix, not noise from a reshuffle.

This module needs only the core dependencies (no Solara), so it can be tested and scripted.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mesa
import numpy as np

from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.scenario import Scenario, load_scenario

DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "national_rollout.toml"
# Agents per inhabitant the page starts with: 0.02 is about 300 agents for a neighbourhood of
# 15,000 (45,000 for the national pool), a week of both mixes in a few milliseconds, so a step's
# time goes to drawing the page (docs/app.md has measured figures). The scale is a page control.
DEFAULT_SCALE = 0.02
SCALE_CHOICES = ("0.005", "0.01", "0.02", "0.05", "0.1", "0.2")

# Comparison mixes (mix B). ``None`` = the scenario's own mix.
COMPARISONS: dict[str, tuple[float, float, float] | None] = {
    "Scenario mix": None,
    "Police only": (1.0, 0.0, 0.0),
    "Social only": (0.0, 1.0, 0.0),
    "Community only": (0.0, 0.0, 1.0),
    "Equal thirds": (1.0, 1.0, 1.0),
    "No Strategy (nothing rolled out)": None,
}
NO_STRATEGY = "No Strategy (nothing rolled out)"

# Plotted outcomes: key -> (title, format of a value).
METRICS: dict[str, tuple[str, str]] = {
    "offences": ("Offences per 1,000 inhabitants per week (4-week mean)", "{:.2f}"),
    "victimisation": ("Victimised in the last 12 months (% of 15+)", "{:.1f}%"),
    "trust": ("Trust the police (% of adults)", "{:.1f}%"),
    "insecurity": ("Expect to be a victim (% of 15+)", "{:.1f}%"),
    "gangs": ("Gang-involved youth (% of 12-24)", "{:.2f}%"),
}
GROUPS = {"never": "never treated", "controls": "designated controls"}


# --- controls -> scenario ---------------------------------------------------------------------------


def normalise_mix(police: float, social: float, community: float) -> tuple[float, float, float]:
    """Pillar weights (any non-negative numbers) -> shares summing to 1; all zero -> equal thirds."""
    w = np.clip(np.array([police, social, community], dtype=float), 0.0, None)
    total = float(w.sum())
    if not math.isfinite(total) or total <= 0:
        return (1 / 3, 1 / 3, 1 / 3)
    p, s, c = (float(x) for x in w / total)
    return p, s, c


def mix_label(mix: tuple[float, float, float]) -> str:
    p, s, c = mix
    return f"police {100 * p:.0f}% · social {100 * s:.0f}% · community {100 * c:.0f}%"


@dataclass(frozen=True)
class ControlDefaults:
    """The scenario's values as the page's controls show them (sliders start here)."""

    budget_musd: float
    usd_per_neighbourhood_k: float
    police: int
    social: int
    community: int
    hot_zone_share: float
    implementation_quality: float


def control_defaults(base: Scenario) -> ControlDefaults:
    m = base.strategy.mix
    return ControlDefaults(
        budget_musd=round(base.budget.usd_per_year / 1e6, 2),
        usd_per_neighbourhood_k=round(base.budget.usd_per_neighbourhood_year / 1e3),
        police=round(100 * m.police),
        social=round(100 * m.social),
        community=round(100 * m.community),
        hot_zone_share=round(base.police.hot_zone_share, 2),
        implementation_quality=round(base.police.implementation_quality, 2),
    )


def rollout_counts(base: Scenario, rollout_pct: float) -> list[int]:
    """Cohort sizes with every cohort after the pilot scaled to ``rollout_pct`` % of the scenario's.

    Pilot cohorts (``one_per_district``: one neighbourhood in each named district) keep their size;
    the total is capped at the candidate pool, trimming the latest cohorts first.
    """
    f = max(float(rollout_pct), 0.0) / 100.0
    counts = [c.neighbourhoods if c.one_per_district else int(round(c.neighbourhoods * f))
              for c in base.strategy.rollout]
    excess = sum(counts) - sum(d.neighbourhoods for d in base.districts)
    for i in reversed(range(len(counts))):
        if excess <= 0:
            break
        if base.strategy.rollout[i].one_per_district:
            continue
        cut = min(excess, counts[i])
        counts[i] -= cut
        excess -= cut
    return counts


def load_base(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """The scenario the page starts from (file plus ``--set`` overrides); ScenarioError if invalid."""
    return load_scenario(Path(path) if path else DEFAULT_SCENARIO, list(overrides))


def build_scenarios(base: Scenario, *, scale: float, budget_musd: float, usd_per_neighbourhood_k: float,
                    police: float, social: float, community: float, comparison: str,
                    hot_zone_share: float, implementation_quality: float, program_capacity: float,
                    rollout_pct: float) -> tuple[Scenario, Scenario, tuple[float, float, float]]:
    """Scenarios of mix A and mix B from the controls; returns (A, B, normalised mix A)."""
    d = control_defaults(base)
    shared: dict[str, object] = {"population.scale": float(scale)}
    # A control left at the scenario's (rounded) value keeps the scenario's exact value.
    if not math.isclose(budget_musd, d.budget_musd, abs_tol=1e-9):
        shared["budget.usd_per_year"] = max(float(budget_musd), 0.0) * 1e6
    if not math.isclose(usd_per_neighbourhood_k, d.usd_per_neighbourhood_k, abs_tol=1e-9):
        shared["budget.usd_per_neighbourhood_year"] = max(float(usd_per_neighbourhood_k), 0.0) * 1e3
    if not math.isclose(hot_zone_share, d.hot_zone_share, abs_tol=1e-9):
        shared["police.hot_zone_share"] = min(max(float(hot_zone_share), 0.0), 1.0)
    if not math.isclose(implementation_quality, d.implementation_quality, abs_tol=1e-9):
        shared["police.implementation_quality"] = min(max(float(implementation_quality), 0.0), 1.0)
    if not math.isclose(program_capacity, 1.0):
        k = max(float(program_capacity), 1e-3)
        for name, prog in base.programs.items():
            shared[f"programs.{name}.cost_per_participant"] = min(max(prog.cost_per_participant / k, 1e-6), 1e5)
    counts = rollout_counts(base, rollout_pct)
    for i, (cohort, k) in enumerate(zip(base.strategy.rollout, counts)):
        if k != cohort.neighbourhoods:
            shared[f"strategy.rollout.{i}.neighbourhoods"] = k

    weights = (police, social, community)
    if (police, social, community) == (d.police, d.social, d.community):
        mix_a = (base.strategy.mix.police, base.strategy.mix.social, base.strategy.mix.community)
    else:
        mix_a = normalise_mix(*weights)
    scen_a = base.with_overrides({**shared, **_mix_overrides(mix_a)})

    if comparison not in COMPARISONS:
        comparison = "Scenario mix"
    preset = COMPARISONS[comparison]
    b = dict(shared)
    if comparison == NO_STRATEGY:
        b = {k: v for k, v in b.items() if not k.startswith("strategy.rollout.")}
        b["strategy.rollout"] = []
    elif preset is not None:
        b.update(_mix_overrides(normalise_mix(*preset)))
    scen_b = base.with_overrides(b)
    return scen_a, scen_b, mix_a


def _mix_overrides(mix: tuple[float, float, float]) -> dict[str, float]:
    return {"strategy.mix.police": mix[0], "strategy.mix.social": mix[1], "strategy.mix.community": mix[2]}


# --- what the page plots --------------------------------------------------------------------------


def group_masks(m: SafeNeighbourhoodModel, comparison_group: str = "never") -> tuple[np.ndarray, np.ndarray]:
    """(treated, comparison) neighbourhood masks as of the model's current week.

    Treated = selected into the Strategy so far. Comparison = never treated so far, or only the
    matched controls the Ministry designated (``comparison_group="controls"``).
    """
    st = m.state
    treated = st.cohort_year > 0
    if comparison_group == "controls":
        return treated, st.is_control & ~treated
    return treated, ~treated


def _rolling_mean(x: np.ndarray, k: int) -> np.ndarray:
    if x.size == 0:
        return x
    c = np.cumsum(np.insert(np.nan_to_num(x), 0, 0.0))
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - k, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def group_series(m: SafeNeighbourhoodModel, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Weekly outcome series of one group of neighbourhoods over the weeks recorded so far.

    Rates are pooled over the group (weighted by inhabitants). An empty group gives NaN.
    """
    w = max(min(m.week, m.n_weeks), 0)
    cols = m.recorder.columns
    if not mask.any() or w == 0:
        return {k: np.full(w, np.nan) for k in METRICS}
    pop = cols["population"][:w, mask]
    pop_sum = pop.sum(axis=1)

    def weighted(name):
        return 100.0 * (cols[name][:w, mask] * pop).sum(axis=1) / pop_sum

    offences = 1000.0 * cols["offences"][:w, mask].sum(axis=1) / pop_sum
    youth = cols["youth"][:w, mask].sum(axis=1)
    gangs = 100.0 * cols["youth_in_gangs"][:w, mask].sum(axis=1) / np.maximum(youth, 1e-9)
    return {
        "offences": _rolling_mean(offences, 4),
        "victimisation": weighted("victimisation_12m"),
        "trust": weighted("trust_police"),
        "insecurity": weighted("insecurity"),
        "gangs": gangs,
    }


def stage_counts(m: SafeNeighbourhoodModel) -> np.ndarray:
    """(weeks recorded, 5) neighbourhoods in each stage (none, planning, ..., evaluation) per week."""
    w = max(min(m.week, m.n_weeks), 0)
    codes = m.recorder.columns["stage_code"][:w].astype(np.int64)
    out = np.zeros((w, 5), dtype=np.int64)
    for s in range(5):
        out[:, s] = (codes == s).sum(axis=1)
    return out


# --- the Mesa model the page drives ---------------------------------------------------------------


class AppModel(mesa.Model):
    """Mix A and mix B of one scenario, stepped together one week at a time.

    Keyword arguments are the page's controls; ``None`` keeps the scenario's value. Mesa's
    SolaraViz re-creates the model with the current controls on Reset.
    """

    def __init__(
        self,
        seed: int = 0,
        scale: float | str = DEFAULT_SCALE,
        budget_musd: float | None = None,
        usd_per_neighbourhood_k: float | None = None,
        police: float | None = None,
        social: float | None = None,
        community: float | None = None,
        comparison: str = "Scenario mix",
        hot_zone_share: float | None = None,
        implementation_quality: float | None = None,
        program_capacity: float = 1.0,
        rollout_pct: float = 100,
        scenario_path: str | None = None,
        overrides: tuple[str, ...] = (),
    ):
        super().__init__(rng=int(seed))
        self.seed = int(seed)
        base = load_base(scenario_path, overrides)
        d = control_defaults(base)
        self.base = base
        self.controls = {
            "scale": float(scale),
            "budget_musd": d.budget_musd if budget_musd is None else float(budget_musd),
            "usd_per_neighbourhood_k": d.usd_per_neighbourhood_k if usd_per_neighbourhood_k is None else float(usd_per_neighbourhood_k),
            "police": d.police if police is None else police,
            "social": d.social if social is None else social,
            "community": d.community if community is None else community,
            "comparison": comparison if comparison in COMPARISONS else "Scenario mix",
            "hot_zone_share": d.hot_zone_share if hot_zone_share is None else float(hot_zone_share),
            "implementation_quality": d.implementation_quality if implementation_quality is None else float(implementation_quality),
            "program_capacity": float(program_capacity),
            "rollout_pct": float(rollout_pct),
        }
        scen_a, scen_b, mix_a = build_scenarios(base, **self.controls)
        self.scenarios = {"A": scen_a, "B": scen_b}
        t0 = time.perf_counter()
        a = SafeNeighbourhoodModel(scen_a, rng=self.seed)
        # Identical scenarios need one run only: B is then the same object as A.
        b = a if scen_b.digest() == scen_a.digest() else SafeNeighbourhoodModel(scen_b, rng=self.seed)
        self.build_seconds = time.perf_counter() - t0
        self.runs: dict[str, SafeNeighbourhoodModel] = {"A": a, "B": b}
        comp = self.controls["comparison"]
        mix_b = (scen_b.strategy.mix.police, scen_b.strategy.mix.social, scen_b.strategy.mix.community)
        self.labels = {
            "A": f"Mix A (sliders): {mix_label(mix_a)}",
            "B": f"Mix B ({comp}): " + ("no neighbourhood selected" if comp == NO_STRATEGY else mix_label(mix_b)),
        }
        self.mix = {"A": mix_a, "B": mix_b}
        self.step_seconds: list[float] = []
        self._lock = threading.Lock()
        self.running = not a.finished

    # --- time ----------------------------------------------------------------------------------
    @property
    def week(self) -> int:
        return self.runs["A"].week

    @property
    def n_weeks(self) -> int:
        return self.runs["A"].n_weeks

    @property
    def date(self) -> dt.date:
        return self.runs["A"].date

    @property
    def finished(self) -> bool:
        return self.runs["A"].finished

    @property
    def twins_identical(self) -> bool:
        return self.runs["A"] is self.runs["B"]

    @property
    def geo(self):
        return self.runs["A"].geo

    def dates(self) -> list[dt.date]:
        start = self.runs["A"].start
        return [start + dt.timedelta(weeks=w) for w in range(self.n_weeks)]

    def launch_dates(self) -> list[tuple[int, dt.date]]:
        return [(c.year, c.launch) for c in self.scenarios["A"].strategy.rollout if c.neighbourhoods > 0]

    # --- stepping --------------------------------------------------------------------------------
    def step(self) -> None:
        """One week of both runs (nothing once the calendar is over)."""
        with self._lock:
            if self.finished:
                self.running = False
                return
            t0 = time.perf_counter()
            a, b = self.runs["A"], self.runs["B"]
            a.step()
            if b is not a:
                b.step()
            self.step_seconds.append(time.perf_counter() - t0)
            self.running = not self.finished

    def advance(self, weeks: int) -> int:
        """Step up to ``weeks`` weeks (stops at the end of the calendar); returns weeks stepped."""
        done = 0
        while done < weeks and not self.finished:
            self.step()
            done += 1
        self.running = not self.finished
        return done

    # --- what the page shows ---------------------------------------------------------------------
    def series(self, comparison_group: str = "never") -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """{mix: {"treated"|"comparison": {metric: weekly array}}} over the weeks recorded so far."""
        out = {}
        for key, m in self.runs.items():
            treated, comp = group_masks(m, comparison_group)
            out[key] = {"treated": group_series(m, treated), "comparison": group_series(m, comp)}
        return out

    def latest(self, comparison_group: str = "never") -> dict[str, dict[str, dict[str, float]]]:
        """The last plotted value of every series (NaN where nothing is plotted yet)."""
        res = {}
        for key, groups in self.series(comparison_group).items():
            res[key] = {g: {k: (float(v[-1]) if v.size else math.nan) for k, v in ser.items()}
                        for g, ser in groups.items()}
        return res
