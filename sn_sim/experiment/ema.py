"""The bridge to EMA Workbench: the model as an EMA ``Model``, and the names EMA accepts.

``to_ema(scenario, uncertainties={...}, levers={...}, outcomes=[...])`` returns an
``ema_workbench.Model`` whose function runs the pure entry point
(``sn_sim.api.run_replicate``, what ``sn_sim.run`` runs per replicate) on the scenario with the
sampled values set at their dotted keys, and returns the run's summaries
(``sn_sim.observe.outcomes.summarise``, the columns a sweep keeps). Researchers can then use the
rest of that toolkit directly -- ``perform_experiments``, its samplers and evaluators,
``optimize``, the analysis module::

    from ema_workbench import perform_experiments, SequentialEvaluator
    model = sn_sim.to_ema("national_rollout", uncertainties={"crime.offending_rate": (0.03, 0.05)},
                          levers={"strategy.mix.police": (0.2, 0.8)},
                          derived={"strategy.mix.social": "(1 - strategy.mix.police) * 0.35 / 0.6",
                                   "strategy.mix.community": "(1 - strategy.mix.police) * 0.25 / 0.6"},
                          outcomes=["offences_per_1000_year_all", "trust_police_all"],
                          overrides={"population.scale": 0.02})
    with SequentialEvaluator(model) as evaluator:
        experiments, results = perform_experiments(model, scenarios=8, policies=2, evaluator=evaluator)

EMA Workbench 3 wants Python identifiers for the names of parameters and outcomes, and the
scenario's keys are dotted (``strategy.mix.police``): :class:`SafeNames` gives each dotted key
an identifier (``strategy_mix_police``) and maps results back; ``Model.sn_sim_names`` holds the
mapping of a bridged model.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Iterable, Mapping, Sequence

from sn_sim.errors import ScenarioError, SnSimError, require_extra

EXTRA = "discovery"
MODULES = ("ema_workbench", "sklearn")
# What a bridged model reports unless told otherwise: crime, victimisation, trust, fear, cost.
DEFAULT_OUTCOMES = ("offences_per_1000_year_all", "victimisation_12m_all", "trust_police_all", "insecurity_all",
                    "total_cost_usd_all")


def import_ema(what: str):
    """``ema_workbench``, or a one-line error naming the extra that installs it. Its import
    warns that the optional ipyparallel is missing: not our users' concern."""
    require_extra(EXTRA, *MODULES, what=what)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import ema_workbench
    return ema_workbench


