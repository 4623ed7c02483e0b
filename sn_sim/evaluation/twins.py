"""Counterfactual twins and true effects.

A twin is the same resolved scenario with the intervention removed (``strategy.rollout = []``
and no Culture Points districts), run with the same seed and replicates. The model draws its
initial state from the root generator and every weekly process from its own stream keyed by
(seed, process, week), so the twin starts from the identical population, blocks and geography
and shares common random numbers with the treated run: before the first cohort is selected
the two are identical, and afterwards they differ by the strategy's effect plus the noise of
processes whose number of draws depends on what the strategy changed.

The true effect of the strategy on neighbourhood i in week t of replicate r is

    tau_{r,i,t} = Y_{r,i,t}(treated run) - Y_{r,i,t}(twin)

for every panel outcome; ``true_effects`` returns it with the cohort, launch week, event time
(weeks since launch) and stage of the treated run.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from sn_sim.evaluation import EvaluationError
from sn_sim.evaluation.measures import definition, value
from sn_sim.observe.results import Results
from sn_sim.scenario import Scenario, calendar, validate

# Outcomes whose true effects are computed: panel columns (counts and shares in the panel's
# units, per neighbourhood-week) and rates per 1,000 inhabitants annualised from the week
# (``with_rates``; registry definitions, or derived from them in ``measures``).
TRUE_EFFECT_OUTCOMES = (
    "offences", "offences_per_1000_year", "property_offences", "violent_offences", "homicides",
    "recorded_crimes", "recorded_crimes_per_1000_year", "victims", "victimisation_12m", "reporting_rate",
    "trust_police", "insecurity", "youth_at_risk", "youth_in_gangs", "collective_efficacy",
    "junta_members", "cost_usd", "cost_in_kind_usd",
)


def _scenario_dict(scenario: Scenario | dict) -> dict:
    return scenario.to_dict() if isinstance(scenario, Scenario) else dict(scenario)


def twin_scenario(scenario: Scenario | dict) -> Scenario:
    """The no-intervention twin of a (resolved) scenario: no cohort is ever selected and no
    Culture Points district works with the strategy; everything else, the name aside, is equal."""
    data = _scenario_dict(scenario)
    data = {**data, "strategy": {**data.get("strategy", {}), "rollout": []},
            "culture_points": {**data.get("culture_points", {}), "districts": []}}
    name = data.get("name", "unnamed")
    data["name"] = name if name.endswith("_twin") else f"{name}_twin"
    return validate(data, source="twin scenario")


def scenario_of(results: Results) -> Scenario:
    """The resolved scenario of a run (from the Results or its manifest)."""
    if isinstance(results.scenario, Scenario):
        return results.scenario
    data = results.manifest.get("scenario")
    if not isinstance(data, dict):
        raise EvaluationError("manifest.json: scenario: missing (cannot rebuild the run's scenario)")
    return validate(data, source="manifest.json scenario")


def run_twin(results: Results, progress: Callable[[int], None] | None = None) -> Results:
    """Simulate the twin of ``results`` with the same seed and number of replicates."""
    from sn_sim.api import run

    m = results.manifest
    try:
        seed, replicates = int(m["seed"]), int(m["replicates"])
    except (KeyError, TypeError, ValueError):
        raise EvaluationError("manifest.json: seed/replicates: missing or invalid") from None
    return run(twin_scenario(scenario_of(results)), seed=seed, replicates=replicates, progress=progress)


def check_twin(results: Results, twin: Results) -> None:
    """Refuse a twin that is not the twin of ``results`` (other scenario, seed or replicates)."""
    expected = twin_scenario(scenario_of(results)).digest()
    tm, m = twin.manifest, results.manifest
    if tm.get("scenario_hash") != expected:
        raise EvaluationError("twin/: its scenario is not the no-intervention twin of this run's scenario")
    if tm.get("seed") != m.get("seed") or tm.get("replicates") != m.get("replicates"):
        raise EvaluationError(f"twin/: seed or replicates differ from the run's "
                              f"({tm.get('seed')}/{tm.get('replicates')} vs {m.get('seed')}/{m.get('replicates')})")


def with_rates(panel: pd.DataFrame, names=TRUE_EFFECT_OUTCOMES) -> pd.DataFrame:
    """Add the outcomes of ``names`` that are not panel columns, per neighbourhood-week, from
    their registry definition (e.g. ``offences_per_1000_year``: the week's offences per 1,000
    inhabitants, annualised); names that are neither are left out."""
    added = {}
    for name in names:
        if name in panel.columns:
            continue
        try:
            o = definition(name)
        except KeyError:
            continue
        if all(c in panel.columns for c in o.columns):
            added[name] = value(panel, o)
    return panel.assign(**added) if added else panel


def launch_weeks(results: Results) -> pd.DataFrame:
    """Per replicate x neighbourhood: cohort year, launch week (panel week index), control flag."""
    nb = results.neighbourhoods
    panel = results.panel
    start = pd.Timestamp(panel.loc[panel["week"] == 0, "date"].iloc[0])
    launch = pd.to_datetime(nb["launch_date"])
    week = pd.Series(calendar.weeks_since(start, launch)).astype("Int64")
    return pd.DataFrame({
        "replicate": nb["replicate"].to_numpy(), "neighbourhood": nb["neighbourhood"].to_numpy(),
        "cohort_year": nb["cohort_year"].astype("Int16").to_numpy(), "launch_week": week.to_numpy(),
        "is_control": nb["is_control"].astype(bool).to_numpy(),
    })


def true_effects(results: Results, twin: Results, outcomes: tuple[str, ...] | list[str] = TRUE_EFFECT_OUTCOMES) -> pd.DataFrame:
    """True effect per replicate x neighbourhood x week: treated-run outcome minus twin outcome.

    Columns: replicate, neighbourhood, week, date, district, cohort_year, launch_week,
    event_week (week - launch_week; NA if never treated), stage (of the treated run), treated,
    is_control, population, and for every outcome ``o``: ``o`` (treated run), ``o_twin`` and
    ``o_effect``.
    """
    keys = ["replicate", "neighbourhood", "week"]
    p = with_rates(results.panel, outcomes)
    q = with_rates(twin.panel, outcomes)
    outcomes = [o for o in outcomes if o in p.columns and o in q.columns]
    if len(p) != len(q):
        raise EvaluationError(f"twin/: panel has {len(q)} rows, the run has {len(p)} (not a twin of this run)")
    left = p[keys + ["date", "district", "stage", "treated", "population"] + outcomes]
    right = q[keys + outcomes].rename(columns={o: f"{o}_twin" for o in outcomes})
    df = left.merge(right, on=keys, how="left", validate="one_to_one")
    for o in outcomes:
        df[f"{o}_effect"] = df[o] - df[f"{o}_twin"]
    lw = launch_weeks(results)
    df = df.merge(lw, on=["replicate", "neighbourhood"], how="left")
    df["event_week"] = (df["week"] - df["launch_week"]).astype("Int64")
    first = ["replicate", "neighbourhood", "week", "date", "district", "cohort_year", "launch_week", "event_week",
             "stage", "treated", "is_control", "population"]
    rest = [c for c in df.columns if c not in first]
    return df[first + rest].sort_values(keys, kind="stable").reset_index(drop=True)


def true_att(effects: pd.DataFrame, outcome: str, by: str | list[str] | None = None) -> pd.DataFrame:
    """Mean true effect over treated neighbourhood-weeks from launch on (the ATT), optionally
    by ``cohort_year``, ``event_week``, ``stage`` or ``replicate``."""
    col = f"{outcome}_effect"
    post = effects[effects["event_week"].notna() & (effects["event_week"].fillna(-1) >= 0)]
    if by is None:
        return pd.DataFrame({"outcome": [outcome], "true_att": [post[col].mean()], "n": [len(post)]})
    g = post.groupby(by, observed=True)[col].agg(true_att="mean", n="size").reset_index()
    g.insert(0, "outcome", outcome)
    return g


def first_selection_week(results: Results) -> int | None:
    """First week any neighbourhood is in planning or beyond (before it the twin is identical)."""
    p = results.panel
    active = p[p["stage"].astype(str) != "none"]
    return int(active["week"].min()) if len(active) else None


def true_effects_by_source(results: Results, twin: Results) -> pd.DataFrame:
    """The true ATT on the mean trust and insecurity scores taken apart by mechanism
    (experiment/scores.py): per replicate, each ledger column's true effect averaged over the
    treated neighbourhood-weeks from launch on (as :func:`true_att`), so that the parts and the
    rest add up to the ATT on the mean score; then means and 95% intervals across replicates.
    Empty when a panel has no ledger columns (runs saved before version 0.5)."""
    from sn_sim.experiment import scores
    from sn_sim.observe.outcomes import LEDGER_OUTCOMES

    names = list(LEDGER_OUTCOMES)
    if not all(c in results.panel.columns and c in twin.panel.columns for c in names):
        return pd.DataFrame()
    effects = true_effects(results, twin, names)
    post = effects[effects["event_week"].notna() & (effects["event_week"].fillna(-1) >= 0)]
    zero = dict.fromkeys(names, 0.0)
    rows = []
    for r, g in post.groupby("replicate"):
        att = {o: float(g[f"{o}_effect"].mean()) for o in names}
        rows += [{"replicate": int(r), **row} for row in scores.replicate_rows(att, zero)]
    return scores.summarise(pd.DataFrame(rows), []) if rows else pd.DataFrame()
