"""The page's controls, each spelled once: the table ``CONTROLS``.

A control is one row: its name (the ``AppModel`` keyword and the SolaraViz ``model_params`` key),
its label, kind and range, the scenario key(s) it sets and which run it applies to (mix A, mix B
or both), plus two functions:

- ``read(scenario)`` -- the scenario's value as the control shows it (where the control starts);
- ``write(scenario, value)`` -- the scenario overrides (dotted keys) for a value.

Everything else is derived from the table: ``AppModel``'s signature, the defaults, the scenarios
of the two mixes (:func:`scenario_overrides`), SolaraViz's ``model_params``
(:func:`model_params`) and the control table of ``docs/app.md`` (:func:`markdown_table`, kept in
step by a test). A control left at its starting value writes nothing, so the scenario keeps its
exact (unrounded) value. Controls of one ``group`` (the three pillar weights) are written
together as soon as one of them moves.

Needs only the core dependencies; :func:`model_params` imports Mesa's visualisation layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from sn_sim.scenario import Scenario

DEFAULT_SCENARIO = "national_rollout"  # a shipped scenario (package data), found from any directory
# Agents per inhabitant the page starts with: 0.02 is about 300 agents for a neighbourhood of
# 15,000 (45,000 for the national pool), a week of both mixes in a few milliseconds, so a step's
# time goes to drawing the page (docs/app.md has measured figures). The scale is a page control.
DEFAULT_SCALE = 0.02

# Agents per inhabitant the page offers (plus the one it starts with).
SCALE_CHOICES = ("0.005", "0.01", "0.02", "0.05", "0.1", "0.2")

# Comparison mixes (mix B): pillar weights; ``None`` = the scenario's own mix.
SCENARIO_MIX = "Scenario mix"
NO_STRATEGY = "No Strategy (nothing rolled out)"
COMPARISONS: dict[str, tuple[float, float, float] | None] = {
    SCENARIO_MIX: None,
    "Police only": (1.0, 0.0, 0.0),
    "Social only": (0.0, 1.0, 0.0),
    "Community only": (0.0, 0.0, 1.0),
    "Equal thirds": (1.0, 1.0, 1.0),
    NO_STRATEGY: None,
}
PILLARS = ("police", "social", "community")
MIX_KEYS = tuple(f"strategy.mix.{p}" for p in PILLARS)


@dataclass(frozen=True)
class Control:
    name: str
    label: str
    kind: str                                      # "int" | "float" | "choice"
    keys: str                                      # scenario key(s) it sets (Markdown, for docs/app.md)
    doc: str                                       # what it does (docs/app.md)
    read: Callable[[Scenario], Any]                # the scenario's value as the control shows it
    write: Callable[[Scenario, Any], dict[str, Any]]  # scenario overrides for a value
    low: float = 0
    high: float | Callable[[Any], float] = 1       # a number, or a function of the starting value
    step: float = 1
    choices: tuple[str, ...] | Callable[[Any], list[str]] = ()  # "choice": fixed, or from the start
    applies: str = "both"                          # "A" (mix A only), "B" (mix B only) or "both"
    group: str | None = None                       # written together when one of the group moves
    coerce: Callable[[Any], Any] | None = None     # a value as the control holds it

    def value(self, v: Any) -> Any:
        if self.coerce is not None:
            return self.coerce(v)
        return {"int": int, "float": float}.get(self.kind, str)(v)

    def upper(self, start: Any) -> float:
        return self.high(start) if callable(self.high) else self.high

    def options(self, start: Any) -> list[str]:
        return list(self.choices(start) if callable(self.choices) else self.choices)

    def moved(self, base: Scenario, v: Any) -> bool:
        d = self.read(base)
        if self.kind == "choice":
            return v != d
        return not math.isclose(float(v), float(d), rel_tol=0, abs_tol=1e-9)


# --- what some controls write ----------------------------------------------------------------------


def normalise_mix(police: float, social: float, community: float) -> tuple[float, float, float]:
    """Pillar weights (any non-negative numbers) -> shares summing to 1; all zero -> equal thirds."""
    w = np.clip(np.array([police, social, community], dtype=float), 0.0, None)
    total = float(w.sum())
    if not math.isfinite(total) or total <= 0:
        return (1 / 3, 1 / 3, 1 / 3)
    p, s, c = (float(x) for x in w / total)
    return p, s, c


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


def _rollout(base: Scenario, pct: float) -> dict[str, Any]:
    return {f"strategy.rollout.{i}.neighbourhoods": k
            for i, (cohort, k) in enumerate(zip(base.strategy.rollout, rollout_counts(base, pct)))
            if k != cohort.neighbourhoods}


def _capacity(base: Scenario, factor: float) -> dict[str, Any]:
    k = max(float(factor), 1e-3)
    return {f"programs.{name}.cost_per_participant": min(max(p.cost_per_participant / k, 1e-6), 1e5)
            for name, p in base.programs.items()}


def _comparison(base: Scenario, choice: str) -> dict[str, Any]:
    if choice not in COMPARISONS:
        raise ValueError(f"comparison: unknown mix {choice!r}; known: {', '.join(COMPARISONS)}")
    if choice == NO_STRATEGY:
        return {"strategy.rollout": []}
    preset = COMPARISONS[choice]
    return {} if preset is None else dict(zip(MIX_KEYS, preset))


def _pillar(name: str) -> Control:
    return Control(
        name, f"A: {name} weight", "int", f"`strategy.mix.{name}`",
        f"weight of the {name} pillar in **mix A**; the three weights are divided by their sum, so any "
        "position is a valid mix (all zero = equal thirds)",
        read=lambda s: round(100 * getattr(s.strategy.mix, name)),
        write=lambda s, v: {f"strategy.mix.{name}": max(float(v), 0.0)},
        low=0, high=100, applies="A", group="mix")


def _clip01(x: float) -> float:
    return min(max(float(x), 0.0), 1.0)


CONTROLS: tuple[Control, ...] = (
    *(_pillar(p) for p in PILLARS),
    Control("comparison", "Mix B: comparison mix", "choice", "`strategy.mix.*`, `strategy.rollout`",
            "**mix B**: the scenario's own mix, one pillar only, equal thirds, or *No Strategy* (no "
            "neighbourhood is ever selected: the counterfactual)",
            read=lambda s: SCENARIO_MIX, write=_comparison, choices=tuple(COMPARISONS), applies="B"),
    Control("budget_musd", "Budget (USD M/year)", "float", "`budget.usd_per_year`",
            "national cap on the Strategy's own spending (USD million per year); when it binds every active neighbourhood gets "
            "proportionally less",
            read=lambda s: round(s.budget.usd_per_year / 1e6, 2),
            write=lambda s, v: {"budget.usd_per_year": max(float(v), 0.0) * 1e6},
            low=0.0, high=lambda v: max(20.0, 2 * v), step=0.01),
    Control("usd_per_neighbourhood_k", "Allocation (USD k/year)", "int",
            "`budget.usd_per_neighbourhood_year`",
            "what one neighbourhood receives per year at full intensity (execution, consolidation), in USD thousand",
            read=lambda s: round(s.budget.usd_per_neighbourhood_year / 1e3),
            write=lambda s, v: {"budget.usd_per_neighbourhood_year": max(float(v), 0.0) * 1e3},
            low=0, high=lambda v: max(300, 2 * v)),
    Control("hot_zone_share", "Hot-zone patrol share", "float", "`police.hot_zone_share`",
            "share of the extra patrol hours sent to the blocks with most recorded crime (the rest spreads "
            "over the neighbourhood)",
            read=lambda s: round(s.police.hot_zone_share, 2),
            write=lambda s, v: {"police.hot_zone_share": _clip01(v)}, low=0.0, high=1.0, step=0.01),
    Control("implementation_quality", "Policing quality", "float",
            "`police.implementation_quality`",
            "community-policing quality: share of community-police contacts that are procedurally just (good ones gain a little "
            "trust; poor ones cost several times more)",
            read=lambda s: round(s.police.implementation_quality, 2),
            write=lambda s, v: {"police.implementation_quality": _clip01(v)}, low=0.0, high=1.0, step=0.01),
    Control("program_capacity", "Program capacity ×", "float",
            "`programs.<name>.cost_per_participant` (divided by the factor)",
            "places in the sectoral programs per dollar of the social pillar, as a multiple of the scenario's: 2 = twice as many "
            "participants for the same money",
            read=lambda s: 1.0, write=_capacity, low=0.25, high=4.0, step=0.25),
    Control("rollout_pct", "Rollout after pilot %", "int",
            "`strategy.rollout.N.neighbourhoods`",
            "size of every cohort after the pilot, in % of the scenario's (the pilot, one neighbourhood "
            "in each named district, is kept); capped at the candidate pool",
            read=lambda s: 100, write=_rollout, low=0, high=200, step=10),
    Control("scale", "Agents per inhabitant (scale)", "choice", "`population.scale`",
            "simulated share of the population; larger = less noise, slower (rates stay per-capita "
            "correct at any scale)",
            read=lambda s: f"{s.population.scale:g}",
            write=lambda s, v: {"population.scale": float(v)},
            choices=lambda start: sorted(set(SCALE_CHOICES) | {start}, key=float),
            coerce=lambda v: f"{float(v):g}"),
    Control("seed", "Random seed", "int", "(the runs' random seed)",
            "both mixes always share it", read=lambda s: 0, write=lambda s, v: {},
            low=0, high=lambda v: max(99, v)),
)
BY_NAME: dict[str, Control] = {c.name: c for c in CONTROLS}


# --- derived from the table -------------------------------------------------------------------------


def control_values(base: Scenario, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every control's value: ``given`` where set (not None), else the scenario's; TypeError for
    an unknown name."""
    given = given or {}
    unknown = sorted(set(given) - set(BY_NAME))
    if unknown:
        raise TypeError(f"unknown control(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return {c.name: c.value(c.read(base) if given.get(c.name) is None else given[c.name]) for c in CONTROLS}


def scenario_overrides(base: Scenario, values: dict[str, Any], run: str) -> dict[str, Any]:
    """Dotted-key overrides of ``base`` for one run (``"A"`` or ``"B"``) from the control values.

    Controls shared by both runs come first, then the run's own (so *No Strategy* replaces the
    whole rollout after a rollout size was set); pillar weights are normalised to shares."""
    moved = {c.name for c in CONTROLS if c.moved(base, values[c.name])}
    moved_groups = {BY_NAME[n].group for n in moved} - {None}
    out: dict[str, Any] = {}
    for c in sorted((c for c in CONTROLS if c.applies in ("both", run)), key=lambda c: c.applies != "both"):
        if c.name in moved or c.group in moved_groups:
            out.update(c.write(base, values[c.name]))
    if any(k in out for k in MIX_KEYS):
        weights = [out.get(k, getattr(base.strategy.mix, p)) for k, p in zip(MIX_KEYS, PILLARS)]
        out.update(zip(MIX_KEYS, normalise_mix(*weights)))
    return out


def model_params(base: Scenario, **starts: Any) -> dict[str, Any]:
    """SolaraViz ``model_params``: ``base`` fixed (passed to AppModel on every Reset) and one
    Mesa user parameter per control, starting at ``starts`` (else the scenario's values)."""
    from mesa.visualization import Slider

    values = control_values(base, starts)
    params: dict[str, Any] = {"base": base}
    for c in CONTROLS:
        v = values[c.name]
        if c.kind == "choice":
            params[c.name] = {"type": "Select", "label": c.label, "value": v, "values": c.options(v)}
        else:
            dtype = float if c.kind == "float" else int
            params[c.name] = Slider(c.label, v, dtype(c.low), dtype(c.upper(v)), dtype(c.step), dtype=dtype)
    return params


def markdown_table() -> str:
    """The control table of docs/app.md."""
    lines = ["| control | applies to | scenario key(s) it sets | what it does |", "|---|---|---|---|"]
    runs = {"A": "mix A", "B": "mix B", "both": "both mixes"}
    for c in CONTROLS:
        lines.append(f"| {c.label} | {runs[c.applies]} | {c.keys} | {c.doc} |")
    return "\n".join(lines)