class SafeNames:
    """Dotted names <-> Python identifiers, one to one: ``strategy.mix.police`` ->
    ``strategy_mix_police`` (a collision or a leading digit gets a suffix or prefix)."""

    def __init__(self, names: Iterable[str]):
        self.to_safe: dict[str, str] = {}
        taken: set[str] = set()
        for name in names:
            base = re.sub(r"\W", "_", str(name), flags=re.ASCII) or "x"
            if not base.isidentifier():
                base = f"x_{base}"
            safe, n = base, 1
            while safe in taken:
                n += 1
                safe = f"{base}_{n}"
            taken.add(safe)
            self.to_safe[name] = safe
        self.to_original = {v: k for k, v in self.to_safe.items()}
        # Longest first, whole identifiers only: strategy_mix_police never matches inside
        # strategy_mix_police_share.
        alternatives = sorted(self.to_original, key=len, reverse=True)
        self._pattern = (re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, alternatives)) + r")(?![A-Za-z0-9_])")
                         if alternatives else None)

    def original(self, safe: str) -> str:
        return self.to_original.get(safe, safe)

    def restore_text(self, text: str) -> str:
        """``text`` with every safe name in it replaced by its dotted original."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(lambda m: self.to_original[m.group(1)], text)

    def restore_figure(self, fig) -> None:
        """Put the original names back into every text of a figure EMA drew (tick labels,
        titles, annotations, table cells)."""
        from matplotlib.text import Text

        for ax in fig.axes:  # tick labels are drawn anew from their formatter: replace it
            for axis in (ax.xaxis, ax.yaxis):
                labels = [t.get_text() for t in axis.get_ticklabels()]
                restored = [self.restore_text(t) for t in labels]
                if restored != labels:
                    axis.set_ticks(axis.get_ticklocs(), restored)
        for artist in fig.findobj(Text):
            text = artist.get_text()
            restored = self.restore_text(text)
            if restored != text:
                artist.set_text(restored)


# --- The model as an EMA Workbench Model ------------------------------------------------------


class ScenarioFunction:
    """The function an EMA ``Model`` calls: keyword arguments (safe names) -> summaries.

    A plain picklable object (the resolved scenario as a dict, not a closure), so EMA's
    multiprocessing evaluator can send it to workers. Every experiment runs replicates
    ``0..replicates-1`` of the same ``seed`` (common random numbers across experiments, as a
    sweep with ``random_numbers = "common"``); the outcomes are their means."""

    def __init__(self, scenario: dict, names: dict[str, str], outputs: Sequence[str], seed: int, replicates: int,
                 derived: dict | None = None):
        self.scenario = scenario
        self.names = dict(names)  # safe name -> dotted scenario key
        self.outputs = list(outputs)
        self.seed = int(seed)
        self.replicates = int(replicates)
        self.derived = dict(derived or {})  # dotted key -> (Expression, kind), as a sweep's [derived]

    def scenario_dict(self, values: dict[str, Any]) -> dict:
        """The resolved scenario (a dict) with ``values`` (safe names) and the derived keys set."""
        import copy

        from sn_sim.experiment.sweep.spec import coerce
        from sn_sim.scenario.keys import get_key, set_key

        data = copy.deepcopy(self.scenario)
        for safe, value in values.items():
            if safe in self.names:  # EMA may pass constants or names of other models: ignore those
                set_key(data, self.names[safe], value, source="<to_ema>")
        if self.derived:
            current = {key: get_key(data, key) for key in self.names.values()}
            for key, (expr, kind) in self.derived.items():
                set_key(data, key, coerce(float(expr(current)), kind), source="<to_ema>")
        return data

    def __call__(self, **values: Any) -> dict[str, float]:
        import numpy as np

        from sn_sim.api import run_replicate
        from sn_sim.observe import outcomes
        from sn_sim.scenario import validate

        scenario = validate(self.scenario_dict(values), source="<to_ema experiment>")
        post = outcomes.post_start_for(scenario)
        rows = [outcomes.summarise(run_replicate(scenario, self.seed, r)[0], post, self.outputs)
                for r in range(self.replicates)]
        return {name: float(np.mean([row[name] for row in rows])) for name in self.outputs}


def _parameter(ema, safe: str, key: str, spec: Any, base_value: Any):
    """An EMA parameter from a range ``(low, high)`` (two ints: integer parameter), a list of
    values (categorical), or an EMA parameter object given as it is (renamed to ``safe``)."""
    if hasattr(spec, "name") and hasattr(spec, "variable_name"):
        spec.name = safe
        return spec
    if isinstance(spec, (list, set, frozenset)):
        values = list(spec)
        if not values:
            raise SnSimError(f"to_ema: {key}: empty list of values")
        return ema.CategoricalParameter(safe, values)
    if isinstance(spec, tuple) and len(spec) == 2:
        low, high = spec
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec):
            raise SnSimError(f"to_ema: {key}: range must be two numbers (got {spec!r})")
        if not low < high:
            raise SnSimError(f"to_ema: {key}: range low must be below high (got {spec!r})")
        if isinstance(low, int) and isinstance(high, int) and not isinstance(base_value, float):
            return ema.IntegerParameter(safe, low, high)
        return ema.RealParameter(safe, float(low), float(high))
    raise SnSimError(f"to_ema: {key}: expected a (low, high) range, a list of values or an EMA parameter "
                     f"(got {spec!r})")


def to_ema(scenario, uncertainties: Mapping[str, Any] | None = None, levers: Mapping[str, Any] | None = None,
           outcomes: Sequence[str] | None = None, *, derived: Mapping[str, str] | None = None,
           overrides: Mapping[str, Any] | Sequence[str] | None = None, seed: int = 0, replicates: int = 1,
           name: str | None = None):
    """The model as an EMA Workbench ``Model`` (a function model over ``sn_sim.api.run_replicate``).

    scenario : a Scenario, a scenario file or the name of a shipped scenario
    uncertainties, levers : dotted scenario key -> ``(low, high)`` (floats: RealParameter, ints:
        IntegerParameter), a list of values (CategoricalParameter) or an EMA parameter object
    outcomes : summary columns (``<outcome>_<scope>``, as a sweep keeps; default: offences,
        victimisation, trust, insecurity and total cost over all neighbourhoods)
    derived : dotted key -> arithmetic of the uncertainties and levers, as a sweep file's
        ``[derived]`` (``{"strategy.mix.social": "(1 - strategy.mix.police) * 0.35 / 0.6"}``)
    overrides : fixed changes to the scenario first (``{"population.scale": 0.02}`` or ``--set`` strings)
    seed, replicates : every experiment runs replicates 0..replicates-1 of ``seed``; outcomes are their means
    name : the model's name (a Python identifier; default: the scenario's name made one)

    Every key and outcome is checked now (a typo fails here, in one line, not in the 100th
    experiment). ``model.sn_sim_names`` maps EMA's names back to the dotted keys.
    """
    ema = import_ema("to_ema")
    from sn_sim.observe import outcomes as registry
    from sn_sim.scenario import Scenario, load_scenario, validate
    from sn_sim.scenario.keys import MISSING, apply_overrides, get_key

    if replicates < 1:
        raise SnSimError(f"to_ema: replicates must be at least 1 (got {replicates})")
    if isinstance(scenario, Scenario):
        data = scenario.to_dict()
        if overrides:
            apply_overrides(data, overrides, source="to_ema")
        base = validate(data, source="to_ema")
    else:
        base = load_scenario(scenario, overrides)
    data = base.to_dict()
    uncertainties, levers = dict(uncertainties or {}), dict(levers or {})
    both = set(uncertainties) & set(levers)
    if both:
        raise SnSimError(f"to_ema: {sorted(both)[0]}: is both an uncertainty and a lever")
    if not uncertainties and not levers:
        raise SnSimError("to_ema: name at least one uncertainty or lever (a dotted scenario key)")
    outputs = list(outcomes) if outcomes is not None else list(DEFAULT_OUTCOMES)
    known = registry.summary_names()
    for o in outputs:
        if o not in known:
            raise SnSimError(f"to_ema: outcomes: unknown summary {o!r} (expected <outcome>_<scope>, e.g. "
                             f"offences_per_1000_year_all)")
    keys = list(uncertainties) + list(levers)
    for key in keys:
        if get_key(data, key) is MISSING:
            raise ScenarioError(f"to_ema: {key}: unknown key")
    from sn_sim.experiment.sweep.spec import Expression, kind_of

    formulas = {}
    for key, text in dict(derived or {}).items():
        where = f"to_ema: derived.{key}"
        current = get_key(data, key)
        if current is MISSING:
            raise ScenarioError(f"{where}: unknown key")
        if key in keys:
            raise SnSimError(f"{where}: is also an uncertainty or lever")
        if kind_of(current) not in ("float", "int"):
            raise SnSimError(f"{where}: a derived parameter must be numeric (the scenario's value is {current!r})")
        formulas[key] = (Expression(str(text), set(keys), where), kind_of(current))
    names = SafeNames(keys + outputs)
    model_name = name or re.sub(r"\W", "_", base.name, flags=re.ASCII)
    if not model_name.isidentifier():
        model_name = f"sn_sim_{model_name}"
    function = ScenarioFunction(data, {names.to_safe[k]: k for k in keys}, outputs, seed, replicates, formulas)
    model = ema.Model(model_name, function=_OutputRenamer(function, names))
    model.uncertainties = [_parameter(ema, names.to_safe[k], k, v, get_key(data, k)) for k, v in uncertainties.items()]
    model.levers = [_parameter(ema, names.to_safe[k], k, v, get_key(data, k)) for k, v in levers.items()]
    model.outcomes = [ema.ScalarOutcome(names.to_safe[o]) for o in outputs]
    model.sn_sim_names = dict(names.to_original)
    # Checked once here (scenario validation of the base with the first value of each range)
    # so that a key that holds something else (a table, a date) fails now, not in a worker.
    probe = {names.to_safe[k]: _first_value(v) for k, v in {**uncertainties, **levers}.items()}
    validate(function.scenario_dict({k: v for k, v in probe.items() if v is not None}),
             source="to_ema: the scenario with each parameter at its first value")
    return model


class _OutputRenamer:
    """Summaries under EMA's (safe) outcome names; picklable like the function it wraps."""

    def __init__(self, function: ScenarioFunction, names: SafeNames):
        self.function = function
        self.to_safe = {o: names.to_safe[o] for o in function.outputs}

    def __call__(self, **values):
        return {self.to_safe[k]: v for k, v in self.function(**values).items()}


def _first_value(spec):
    if isinstance(spec, (list, set, frozenset)):
        return list(spec)[0]
    if isinstance(spec, tuple):
        return spec[0]
    return getattr(spec, "lower_bound", None)
