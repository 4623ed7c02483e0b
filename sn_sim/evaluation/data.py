"""The evaluation's inputs: the run (and its stored twin), and the data sets an evaluator sees.

- ``load_run`` / ``load_evaluation_inputs``: a run directory written by ``sn-sim run`` and a
  stored twin (``RUN_DIR/twin/`` or a previous evaluation's ``twin/``);
- ``admin_data``: administrative records, replicate x neighbourhood x period (default quarter):
  recorded crime and the oracle's true offences per 1,000 inhabitants per year, activities per
  1,000 inhabitants per year by pillar, cost, the modal stage, the cohort and the true effects;
- ``survey_data``: the yearly survey (``survey.draw_survey``) with its true effects and cohorts.

Rates are the registry's (``measures``): ratios of sums over the period's weeks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sn_sim.errors import SnSimError
from sn_sim.evaluation import EvaluationError
from sn_sim.evaluation.measures import ACTIVITY_RATES, OUTCOMES, value
from sn_sim.evaluation.survey import draw_survey, survey_cohorts
from sn_sim.evaluation.twins import check_twin, launch_weeks
from sn_sim.observe.results import MANIFEST, Results, load_results, read_run_manifest
from sn_sim.observe.storage import verify_checksums
from sn_sim.scenario import Scenario, validate

PERIODS = ("week", "month", "quarter", "year")
# Rates of the administrative panel: recorded crime, the oracle's offences, pillar activities.
ADMIN_RATES = [o.definition for o in OUTCOMES.values() if o.source in ("admin", "oracle")] + list(ACTIVITY_RATES.values())


# --- the run ------------------------------------------------------------------------------------


def _checked(run_dir: Path) -> Scenario:
    """The run's scenario, once ``run_dir`` is known to be a run directory the evaluation can
    use: its manifest holds the scenario, seed and replicates the twin is rebuilt from, and its
    data files match the checksums the manifest records."""
    m = read_run_manifest(run_dir)
    where = run_dir / MANIFEST
    missing = [k for k in ("scenario", "seed", "replicates") if k not in m]
    if missing:
        raise EvaluationError(f"{where}: {', '.join(missing)}: missing (not a manifest written by 'sn-sim run')")
    for key, low in (("seed", 0), ("replicates", 1)):
        if not isinstance(m[key], int) or isinstance(m[key], bool) or m[key] < low:
            raise EvaluationError(f"{where}: {key}: not an integer >= {low} (got {str(m[key])[:40]!r})")
    if not isinstance(m["scenario"], dict):
        raise EvaluationError(f"{where}: scenario: not a scenario table")
    scenario = validate(m["scenario"], source=f"{where}: scenario")  # naming the file, not later in the twin
    verify_checksums(run_dir, m, MANIFEST)
    return scenario


def check_run_dir(run_dir: str | Path) -> Path:
    """Check, before any work (simulating a twin can take minutes), that ``run_dir`` is an
    intact run directory the evaluation can use; one-line errors otherwise. Reads the manifest
    and checksums the data files, without parsing them."""
    run_dir = Path(run_dir)
    _checked(run_dir)
    return run_dir


def load_run(run_dir: str | Path) -> Results:
    """Load a run directory written by ``sn-sim run`` once :func:`check_run_dir` accepts it,
    with its scenario rebuilt from the manifest."""
    run_dir = Path(run_dir)
    scenario = _checked(run_dir)
    results = load_results(run_dir, verify=False)  # verified just now
    results.scenario = scenario
    return results


def load_evaluation_inputs(run_dir: str | Path, out: Path | None = None) -> tuple[Results, Results | None, str]:
    """The run, its twin if one is stored (``RUN_DIR/twin/`` or a previous ``OUT/twin/``) and
    where the twin came from."""
    results = load_run(run_dir)
    for where, label in ((Path(run_dir) / "twin", "run_dir/twin"), ((out / "twin") if out else None, "previous evaluation")):
        if where is not None and (where / "manifest.json").is_file():
            try:
                twin = load_results(where)
                check_twin(results, twin)
            except SnSimError:
                if label == "previous evaluation":
                    continue  # stale or corrupt: it is only a cache, recompute it
                raise
            return results, twin, label
    return results, None, "computed"


# --- periods ------------------------------------------------------------------------------------


def period_label(dates: pd.Series, period: str) -> np.ndarray:
    d = pd.to_datetime(dates)
    if period == "year":
        return d.dt.year.to_numpy(dtype=np.int64)
    if period == "quarter":
        return (d.dt.year * 10 + d.dt.quarter).to_numpy(dtype=np.int64)
    if period == "month":
        return (d.dt.year * 100 + d.dt.month).to_numpy(dtype=np.int64)
    raise ValueError(f"unknown period {period!r}")


def week_periods(panel: pd.DataFrame, period: str) -> pd.Series:
    """The period label of each panel week (index: week)."""
    weeks = panel[["week", "date"]].drop_duplicates("week").sort_values("week")
    if period == "week":
        return pd.Series(weeks["week"].to_numpy(dtype=np.int64), index=weeks["week"].to_numpy())
    return pd.Series(period_label(weeks["date"], period), index=weeks["week"].to_numpy())


def check_period(period: str) -> None:
    if period not in PERIODS:
        raise EvaluationError(f"--period: unknown period {period!r} (choose from {', '.join(PERIODS)})")


# --- data sets ----------------------------------------------------------------------------------


def admin_data(results: Results, twin: Results, period: str = "quarter") -> pd.DataFrame:
    """The evaluator's administrative panel: replicate x neighbourhood x period with recorded
    crime and (oracle) true offences per 1,000 inhabitants per year, activities per 1,000
    inhabitants per year by pillar (``activities_<pillar>_per_1000_year``), cost, the modal
    stage, the cohort (period of launch) and the true effects ``tau_<outcome>`` (treated run
    minus twin, aggregated the same way). Each rate is its registry definition over the
    period's weeks (ratio of sums)."""
    check_period(period)
    of_week = week_periods(results.panel, period)
    flows = ["offences", "recorded_crimes", "cost_usd", "cost_in_kind_usd"] + \
        [c for o in ACTIVITY_RATES.values() for c in o.numerator]
    summed = sorted({c for o in ADMIN_RATES for c in o.columns} | set(flows))
    keys = ["replicate", "neighbourhood", "time"]

    def aggregate(panel: pd.DataFrame) -> pd.DataFrame:
        p = panel[["replicate", "neighbourhood", "week"] + summed].copy()
        p["time"] = of_week.reindex(p["week"]).to_numpy()
        g = p.groupby(keys, sort=True)
        sums = g[summed].sum()
        out = sums[flows].copy()
        out["weeks"] = g.size()
        out["population"] = g["population"].mean()
        for o in ADMIN_RATES:
            out[o.name] = value(sums, o)
        return out.reset_index()

    a = aggregate(results.panel)
    b = aggregate(twin.panel).set_index(keys).reindex(pd.MultiIndex.from_frame(a[keys]))
    for o in OUTCOMES.values():
        if o.source in ("admin", "oracle"):
            a[o.truth] = a[o.column].to_numpy() - b[o.column].to_numpy()
    # Modal stage of each period (the stage of most of its weeks).
    st = results.panel[["replicate", "neighbourhood", "week", "stage"]].copy()
    st["time"] = of_week.reindex(st["week"]).to_numpy()
    st["stage"] = st["stage"].astype(str)
    mode = (st.groupby(keys + ["stage"]).size().rename("n").reset_index()
            .sort_values(keys + ["n"], ascending=[True, True, True, False], kind="stable")
            .drop_duplicates(keys)[keys + ["stage"]])
    a = a.merge(mode, on=keys, how="left")
    lw = launch_weeks(results)
    lw["cohort"] = [float(of_week.get(int(w), np.nan)) if pd.notna(w) else np.nan for w in lw["launch_week"]]
    nb = results.neighbourhoods[["replicate", "neighbourhood", "diagnosis_score"]]
    a = a.merge(lw[["replicate", "neighbourhood", "cohort", "cohort_year", "is_control"]],
                on=["replicate", "neighbourhood"], how="left").merge(nb, on=["replicate", "neighbourhood"], how="left")
    a["unit"] = a["neighbourhood"]
    return a


def survey_data(results: Results, twin: Results, *, size: int, seed: int, field_date=(3, 15),
                coverage: str = "treated_and_controls") -> pd.DataFrame:
    """The survey with true effects, its cohort on the survey's time scale and ``unit``/``time``."""
    s = draw_survey(results.panel, results.neighbourhoods, size=size, seed=seed, field_date=field_date,
                    coverage=coverage, twin_panel=twin.panel)
    if s.empty:
        return s
    s["cohort"] = survey_cohorts(s).to_numpy()
    s["unit"] = s["neighbourhood"]
    s["time"] = s["year"]
    nb = results.neighbourhoods[["replicate", "neighbourhood", "diagnosis_score"]]
    return s.merge(nb, on=["replicate", "neighbourhood"], how="left")
